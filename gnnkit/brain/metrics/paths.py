r"""Characteristic path length and global efficiency (bctpy ``charpath``, ``efficiency_bin`` / ``efficiency_wei``)."""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from torch import Tensor

from ...graph import Graph
from .._validate import check_graph
from ._common import node_list, path_matrix, sample_sources


def path_stats(
    graph: Graph,
    *,
    directed: bool = True,
    lengths: Tensor | None = None,
    weight: Tensor | None = None,
    num_sources: int | None = None,
    sources: Tensor | Sequence[int] | None = None,
    targets: Tensor | Sequence[int] | None = None,
    seed: int = 0,
) -> dict[str, float]:
    r"""Characteristic path length, global efficiency and reachability from single-source searches.

    .. math:: L = \frac{\sum_{i \ne j,\, d_{ij}<\infty} d_{ij}}{|\{i \ne j : d_{ij} < \infty\}|}, \qquad
              E = \frac{1}{N(N-1)} \sum_{i \ne j} \frac{1}{d_{ij}}

    :math:`d_{ij}` is the hop count (BFS) by default; with ``lengths`` the shortest sum of the
    given edge lengths (Dijkstra); with ``weight`` the shortest sum of ``1 / weight``, the
    Brain Connectivity Toolbox's conversion (``weight_conversion(W, 'lengths')``, used inside
    ``efficiency_wei``). Disconnected pairs (:math:`d_{ij} = \infty`) are left out of
    :math:`L` and count as 0 in :math:`E` (Latora & Marchiori 2001), so an isolated vertex
    adds only zeros to :math:`E`. These equal bctpy's
    ``charpath(D, include_infinite=False)[0]`` and ``efficiency_bin`` / ``efficiency_wei``
    (= ``charpath(D)[1]``) with ``D = distance_bin(A)`` or ``distance_wei(1 / W)``.
    (bctpy's ``charpath`` default ``include_infinite=True`` gives :math:`L = \infty` on any
    disconnected graph.) ``directed=False`` uses the undirected view; parallel edges use the
    shortest length (the summed weight).

    Args:
        graph: the synapses.
        directed: follow edge directions, or use the undirected view.
        lengths: optional ``[E]`` positive edge lengths.
        weight: optional ``[E]`` non-negative weights, ``length = 1 / weight`` (a zero weight
            is no edge); not together with ``lengths``.
        num_sources: sample this many sources (see the package docstring); None: all.
        sources: restrict the pairs to ``sources x targets`` (``i != j``), e.g. input
            to output neurons for a routing efficiency (Navlakha et al. 2015 score networks
            by source-target routing); excludes ``num_sources``.
        targets: see ``sources``.
        seed: sampling seed.

    Returns:
        ``{"path_length", "efficiency", "reachable", "num_sources"}``; ``reachable`` is the
        fraction of ordered pairs ``i != j`` with a path. ``path_length`` is ``inf`` when no
        pair is reachable.

    Raises:
        ValueError: non-positive lengths, negative weights, both ``weight`` and ``lengths``,
            ids outside ``[0, N)``, both ``sources`` and ``num_sources``.
    """
    from scipy.sparse.csgraph import shortest_path

    check_graph(graph)
    n = graph.num_nodes
    mat, unweighted = path_matrix(graph, weight, lengths, directed)
    if sources is not None and num_sources is not None:
        raise ValueError("give sources or num_sources, not both")
    if n < 2:
        return {"path_length": math.inf, "efficiency": 0.0, "reachable": 0.0, "num_sources": n}
    src_ids = sample_sources(n, num_sources, seed) if sources is None else node_list(sources, n, "sources")
    tgt_ids = None if targets is None else node_list(targets, n, "targets")
    chunk = max(1, min(src_ids.size, (1 << 24) // n))  # [chunk, N] float64 distances: <= 128 MB
    total = inv = 0.0
    count = pairs = 0
    for start in range(0, src_ids.size, chunk):  # a loop over source blocks
        src = src_ids[start : start + chunk]
        dist = shortest_path(mat, method="D", directed=directed, unweighted=unweighted, indices=src)  # [s, N]
        dist[np.arange(src.size), src] = np.nan  # i == j is no pair
        if tgt_ids is not None:
            dist = dist[:, tgt_ids]  # [s, |targets|]
        pairs += int((~np.isnan(dist)).sum())
        finite = np.isfinite(dist)
        total += float(dist[finite].sum())
        inv += float((1.0 / dist[finite]).sum())
        count += int(finite.sum())
    if pairs == 0:
        return {"path_length": math.inf, "efficiency": 0.0, "reachable": 0.0, "num_sources": int(src_ids.size)}
    return {
        "path_length": total / count if count else math.inf,
        "efficiency": inv / pairs,
        "reachable": count / pairs,
        "num_sources": int(src_ids.size),
    }


def characteristic_path_length(graph: Graph, **kwargs: Any) -> float:
    """Mean shortest-path length over reachable pairs (bctpy ``charpath(D, include_infinite=False)[0]``);
    see :func:`path_stats` for the definition and the arguments."""
    return path_stats(graph, **kwargs)["path_length"]


def global_efficiency(graph: Graph, **kwargs: Any) -> float:
    """Mean inverse shortest-path length over all ordered pairs (bctpy ``efficiency_bin`` /
    ``efficiency_wei``); see :func:`path_stats` for the definition and the arguments."""
    return path_stats(graph, **kwargs)["efficiency"]
