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

import torch
from torch import Tensor

from ..graph import Graph

__all__ = ["TYPED_SIDES", "typed_graph", "typed_mean_weight", "check_edge_type"]

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
