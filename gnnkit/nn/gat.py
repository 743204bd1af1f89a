"""Graph attention (Veličković et al. 2018, https://arxiv.org/abs/1710.10903)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import ops
from ..graph import Graph
from ._bipartite import NodeInput, autocast_split, split_input
from ._edge import edge_features

__all__ = ["GATConv"]


class GATConv(nn.Module):
    r"""Multi-head graph attention.

    .. math::
        \alpha_{uv}^h = \mathrm{softmax}_{u \to v}\big(\mathrm{LeakyReLU}(a_s^h \cdot W^h x_u + a_d^h \cdot W^h x_v
        + a_e^h \cdot W_e^h e_{uv})\big),\quad
        x'^h_v = \sum_{u \to v} \alpha^h_{uv} W^h x_u

    The scores are per-vertex (and per-edge-feature) dot products combined per edge, so
    everything kept per edge is ``[E, H]`` scalars: there is no ``[E, H, F]`` message tensor
    (``sddmm`` → ``edge_softmax`` → ``spmm`` with per-head weights). Parameters match
    PyG's ``GATConv`` (``lin``, ``att_src``, ``att_dst``, ``bias``, and with ``edge_dim``
    ``lin_edge`` (no bias) and ``att_edge``).

    The edge term (only with ``edge_dim``) enters the score alone, never the message.
    Self-loops then get the mean feature of their vertex's in-edges (0 for a vertex without
    any) and an existing loop is replaced by that new one, as PyG's ``fill_value="mean"``
    after ``remove_self_loops`` does.

    Args:
        in_features: ``F``. out_features: ``F'`` per head. heads: ``H``.
        concat: concatenate heads (``[N, H F']``) or average them (``[N, F']``).
        negative_slope: LeakyReLU slope. dropout: dropout on the attention weights.
        add_self_loops: add a loop per vertex (where missing; cached on ``g``).
        bias: learn a bias.
        edge_dim: ``D``, the size of the edge features taken by ``forward``; ``None`` for
            attention over vertex features only.

    Shape:
        x ``[N, F]``, edge_weight ``[E, D]`` (``[E]`` when ``D = 1``) → ``[N, H F']``
        (concat) or ``[N, F']``. On a bipartite block the destinations are the first
        ``num_nodes`` rows of x; a pair ``(x_src, x_dst)`` gives the two vertex sets apart
        (both projected by the one ``lin``, as DGL and PyG do for an int ``in_features``).

    Raises:
        ValueError: ``heads < 1`` or ``edge_dim < 1``.
    """

    def __init__(self, in_features: int, out_features: int, heads: int = 1, concat: bool = True, negative_slope: float = 0.2,
                 dropout: float = 0.0, add_self_loops: bool = True, bias: bool = True, edge_dim: int | None = None):
        super().__init__()
        if heads < 1:
            raise ValueError(f"heads must be >= 1, got {heads}")
        if edge_dim is not None and edge_dim < 1:
            raise ValueError(f"edge_dim must be None or >= 1, got {edge_dim}")
        self.in_features, self.out_features, self.heads, self.concat = in_features, out_features, heads, concat
        self.negative_slope, self.dropout, self.add_self_loops = negative_slope, dropout, add_self_loops
        self.edge_dim = edge_dim
        self.lin = nn.Linear(in_features, heads * out_features, bias=False)
        self.att_src = nn.Parameter(torch.empty(1, heads, out_features))
        self.att_dst = nn.Parameter(torch.empty(1, heads, out_features))
        if edge_dim is not None:
            self.lin_edge = nn.Linear(edge_dim, heads * out_features, bias=False)
            self.att_edge = nn.Parameter(torch.empty(1, heads, out_features))
        else:  # registered as None so that state dicts and repr say the layer has no edge term
            self.register_module("lin_edge", None)
            self.register_parameter("att_edge", None)
        size = heads * out_features if concat else out_features
        self.bias = nn.Parameter(torch.empty(size)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.lin.weight)
        nn.init.xavier_uniform_(self.att_src)
        nn.init.xavier_uniform_(self.att_dst)
        if self.lin_edge is not None:
            nn.init.xavier_uniform_(self.lin_edge.weight)
            nn.init.xavier_uniform_(self.att_edge)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, g: Graph, x: NodeInput, edge_weight: Tensor | None = None,
                return_attention: bool = False) -> Tensor | tuple[Tensor, tuple[Graph, Tensor]]:
        """Attend over each vertex's in-edges.

        Args:
            g: the graph. x: node features, or a pair ``(x_src, x_dst)``.
            edge_weight: the edge features ``[E, D]`` (``[E]`` for ``D = 1``) in ``g``'s edge
                order; required when the layer has ``edge_dim``, not allowed otherwise.
            return_attention: also return ``(graph, alpha [E', H])``, the graph the attention
                ran on (with its loops) and its weights before dropout.

        Raises:
            ValueError: ``edge_weight`` given to a layer without ``edge_dim``, missing on one
                with it, or not of shape ``[E, edge_dim]``; self-loops on a bipartite input.
        """
        x, x_dst, pair = split_input(g, x)  # [S, F], [N, F]
        # cast once under autocast: x feeds the projection and the folded attention product
        x, x_dst = autocast_split(g, x, x_dst, pair)
        e = self._edge_features(g, edge_weight)  # [E, D] or None
        if self.add_self_loops:
            if g.is_bipartite or pair:
                raise ValueError(
                    "GATConv(add_self_loops=True) needs one vertex set; pass add_self_loops=False for a bipartite "
                    "block or an (x_src, x_dst) pair"
                )
            if e is None:
                g = g.add_self_loops(only_missing=True)
            else:
                # PyG: drop every loop, then one loop per vertex with the mean in-edge feature
                keep = g.src != g.dst  # [E]
                g, e = g.remove_self_loops().add_self_loops(e[keep], fill_value={"edge_weight": "mean"})
        h = self.lin(x).view(-1, self.heads, self.out_features)  # [N, H, F']
        w_att = self.attention_projection()  # [2H, F]
        if pair:
            a_src, a_dst = x @ w_att[: self.heads].t(), x_dst @ w_att[self.heads :].t()  # [S, H], [N, H]
        else:
            a_src, a_dst = (x @ w_att.t()).split(self.heads, dim=1)  # [N, H] each
            if g.is_bipartite:  # block convention: the destinations are the first num_nodes sources
                a_dst = a_dst[: g.num_nodes]
        if h.is_cuda and not return_attention and e is None:
            # one fused kernel: scores, streaming softmax, dropout and aggregation, keeping [N, H]
            # softmax statistics instead of [E, H] attention weights (docs/kernels.md); it has no edge term
            out = ops.gat_attention(g, h, a_src, a_dst, self.negative_slope, self.dropout if self.training else 0.0)
        else:
            score = ops.sddmm(g, a_src, a_dst, op="add")  # [E, H]
            if e is not None:
                # the same fold for the edge term: one [E, D] x [D, H] product, no [E, H, F'] tensor
                w_e = self.lin_edge.weight.view(self.heads, self.out_features, -1)  # [H, F', D]
                w_e_att = (w_e * self.att_edge.view(self.heads, self.out_features, 1)).sum(1)  # [H, D]
                score = score + e @ w_e_att.t()  # [E, H]
            score = F.leaky_relu(score, self.negative_slope)  # [E, H]
            alpha = ops.edge_softmax(g, score)  # [E, H]
            alpha_d = F.dropout(alpha, p=self.dropout, training=self.training)
            out = ops.spmm(g, h, alpha_d)  # [N, H, F']
        out = out.reshape(-1, self.heads * self.out_features) if self.concat else out.mean(1)
        if self.bias is not None:  # in out's dtype: a float32 bias would promote a bfloat16 output to float32
            out = out + self.bias.to(out.dtype)
        return (out, (g, alpha)) if return_attention else out

    def attention_projection(self) -> Tensor:
        """The attention vectors folded into the projection: ``[2H, F]``, source heads then destination heads.

        ``a_s . (W x) = (a_s^T W) x``, so the per-vertex scores are one ``[N, F] x [F, 2H]`` product
        and no ``[N, H, F']`` temporary. Differentiable in ``lin.weight``, ``att_src`` and ``att_dst``.
        """
        w = self.lin.weight.view(self.heads, self.out_features, -1)  # [H, F', F]
        att = torch.cat([self.att_src, self.att_dst], 1).view(2 * self.heads, self.out_features, 1)  # [2H, F', 1]
        return (w.repeat(2, 1, 1) * att).sum(1)  # [2H, F]

    def _edge_features(self, g: Graph, edge_weight: Tensor | None) -> Tensor | None:
        """``edge_weight`` checked against ``edge_dim`` and viewed as ``[E, D]``."""
        if self.edge_dim is None:
            if edge_weight is not None:
                raise ValueError(
                    "edge_weight was given, but this GATConv has edge_dim=None; construct it with "
                    "edge_dim=D to use [E, D] edge features"
                )
            return None
        if edge_weight is None:
            raise ValueError(f"this GATConv has edge_dim={self.edge_dim}, so forward needs edge_weight [E, {self.edge_dim}]")
        return edge_features(g.num_edges, edge_weight, self.edge_dim, "edge_dim")  # [E, D]

    def extra_repr(self) -> str:
        edge = "" if self.edge_dim is None else f", edge_dim={self.edge_dim}"
        return f"{self.in_features}, {self.out_features}, heads={self.heads}, concat={self.concat}{edge}"
