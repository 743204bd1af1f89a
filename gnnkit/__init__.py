"""gnnkit: scalable sparse graph neural networks on PyTorch."""
from . import blocks, nn, ops
from .graph import CSR, Graph
from .models import GNN, GNNConfig
from .neurons import NeuronGraph

__version__ = "0.1.0"

__all__ = ["Graph", "CSR", "GNN", "GNNConfig", "NeuronGraph", "blocks", "nn", "ops", "__version__"]
