"""Graph data: :class:`Graph` (one vertex set), :class:`MultiViewGraph` (several edge types over it), safe files."""
from .frame import DataDict
from .graph import CSR, Graph
from .io import load, save
from .multiview import MultiViewGraph

__all__ = ["Graph", "CSR", "DataDict", "MultiViewGraph", "save", "load"]
