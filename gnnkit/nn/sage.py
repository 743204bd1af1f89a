"""GraphSAGE convolution (Hamilton et al. 2017, https://arxiv.org/abs/1706.02216)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import ops
from .._deprecated import renamed_keyword
from ..blocks.activations import activation_fn
from ..graph import Graph
from ._bipartite import NodeInput, autocast_split, split_input
from ._activation import FUSED
from ._dense import multi_linear
from ._edge import scalar_edge_weight
from ._sage_block import sage_block, sage_block_applies

__all__ = ["SAGEConv"]


class SAGEConv(nn.Module):
    r"""GraphSAGE: :math:`x'_v = \sigma(W_1 x_v + W_2 \cdot \gamma_{u \to v}(x_u) + b)`.

    Same parameterisation as PyG's ``SAGEConv`` (``lin_l`` on the aggregate with the bias,
    ``lin_r`` on the root). For sum/mean the projection is applied before the sparse
    product when it shrinks the features, since :math:`\gamma(A X) W = \gamma(A X W)` for linear γ.

    Args:
        in_features, out_features: sizes.
        reduce: ``"mean" | "sum" | "max" | "min"``: :math:`\gamma`.
        aggr: deprecated name of ``reduce``.
        root_weight: add :math:`W_1 x_v`.
        normalize: L2-normalise the output rows.
        bias: learn a bias (on ``lin_l``).
        activation: :math:`\sigma`, a name from :data:`gnnkit.blocks.ACTIVATIONS` or None (the
            identity), applied before ``normalize`` (as DGL's ``SAGEConv(activation=...)``). ``"relu"``
            and ``"elu"`` run inside the layer's last autograd node (on a sampled block, or when the
            layer aggregates before projecting), in place on its output buffer, which saves the two
            ``[N, F']`` tensors (output and gradient) that ``torch.relu(conv(g, x))`` allocates
            afresh per step.

    Shape:
        x ``[N, F]`` → ``[N, F']``. On a bipartite graph (a sampled block) x holds the
        ``num_src_nodes`` sources, of which the first ``num_nodes`` are the destinations
        (DGL's block convention); the output has ``num_nodes`` rows. A pair
        ``(x_src [num_src_nodes, F], x_dst [num_nodes, F])`` gives the two vertex sets of a
        relation between two node types (``HeteroConv``).
    """

    def __init__(self, in_features: int, out_features: int, reduce: str = "mean", root_weight: bool = True,
                 normalize: bool = False, bias: bool = True, activation: str | None = None, *,
                 aggr: str | None = None):
        super().__init__()
        reduce = renamed_keyword("SAGEConv", "aggr", "reduce", aggr, reduce, "mean")
        if reduce not in ops.REDUCES:
            raise ValueError(f"reduce must be one of {ops.REDUCES}, got {reduce!r}")
        if activation is not None:
            activation_fn(activation)  # raises ValueError naming the choices
        self.in_features, self.out_features, self.reduce = in_features, out_features, reduce
        self.activation = activation
        self.root_weight, self.normalize = root_weight, normalize
        self.lin_l = nn.Linear(in_features, out_features, bias=bias)
        self.lin_r = nn.Linear(in_features, out_features, bias=False) if root_weight else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.lin_l.reset_parameters()
        if self.lin_r is not None:
            self.lin_r.reset_parameters()

    def forward(self, g: Graph, x: NodeInput, edge_weight: Tensor | None = None) -> Tensor:
        r"""Apply the layer; ``edge_weight [E]`` weights the neighbours (reduce ``"sum"`` or ``"mean"`` only).

        With weights, ``"sum"`` is :math:`\sum_u w_{uv} x_u` and ``"mean"`` the weighted mean
        :math:`\sum_u w_{uv} x_u / \sum_u w_{uv}` (0 for a vertex whose weights sum to 0).

        Raises:
            ValueError: ``edge_weight`` with reduce max/min, or not of shape ``[E]``.
        """
        x_src, x_dst, pair = split_input(g, x)  # [S, F], [N_dst, F]
        reduce, w = self.reduce, None
        if edge_weight is not None:
            if reduce not in ("sum", "mean"):
                raise ValueError(f"edge_weight needs reduce 'sum' or 'mean', but this SAGEConv has reduce={reduce!r}")
            w = scalar_edge_weight(g.num_edges, edge_weight).to(x_src.dtype)
            if reduce == "mean":  # normalise per destination: the weighted mean is then a weighted sum
                den = w.new_zeros(g.num_nodes).index_add_(0, g.dst, w)  # [N] weighted in-degree
                w = w / den.clamp(min=torch.finfo(w.dtype).tiny)[g.dst]  # [E]
            reduce = "sum"
        if reduce in ("sum", "mean"):  # cast once under autocast: x feeds the sparse product and the root
            x_src, x_dst = autocast_split(g, x_src, x_dst, pair)  # projection (max/min: see ops.spmm)
        w_l, w_r, b = self.lin_l.weight, None if self.lin_r is None else self.lin_r.weight, self.lin_l.bias
        act = self.activation if self.activation in FUSED else None  # run inside the last autograd node
        if reduce in ("sum", "mean") and w is None and w_r is not None and not pair and sage_block_applies(g, x_src):
            # a block or a whole graph: one autograd node whose input gradient is one buffer (see _sage_block)
            return self.finish(sage_block(g, x_src, w_l, w_r, b, reduce, act), activated=act is not None)
        if reduce in ("sum", "mean") and self.out_features < self.in_features:
            # project first (γ(A X) W = γ(A X W) for linear γ): one GEMM for both weights,
            # then aggregate only the narrow half
            if w_r is None:
                y_l, y_r = multi_linear([x_src], [w_l]), None
            elif pair:  # two vertex sets: each side gets its own projection
                y_l, y_r = multi_linear([x_src], [w_l]), multi_linear([x_dst], [w_r])
            else:  # split's backward is one cat; slicing would zero-fill a gradient per slice
                y_l, y_r = multi_linear([x_src], [torch.cat([w_l, w_r])]).split(self.out_features, dim=1)
                y_r = y_r[: g.num_nodes] if g.is_bipartite else y_r
            out = ops.spmm(g, y_l, w, reduce=reduce)
            if b is not None:  # in out's dtype: a float32 bias would promote a bfloat16 output to float32
                out = out + b.to(out.dtype)
            if y_r is not None:
                out = out + y_r
        else:
            agg = ops.spmm(g, x_src, w, reduce=reduce)
            out = multi_linear([agg] if w_r is None else [agg, x_dst], [w_l] if w_r is None else [w_l, w_r], b, act)
            return self.finish(out, activated=act is not None)
        return self.finish(out)

    def finish(self, out: Tensor, activated: bool = False) -> Tensor:
        """The layer's output from its raw ``W_1 x_v + W_2 γ(x_u) + b``: the activation (unless
        ``activated``, where a fused path applied it) and then the normalisation."""
        if not activated and self.activation is not None:
            out = activation_fn(self.activation)(out)
        return F.normalize(out, p=2.0, dim=-1) if self.normalize else out

    def extra_repr(self) -> str:
        act = "" if self.activation is None else f", activation={self.activation!r}"
        return f"{self.in_features}, {self.out_features}, reduce={self.reduce!r}{act}"
