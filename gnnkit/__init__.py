"""gnnkit: scalable sparse graph neural networks on PyTorch."""
from . import nn, ops
from .graph import CSR, Graph
from .models import GNN, GNNConfig

__version__ = "0.1.0"

__all__ = ["Graph", "CSR", "GNN", "GNNConfig", "nn", "ops", "__version__"]
