r"""Message passing neural network (Gilmer et al. 2017, https://arxiv.org/abs/1704.01212) for graph-level prediction."""
from __future__ import annotations

from torch import Tensor, nn

# the block submodules, not the gnnkit.blocks package: gnnkit.blocks.source imports gnnkit.nn
from .. import ops
from .._deprecated import renamed_keyword
from ..blocks.adapters import ConcatEdgeFn, RecurrentVertexFn
from ..blocks.mlp import MLP
from ..blocks.recurrent import GRUCell
from ..graph import Graph
from .message_passing import GNNLayer, LinearSource
from .readout import AttentionReadout, DeepSetsReadout, Readout

__all__ = ["MPNN", "MESSAGES", "MPNN_READOUTS"]

MESSAGES = ("linear", "mlp")
MPNN_READOUTS = ("sum", "mean", "max", "deepsets", "attention")


class MPNN(nn.Module):
    r"""The MPNN algorithm: embed, ``T`` rounds of message passing with a GRU update, readout, classify.

    .. code-block:: text

        h ← Embed(x)
        for t = 1..T:
            m ← Message(A, h)        # m_v = Σ_{u→v} M(h_u, h_v, w_uv)
            h ← VertexUpdate(h, m)   # h_v = GRU(input=m_v, state=h_v)
        r ← Readout(h)               # one vector per graph, permutation invariant
        return Classify(r)

    One :class:`~gnnkit.nn.GNNLayer` (edge function ``M``, reduce, vertex function
    :class:`~gnnkit.blocks.RecurrentVertexFn` around a :class:`~gnnkit.blocks.GRUCell`)
    is applied ``T`` times with shared weights, as in the paper. Many small graphs are
    one disconnected graph from :meth:`Graph.batch`; the readout pools per graph with
    ``g.node_graph()``.

    Args:
        in_features: vertex input size ``F``.
        hidden_features: state size ``D`` (also the message size).
        out_features: classes (logits) or regression targets per graph.
        num_steps: ``T >= 1``, rounds of message passing.
        message: ``"linear"``: :math:`M = W h_u` (fused into one sparse product, no
            ``[E, D]`` tensor; edge features unsupported); ``"mlp"``:
            :math:`M = \mathrm{MLP}([h_u \| h_v \| w_{uv}])` with ``edge_weight`` as :math:`w`.
        edge_features: size ``D_e`` of the edge data ``edge_weight`` (``"mlp"`` only; 0 for none).
        reduce: ``"sum" | "mean" | "max" | "min"`` over the in-edges.
        aggregator: deprecated name of ``reduce``.
        readout: ``"sum" | "mean" | "max" | "deepsets" | "attention"``.
        classifier_layers: depth of the classifier MLP.
        dropout: dropout in the classifier.

    Shape:
        x ``[N, F]``, edge_weight ``[E, edge_features]`` or None → ``[B, out_features]``.

    Raises:
        ValueError: unknown options, edge features with the linear message, or (in
            ``forward``) inputs of the wrong shape.
    """

    def __init__(
        self,
        in_features: int,
        hidden_features: int,
        out_features: int,
        num_steps: int = 3,
        message: str = "linear",
        edge_features: int = 0,
        reduce: str = "sum",
        readout: str = "sum",
        classifier_layers: int = 2,
        dropout: float = 0.0,
        *,
        aggregator: str | None = None,
    ):
        super().__init__()
        reduce = renamed_keyword("MPNN", "aggregator", "reduce", aggregator, reduce, "sum")
        if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
            raise ValueError(f"num_steps must be an int >= 1, got {num_steps!r}")
        if message not in MESSAGES:
            raise ValueError(f"message must be one of {MESSAGES}, got {message!r}")
        if readout not in MPNN_READOUTS:
            raise ValueError(f"readout must be one of {MPNN_READOUTS}, got {readout!r}")
        if reduce not in ops.REDUCES:
            raise ValueError(f"reduce must be one of {ops.REDUCES}, got {reduce!r}")
        if edge_features < 0:
            raise ValueError(f"edge_features must be >= 0, got {edge_features}")
        if message == "linear" and edge_features:
            raise ValueError("the 'linear' message ignores edge features; pass message='mlp' to use edge_features")
        d = hidden_features
        self.in_features, self.hidden_features, self.out_features = in_features, hidden_features, out_features
        self.num_steps, self.message, self.edge_features = num_steps, message, edge_features
        self.reduce, self.readout_kind = reduce, readout
        self.embed = nn.Linear(in_features, d)
        if message == "linear":
            edge_fn: nn.Module = LinearSource(d, d)
        else:
            edge_fn = ConcatEdgeFn(MLP(2 * d + edge_features, d, d, num_layers=2), use_dst=True, use_edge=edge_features > 0)
        self.step = GNNLayer(edge_fn, reduce, RecurrentVertexFn(GRUCell(d, d)))
        if readout == "deepsets":
            self.readout: nn.Module = DeepSetsReadout(MLP(d, d, d, num_layers=2), MLP(d, d, d, num_layers=1, plain_last=False))
        elif readout == "attention":
            self.readout = AttentionReadout(nn.Linear(d, 1), nn.Linear(d, d))
        else:
            self.readout = Readout(readout)
        self.classify = MLP(d, d, out_features, num_layers=classifier_layers, dropout=dropout)

    def reset_parameters(self) -> None:
        for m in self.modules():
            if m is not self and hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def embed_vertices(self, g: Graph, x: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        """The vertex states after ``T`` rounds, ``[N, D]``."""
        if not isinstance(g, Graph):
            raise TypeError(f"g must be a gnnkit.Graph, got {type(g).__name__}")
        ops.check_float(x, "x")
        if x.dim() != 2 or x.shape != (g.num_nodes, self.in_features):
            raise ValueError(f"MPNN expects x of shape [N, F] = [{g.num_nodes}, {self.in_features}], got {tuple(x.shape)}")
        if self.edge_features:
            if edge_weight is None or edge_weight.shape != (g.num_edges, self.edge_features):
                got = None if edge_weight is None else tuple(edge_weight.shape)
                raise ValueError(f"MPNN expects edge_weight of shape [E, D_e] = [{g.num_edges}, {self.edge_features}], got {got}")
        elif edge_weight is not None:
            raise ValueError("this MPNN was built with edge_features=0 but got edge_weight; build it with edge_features")
        h = self.embed(x)  # [N, D]
        for _ in range(self.num_steps):
            h = self.step(g, h, edge_weight)  # [N, D]: message, reduce, GRU update
        return h

    def embed_graphs(self, g: Graph, x: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        """The readout ``r``, one vector per graph, ``[B, D]``."""
        return self.readout(g, self.embed_vertices(g, x, edge_weight))

    def forward(self, g: Graph, x: Tensor, edge_weight: Tensor | None = None, *, e: Tensor | None = None) -> Tensor:
        """Logits per graph; ``e`` is the deprecated name of ``edge_weight``."""
        edge_weight = renamed_keyword("MPNN.forward", "e", "edge_weight", e, edge_weight, None)
        return self.classify(self.embed_graphs(g, x, edge_weight))  # [B, out_features]

    def extra_repr(self) -> str:
        return (f"num_steps={self.num_steps}, message={self.message!r}, reduce={self.reduce!r}, "
                f"readout={self.readout_kind!r}")
