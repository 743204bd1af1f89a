r"""Typed edges as one graph: each (vertex, relation) pair gets its own row, so one sparse product serves every relation.

Relational layers (:class:`~gnnkit.nn.RGCNConv`, the batched path of
:class:`~gnnkit.nn.HeteroConv`) aggregate each relation separately. Rather than one sparse
product per relation, the relation index is folded into a vertex id, as
:meth:`gnnkit.graph.MultiViewGraph.expanded` does for views:

- ``side="dst"``: ``u -> v·R + r``: one ``spmm`` gives every relation's aggregate in its own
  row, ``[N_dst·R, F]`` viewed as ``[N_dst, R, F]`` (``reduce="mean"`` then is the mean per
  relation, Schlichtkrull et al.'s :math:`1/c_{v,r}`);
- ``side="src"``: ``u·R + r -> v``: for features already projected per relation as
  ``[N_src·R, F']`` rows, one ``spmm`` sums over relations directly.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from ..graph import Graph
from ..graph.hetero import HeteroGraph, Relation

__all__ = ["TYPED_SIDES", "typed_graph", "typed_mean_weight", "check_edge_type", "stack_relations"]

TYPED_SIDES = ("src", "dst")
_MAX_ID = 2**62  # expanded ids are int64; keep far from overflow


def check_edge_type(edge_type: object, num_edges: int, num_relations: int) -> Tensor:
    """``edge_type`` as ``[E]`` int64, checked against ``num_relations``.

    Raises:
        TypeError: not an integer tensor. ValueError: wrong shape. IndexError: a type outside ``[0, R)``.
    """
    if not isinstance(edge_type, Tensor) or edge_type.is_floating_point() or edge_type.is_complex() or edge_type.dtype == torch.bool:
        got = edge_type.dtype if isinstance(edge_type, Tensor) else type(edge_type).__name__
        raise TypeError(f"edge_type must be an integer tensor of relation ids, got {got}")
    if edge_type.shape != (num_edges,):
        raise ValueError(f"edge_type must have shape [E={num_edges}], got {tuple(edge_type.shape)}")
    if num_edges:
        # one reduction per call: an out-of-range type would otherwise index past the expanded rows
        lo, hi = int(edge_type.min()), int(edge_type.max())
        if lo < 0 or hi >= num_relations:
            raise IndexError(f"edge_type must lie in [0, num_relations={num_relations}), got types in [{lo}, {hi}]")
    return edge_type.to(torch.int64)


def typed_graph(src: Tensor, dst: Tensor, rel: Tensor, num_src_nodes: int, num_nodes: int, num_relations: int,
                side: str) -> Graph:
    """The graph whose edge ``i`` is typed edge ``i`` with the relation folded into one end (module docstring).

    Args:
        src, dst, rel: ``[E]`` int64 ids (``src < num_src_nodes``, ``dst < num_nodes``, ``rel < num_relations``).
        side: ``"src"`` (``num_src_nodes·R`` sources) or ``"dst"`` (``num_nodes·R`` destinations).

    Raises:
        ValueError: an unknown ``side``, or expanded ids that would overflow int64.
    """
    if side not in TYPED_SIDES:
        raise ValueError(f"side must be one of {TYPED_SIDES}, got {side!r}")
    r = num_relations
    if max(num_src_nodes, num_nodes) * r >= _MAX_ID:
        raise ValueError(f"{max(num_src_nodes, num_nodes)} vertices x {r} relations overflow int64 expanded ids")
    if side == "src":
        return Graph(src * r + rel, dst, num_nodes, num_src_nodes=num_src_nodes * r, _validate=False)
    return Graph(src, dst * r + rel, num_nodes * r, num_src_nodes=num_src_nodes, _validate=False)


def typed_mean_weight(dst: Tensor, rel: Tensor, num_nodes: int, num_relations: int, dtype: torch.dtype) -> Tensor:
    r"""``[E]`` :math:`1/c_{v,r}`: one over the number of in-edges of relation ``r`` at ``v = dst``.

    One ``bincount`` over the ``v·R + r`` keys, so no loop over relations.
    """
    key = dst * num_relations + rel  # [E] (vertex, relation) slot
    count = torch.bincount(key, minlength=num_nodes * num_relations)  # [N·R]; >= 1 wherever an edge lands
    return count.to(dtype).reciprocal()[key]  # [E]


def stack_relations(g: HeteroGraph, relations: Sequence[Relation], src_types: Sequence[str],
                    dst_types: Sequence[str]) -> tuple[Tensor, Tensor, Tensor]:
    """The edges of ``relations`` in one id space: ``(src, dst, rel)``, each ``[E]`` int64.

    Sources are numbered with the vertices of ``src_types`` one type after another, and
    destinations with the *destinations* of ``dst_types`` (``num_dst_nodes``, so a block's
    first vertices), which is how the layers concatenate their features; ``rel[i]`` is the
    position in ``relations`` of edge ``i``'s relation. On a whole graph with every type on
    both sides this is :meth:`HeteroGraph.to_homogeneous`'s edge order.
    """
    def offsets(types: Sequence[str], count) -> dict[str, int]:
        sizes = [count(t) for t in types]
        return dict(zip(types, [sum(sizes[:i]) for i in range(len(sizes))]))  # a loop over types

    src_off, dst_off = offsets(src_types, g.num_nodes), offsets(dst_types, g.num_dst_nodes)
    dev = g.device
    if not relations:
        empty = torch.zeros(0, dtype=torch.int64, device=dev)
        return empty, empty, empty
    src = torch.cat([g[r].src + src_off[r[0]] for r in relations])  # [E]
    dst = torch.cat([g[r].dst + dst_off[r[2]] for r in relations])  # [E]
    counts = torch.tensor([g[r].num_edges for r in relations], device=dev)
    rel = torch.repeat_interleave(torch.arange(len(relations), device=dev), counts)  # [E]
    return src, dst, rel
