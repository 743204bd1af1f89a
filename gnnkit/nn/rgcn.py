r"""Relational graph convolution (Schlichtkrull et al. 2018, https://arxiv.org/abs/1703.06103)."""
from __future__ import annotations

import math
from typing import Mapping

import torch
from torch import Tensor, nn

from .. import ops
from ..graph import Graph
from ..graph.hetero import HeteroGraph
from ._typed import check_edge_type, stack_relations, typed_graph, typed_mean_weight

__all__ = ["RGCNConv", "RGCN_REDUCES"]

RGCN_REDUCES = ("mean", "sum")


class RGCNConv(nn.Module):
    r"""R-GCN: one weight per relation, with optional basis or block-diagonal decomposition.

    .. math::
        x'_v = W_0 x_v + \sum_{r} \sum_{u \in N_r(v)} \frac{1}{c_{v,r}} W_r x_u + b,
        \qquad W_r = \sum_{b=1}^{B} a_{rb} V_b \ \text{(bases)}
        \ \text{or}\ W_r = \mathrm{diag}(Q_{r1}, \dots, Q_{rK}) \ \text{(blocks)}

    with :math:`c_{v,r} = |N_r(v)|` for ``reduce="mean"`` and 1 for ``"sum"``. Parameters
    and their layout are PyG's ``RGCNConv`` (``weight``, ``comp``, ``root``, ``bias``; ``x @ W``);
    with ``reduce="sum"`` and bases it is DGL's ``RelGraphConv(regularizer="basis")``
    (``W``, ``coeff``, ``loop_weight``, ``h_bias``), and with blocks ``regularizer="bdd"``;
    tests/test_hetero_models.py checks both with copied weights.

    No loop over relations runs: the relation is folded into a vertex id
    (:mod:`gnnkit.nn._typed`) and the whole layer is one ``spmm`` plus dense products.
    The sparse product moves the narrower of ``F`` and ``F'``, as :class:`GCNConv` does:

    - ``F' < F`` (project first): ``x`` is projected by every :math:`W_r` in one GEMM
      (``[N, R·F']``, with :math:`W_r` built from the bases first: ``R·B·F·F'`` flops,
      independent of the graph), then one ``spmm`` over ``u·R + r -> v`` with the
      :math:`1/c_{v,r}` folded into the edge weights (one ``bincount`` on ``v·R + r``);
    - otherwise (aggregate first): one ``spmm`` over ``u -> v·R + r`` gives every
      relation's mean ``[N, R, F]``; bases are contracted on that (``[N, B, F]``, so
      :math:`W_r` is never formed), then one GEMM with the stacked bases, or a batched
      block product for the block-diagonal form.

    On a :class:`HeteroGraph` this typed layout is cached on the graph; on a :class:`Graph`
    with ``edge_type`` it is rebuilt per call (``edge_type`` may change between calls), which
    costs one sort of the ``E`` edges when the CSR is built.

    Folding the basis coefficients into the edges instead (``[N, B·F']`` then an ``E·B``-edge
    product) moves ``B`` times more sparse bytes; the sparse product is the slow part on
    both CPU and GPU, so it is not used.

    Args:
        in_features: ``F``. out_features: ``F'``.
        num_relations: ``R``; edge types lie in ``[0, R)``.
        num_bases: ``B``: basis decomposition (``weight [B, F, F']``, ``comp [R, B]``).
        num_blocks: ``K``: block-diagonal decomposition (``weight [R, K, F/K, F'/K]``).
        reduce: ``"mean"`` (per relation, the paper's :math:`1/|N_r(v)|`) or ``"sum"``.
        root_weight: add :math:`W_0 x_v` (``root [F, F']``).
        bias: learn :math:`b`.

    Shape:
        On a :class:`Graph` with ``edge_type [E]``: x ``[N_src, F]`` → ``[N, F']`` (on a
        bipartite block the destinations are the first ``N`` sources, DGL's convention).
        On a :class:`HeteroGraph` (relation ``r`` is ``g.relations[r]``; every node type
        has ``F`` features): x ``{type: [N_t, F]}`` → ``{type: [N_t, F']}`` for every type
        (``[num_dst_nodes(t), F']`` on a block of :class:`gnnkit.data.HeteroNeighborSampler`).

    Raises:
        ValueError: sizes < 1, both or invalid decompositions, an unknown ``reduce``;
            at forward, wrong shapes, a HeteroGraph whose number of relations is not ``R``.
        TypeError: a non-integer ``edge_type`` or a wrong graph.
        IndexError: an edge type outside ``[0, R)``.

    Edge cases: a vertex without in-edges of relation ``r`` gets nothing from ``r``
    (no division by zero); duplicate edges count twice in :math:`c_{v,r}`; self-loops are
    ordinary edges.
    """

    def __init__(self, in_features: int, out_features: int, num_relations: int, num_bases: int | None = None,
                 num_blocks: int | None = None, reduce: str = "mean", root_weight: bool = True, bias: bool = True) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features), ("num_relations", num_relations)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if num_bases is not None and num_blocks is not None:
            raise ValueError(f"pass num_bases or num_blocks, not both (got {num_bases} and {num_blocks})")
        for name, value in (("num_bases", num_bases), ("num_blocks", num_blocks)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be None or an int >= 1, got {value!r}")
        if num_blocks is not None and (in_features % num_blocks or out_features % num_blocks):
            raise ValueError(f"num_blocks={num_blocks} must divide in_features={in_features} and out_features={out_features}")
        if reduce not in RGCN_REDUCES:
            raise ValueError(f"reduce must be one of {RGCN_REDUCES}, got {reduce!r}")
        self.in_features, self.out_features, self.num_relations = in_features, out_features, num_relations
        self.num_bases, self.num_blocks, self.reduce = num_bases, num_blocks, reduce
        if num_bases is not None:
            self.weight = nn.Parameter(torch.empty(num_bases, in_features, out_features))
            self.comp = nn.Parameter(torch.empty(num_relations, num_bases))
        elif num_blocks is not None:
            k = num_blocks
            self.weight = nn.Parameter(torch.empty(num_relations, k, in_features // k, out_features // k))
            self.register_parameter("comp", None)
        else:
            self.weight = nn.Parameter(torch.empty(num_relations, in_features, out_features))
            self.register_parameter("comp", None)
        self.root = nn.Parameter(torch.empty(in_features, out_features)) if root_weight else None
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # glorot on each tensor as PyG does (fan-in/out of the last two dimensions)
        for p in (self.weight, self.comp, self.root):
            if p is not None:
                bound = math.sqrt(6.0 / (p.shape[-2] + p.shape[-1]))
                nn.init.uniform_(p, -bound, bound)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    # ------------------------------------------------------------ forward
    def forward(self, g: Graph | HeteroGraph, x: Tensor | Mapping[str, Tensor],
                edge_type: Tensor | None = None) -> Tensor | dict[str, Tensor]:
        """Apply the layer on a typed :class:`Graph` (``edge_type`` given) or a :class:`HeteroGraph`."""
        if isinstance(g, HeteroGraph):
            if edge_type is not None:
                raise ValueError("edge_type is implied by a HeteroGraph's relations; pass edge_type=None")
            return self._forward_hetero(g, x)
        if not isinstance(g, Graph):
            raise TypeError(f"g must be a gnnkit.Graph (with edge_type) or a HeteroGraph, got {type(g).__name__}")
        if edge_type is None:
            raise ValueError("edge_type [E] is required on a Graph; on a HeteroGraph the relations give it")
        if not isinstance(x, Tensor) or x.dim() != 2 or x.shape != (g.num_src_nodes, self.in_features):
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x must have shape [num_src_nodes={g.num_src_nodes}, F={self.in_features}], got {got}")
        rel = check_edge_type(edge_type, g.num_edges, self.num_relations)
        side = self._side()
        sub = typed_graph(g.src, g.dst, rel, g.num_src_nodes, g.num_nodes, self.num_relations, side)
        w = typed_mean_weight(g.dst, rel, g.num_nodes, self.num_relations, x.dtype) if self._weighted(side) else None
        return self._propagate(sub, w, side, x, x[: g.num_nodes])

    def _side(self) -> str:
        return "src" if self.out_features < self.in_features else "dst"

    def _weighted(self, side: str) -> bool:
        # aggregate-first runs spmm(reduce="mean") itself; project-first folds 1/c into the edges
        return side == "src" and self.reduce == "mean"

    def _forward_hetero(self, hg: HeteroGraph, x: Mapping[str, Tensor]) -> dict[str, Tensor]:
        if len(hg.relations) != self.num_relations:
            raise ValueError(f"the HeteroGraph has {len(hg.relations)} relations but the layer was built for "
                             f"num_relations={self.num_relations}")
        if not isinstance(x, Mapping):
            raise TypeError(f"x must be a mapping {{node_type: [N_t, F] tensor}} on a HeteroGraph, got {type(x).__name__}")
        for t in hg.ntypes:
            v = x.get(t)
            if not isinstance(v, Tensor) or v.shape != (hg.num_nodes(t), self.in_features):
                got = tuple(v.shape) if isinstance(v, Tensor) else type(v).__name__
                raise ValueError(f"x[{t!r}] must have shape [{hg.num_nodes(t)}, F={self.in_features}], got {got}")
        types = hg.ntypes
        num_dst = [hg.num_dst_nodes(t) for t in types]
        xs = torch.cat([x[t] for t in types])  # [N, F], types one after another (to_homogeneous order)
        # a block's destinations are the first rows of each type; on a whole graph this is xs itself
        x_dst = torch.cat([x[t][:n] for t, n in zip(types, num_dst)]) if hg.is_block else xs  # [N_dst, F]
        side = self._side()

        def layout():  # once per graph, side, reduce and dtype: the structure is immutable
            src, dst, rel = stack_relations(hg, hg.relations, types, types)
            sub = typed_graph(src, dst, rel, xs.shape[0], x_dst.shape[0], self.num_relations, side)
            w = typed_mean_weight(dst, rel, x_dst.shape[0], self.num_relations, xs.dtype) if self._weighted(side) else None
            return sub, w

        sub, w = hg._cached(("rgcn", side, self.reduce, xs.dtype, self.num_relations), layout)
        out = self._propagate(sub, w, side, xs, x_dst)  # [N_dst, F']
        return dict(zip(types, out.split(num_dst)))

    def _propagate(self, sub: Graph, w: Tensor | None, side: str, x: Tensor, x_dst: Tensor) -> Tensor:
        r, fo = self.num_relations, self.out_features
        if side == "src":
            y = self._project(x)  # [N_src, R, F']
            out = ops.spmm(sub, y.reshape(-1, fo), w)  # [N_src·R, F'] rows -> [N, F']
        else:
            n = sub.num_nodes // r
            z = ops.spmm(sub, x, reduce=self.reduce).view(n, r, self.in_features)  # [N·R, F] -> [N, R, F]
            out = self._transform(z)  # [N, F']
        if self.root is not None:
            out = torch.addmm(out, x_dst, self.root)
        if self.bias is not None:
            out = out + self.bias
        return out

    def relation_weight(self) -> Tensor:
        r"""``[R, F, F']`` the :math:`W_r` (formed from the bases or blocks)."""
        r, fi, fo = self.num_relations, self.in_features, self.out_features
        if self.num_bases is not None:
            return (self.comp @ self.weight.reshape(self.num_bases, fi * fo)).view(r, fi, fo)
        if self.num_blocks is not None:
            k = self.num_blocks
            eye = torch.eye(k, dtype=self.weight.dtype, device=self.weight.device)
            return torch.einsum("kl,rkio->rkilo", eye, self.weight).reshape(r, fi, fo)  # block k on the diagonal
        return self.weight

    def _project(self, x: Tensor) -> Tensor:
        """``[N, R, F']``: ``x`` times every :math:`W_r`, in one GEMM (or one batched block product)."""
        n, r, fi, fo = x.shape[0], self.num_relations, self.in_features, self.out_features
        if self.num_blocks is not None:
            k = self.num_blocks
            return torch.einsum("nki,rkio->nrko", x.view(n, k, fi // k), self.weight).reshape(n, r, fo)
        w = self.relation_weight()  # [R, F, F']
        return (x @ w.permute(1, 0, 2).reshape(fi, r * fo)).view(n, r, fo)  # row n holds x_n W_1 .. x_n W_R

    def _transform(self, z: Tensor) -> Tensor:
        """``Σ_r z[:, r] W_r`` for the per-relation aggregates ``z [N, R, F]``."""
        n, r, fi, fo = z.shape[0], self.num_relations, self.in_features, self.out_features
        if self.num_bases is not None:
            zb = torch.einsum("nrf,rb->nbf", z, self.comp)  # [N, B, F]: Σ_r a_rb z_r, so W_r is never formed
            return zb.reshape(n, self.num_bases * fi) @ self.weight.reshape(self.num_bases * fi, fo)
        if self.num_blocks is not None:
            k = self.num_blocks
            return torch.einsum("nrki,rkio->nko", z.view(n, r, k, fi // k), self.weight).reshape(n, fo)
        return z.reshape(n, r * fi) @ self.weight.reshape(r * fi, fo)

    def extra_repr(self) -> str:
        return (f"{self.in_features}, {self.out_features}, num_relations={self.num_relations}, num_bases={self.num_bases}, "
                f"num_blocks={self.num_blocks}, reduce={self.reduce!r}")
