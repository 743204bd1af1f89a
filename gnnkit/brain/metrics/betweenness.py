r"""Betweenness centrality by a batched sparse Brandes algorithm (bctpy ``betweenness_bin`` / ``betweenness_wei``)."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import shortest_path
from scipy.sparse.linalg import spsolve_triangular
from torch import Tensor

from ...graph import Graph
from .._validate import check_graph, check_int
from ._common import path_matrix, sample_sources

# paths whose lengths differ by less than this (relative) are ties: csgraph and bctpy sum
# the same path in the same order, but two different paths of equal length may differ by
# one rounding
_TIE_RTOL = 1e-12


def _dependencies_bfs(adj: sp.csr_matrix, directed: bool, src: np.ndarray) -> np.ndarray:
    """Hop-count Brandes for a batch of sources, level-synchronous on sparse frontiers.

    Path counts flow forward one BFS level at a time (``sigma_{d+1} += F_d A`` restricted to
    level ``d + 1``, with ``F_d`` the sparse ``[b, N]`` counts of level ``d``) and
    dependencies flow back the same way with ``A^T``; every arc is touched once per source
    and direction, as in Brandes' algorithm, with no per-vertex Python work.
    """
    n = adj.shape[0]
    b = src.size
    dist = shortest_path(adj, method="D", directed=directed, unweighted=True, indices=src)  # [b, N]
    flat = np.where(np.isfinite(dist), dist, -1).astype(np.int64).ravel()
    order = np.argsort(flat, kind="stable")
    flat_sorted = flat[order]
    depth = int(flat_sorted[-1]) if flat_sorted.size else 0
    bounds = np.searchsorted(flat_sorted, np.arange(depth + 2))  # level d occupies bounds[d]:bounds[d+1]
    sigma = np.zeros(b * n)
    sigma[np.arange(b) * n + src] = 1.0
    adj_t = adj.T.tocsr()

    def push(ids: np.ndarray, values: np.ndarray, mat: sp.csr_matrix, level: int) -> tuple[np.ndarray, np.ndarray]:
        front = sp.csr_matrix((values, (ids // n, ids % n)), shape=(b, n))  # [b, N] sparse
        nxt = (front @ mat).tocoo()
        key = nxt.row.astype(np.int64) * n + nxt.col
        keep = flat[key] == level
        return key[keep], nxt.data[keep]

    for d in range(depth):  # a loop over BFS levels
        ids = order[bounds[d] : bounds[d + 1]]
        key, val = push(ids, sigma[ids], adj, d + 1)
        sigma += np.bincount(key, weights=val, minlength=b * n)
    delta = np.zeros(b * n)
    for d in range(depth, 0, -1):  # dependencies flow back from the deepest level
        ids = order[bounds[d] : bounds[d + 1]]
        key, val = push(ids, (1.0 + delta[ids]) / sigma[ids], adj_t, d - 1)
        delta += np.bincount(key, weights=val * sigma[key], minlength=b * n)
    delta = delta.reshape(b, n)
    delta[np.arange(b), src] = 0.0  # a source is no intermediate of its own paths
    return delta.sum(0)


def _dependencies(mat: sp.csr_matrix, unweighted: bool, directed: bool, src: np.ndarray) -> np.ndarray:
    """Brandes dependencies ``sum_s delta_s(v)`` of the sources ``src`` on every vertex ``v``.

    For each source, the shortest-path DAG holds the edges ``u -> v`` with
    ``d(s, u) + l(u, v) = d(s, v)``. Path counts solve ``(I - P) sigma = e_s`` and
    dependencies ``(I - Q) delta = Q 1`` with ``P`` the DAG and ``Q[u, v] = sigma_u /
    sigma_v``; ordered by distance both systems are triangular, and all sources of the
    batch share one block-diagonal solve.
    """
    n = mat.shape[0]
    b = src.size
    dist = shortest_path(mat, method="D", directed=directed, unweighted=unweighted, indices=src)  # [b, N]
    coo = mat.tocoo()
    eu, ev = coo.row, coo.col
    el = np.ones(eu.size) if unweighted else coo.data
    du, dv = dist[:, eu], dist[:, ev]  # [b, E]
    with np.errstate(invalid="ignore"):  # inf - inf for unreachable tails, masked out by isfinite
        on = np.isfinite(du) & (np.abs(du + el - dv) <= _TIE_RTOL * np.maximum(np.abs(dv), 1.0))
    sb, ei = np.nonzero(on)  # DAG edges: source row sb, edge ei
    # global index source * N + vertex, renumbered by (source, distance): the DAG then points forward
    reach = np.isfinite(dist)
    flat_d = np.where(reach, dist, np.inf).ravel()
    order = np.lexsort((flat_d, np.repeat(np.arange(b), n)))
    rank = np.empty(b * n, dtype=np.int64)
    rank[order] = np.arange(b * n)
    tail = rank[sb * n + eu[ei]]
    head = rank[sb * n + ev[ei]]
    size = b * n
    eye = sp.identity(size, format="csr")
    # sigma: (I - P) sigma = e_s, P[head, tail] = 1 (lower triangular in this order)
    rhs = np.zeros(size)
    rhs[rank[np.arange(b) * n + src]] = 1.0
    p = sp.csr_matrix((np.ones(tail.size), (head, tail)), shape=(size, size))
    sigma = spsolve_triangular((eye - p).tocsr(), rhs, lower=True)
    # delta: delta_u = sum_{u -> v} sigma_u / sigma_v (1 + delta_v)  (upper triangular)
    ratio = sigma[tail] / sigma[head]
    q = sp.csr_matrix((ratio, (tail, head)), shape=(size, size))
    delta = spsolve_triangular((eye - q).tocsr(), q @ np.ones(size), lower=False)
    delta = delta[rank].reshape(b, n)  # back to [source, vertex]
    delta[np.arange(b), src] = 0.0  # a source is no intermediate of its own paths
    return delta.sum(0)


def betweenness(
    graph: Graph,
    *,
    directed: bool = True,
    weight: Tensor | None = None,
    lengths: Tensor | None = None,
    num_sources: int | None = None,
    seed: int = 0,
    batch_edges: int = 1 << 22,
) -> Tensor:
    r"""Vertex betweenness centrality (Freeman 1977) by Brandes' algorithm, batched and sparse.

    .. math:: b_v = \sum_{s \ne v \ne t} \frac{\sigma_{st}(v)}{\sigma_{st}}

    over ordered pairs :math:`(s, t)` (:math:`\sigma_{st}` shortest paths, :math:`\sigma_{st}(v)`
    of them through :math:`v`), unnormalised, as bctpy ``betweenness_bin`` (hop counts) and
    ``betweenness_wei`` (with ``lengths``, or ``weight`` read as ``length = 1 / weight``, the
    toolbox's ``weight_conversion``). With ``directed=False`` (the undirected view) every
    unordered pair counts twice, so values are twice networkx's ``betweenness_centrality(G,
    normalized=False)``. Disconnected pairs and isolated vertices contribute nothing. Paths
    whose lengths agree to a relative 1e-12 are ties.

    Cost is :math:`O(N E)` for all sources, which is too much beyond about :math:`10^4`
    vertices; there, ``num_sources=k`` draws :math:`k` sources uniformly without replacement
    and returns :math:`\frac{N}{k} \sum_{s \in S} \delta_s(v)`, an unbiased estimate (Brandes &
    Pich 2007). Its standard error per vertex is about :math:`\frac{N}{\sqrt k}\,
    \mathrm{sd}_s(\delta_s(v))`; relative to :math:`b_v` that is
    :math:`\approx \sqrt{N/k}\;\mathrm{cv}` with cv the spread of the per-source
    dependencies. Measured mean relative error over vertices with :math:`b_v > 0`
    (Watts–Strogatz, mean degree 10, rewiring 0.1): 0.17 at :math:`N = 10^3` with 256
    sources, 0.27 with 100 sources, 0.52 at :math:`N = 10^4` with 100 sources; sums such
    as the mean betweenness are far tighter (a test checks unbiasedness). Exact cost,
    measured on the shared 2-core machine: 0.8 s at :math:`N = 10^3` (bctpy 1.2 s), about
    0.2–0.3 s per source at :math:`N = 10^5` (:math:`10^6` edges).

    Args:
        graph: the synapses.
        directed: follow edge directions, or the undirected view.
        weight: optional ``[E]`` non-negative weights (``length = 1 / weight``).
        lengths: optional ``[E]`` positive lengths; not together with ``weight``.
        num_sources: sample this many sources; None: all (exact).
        seed: sampling seed.
        batch_edges: sources per batch are chosen so that ``sources x E`` stays below this.

    Returns:
        ``[N]`` float64.

    Raises:
        ValueError: bad ``weight``/``lengths``, both given, ``num_sources < 1``.
    """
    check_graph(graph)
    check_int(batch_edges, "batch_edges", minimum=1)
    n = graph.num_nodes
    mat, unweighted = path_matrix(graph, weight, lengths, directed)
    src = sample_sources(n, num_sources, seed)
    out = np.zeros(n)
    if n == 0 or mat.nnz == 0:
        return torch.from_numpy(out)
    # [b, E] DAG tests (Dijkstra) and [b, N] level arrays; larger batches measured no faster
    # (64 sources at N = 10^5: 20-22 s with 4 per batch, 24-25 s with 41, loaded machine)
    per = max(1, min(src.size, batch_edges // max(mat.nnz, 1), (1 << 22) // n))
    for start in range(0, src.size, per):  # a loop over source batches
        batch = src[start : start + per]
        out += _dependencies_bfs(mat, directed, batch) if unweighted else _dependencies(mat, unweighted, directed, batch)
    if src.size < n:
        out *= n / src.size
    return torch.from_numpy(out)
