"""Graph data: :class:`Graph` (one vertex set), :class:`MultiViewGraph` (several edge types over it)."""
from .graph import CSR, Graph
from .multiview import MultiViewGraph

__all__ = ["Graph", "CSR", "MultiViewGraph"]
