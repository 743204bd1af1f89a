r"""Heterogeneous convolution: one layer per relation, summed (or otherwise reduced) per destination type."""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import Tensor, nn

from .. import ops
from ..graph import Graph
from ..graph.hetero import HeteroGraph, Relation, RelationKey
from ._dense import multi_linear
from ._typed import stack_relations, typed_graph, typed_mean_weight
from .sage import SAGEConv

__all__ = ["HeteroConv", "HETERO_REDUCES"]

HETERO_REDUCES = ("sum", "mean", "max", "min", "stack")


class HeteroConv(nn.Module):
    r"""Runs a layer per relation of a :class:`~gnnkit.graph.HeteroGraph` and reduces per destination type.

    .. math::
        x'_t = \bigoplus_{r = (s, e, t)} \mathrm{conv}_r\big(G_r, (x_s, x_t)\big)

    with :math:`\oplus` the ``reduce`` over the relations that end in node type ``t``. As DGL's
    ``HeteroGraphConv`` and PyG's ``HeteroConv`` (tests/test_hetero.py compares both, with the
    weights copied across). A relation between two types passes the pair ``(x_src, x_dst)`` (so
    its layer must accept one: :class:`SAGEConv`, :class:`GATConv` with
    ``add_self_loops=False``, :class:`GINConv`); a relation within one type passes ``x[t]``.
    On a block (a sampled layer) every relation gets ``(x_src, x_dst)`` with ``x_dst`` the
    first ``num_dst_nodes(t)`` rows of ``x[t]``.

    **Batched relations.** When every relation ending in a type ``t`` has a
    :class:`SAGEConv` with the same sizes and options and a linear ``reduce`` (``"sum"`` or
    ``"mean"``, no ``normalize``), those relations run as ONE sparse product, as
    :class:`MultiViewConv` does for views (:mod:`gnnkit.nn._typed`), and the sparse product
    moves the narrower of ``F`` and ``F'``, as :class:`SAGEConv` itself does:

    - ``F' < F`` with ``reduce`` sum/mean over relations: each source type is multiplied by
      the ``W_l`` of all its relations in one GEMM (``[N_s, R_s·F']``), then one ``spmm``
      over every edge (source row ``u·R_s + j``, the per-relation mean folded into the edge
      weights) sums the relations directly; the root weights are summed first (one GEMM);
    - otherwise: one ``spmm`` over ``u -> v·R_t + r`` on the concatenated source features
      gives every relation's aggregate ``[N_t, R_t, F]``, then one GEMM with the stacked
      ``W_l`` (``[N_t, R_t·F] @ [R_t·F, F']``), or for ``"max" | "min" | "stack"`` one batched
      product that keeps the relations apart.

    The relation layouts are cached on the graph. Other types (mixed layer classes, GAT,
    GIN, ...) take the per-relation loop, which runs over relations (a handful), never over
    vertices or edges; results are the same either way (tests/test_hetero_models.py).
    Batching removes per-relation overhead, not arithmetic (benchmarks/hetero.py).

    Args:
        convs: ``{relation: layer}``; a relation is a ``(src_type, edge_type, dst_type)`` triple
            or an edge-type name that is unique in the graphs it will see. A relation of the
            graph without a layer is skipped.
        reduce: ``"sum" | "mean" | "max" | "min"`` over the relations ending in a type, or
            ``"stack"`` (``[N_t, R_t, F']``, relations in the graph's :attr:`~HeteroGraph.relations` order).
        batched: run the relations of a type in one sparse product where they allow it
            (above); ``False`` forces the per-relation loop.

    Shape:
        x ``{type: [N_t, F]}`` → ``{type: [N_t, F']}`` (``[num_dst_nodes(t), F']`` on a block)
        for every type that some relation in ``convs`` ends in; other types are absent.

    Raises:
        TypeError: a layer that is not an ``nn.Module``, a relation key of the wrong type.
        ValueError: no layers, an unknown ``reduce``; at forward, a relation not in the graph,
            a node type missing from ``x``, or (batched) features of the wrong shape.
    """

    def __init__(self, convs: Mapping[RelationKey, nn.Module], reduce: str = "sum", batched: bool = True) -> None:
        super().__init__()
        if not isinstance(convs, Mapping) or len(convs) == 0:
            raise ValueError(f"convs must be a non-empty mapping {{relation: layer}}, got {convs!r}")
        if reduce not in HETERO_REDUCES:
            raise ValueError(f"reduce must be one of {HETERO_REDUCES}, got {reduce!r}")
        for key, conv in convs.items():
            triple = isinstance(key, tuple) and len(key) == 3 and all(isinstance(p, str) for p in key)
            if not (triple or isinstance(key, str)):
                raise TypeError(f"convs keys must be (src_type, edge_type, dst_type) triples or edge-type names, got {key!r}")
            if not isinstance(conv, nn.Module):
                raise TypeError(f"convs[{key!r}] must be an nn.Module, got {type(conv).__name__}")
        self.relations: tuple[RelationKey, ...] = tuple(convs)
        # a ModuleList rather than a ModuleDict: its keys cannot be tuples or hold "."
        self.convs = nn.ModuleList(convs.values())
        self.reduce = reduce
        self.batched = batched

    def reset_parameters(self) -> None:
        for conv in self.convs:
            if hasattr(conv, "reset_parameters"):
                conv.reset_parameters()

    def forward(self, g: HeteroGraph, x: Mapping[str, Tensor]) -> dict[str, Tensor]:
        if not isinstance(g, HeteroGraph):
            raise TypeError(f"g must be a gnnkit.HeteroGraph, got {type(g).__name__}")
        if not isinstance(x, Mapping):
            raise TypeError(f"x must be a mapping {{node_type: [N_t, F] tensor}}, got {type(x).__name__}")
        by_rel = {g.canonical(key): conv for key, conv in zip(self.relations, self.convs)}
        by_dst: dict[str, list[Relation]] = {}
        for rel in g.relations:  # in the graph's order (as DGL), grouped by destination type
            if rel in by_rel:
                s, _, d = rel
                for t in (s, d):
                    if t not in x:
                        raise ValueError(f"x has no features for node type {t!r} (relation {rel}); it holds {sorted(x)}")
                by_dst.setdefault(d, []).append(rel)
        out = {}
        for d, rels in by_dst.items():  # a loop over node types
            convs = [by_rel[r] for r in rels]
            if self.batched and _batchable(convs):
                out[d] = self._batched_sage(g, x, d, rels, convs)
                continue
            hs = []
            for rel in rels:  # one sparse layer per relation
                s = rel[0]
                if s == d and not g.is_block:
                    hs.append(by_rel[rel](g[rel], x[s]))  # [N_d, F']
                else:
                    hs.append(by_rel[rel](g[rel], (x[s], x[d][: g.num_dst_nodes(d)])))  # [N_d, F']
            out[d] = self._combine(hs)
        return out

    def _batched_sage(self, g: HeteroGraph, x: Mapping[str, Tensor], d: str, rels: Sequence[Relation],
                      convs: Sequence[SAGEConv]) -> Tensor:
        """The SAGE layers of every relation ending in ``d`` in one ``spmm`` (class docstring)."""
        first = convs[0]
        k, fi, fo = len(rels), first.in_features, first.out_features
        srcs = list(dict.fromkeys(r[0] for r in rels))  # distinct source types, in order
        for t in dict.fromkeys(srcs + [d]):
            v = x[t]
            if not isinstance(v, Tensor) or v.dim() != 2 or v.shape != (g.num_nodes(t), fi):
                got = tuple(v.shape) if isinstance(v, Tensor) else type(v).__name__
                raise ValueError(f"x[{t!r}] must have shape [{g.num_nodes(t)}, F={fi}], got {got}")
        n = g.num_dst_nodes(d)
        x_dst = x[d][:n]  # [N_d, F]
        w_l = torch.stack([c.lin_l.weight for c in convs])  # [R, F', F]
        bias = None if first.lin_l.bias is None else torch.stack([c.lin_l.bias for c in convs])  # [R, F']
        w_r = None if first.lin_r is None else torch.stack([c.lin_r.weight for c in convs])  # [R, F', F]
        if self.reduce in ("sum", "mean"):
            # Σ_r (W_l,r agg_r + W_r,r x + b_r) = Σ_r W_l,r agg_r + x (Σ_r W_r,r)ᵀ + Σ_r b_r
            xs, ws, agg = [], [], None
            if fo < fi:  # project first: the sparse product then moves F' < F features per edge
                agg = self._project_then_aggregate(g, x, d, rels, srcs, w_l, first.reduce)  # [N_d, F']
            else:
                z = self._aggregate_per_relation(g, x, d, rels, srcs, first.reduce)  # [N_d, R, F]
                xs.append(z.reshape(n, k * fi))
                ws.append(w_l.permute(1, 0, 2).reshape(fo, k * fi))  # [z_1 .. z_R] [W_l,1 .. W_l,R]ᵀ
            if w_r is not None:
                xs.append(x_dst)
                ws.append(w_r.sum(0))
            b = None if bias is None else bias.sum(0)
            if xs:
                h = multi_linear(xs, ws, b)  # [N_d, F']
                h = h if agg is None else h + agg
            else:
                h = agg if b is None else agg + b
            return h / k if self.reduce == "mean" else h
        z = self._aggregate_per_relation(g, x, d, rels, srcs, first.reduce)  # [N_d, R, F]
        h = torch.einsum("nrf,rof->nro", z, w_l)  # [N_d, R, F']: one batched GEMM over relations
        if w_r is not None:
            h = h + (x_dst @ w_r.reshape(k * fo, fi).t()).view(n, k, fo)
        if bias is not None:
            h = h + bias
        if self.reduce == "stack":
            return h
        return h.amax(1) if self.reduce == "max" else h.amin(1)

    @staticmethod
    def _aggregate_per_relation(g: HeteroGraph, x: Mapping[str, Tensor], d: str, rels: Sequence[Relation],
                                srcs: Sequence[str], reduce: str) -> Tensor:
        """``[N_d, R, F]`` every relation's aggregate, in one ``spmm`` over ``u -> v·R + r``."""
        n, k = g.num_dst_nodes(d), len(rels)

        def layout():  # sources of every type in one id space, relation folded into the destination
            src, dst, rel = stack_relations(g, rels, srcs, [d])
            return typed_graph(src, dst, rel, sum(g.num_nodes(t) for t in srcs), n, k, "dst")

        sub = g._cached(("hetero_conv_by_dst", tuple(rels)), layout)
        x_src = x[srcs[0]] if len(srcs) == 1 else torch.cat([x[t] for t in srcs])  # [S, F]
        return ops.spmm(sub, x_src, reduce=reduce).view(n, k, -1)  # [N_d·R, F] -> [N_d, R, F]

    @staticmethod
    def _project_then_aggregate(g: HeteroGraph, x: Mapping[str, Tensor], d: str, rels: Sequence[Relation],
                                srcs: Sequence[str], w_l: Tensor, reduce: str) -> Tensor:
        """``[N_d, F']`` Σ_r agg_r(x_s W_l,rᵀ): each source type times the ``W_l``
        of its relations in one GEMM (``[N_s, R_s·F']``, row ``u·R_s + j`` for its ``j``-th
        relation), then one ``spmm`` over all edges with the per-relation mean in the weights."""
        n, k, fo = g.num_dst_nodes(d), len(rels), w_l.shape[1]
        of_type = {t: [j for j, r in enumerate(rels) if r[0] == t] for t in srcs}  # relation positions per source type

        def layout():
            src, dst, rel = stack_relations(g, rels, srcs, [d])  # src: types one after another
            counts = [g.num_nodes(t) for t in srcs]
            type_start, row_start, width, slot = [0] * k, [0] * k, [1] * k, [0] * k  # per relation, k entries
            first_row = first_vertex = 0
            for t, c in zip(srcs, counts):  # a loop over source types and their relations, at layout time
                for i, j in enumerate(of_type[t]):
                    type_start[j], row_start[j], width[j], slot[j] = first_vertex, first_row, len(of_type[t]), i
                first_vertex += c
                first_row += c * len(of_type[t])
            per_edge = torch.tensor([row_start, type_start, width, slot], dtype=torch.int64, device=g.device)[:, rel]  # [4, E]
            row = per_edge[0] + (src - per_edge[1]) * per_edge[2] + per_edge[3]  # [E] row of (u, relation)
            sub = Graph(row, dst, n, num_src_nodes=first_row, _validate=False)
            w = typed_mean_weight(dst, rel, n, k, w_l.dtype) if reduce == "mean" else None
            return sub, w

        sub, w = g._cached(("hetero_conv_by_src", tuple(rels), reduce, w_l.dtype), layout)
        ys = [(x[t] @ w_l[of_type[t]].reshape(-1, w_l.shape[2]).t()).reshape(-1, fo) for t in srcs]  # [N_s·R_s, F']
        return ops.spmm(sub, ys[0] if len(ys) == 1 else torch.cat(ys), w)  # [N_d, F']

    def _combine(self, hs: list[Tensor]) -> Tensor:
        if len(hs) == 1 and self.reduce != "stack":
            return hs[0]
        stacked = torch.stack(hs, 1)  # [N, R, F']
        if self.reduce == "stack":
            return stacked
        if self.reduce == "sum":
            return stacked.sum(1)
        if self.reduce == "mean":
            return stacked.mean(1)
        return stacked.amax(1) if self.reduce == "max" else stacked.amin(1)

    def extra_repr(self) -> str:
        return f"relations={list(self.relations)}, reduce={self.reduce!r}, batched={self.batched}"


def _batchable(convs: Sequence[nn.Module]) -> bool:
    """Whether the layers of a type's relations can share one sparse product: all :class:`SAGEConv`
    (exactly, not a subclass that may change ``forward``) with equal sizes and options, a
    linear reduce, and no output normalisation or activation (each relation's would come before the sum)."""
    if len(convs) < 2 or any(type(c) is not SAGEConv for c in convs):
        return False
    first = convs[0]
    if first.reduce not in ("sum", "mean"):
        return False
    key = (first.in_features, first.out_features, first.reduce, first.lin_r is None, first.lin_l.bias is None)
    return all((c.in_features, c.out_features, c.reduce, c.lin_r is None, c.lin_l.bias is None) == key
               and not c.normalize and c.activation is None for c in convs)
