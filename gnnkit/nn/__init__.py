"""Layers: the generic :class:`GNNLayer` and the standard convolutions built on the sparse ops."""
from .._deprecated import deprecated_names
from .gat import GATConv
from .gcn import GCNConv
from .gin import GINConv
from .gine import GINEConv
from .message_passing import (
    LAYER_REDUCES,
    ConcatVertex,
    CopySource,
    DeepSetsAggregation,
    EdgeWeighted,
    GNNLayer,
    LinearSource,
    LinearSourceEdge,
    LSTMAggregation,
    SoftmaxAggregation,
    SourceEdgeFn,
)
from .graph_rnn import GraphGRUCell, GraphLSTMCell, GraphRNN, GraphRNNCell, propagate
from .hetero import HeteroConv
from .mpnn import MPNN
from .multiview import MultiViewConv
from .readout import AttentionReadout, DeepSetsReadout, Readout, pooling_graph, readout
from .rgcn import RGCN_REDUCES, RGCNConv
from .sage import SAGEConv
from .to_hetero import HeteroGNN, HeteroSequential, to_hetero

__all__ = [
    "GNNLayer",
    "SourceEdgeFn",
    "CopySource",
    "EdgeWeighted",
    "LinearSource",
    "LinearSourceEdge",
    "SoftmaxAggregation",
    "DeepSetsAggregation",
    "LSTMAggregation",
    "ConcatVertex",
    "LAYER_REDUCES",
    "GCNConv",
    "SAGEConv",
    "GATConv",
    "GINConv",
    "GINEConv",
    "MPNN",
    "MultiViewConv",
    "HeteroConv",
    "RGCNConv",
    "RGCN_REDUCES",
    "to_hetero",
    "HeteroGNN",
    "HeteroSequential",
    "GraphRNN",
    "GraphRNNCell",
    "GraphGRUCell",
    "GraphLSTMCell",
    "propagate",
    "readout",
    "Readout",
    "DeepSetsReadout",
    "AttentionReadout",
    "pooling_graph",
]


__getattr__ = deprecated_names(__name__, {"AGGREGATORS": ("gnnkit.nn.LAYER_REDUCES", lambda: LAYER_REDUCES)})
