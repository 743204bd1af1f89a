"""Graph attention (Veličković et al. 2018, https://arxiv.org/abs/1710.10903)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import ops
from ..graph import Graph
from ._bipartite import NodeInput, split_input

__all__ = ["GATConv"]


class GATConv(nn.Module):
    r"""Multi-head graph attention.

    .. math::
        \alpha_{uv}^h = \mathrm{softmax}_{u \to v}\big(\mathrm{LeakyReLU}(a_s^h \cdot W^h x_u + a_d^h \cdot W^h x_v)\big),\quad
        x'^h_v = \sum_{u \to v} \alpha^h_{uv} W^h x_u

    The scores are two per-vertex dot products combined per edge, so everything kept
    per edge is ``[E, H]`` scalars: there is no ``[E, H, F]`` message tensor
    (``sddmm`` → ``edge_softmax`` → ``spmm`` with per-head weights). Parameters match
    PyG's ``GATConv`` (``lin``, ``att_src``, ``att_dst``, ``bias``).

    Args:
        in_features: ``F``. out_features: ``F'`` per head. heads: ``H``.
        concat: concatenate heads (``[N, H F']``) or average them (``[N, F']``).
        negative_slope: LeakyReLU slope. dropout: dropout on the attention weights.
        add_self_loops: add a loop per vertex (where missing; cached on ``g``).
        bias: learn a bias.

    Shape:
        x ``[N, F]`` → ``[N, H F']`` (concat) or ``[N, F']``. On a bipartite block the
        destinations are the first ``num_nodes`` rows of x; a pair ``(x_src, x_dst)`` gives the
        two vertex sets apart (both projected by the one ``lin``, as DGL and PyG do for an int
        ``in_features``).
    """

    def __init__(self, in_features: int, out_features: int, heads: int = 1, concat: bool = True, negative_slope: float = 0.2,
                 dropout: float = 0.0, add_self_loops: bool = True, bias: bool = True):
        super().__init__()
        if heads < 1:
            raise ValueError(f"heads must be >= 1, got {heads}")
        self.in_features, self.out_features, self.heads, self.concat = in_features, out_features, heads, concat
        self.negative_slope, self.dropout, self.add_self_loops = negative_slope, dropout, add_self_loops
        self.lin = nn.Linear(in_features, heads * out_features, bias=False)
        self.att_src = nn.Parameter(torch.empty(1, heads, out_features))
        self.att_dst = nn.Parameter(torch.empty(1, heads, out_features))
        size = heads * out_features if concat else out_features
        self.bias = nn.Parameter(torch.empty(size)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.lin.weight)
        nn.init.xavier_uniform_(self.att_src)
        nn.init.xavier_uniform_(self.att_dst)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, g: Graph, x: NodeInput, return_attention: bool = False):
        x, x_dst, pair = split_input(g, x)  # [S, F], [N, F]
        if self.add_self_loops:
            if g.is_bipartite or pair:
                raise ValueError(
                    "GATConv(add_self_loops=True) needs one vertex set; pass add_self_loops=False for a bipartite "
                    "block or an (x_src, x_dst) pair"
                )
            g = g.add_self_loops(only_missing=True)
        h = self.lin(x).view(-1, self.heads, self.out_features)  # [N, H, F']
        # a_s . (W x) = (a_s^T W) x: fold the attention vectors into the projection, so
        # the per-vertex scores are one [N, F] x [F, 2H] product and no [N, H, F'] temporary
        w = self.lin.weight.view(self.heads, self.out_features, -1)  # [H, F', F]
        att = torch.cat([self.att_src, self.att_dst], 1).view(2 * self.heads, self.out_features, 1)  # [2H, F', 1]
        w_att = (w.repeat(2, 1, 1) * att).sum(1)  # [2H, F]
        if pair:
            a_src, a_dst = x @ w_att[: self.heads].t(), x_dst @ w_att[self.heads :].t()  # [S, H], [N, H]
        else:
            a_src, a_dst = (x @ w_att.t()).split(self.heads, dim=1)  # [N, H] each
            if g.is_bipartite:  # block convention: the destinations are the first num_nodes sources
                a_dst = a_dst[: g.num_nodes]
        if h.is_cuda and not return_attention:
            # one fused kernel: scores, streaming softmax, dropout and aggregation, keeping [N, H]
            # softmax statistics instead of [E, H] attention weights (docs/kernels.md)
            out = ops.gat_attention(g, h, a_src, a_dst, self.negative_slope, self.dropout if self.training else 0.0)
        else:
            score = F.leaky_relu(ops.sddmm(g, a_src, a_dst, op="add"), self.negative_slope)  # [E, H]
            alpha = ops.edge_softmax(g, score)  # [E, H]
            alpha_d = F.dropout(alpha, p=self.dropout, training=self.training)
            out = ops.spmm(g, h, alpha_d)  # [N, H, F']
        out = out.reshape(-1, self.heads * self.out_features) if self.concat else out.mean(1)
        if self.bias is not None:
            out = out + self.bias
        return (out, (g, alpha)) if return_attention else out

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, heads={self.heads}, concat={self.concat}"
