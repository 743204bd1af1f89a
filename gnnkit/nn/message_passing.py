r"""The generic layer: edge function f, reduction γ, vertex function g, as explicit arguments."""
from __future__ import annotations

from typing import Callable, Union

import torch
from torch import Tensor, nn

from .. import ops
from .._deprecated import deprecated_names, renamed_keyword
from ..blocks.source import SourceEdgeFn
from ..graph import Graph
from ._edge import edge_features

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
]

LAYER_REDUCES = ops.REDUCES + ("softmax",)  # the string choices of GNNLayer's reduce

EdgeFn = Union[nn.Module, Callable[[Tensor, Tensor, "Tensor | None"], Tensor]]
Reduce = Union[str, nn.Module, Callable[[Graph, Tensor], Tensor]]
VertexFn = Union[nn.Module, Callable[[Tensor, Tensor], Tensor], None]


# ------------------------------------------------------------ edge functions
class CopySource(SourceEdgeFn):
    """:math:`m_e = x_u` (identity edge function)."""


class EdgeWeighted(SourceEdgeFn):
    """:math:`m_e = w_e x_u` with the scalar (``[E]``) or per-head (``[E, H]``) edge data as ``w``."""

    use_edge_weight = True


class LinearSource(SourceEdgeFn):
    r""":math:`m_e = (w_e)\, W x_u (+ b)`: a linear map of the source feature.

    Args:
        in_features: ``F``. out_features: ``M``. bias: add ``b`` to every message.
        use_edge_weight: scale each message by the layer's scalar edge data.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = False, use_edge_weight: bool = False):
        super().__init__()
        self.lin = nn.Linear(in_features, out_features, bias=bias)
        self.use_edge_weight = use_edge_weight

    def transform(self, x: Tensor) -> Tensor:
        return self.lin(x)


class LinearSourceEdge(nn.Module):
    r""":math:`m_e = W x_u + W_e e_{uv} (+ b)`, i.e. :math:`W' [x_u \,\|\, e_{uv}]`: a linear map of the source and edge features.

    The message depends on the edge features, so it is not a :class:`SourceEdgeFn`:
    :class:`GNNLayer` computes it per edge (an ``[E, M]`` tensor) and then reduces it.

    Args:
        in_features: ``F``. edge_dim: ``D``. out_features: ``M``.
        bias: add ``b`` to every message (``lin``'s bias; ``lin_edge`` has none).

    Shape:
        x_src ``[E, F]``, edge_weight ``[E, D]`` (``[E]`` when ``D = 1``) → ``[E, M]``.

    Raises:
        ValueError: in ``forward``, ``edge_weight`` missing or not of shape ``[E, edge_dim]``.
    """

    def __init__(self, in_features: int, edge_dim: int, out_features: int, bias: bool = False):
        super().__init__()
        self.edge_dim = edge_dim
        self.lin = nn.Linear(in_features, out_features, bias=bias)
        self.lin_edge = nn.Linear(edge_dim, out_features, bias=False)

    def forward(self, x_src: Tensor, x_dst: Tensor, edge_weight: Tensor | None) -> Tensor:
        if edge_weight is None:
            raise ValueError(f"LinearSourceEdge needs edge features, but the layer was called with edge_weight=None; "
                             f"pass edge_weight [E, {self.edge_dim}]")
        e = edge_features(x_src.shape[0], edge_weight, self.edge_dim, "edge_dim")  # [E, D]
        return self.lin(x_src) + self.lin_edge(e)  # [E, M]

    def extra_repr(self) -> str:
        return f"edge_dim={self.edge_dim}"


# --------------------------------------------------------------- aggregators
class SoftmaxAggregation(nn.Module):
    r"""Softmax attention over a vertex's messages, per channel: :math:`\sum_e \mathrm{softmax}_e(t\, m_e)\, m_e`.

    Args:
        t: inverse temperature (``t → ∞`` approaches max, ``t = 0`` mean).
        learn: make ``t`` a parameter.
    """

    def __init__(self, t: float = 1.0, learn: bool = False):
        super().__init__()
        t_ = torch.tensor(float(t))
        if learn:
            self.t = nn.Parameter(t_)
        else:
            self.register_buffer("t", t_)

    def forward(self, g: Graph, m: Tensor) -> Tensor:  # m [E, M] -> [N, M]
        alpha = ops.edge_softmax(g, m * self.t)  # one softmax per channel: [E, M]
        return ops.segment_reduce(g, alpha * m, "sum")

    def extra_repr(self) -> str:
        return f"t={float(self.t):.3g}, learn={isinstance(self.t, nn.Parameter)}"


class DeepSetsAggregation(nn.Module):
    r"""Deep Sets: :math:`\rho(\sum_e \phi(m_e))` (Zaheer et al. 2017), permutation invariant."""

    def __init__(self, phi: nn.Module, rho: nn.Module):
        super().__init__()
        self.phi, self.rho = phi, rho

    def forward(self, g: Graph, m: Tensor) -> Tensor:
        return self.rho(ops.segment_reduce(g, self.phi(m), "sum"))


class LSTMAggregation(nn.Module):
    """Run an LSTM over each vertex's messages in edge order; the last state is the aggregate.

    Not permutation invariant (Hamilton et al. 2017). Messages are padded to the
    largest in-degree, so memory is ``[N, max_in_degree, M]``: meant for small graphs.
    A vertex with no in-edges aggregates to 0.
    """

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.lstm = nn.LSTM(in_features, out_features, batch_first=True)
        self.out_features = out_features

    def forward(self, g: Graph, m: Tensor) -> Tensor:
        csr = g.csr_in()
        deg = g.in_degrees()
        n = g.num_nodes
        out = m.new_zeros(n, self.out_features)
        if g.num_edges == 0:
            return out
        order = csr.eid if csr.eid is not None else torch.arange(g.num_edges, device=m.device)
        rows = torch.repeat_interleave(torch.arange(n, device=m.device), deg)  # [E] row of each CSR entry
        pos = torch.arange(g.num_edges, device=m.device) - csr.indptr[rows]  # [E] slot within the row
        padded = m.new_zeros(n, int(deg.max()), m.shape[1])  # [N, D, M]
        padded[rows, pos] = m[order]
        has = deg > 0
        packed = nn.utils.rnn.pack_padded_sequence(padded[has], deg[has].cpu(), batch_first=True, enforce_sorted=False)
        _, (h_n, _) = self.lstm(packed)
        out[has] = h_n[-1]
        return out


# ---------------------------------------------------------- vertex functions
class ConcatVertex(nn.Module):
    r""":math:`x'_v = \sigma(W [x_v \,\|\, h_v] + b)`: a vertex function over the old state and the aggregate."""

    def __init__(self, in_features: int, agg_features: int, out_features: int, activation: nn.Module | None = None):
        super().__init__()
        self.lin = nn.Linear(in_features + agg_features, out_features)
        self.activation = activation if activation is not None else nn.Identity()

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        return self.activation(self.lin(torch.cat([x, h], dim=-1)))


# -------------------------------------------------------------------- layer
def _rename_aggregator_keys(state_dict: dict, prefix: str, *args) -> None:
    # state dicts saved before the rename hold a module reduce's tensors under "aggregator."
    old = prefix + "aggregator."
    for key in [k for k in state_dict if k.startswith(old)]:
        state_dict[prefix + "reduce." + key[len(old):]] = state_dict.pop(key)


class GNNLayer(nn.Module):
    r"""Generic edge-function / reduce / vertex-function layer.

    .. math:: x'_v = g\big(x_v,\ \gamma(\{ f(x_u, x_v, w_{uv}) : (u, v) \in E \})\big)

    Args:
        edge_fn: ``(x_src [E, F], x_dst [E, F], edge_weight [E, ...] | None) -> [E, M]``. A
            :class:`SourceEdgeFn` (:class:`CopySource`, :class:`EdgeWeighted`,
            :class:`LinearSource`) is linear in the source feature, which lets the
            layer skip the per-edge messages (see ``forward``); its edge data must be a
            scalar ``[E]`` (or per-head ``[E, H]``) weight. ``[E, D]`` edge features need a
            per-edge function such as :class:`LinearSourceEdge`.
        reduce: :math:`\gamma`, one of :data:`LAYER_REDUCES` (``"sum" | "mean" | "max" | "min" |
            "softmax"``) or a module/callable ``(g, m [E, M]) -> [N, M]`` such as
            :class:`DeepSetsAggregation` or :class:`LSTMAggregation`. With a string a vertex
            with no in-edges reduces to 0; a module decides for itself (Deep Sets gives ``rho(0)``).
        vertex_fn: ``(x [N, F], h [N, M]) -> [N, F_out]``, or ``None`` to return ``h``.
        fuse: allow the fused path (set False to force per-edge messages, e.g. in tests).
        aggregator: deprecated name of ``reduce``.

    Shape:
        x ``[N, F]``; edge_weight ``[E]``/``[E, D]`` or None → ``[N, F_out]``.

    Raises:
        TypeError: a non-callable ``edge_fn``/``vertex_fn``/``reduce``, or no ``reduce``.
        ValueError: an unknown ``reduce`` string.
    """

    def __init__(self, edge_fn: EdgeFn, reduce: Reduce | None = None, vertex_fn: VertexFn = None, fuse: bool = True,
                 *, aggregator: Reduce | None = None):
        super().__init__()
        reduce = renamed_keyword("GNNLayer", "aggregator", "reduce", aggregator, reduce, None)
        if not callable(edge_fn):
            raise TypeError(f"edge_fn must be an nn.Module or callable, got {type(edge_fn).__name__}")
        if reduce is None:
            raise TypeError("GNNLayer needs reduce: one of LAYER_REDUCES or a module/callable (g, m) -> h")
        if isinstance(reduce, str):
            if reduce not in LAYER_REDUCES:
                raise ValueError(f"reduce must be one of {LAYER_REDUCES} or a module, got {reduce!r}")
            if reduce == "softmax":
                reduce = SoftmaxAggregation()
        elif not callable(reduce):
            raise TypeError(f"reduce must be a string or a module/callable (g, m) -> h, got {type(reduce).__name__}")
        if vertex_fn is not None and not callable(vertex_fn):
            raise TypeError(f"vertex_fn must be an nn.Module, a callable or None, got {type(vertex_fn).__name__}")
        self.edge_fn, self.reduce, self.vertex_fn, self.fuse = edge_fn, reduce, vertex_fn, fuse
        self._register_load_state_dict_pre_hook(_rename_aggregator_keys)

    def forward(self, g: Graph, x: Tensor, edge_weight: Tensor | None = None, *, e: Tensor | None = None) -> Tensor:
        """Messages, reduction and vertex update; ``e`` is the deprecated name of ``edge_weight``."""
        edge_weight = renamed_keyword("GNNLayer.forward", "e", "edge_weight", e, edge_weight, None)
        if self.fuse and isinstance(self.edge_fn, SourceEdgeFn) and isinstance(self.reduce, str):
            # fused: gamma(A T(X)) as one sparse product, no [E, M] message tensor
            h = ops.spmm(g, self.edge_fn.transform(x), self.edge_fn.edge_weight(edge_weight), self.reduce)  # [N, M]
        else:
            m = self.edge_fn(ops.gather(g, x, "src"), ops.gather(g, x, "dst"), edge_weight)  # [E, M]
            if isinstance(self.reduce, str):
                h = ops.segment_reduce(g, m, self.reduce)  # [N, M]
            else:
                h = self.reduce(g, m)  # [N, M]
        return h if self.vertex_fn is None else self.vertex_fn(x, h)

    def extra_repr(self) -> str:
        return f"fuse={self.fuse}"


__getattr__ = deprecated_names(__name__, {"AGGREGATORS": ("gnnkit.nn.LAYER_REDUCES", lambda: LAYER_REDUCES)})
