"""Network blocks usable as the edge function f or vertex function g of :class:`~gnnkit.nn.GNNLayer`.

MLPs, convolutional encoders for signal/image vertices, recurrent cells (GRU, LSTM,
LRU) with a per-vertex state, sparse neighbour attention and a dense transformer
block, plus the adapters that plug them into a layer. Each block runs batched over
all vertices (or edges) at once.
"""
from .activations import ACTIVATIONS, activation_fn, make_activation
from .adapters import ConcatEdgeFn, ConcatVertexFn, RecurrentVertexFn
from .attention import NeighborAttention, TransformerBlock
from .cnn import Conv1dEncoder, Conv2dEncoder
from .mlp import MLP
from .recurrent import LRU, GRUCell, LSTMCell, RecurrentCell, SequenceEncoder
from .source import SourceTransform

__all__ = [
    "MLP",
    "ACTIVATIONS",
    "make_activation",
    "activation_fn",
    "Conv1dEncoder",
    "Conv2dEncoder",
    "RecurrentCell",
    "GRUCell",
    "LSTMCell",
    "LRU",
    "SequenceEncoder",
    "NeighborAttention",
    "TransformerBlock",
    "ConcatEdgeFn",
    "SourceTransform",
    "ConcatVertexFn",
    "RecurrentVertexFn",
]
