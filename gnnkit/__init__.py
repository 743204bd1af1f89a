"""gnnkit: scalable sparse graph neural networks on PyTorch."""
from . import blocks, brain, generators, inflation, nn, ops, partition, sampling
from .graph import CSR, Graph
from .inflation import InflatedGNN, InflationSchedule
from .models import GNN, GNNConfig
from .multiview import MultiViewGraph
from .neurons import NeuronGraph
from .partition import Part, Partitioning
from .sampling import ClusterGCNSampler, NeighborSampler

__version__ = "0.1.0"

__all__ = [
    "Part", "Partitioning", "partition",
    "Graph", "CSR", "MultiViewGraph", "GNN", "GNNConfig", "InflatedGNN", "InflationSchedule", "NeuronGraph",
    "NeighborSampler", "ClusterGCNSampler", "generators", "sampling",
    "blocks", "brain", "inflation", "nn", "ops", "__version__",
]
