r"""Heterogeneous convolution: one layer per relation, summed (or otherwise reduced) per destination type."""
from __future__ import annotations

from typing import Mapping

import torch
from torch import Tensor, nn

from ..graph.hetero import HeteroGraph, RelationKey

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

    The loop runs over relations (a handful), never over vertices or edges; each layer is
    one sparse product on its relation's graph.

    Args:
        convs: ``{relation: layer}``; a relation is a ``(src_type, edge_type, dst_type)`` triple
            or an edge-type name that is unique in the graphs it will see. A relation of the
            graph without a layer is skipped.
        reduce: ``"sum" | "mean" | "max" | "min"`` over the relations ending in a type, or
            ``"stack"`` (``[N_t, R_t, F']``, relations in the graph's :attr:`~HeteroGraph.relations` order).

    Shape:
        x ``{type: [N_t, F]}`` → ``{type: [N_t, F']}`` (``[num_dst_nodes(t), F']`` on a block)
        for every type that some relation in ``convs`` ends in; other types are absent.

    Raises:
        TypeError: a layer that is not an ``nn.Module``, a relation key of the wrong type.
        ValueError: no layers, an unknown ``reduce``; at forward, a relation not in the graph
            or a node type missing from ``x``.
    """

    def __init__(self, convs: Mapping[RelationKey, nn.Module], reduce: str = "sum") -> None:
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
        outs: dict[str, list[Tensor]] = {}
        for rel in g.relations:  # one sparse layer per relation, in the graph's order (as DGL)
            conv = by_rel.get(rel)
            if conv is None:
                continue
            s, _, d = rel
            for t in (s, d):
                if t not in x:
                    raise ValueError(f"x has no features for node type {t!r} (relation {rel}); it holds {sorted(x)}")
            if s == d and not g.is_block:
                h = conv(g[rel], x[s])  # [N_d, F']
            else:
                h = conv(g[rel], (x[s], x[d][: g.num_dst_nodes(d)]))  # [N_d, F']
            outs.setdefault(d, []).append(h)
        return {t: self._combine(hs) for t, hs in outs.items()}

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
        return f"relations={list(self.relations)}, reduce={self.reduce!r}"
