"""Graph data: :class:`Graph` (one vertex set), :class:`MultiViewGraph` (several edge types over it)."""
from .frame import DataDict
from .graph import CSR, Graph
from .multiview import MultiViewGraph

__all__ = ["Graph", "CSR", "DataDict", "MultiViewGraph"]
