r"""Attention as a node function: sparse multi-head attention over in-neighbours, and a dense transformer block."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import ops
from ..graph import Graph
from .mlp import MLP, _check_dropout, _check_positive

__all__ = ["NeighborAttention", "TransformerBlock"]


def _check_nodes(g: Graph, x: Tensor, in_features: int, owner: str) -> None:
    if not isinstance(g, Graph):
        raise TypeError(f"{owner}: g must be a gnnkit.Graph, got {type(g).__name__}")
    if g.is_bipartite:
        raise ValueError(f"{owner} needs one vertex set, got a bipartite graph (num_src_nodes={g.num_src_nodes})")
    if x.dim() != 2 or x.shape[0] != g.num_nodes or x.shape[1] != in_features:
        raise ValueError(
            f"{owner} expects x of shape [N, F] with N = num_nodes = {g.num_nodes} and F = {in_features}, "
            f"got {tuple(x.shape)}"
        )


class NeighborAttention(nn.Module):
    r"""Multi-head scaled dot-product attention of each vertex over its in-neighbours, on the sparse graph.

    .. math::
        \alpha^h_{uv} = \mathrm{softmax}_{u \to v}\Big(\frac{\langle W^h_K x_u,\ W^h_Q x_v \rangle}{\sqrt{D}}\Big),\quad
        x'_v = W_O \big\Vert_h \sum_{u \to v} \alpha^h_{uv}\, W^h_V x_u

    The transformer's attention with the keys restricted to the graph's in-edges (Vaswani
    et al. 2017; Dwivedi & Bresson 2020). It runs as ``sddmm(op="dot")`` → ``edge_softmax`` →
    ``spmm`` with per-head edge weights, so per edge only ``[E, H]`` scalars are kept: no
    ``[E, H, D]`` tensor. A vertex with no in-edges gets 0 (before ``W_O``'s bias); pass
    ``add_self_loops=True`` to let each vertex attend to itself. Duplicate edges count twice
    in the softmax.

    Args:
        in_features: ``F``.
        head_features: ``D``, the size of each head's query, key and value.
        heads: ``H``.
        out_features: size of the output projection ``W_O``; ``None`` returns the
            concatenated heads ``[N, H D]`` without a projection.
        bias: biases in the projections.
        dropout: dropout on the attention weights.
        add_self_loops: add a loop per vertex where missing (cached on ``g``).

    Shape:
        x ``[N, F]`` → ``[N, out_features]`` or ``[N, H D]``.

    Raises:
        ValueError: non-positive sizes; in ``forward`` a bipartite graph or x of the wrong shape.
    """

    def __init__(self, in_features: int, head_features: int, heads: int = 1, out_features: int | None = None,
                 bias: bool = True, dropout: float = 0.0, add_self_loops: bool = False):
        super().__init__()
        _check_positive(in_features=in_features, head_features=head_features, heads=heads)
        if out_features is not None:
            _check_positive(out_features=out_features)
        _check_dropout(dropout)
        self.in_features, self.head_features, self.heads = in_features, head_features, heads
        self.out_features = heads * head_features if out_features is None else out_features
        self.dropout, self.add_self_loops = dropout, add_self_loops
        self.lin_q = nn.Linear(in_features, heads * head_features, bias=bias)
        self.lin_k = nn.Linear(in_features, heads * head_features, bias=bias)
        self.lin_v = nn.Linear(in_features, heads * head_features, bias=bias)
        self.lin_out = nn.Linear(heads * head_features, out_features, bias=bias) if out_features is not None else None

    def reset_parameters(self) -> None:
        for m in (self.lin_q, self.lin_k, self.lin_v, self.lin_out):
            if m is not None:
                m.reset_parameters()

    def forward(self, g: Graph, x: Tensor, return_attention: bool = False):
        """Attend; with ``return_attention`` also return ``(g, alpha [E, H])`` (``g`` with any added loops)."""
        _check_nodes(g, x, self.in_features, "NeighborAttention")
        if self.add_self_loops:
            g = g.add_self_loops(only_missing=True)
        n, h, d = x.shape[0], self.heads, self.head_features
        # scale the queries, not the scores: N*H*D multiplications instead of E*H
        q = (self.lin_q(x) * (1.0 / math.sqrt(d))).view(n, h, d)  # [N, H, D]
        k = self.lin_k(x).view(n, h, d)  # [N, H, D]
        v = self.lin_v(x).view(n, h, d)  # [N, H, D]
        score = ops.sddmm(g, k, q, op="dot")  # [E, H]: <k_src, q_dst> per head
        alpha = ops.edge_softmax(g, score)  # [E, H]
        out = ops.spmm(g, v, F.dropout(alpha, self.dropout, self.training))  # [N, H, D]
        out = out.reshape(n, h * d)  # [N, H D]
        if self.lin_out is not None:
            out = self.lin_out(out)
        return (out, (g, alpha)) if return_attention else out

    def extra_repr(self) -> str:
        return (f"{self.in_features}, head_features={self.head_features}, heads={self.heads}, "
                f"out_features={self.out_features}, add_self_loops={self.add_self_loops}")


class TransformerBlock(nn.Module):
    r"""A pre-norm transformer block with dense attention among all vertices of the same graph.

    .. math::
        x \leftarrow x + W_O\,\mathrm{MHA}(\mathrm{LN}(x)),\quad x \leftarrow x + \mathrm{MLP}(\mathrm{LN}(x))

    Global (all-pairs) attention for *small* graphs: the vertices of a batched graph
    (:meth:`Graph.batch`) are padded to ``[B, N_max, F]`` and every vertex attends to every
    vertex of its own graph, never across graphs (a key mask per graph). Edges are
    ignored (combine with a message-passing layer, as in GPS). Memory is
    ``B · H · N_max²``. An unbatched graph is one graph of ``N`` vertices; a graph with no
    vertices contributes nothing.

    Args:
        features: ``F`` (input and output).
        heads: ``H``, must divide ``F``.
        ff_features: hidden width of the feed-forward MLP.
        dropout: dropout on the attention weights, after the attention projection and in the MLP.
        activation: the MLP's activation (name from :data:`gnnkit.blocks.ACTIVATIONS`).
        bias: biases in the projections.

    Shape:
        x ``[N, F]`` → ``[N, F]``.

    Raises:
        ValueError: ``heads`` not dividing ``features``; in ``forward`` x of the wrong shape.
    """

    def __init__(self, features: int, heads: int, ff_features: int, dropout: float = 0.0, activation: str = "gelu",
                 bias: bool = True):
        super().__init__()
        _check_positive(features=features, heads=heads, ff_features=ff_features)
        _check_dropout(dropout)
        if features % heads:
            raise ValueError(f"heads must divide features, got features={features} and heads={heads}")
        self.features, self.heads, self.ff_features, self.dropout = features, heads, ff_features, dropout
        self.norm1 = nn.LayerNorm(features)
        self.qkv = nn.Linear(features, 3 * features, bias=bias)
        self.proj = nn.Linear(features, features, bias=bias)
        self.norm2 = nn.LayerNorm(features)
        self.ff = MLP(features, ff_features, features, num_layers=2, activation=activation, dropout=dropout, bias=bias)
        self.drop = nn.Dropout(dropout)

    def reset_parameters(self) -> None:
        for m in (self.norm1, self.qkv, self.proj, self.norm2, self.ff):
            m.reset_parameters()

    def forward(self, g: Graph, x: Tensor) -> Tensor:
        _check_nodes(g, x, self.features, "TransformerBlock")
        n, f, h = x.shape[0], self.features, self.heads
        if n == 0:
            return x
        counts = g.batch_num_nodes if g.batch_num_nodes is not None else torch.tensor([n], device=x.device)
        b, n_max = counts.numel(), int(counts.max())
        graph_of = g.node_graph()  # [N]
        pos = torch.arange(n, device=x.device) - (torch.cumsum(counts, 0) - counts)[graph_of]  # [N] slot in its graph
        qkv = self.qkv(self.norm1(x))  # [N, 3F]
        padded = qkv.new_zeros(b, n_max, 3 * f).index_put((graph_of, pos), qkv)  # [B, N_max, 3F]
        q, k, v = padded.view(b, n_max, 3, h, f // h).permute(2, 0, 3, 1, 4)  # [B, H, N_max, F/H] each
        score = q @ k.transpose(-1, -2) / math.sqrt(f // h)  # [B, H, N_max, N_max]
        key_ok = torch.arange(n_max, device=x.device).view(1, -1) < counts.view(-1, 1)  # [B, N_max]
        # finfo.min, not -inf: padded query rows of an empty graph stay finite (and are dropped below)
        score = score.masked_fill(~key_ok.view(b, 1, 1, n_max), torch.finfo(score.dtype).min)
        attn = F.dropout(torch.softmax(score, dim=-1), self.dropout, self.training)
        out = (attn @ v).transpose(1, 2).reshape(b, n_max, f)  # [B, N_max, F]
        x = x + self.drop(self.proj(out[graph_of, pos]))  # [N, F]
        return x + self.ff(self.norm2(x))

    def extra_repr(self) -> str:
        return f"{self.features}, heads={self.heads}, ff_features={self.ff_features}, dropout={self.dropout}"
