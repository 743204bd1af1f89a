"""gnnkit: scalable sparse graph neural networks on PyTorch."""
from . import blocks, inflation, nn, ops
from .graph import CSR, Graph
from .inflation import InflatedGNN, InflationSchedule
from .models import GNN, GNNConfig
from .multiview import MultiViewGraph
from .neurons import NeuronGraph

__version__ = "0.1.0"

__all__ = [
    "Graph", "CSR", "MultiViewGraph", "GNN", "GNNConfig", "InflatedGNN", "InflationSchedule", "NeuronGraph",
    "blocks", "inflation", "nn", "ops", "__version__",
]
