"""Graph data: :class:`Graph` (one vertex set), :class:`HeteroGraph` (node types and relations),
:class:`MultiViewGraph` (its one-node-type case: several edge types over one vertex set), safe files."""
from .frame import DataDict
from .graph import CSR, Graph
from .hetero import HeteroGraph
from .io import load, save
from .multiview import MultiViewGraph

__all__ = ["Graph", "CSR", "DataDict", "HeteroGraph", "MultiViewGraph", "save", "load"]
