"""Label propagation: vertex clusters from the graph alone, vectorised (no loop over vertices or edges).

The one implementation behind :func:`gnnkit.inflation.cluster_nodes` (hub clusters) and
:func:`gnnkit.brain.metrics.detect_communities` (communities).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from .._deprecated import renamed_keyword
from ..graph import Graph
from ..graph.idkeys import combined_key

__all__ = ["label_propagation"]


def _best_labels(u: np.ndarray, v: np.ndarray, w: np.ndarray, labels: np.ndarray, n: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per vertex ``v`` with a labelled neighbour, the label of largest total edge weight (random tie-break)."""
    lab_u = labels[u]
    key = combined_key((v, lab_u), (n, n), "label_propagation")  # (vertex, neighbour label); labels lie in [0, n)
    uniq, inv = np.unique(key, return_inverse=True)
    score = np.bincount(inv.reshape(-1), weights=w, minlength=uniq.size)
    node, cand = uniq // n, uniq % n
    order = np.lexsort((rng.random(uniq.size), -score, node))  # per vertex: best score first
    first = np.ones(order.size, dtype=bool)
    first[1:] = node[order[1:]] != node[order[:-1]]
    return node[order[first]], cand[order[first]]


def label_propagation(g: Graph, edge_weight: Tensor | None = None, *, num_clusters: int | None = None,
                      seed: int = 0, max_iter: int = 100, weight: Tensor | None = None,
                      refine_iters: int | None = None) -> Tensor:
    r"""Clusters by semi-synchronous label propagation on the undirected view of ``g``.

    Start: every vertex in its own cluster, or with ``num_clusters`` a growth phase from that
    many random seed vertices: each round every unlabelled vertex with labelled neighbours
    takes their heaviest label, until all are labelled (a component without a seed gets new
    seeds). Then up to ``max_iter`` rounds in which a random half of the vertices take the
    label of largest total edge weight among their neighbours (ties broken at random);
    updating half at a time avoids the two-label oscillation of synchronous updates. Stops
    early when a round finds every vertex holding a best label. One round is a sort of the
    ``2E`` (vertex, label) pairs: :math:`O(E \log E)`.

    Edges count in both directions; self-loops are ignored; parallel edges add up.

    Args:
        g: the graph (one vertex set).
        edge_weight: optional ``[E]`` weights; their absolute values are used (default 1).
        num_clusters: seeds of the growth phase, an upper bound on the clusters returned
            (exceeded only when the graph has more components than seeds); None: no growth.
        seed: random seed. max_iter: refinement rounds (``>= 0``).
        weight: deprecated name of ``edge_weight`` (``gnnkit.brain.metrics.label_propagation``).
        refine_iters: deprecated name of ``max_iter`` (``gnnkit.inflation.label_propagation``).

    Returns:
        ``[N]`` int64 cluster ids, contiguous in ``[0, C)``, on ``g``'s device.

    Raises:
        TypeError: ``g`` is not a Graph, or a non-int ``num_clusters``/``max_iter``/``seed``.
        ValueError: a bipartite ``g``, ``num_clusters < 1``, ``max_iter < 0``, or an
            ``edge_weight`` that is not a float ``[E]`` tensor.
    """
    edge_weight = renamed_keyword("label_propagation", "weight", "edge_weight", weight, edge_weight, None)
    max_iter = renamed_keyword("label_propagation", "refine_iters", "max_iter", refine_iters, max_iter, 100)
    if not isinstance(g, Graph):
        raise TypeError(f"g must be a gnnkit.Graph, got {type(g).__name__}")
    if g.is_bipartite:
        raise ValueError(f"g must have one vertex set for label propagation, got a bipartite graph "
                         f"(num_src_nodes={g.num_src_nodes}, num_nodes={g.num_nodes})")
    for name, value, minimum in (("num_clusters", num_clusters, 1), ("max_iter", max_iter, 0), ("seed", seed, None)):
        if value is None and name == "num_clusters":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r})")
        if minimum is not None and value < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if edge_weight is not None and (not isinstance(edge_weight, Tensor) or not edge_weight.is_floating_point()
                                    or edge_weight.shape != (g.num_edges,)):
        got = tuple(edge_weight.shape) if isinstance(edge_weight, Tensor) else type(edge_weight).__name__
        raise ValueError(f"edge_weight must be a float tensor of shape [E={g.num_edges}], got {got}")
    n = g.num_nodes
    rng = np.random.default_rng(int(seed))
    src, dst = g.src.cpu().numpy(), g.dst.cpu().numpy()
    w = np.ones(g.num_edges) if edge_weight is None else np.abs(edge_weight.detach().cpu().double().numpy())
    keep = src != dst
    u = np.concatenate([src[keep], dst[keep]]).astype(np.int64)  # [2E'] both directions
    v = np.concatenate([dst[keep], src[keep]]).astype(np.int64)
    ww = np.concatenate([w[keep], w[keep]])
    if num_clusters is None:
        labels = np.arange(n, dtype=np.int64)
    else:
        labels = np.full(n, -1, dtype=np.int64)
        first = rng.choice(n, size=min(num_clusters, n), replace=False)
        labels[first] = np.arange(first.size)
        next_label = first.size
        while (unlabelled := labels < 0).any():  # growth: one ring around the labelled set per round
            m = (labels[u] >= 0) & unlabelled[v]
            if not m.any():  # components without a seed
                todo = np.flatnonzero(unlabelled)
                extra = rng.choice(todo, size=max(1, math.ceil(num_clusters * todo.size / n)), replace=False)
                labels[extra] = next_label + np.arange(extra.size)
                next_label += extra.size
                continue
            vert, lab = _best_labels(u[m], v[m], ww[m], labels, n, rng)
            labels[vert] = lab
    for _ in range(max_iter):  # refinement rounds, each vectorised over all edges
        if u.size == 0:
            break
        vert, lab = _best_labels(u, v, ww, labels, n, rng)
        changed = lab != labels[vert]
        if not changed.any():  # every vertex already holds a best label: converged
            break
        update = rng.random(vert.size) < 0.5
        labels[vert[update]] = lab[update]
    _, labels = np.unique(labels, return_inverse=True)
    return torch.from_numpy(labels.reshape(-1).astype(np.int64)).to(g.device)
