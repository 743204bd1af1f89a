r"""Vertex inflation: a graph that changes from layer to layer.

GNNs reuse one graph for every layer, so a message needs ``d`` layers to travel ``d``
hops. This module changes the graph as a function of the layer index:

- :func:`shortcut_edges` adds edges :math:`u \to v` for vertices within ``k`` hops,
  found with sparse products (scipy CSR, never a dense :math:`A^k`), kept under a
  per-vertex and/or global budget ranked by shortest-path count or personalised
  PageRank, weighted by a hop decay. Works per view of a :class:`MultiViewGraph`.
- :func:`hub_graph` literally adds vertices: one hub per cluster (METIS via
  ``pymetis`` when importable, else vectorised :func:`label_propagation`), joined
  to its members and to the hubs of neighbouring clusters. The hubs exist for one
  layer; their state is dropped or pooled back into the members afterwards.
- :class:`InflationSchedule` maps layer index → transform (:class:`Identity`,
  :class:`Shortcuts`, :class:`Hubs`) and caches each transformed graph, built once
  per (graph, transform); :class:`InflatedGNN` is a layer stack that takes a schedule.

Related: DGL's ``KHopGraph`` and PyG's ``TwoHop`` / ``VirtualNode`` are one-shot
preprocessing; DRew (Gutteridge et al. 2023, https://arxiv.org/abs/2305.08018)
grows the hop range with depth. The measured answer to "does it pay?" is in
``docs/multiview_inflation.md`` (``benchmarks/inflation.py``).
"""
from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, field
from typing import Sequence, Union

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import ops
from ..blocks.activations import activation_fn
from ..graph import Graph
from ..graph.multiview import MultiViewGraph
from ..nn import GCNConv
from ..scale.clustering import label_propagation

__all__ = [
    "LayerGraph",
    "shortcut_edges",
    "cluster_nodes",
    "label_propagation",
    "hub_graph",
    "GraphTransform",
    "Identity",
    "Shortcuts",
    "Hubs",
    "InflationSchedule",
    "InflatedGNN",
    "SHORTCUT_SCORES",
    "CLUSTER_METHODS",
]

SHORTCUT_SCORES = ("paths", "ppr")
CLUSTER_METHODS = ("auto", "metis", "label_propagation")
_READOUTS = ("drop", "pool")
_HUB_INITS = ("mean", "zero")


# ---------------------------------------------------------------- checks
def _check_int(value, name: str, minimum: int, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int{' or None' if allow_none else ''}, got {type(value).__name__} ({value!r})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def _check_graph(g, name: str = "g") -> None:
    if not isinstance(g, Graph):
        raise TypeError(f"{name} must be a gnnkit.Graph, got {type(g).__name__}")
    if g.is_bipartite:
        raise ValueError(
            f"{name} is bipartite (num_src_nodes={g.num_src_nodes}, num_nodes={g.num_nodes}); "
            f"inflation needs one vertex set"
        )


def _check_edge_weight(w: Tensor | None, g: Graph) -> None:
    if w is None:
        return
    if not isinstance(w, Tensor) or not w.is_floating_point():
        raise TypeError(f"edge_weight must be a float tensor, got {type(w).__name__ if not isinstance(w, Tensor) else w.dtype}")
    if w.shape != (g.num_edges,):
        raise ValueError(f"edge_weight must have shape [E={g.num_edges}], got {tuple(w.shape)}")


# ------------------------------------------------------------- LayerGraph
@dataclass(frozen=True, eq=False)
class LayerGraph:
    """The graph one layer runs on: possibly extra edges, possibly extra (hub) vertices.

    Vertices ``0 .. num_nodes-1`` are the original ones; ``num_nodes ..
    num_nodes+num_hubs-1`` are hubs that exist for this layer only.

    Args:
        graph: the layer's graph over ``num_nodes + num_hubs`` vertices.
        edge_weight: ``[E]`` weights (``None``: all ones).
        num_hubs: added vertices.
        hub_of: ``[num_nodes]`` hub index of each original vertex (hubs only).
        hub_init: ``"mean"`` (a hub starts as the mean of its members) or ``"zero"``.
        readout: ``"drop"`` (hub outputs are discarded) or ``"pool"`` (each vertex adds
            its hub's output to its own).
        hops: ``[E]`` hop distance each edge shortcuts (1 for original edges, 0 for
            self-loops, -1 for hub edges), when known.
    """

    graph: Graph
    edge_weight: Tensor | None = None
    num_hubs: int = 0
    hub_of: Tensor | None = None
    hub_init: str = "mean"
    readout: str = "pool"
    hops: Tensor | None = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def num_nodes(self) -> int:
        """Original vertices (the graph's vertices minus the hubs)."""
        return self.graph.num_nodes - self.num_hubs

    def add_hub_states(self, x: Tensor) -> Tensor:
        """Append one row per hub to the vertex states.

        Shape:
            x ``[N, F]`` → ``[N + num_hubs, F]`` (``x`` itself when there are no hubs).
        """
        if self.num_hubs == 0:
            return x
        if x.shape[0] != self.num_nodes:
            raise ValueError(f"x must have num_nodes={self.num_nodes} rows, got {tuple(x.shape)}")
        if self.hub_init == "zero":
            hubs = x.new_zeros((self.num_hubs,) + tuple(x.shape[1:]))
        else:
            size = self._cache.get("hub_size")
            if size is None:
                size = self._cache["hub_size"] = torch.bincount(self.hub_of, minlength=self.num_hubs).clamp(min=1)
            hubs = x.new_zeros((self.num_hubs,) + tuple(x.shape[1:])).index_add_(0, self.hub_of, x)  # [H, F]
            hubs = hubs / size.to(x.dtype).view(-1, *([1] * (x.dim() - 1)))
        return torch.cat([x, hubs])  # [N + H, F]

    def remove_hub_states(self, y: Tensor) -> Tensor:
        """Drop the hub rows (``readout="drop"``) or add each hub's row to its members (``"pool"``).

        Shape:
            y ``[N + num_hubs, F]`` → ``[N, F]``.
        """
        if self.num_hubs == 0:
            return y
        n = self.num_nodes
        if self.readout == "drop":
            return y[:n]
        return y[:n] + y[n:].index_select(0, self.hub_of)  # [N, F]

    def stats(self, base: Graph | None = None) -> dict:
        """Edge and vertex counts, and the edges added relative to ``base``."""
        out = {"num_nodes": self.graph.num_nodes, "num_edges": self.graph.num_edges, "num_hubs": self.num_hubs}
        if base is not None:
            out["added_edges"] = self.graph.num_edges - base.num_edges
        return out


# -------------------------------------------------------------- shortcuts
def _hash(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """A fixed pseudo-random 32-bit key per (row, col): ties are broken without favouring low ids."""
    h = rows.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) ^ cols.astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)
    return ((h ^ (h >> np.uint64(29))) & np.uint64(0xFFFFFFFF)).astype(np.int64)


def _order(score: np.ndarray, tiebreak: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Permutation sorting entries by (row asc,) score desc, tiebreak asc.

    Three stable sorts, least significant key first. torch's stable sort is used
    because it is about 20× faster than ``np.lexsort`` at the 30M entries a hop of the
    arxiv-size graph produces (0.8 s vs 16 s per key on the benchmark machine).
    """
    o = torch.sort(torch.from_numpy(tiebreak), stable=True).indices
    o = o[torch.sort(torch.from_numpy(-score)[o], stable=True).indices]
    if rows is not None:
        o = o[torch.sort(torch.from_numpy(rows)[o], stable=True).indices]
    return o.numpy()


def _top_per_row(rows: np.ndarray, score: np.ndarray, tiebreak: np.ndarray, m: int, n: int) -> np.ndarray:
    """Boolean mask of the ``m`` best entries of each row (score desc, tiebreak asc)."""
    counts = np.bincount(rows, minlength=n)
    if rows.size == 0 or counts.max() <= m:
        return np.ones(rows.size, dtype=bool)
    order = _order(score, tiebreak, rows)
    starts = np.cumsum(counts) - counts
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size) - starts[rows[order]]
    return rank < m


def _prune_rows(m: sp.csr_matrix, beam: int, row_offset: int = 0) -> sp.csr_matrix:
    """Keep the ``beam`` largest entries of each row (ties broken by a fixed hash of the global ids)."""
    if m.nnz == 0 or np.diff(m.indptr).max() <= beam:
        return m
    n = m.shape[0]
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(m.indptr))
    keep = _top_per_row(rows, m.data, _hash(rows + row_offset, m.indices), beam, n)
    return sp.csr_matrix((m.data[keep], (rows[keep], m.indices[keep])), shape=m.shape)


def _row_blocks(a: sp.csr_matrix, prev: sp.csr_matrix, max_terms: int = 1 << 22) -> list[tuple[int, int]]:
    """Row ranges of ``a @ prev`` with about ``max_terms`` multiply-adds each (bounds the temporaries)."""
    n = a.shape[0]
    terms = a @ np.diff(prev.indptr).astype(np.float64)  # [N] products per output row
    cum = np.cumsum(terms)
    if n == 0 or cum[-1] <= max_terms:
        return [(0, n)]
    cuts = np.searchsorted(cum, np.arange(max_terms, cum[-1], max_terms), side="right")
    edges = np.unique(np.concatenate([[0], cuts, [n]]))
    return [(int(r0), int(r1)) for r0, r1 in zip(edges[:-1], edges[1:])]


def _drop_pattern(m: sp.csr_matrix, reached: sp.csr_matrix) -> sp.csr_matrix:
    """The entries of ``m`` whose position is not in ``reached``'s pattern."""
    out = (m - m.multiply(reached)).tocsr()
    out.eliminate_zeros()
    return out


def _candidates(src: np.ndarray, dst: np.ndarray, n: int, k: int, score: str, beam: int | None,
                ppr_alpha: float, keep_per_row: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every pair ``(dst v, src u)`` at shortest distance 2..k with its hop and raw score.

    Matrices are indexed ``[dst, src]`` (messages flow src → dst), so ``(A^d)[v, u]``
    counts walks of length ``d`` from ``u`` to ``v``; a walk whose length equals the
    shortest distance is a shortest path. The frontier ``F_d`` holds the pairs at
    distance exactly ``d`` with their shortest-path counts,
    ``F_d = (A F_{d-1})`` minus every pair reached before. With ``beam``, each row of
    the frontier is cut to its ``beam`` largest entries before the next product, so a
    product has at most ``E · beam`` terms. ``keep_per_row`` (paths only) records just
    the best entries of each row per hop: within one hop the final ranking is by count,
    so nothing that could win a per-vertex budget is lost.
    """
    a = sp.csr_matrix((np.ones(src.size), (dst, src)), shape=(n, n))
    a.sum_duplicates()
    a.data[:] = 1.0
    reached = (a + sp.identity(n, format="csr")).astype(bool)
    out_r, out_c, out_h, out_s = [], [], [], []
    if score == "paths":
        frontier = a
        for d in range(2, k + 1):
            prev = frontier if beam is None else _prune_rows(frontier, beam)
            last = d == k
            blocks, recorded = [], []
            for r0, r1 in _row_blocks(a, prev):
                block = _drop_pattern((a[r0:r1] @ prev).tocsr(), reached[r0:r1])
                rows = r0 + np.repeat(np.arange(r1 - r0, dtype=np.int64), np.diff(block.indptr))
                cols, vals = block.indices.astype(np.int64), block.data
                if keep_per_row is not None:
                    keep = _top_per_row(rows - r0, vals, _hash(rows, cols), keep_per_row, r1 - r0)
                    rows, cols, vals = rows[keep], cols[keep], vals[keep]
                out_r.append(rows), out_c.append(cols), out_h.append(np.full(rows.size, d)), out_s.append(vals)
                if not last:  # with a beam only the kept part of the frontier is carried on
                    blocks.append(block if beam is None else _prune_rows(block, beam, r0))
                    if beam is not None:
                        recorded.append((rows, cols))
            if last or not blocks:
                break
            frontier = sp.vstack(blocks, format="csr")
            if frontier.nnz == 0:
                break
            reached = reached + frontier.astype(bool)
            if recorded:  # beam: reached = recorded pairs and the carried frontier, not every pair seen
                r, c = np.concatenate([x for x, _ in recorded]), np.concatenate([y for _, y in recorded])
                reached = reached + sp.csr_matrix((np.ones(r.size, dtype=bool), (r, c)), shape=(n, n))
            reached = reached.tocsr()
    else:
        # truncated personalised PageRank: pi_u = alpha * sum_{t<=k} ((1-alpha) T)^t e_u,
        # T[v, w] = 1/outdeg(w) for w -> v; column u of ppr is pi_u
        outdeg = np.asarray(a.sum(axis=0)).ravel()
        t_mat = (a @ sp.diags(np.where(outdeg > 0, 1.0 / np.maximum(outdeg, 1), 0.0))).tocsr()
        walk = sp.identity(n, format="csr")
        ppr = ppr_alpha * walk
        for d in range(1, k + 1):
            prev = walk if beam is None else _prune_rows(walk, beam)
            walk = ((1.0 - ppr_alpha) * (t_mat @ prev)).tocsr()
            ppr = ppr + ppr_alpha * walk
            new = _drop_pattern(walk, reached)
            if new.nnz == 0 and walk.nnz == 0:
                break
            if d >= 2 and new.nnz:
                coo = new.tocoo()
                out_r.append(coo.row), out_c.append(coo.col), out_h.append(np.full(coo.nnz, d))
            reached = (reached + new.astype(bool)).tocsr()
        ppr = ppr.tocsr()
        ppr.sum_duplicates()
        ppr.sort_indices()
        if out_r:
            r, c = np.concatenate(out_r), np.concatenate(out_c)
            rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(ppr.indptr))
            keys = rows * n + ppr.indices
            pos = np.searchsorted(keys, r.astype(np.int64) * n + c)
            out_s = [ppr.data[pos]]
    if not out_r:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, np.zeros(0)
    return (np.concatenate(out_r).astype(np.int64), np.concatenate(out_c).astype(np.int64),
            np.concatenate(out_h).astype(np.int64), np.concatenate(out_s).astype(np.float64))


def shortcut_edges(
    g: Graph | MultiViewGraph,
    k: int,
    max_per_node: int | None = None,
    max_edges: int | None = None,
    score: str = "paths",
    decay: float = 0.5,
    min_hops: int = 2,
    keep_original: bool = True,
    self_loops: bool = False,
    beam: int | None = None,
    ppr_alpha: float = 0.15,
    edge_weight: Tensor | None = None,
    dtype: torch.dtype = torch.float32,
) -> LayerGraph | MultiViewGraph:
    r"""Add shortcut edges :math:`u \to v` between vertices at most ``k`` hops apart.

    A shortcut joins :math:`u` to :math:`v` when the shortest directed path from
    :math:`u` to :math:`v` has :math:`d \in [\text{min\_hops}, k]` edges; its weight is
    :math:`\text{decay}^{d-1}` (an original edge has weight 1, or its ``edge_weight``).
    Shortcuts compete for the budgets by score, highest first:

    - ``"paths"``: :math:`\sigma(u,v) \cdot \text{decay}^{d-1}`, with :math:`\sigma` the
      number of shortest paths (the shortcut's weight times the paths it replaces);
    - ``"ppr"``: :math:`\pi_u(v)`, personalised PageRank from :math:`u` with restart
      ``ppr_alpha``, truncated at ``k`` steps.

    Ties go to the shorter hop, then to a fixed pseudo-random order.

    Everything is sparse: one CSR product per hop over the current frontier, never a
    dense :math:`A^k`. Without ``beam`` the candidates are exact (the set of all pairs
    within ``k`` hops is held, so on large graphs pass ``beam``); with ``beam`` each
    frontier row keeps its ``beam`` highest-count (or highest-PPR) entries before the
    next product, bounding work and memory by ``E · beam`` per hop — counts then
    become lower bounds and a pruned pair can reappear one hop later.

    Args:
        g: the graph, or a :class:`MultiViewGraph` (shortcuts are built inside each
            view, with that view's weights; returns a ``MultiViewGraph``).
        k: largest hop distance to shortcut (``k = 1`` adds nothing).
        max_per_node: keep at most this many shortcuts into each vertex (``None``: all).
        max_edges: keep at most this many shortcuts in total (``None``: all).
        score: ``"paths" | "ppr"``.
        decay: weight factor per extra hop, in ``(0, 1]``.
        min_hops: shortest hop distance to shortcut (``>= 2``); ``min_hops = k`` gives
            exactly-``k``-hop edges, as DRew.
        keep_original: keep the original edges (merged if duplicated, weights summed).
        self_loops: add one loop per vertex (weight 1); otherwise all loops are removed.
        beam: frontier entries kept per vertex per hop (``None``: exact).
        ppr_alpha: PageRank restart probability in ``(0, 1)`` (``score="ppr"``).
        edge_weight: ``[E]`` weights of the original edges (not used for a MultiViewGraph,
            which carries its own).
        dtype: dtype of the returned edge weights.

    Returns:
        A :class:`LayerGraph` (edges sorted by (dst, src), no duplicates, ``hops`` set)
        or, for a ``MultiViewGraph``, a ``MultiViewGraph`` with per-view weights.

    Raises:
        ValueError: ``k < 1``, negative budgets, ``beam < 1``, ``min_hops < 2``,
            ``decay`` outside ``(0, 1]``, an unknown ``score``, a bipartite graph.
    """
    _check_int(k, "k", 1)
    _check_int(max_per_node, "max_per_node", 0, allow_none=True)
    _check_int(max_edges, "max_edges", 0, allow_none=True)
    _check_int(beam, "beam", 1, allow_none=True)
    _check_int(min_hops, "min_hops", 2)
    if score not in SHORTCUT_SCORES:
        raise ValueError(f"score must be one of {SHORTCUT_SCORES}, got {score!r}")
    if not 0.0 < decay <= 1.0:
        raise ValueError(f"decay must lie in (0, 1], got {decay}")
    if not 0.0 < ppr_alpha < 1.0:
        raise ValueError(f"ppr_alpha must lie in (0, 1), got {ppr_alpha}")
    kwargs = dict(k=k, max_per_node=max_per_node, max_edges=max_edges, score=score, decay=decay, min_hops=min_hops,
                  keep_original=keep_original, self_loops=self_loops, beam=beam, ppr_alpha=ppr_alpha, dtype=dtype)
    if isinstance(g, MultiViewGraph):
        if edge_weight is not None:
            raise ValueError("edge_weight must be None for a MultiViewGraph: its views carry their own weights")

        def per_view(view: Graph, w: Tensor | None):
            lg = _shortcuts(view, w, **kwargs)
            return lg.graph, lg.edge_weight

        return g.map_views(per_view)
    _check_graph(g)
    _check_edge_weight(edge_weight, g)
    return _shortcuts(g, edge_weight, **kwargs)


def _shortcuts(g: Graph, edge_weight: Tensor | None, *, k, max_per_node, max_edges, score, decay, min_hops,
               keep_original, self_loops, beam, ppr_alpha, dtype) -> LayerGraph:
    n, device = g.num_nodes, g.device
    nonloop = g.src != g.dst
    s_np, d_np = g.src[nonloop].cpu().numpy(), g.dst[nonloop].cpu().numpy()
    keep_per_row = max_per_node if score == "paths" else None
    rows, cols, hops, raw = _candidates(s_np, d_np, n, k, score, beam, ppr_alpha, keep_per_row)  # rows = dst, cols = src
    keep = hops >= min_hops
    rows, cols, hops, raw = rows[keep], cols[keep], hops[keep], raw[keep]
    weight = decay ** (hops - 1.0)
    rank_score = raw * weight if score == "paths" else raw
    tiebreak = (hops << 32) | _hash(rows, cols)  # shorter hop first, then a fixed pseudo-random order
    if max_per_node is not None and rows.size:
        keep = _top_per_row(rows, rank_score, tiebreak, max_per_node, n)
        rows, cols, hops, weight, rank_score, tiebreak = (a[keep] for a in (rows, cols, hops, weight, rank_score, tiebreak))
    if max_edges is not None and rows.size > max_edges:
        keep = _order(rank_score, tiebreak)[:max_edges]
        rows, cols, hops, weight = rows[keep], cols[keep], hops[keep], weight[keep]
    parts_src, parts_dst, parts_w, parts_h = [], [], [], []
    if keep_original:
        base = Graph(g.src[nonloop], g.dst[nonloop], n, _validate=False)
        w0 = torch.ones(base.num_edges, dtype=dtype, device=device) if edge_weight is None else edge_weight[nonloop].to(dtype)
        base, w0 = base.coalesce(w0)
        parts_src.append(base.src), parts_dst.append(base.dst), parts_w.append(w0)
        parts_h.append(torch.ones(base.num_edges, dtype=torch.int64, device=device))
    to_t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device)  # noqa: E731
    parts_src.append(to_t(cols)), parts_dst.append(to_t(rows))
    parts_w.append(to_t(weight).to(dtype)), parts_h.append(to_t(hops))
    if self_loops:
        loops = torch.arange(n, device=device)
        parts_src.append(loops), parts_dst.append(loops)
        parts_w.append(torch.ones(n, dtype=dtype, device=device)), parts_h.append(torch.zeros(n, dtype=torch.int64, device=device))
    src, dst = torch.cat(parts_src), torch.cat(parts_dst)
    perm = torch.argsort(dst * max(n, 1) + src)
    out = Graph(src[perm], dst[perm], n, _validate=False)
    return LayerGraph(out, torch.cat(parts_w)[perm], hops=torch.cat(parts_h)[perm])


# --------------------------------------------------------------- clusters
def _undirected_numpy(g: Graph) -> tuple[np.ndarray, np.ndarray]:
    """Both directions of every edge, deduplicated, no loops, sorted by (src, dst)."""
    s, d = g.src.cpu().numpy(), g.dst.cpu().numpy()
    n = max(g.num_nodes, 1)
    key = np.unique(np.concatenate([s * n + d, d * n + s]))
    s, d = key // n, key % n
    keep = s != d
    return s[keep], d[keep]


def cluster_nodes(g: Graph, num_clusters: int, method: str = "auto", seed: int = 0) -> Tensor:
    """Partition the vertices into at most ``num_clusters`` clusters.

    Args:
        g: the graph (edges treated as undirected).
        num_clusters: target number of clusters.
        method: ``"metis"`` (``pymetis``, balanced min-cut), ``"label_propagation"``
            (:func:`gnnkit.scale.clustering.label_propagation`), or ``"auto"``: METIS when ``pymetis`` is importable.
        seed: random seed (label propagation and METIS).

    Returns:
        ``[N]`` int64 cluster ids, contiguous in ``[0, C)`` (empty parts are dropped).

    Raises:
        ValueError: unknown ``method``, ``num_clusters < 1``. ImportError: ``"metis"`` without pymetis.
    """
    _check_graph(g)
    _check_int(num_clusters, "num_clusters", 1)
    if method not in CLUSTER_METHODS:
        raise ValueError(f"method must be one of {CLUSTER_METHODS}, got {method!r}")
    if method == "auto":
        try:
            import pymetis  # noqa: F401
            method = "metis"
        except ImportError:
            method = "label_propagation"
    if method == "label_propagation" or num_clusters == 1 or g.num_nodes <= num_clusters:
        if num_clusters == 1:
            return torch.zeros(g.num_nodes, dtype=torch.int64, device=g.device)
        if method == "metis" and g.num_nodes <= num_clusters:
            return torch.arange(g.num_nodes, device=g.device)
        # a few refinement rounds: hub clusters need compactness, not convergence
        return label_propagation(g, num_clusters=num_clusters, seed=seed, max_iter=3)
    try:
        import pymetis
    except ImportError as exc:
        raise ImportError("method='metis' needs pymetis (pip install 'gnnkit[metis]'); or use method='label_propagation'") from exc
    s, d = _undirected_numpy(g)
    xadj = np.zeros(g.num_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(s, minlength=g.num_nodes), out=xadj[1:])
    opts = pymetis.Options(seed=seed)
    if hasattr(pymetis, "CSRAdjacency"):  # pymetis >= 2025.2; the xadj/adjncy keywords are deprecated there
        _, parts = pymetis.part_graph(num_clusters, adjacency=pymetis.CSRAdjacency(xadj, d), options=opts)
    else:
        _, parts = pymetis.part_graph(num_clusters, xadj=xadj, adjncy=d, options=opts)
    _, labels = np.unique(np.asarray(parts), return_inverse=True)
    return torch.from_numpy(labels.reshape(-1).astype(np.int64)).to(g.device)


def hub_graph(
    g: Graph,
    clusters: Tensor | None = None,
    num_clusters: int | None = None,
    method: str = "auto",
    hub_weight: float = 1.0,
    connect_hubs: bool = True,
    hub_init: str = "mean",
    readout: str = "pool",
    seed: int = 0,
    edge_weight: Tensor | None = None,
    dtype: torch.dtype = torch.float32,
) -> LayerGraph:
    r"""Inflate ``g`` with one hub vertex per cluster.

    Hub ``c`` is vertex ``N + c``. Edges, in addition to the original ones: every
    member :math:`v \to` its hub and hub :math:`\to v`, and (``connect_hubs``) hub
    :math:`c \to` hub :math:`c'` whenever some original edge goes from cluster
    :math:`c` to cluster :math:`c'`. A message then crosses a cluster in two hops and
    the graph in (cluster diameter) hops. The hubs exist for one layer only: see
    :meth:`LayerGraph.add_hub_states` / :meth:`LayerGraph.remove_hub_states`.

    Args:
        g: the graph.
        clusters: ``[N]`` cluster id per vertex in ``[0, C)``; or give ``num_clusters``.
        num_clusters: clusters to compute with :func:`cluster_nodes` (``method``, ``seed``).
        hub_weight: weight of every hub edge; original edges keep weight 1 (or ``edge_weight``).
        connect_hubs: add hub-hub edges between neighbouring clusters.
        hub_init, readout: see :class:`LayerGraph`.
        dtype: dtype of the returned edge weights.

    Returns:
        A :class:`LayerGraph` over ``N + C`` vertices, edges sorted by (dst, src),
        ``hops`` = -1 on hub edges.

    Raises:
        ValueError: neither or both of ``clusters`` / ``num_clusters``, a cluster id
            out of range or a cluster with no members, bad ``hub_init`` / ``readout``.
    """
    _check_graph(g)
    _check_edge_weight(edge_weight, g)
    if hub_init not in _HUB_INITS:
        raise ValueError(f"hub_init must be one of {_HUB_INITS}, got {hub_init!r}")
    if readout not in _READOUTS:
        raise ValueError(f"readout must be one of {_READOUTS}, got {readout!r}")
    if (clusters is None) == (num_clusters is None):
        raise ValueError("pass exactly one of clusters (ids per vertex) or num_clusters (to compute them)")
    n, device = g.num_nodes, g.device
    if clusters is None:
        clusters = cluster_nodes(g, num_clusters, method, seed)
    else:
        if not isinstance(clusters, Tensor) or clusters.is_floating_point() or clusters.shape != (n,):
            shape = tuple(clusters.shape) if isinstance(clusters, Tensor) else type(clusters).__name__
            raise ValueError(f"clusters must be an integer tensor of shape [N={n}], got {shape}")
        clusters = clusters.to(device=device, dtype=torch.int64)
    c = int(clusters.max()) + 1 if n else 0
    if n and int(clusters.min()) < 0:
        raise ValueError(f"clusters must hold ids >= 0, got {int(clusters.min())}")
    if n and int((torch.bincount(clusters, minlength=c) == 0).sum()):
        raise ValueError(f"clusters must be contiguous ids 0..C-1 with every cluster non-empty (C={c})")
    members = torch.arange(n, device=device)
    hubs = n + clusters
    src = [g.src, members, hubs]
    dst = [g.dst, hubs, members]
    w0 = torch.ones(g.num_edges, dtype=dtype, device=device) if edge_weight is None else edge_weight.to(dtype)
    weights = [w0, torch.full((2 * n,), hub_weight, dtype=dtype, device=device)]
    hops = [torch.ones(g.num_edges, dtype=torch.int64, device=device), torch.full((2 * n,), -1, dtype=torch.int64, device=device)]
    if connect_hubs and g.num_edges:
        cs, cd = clusters[g.src], clusters[g.dst]
        cross = cs != cd
        pair = torch.unique(cs[cross] * max(c, 1) + cd[cross])
        src.append(n + pair // max(c, 1)), dst.append(n + pair % max(c, 1))
        weights.append(torch.full((pair.numel(),), hub_weight, dtype=dtype, device=device))
        hops.append(torch.full((pair.numel(),), -1, dtype=torch.int64, device=device))
    src, dst = torch.cat(src), torch.cat(dst)
    total = n + c
    perm = torch.argsort(dst * max(total, 1) + src, stable=True)
    out = Graph(src[perm], dst[perm], total, _validate=False)
    return LayerGraph(out, torch.cat(weights)[perm], num_hubs=c, hub_of=clusters, hub_init=hub_init,
                      readout=readout, hops=torch.cat(hops)[perm])


# -------------------------------------------------------------- transforms
class GraphTransform:
    """A per-layer graph transform: ``transform(g) -> LayerGraph``.

    Subclasses are frozen dataclasses, so equal settings compare (and cache) equal.
    """

    def __call__(self, g: Graph | MultiViewGraph) -> LayerGraph | MultiViewGraph:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass(frozen=True)
class Identity(GraphTransform):
    """The layer runs on the graph as given."""

    def __call__(self, g: Graph | MultiViewGraph) -> LayerGraph | MultiViewGraph:
        if isinstance(g, MultiViewGraph):
            return g
        _check_graph(g)
        return LayerGraph(g)


@dataclass(frozen=True)
class Shortcuts(GraphTransform):
    """Shortcut edges within ``k`` hops; the fields are :func:`shortcut_edges`'s arguments."""

    k: int
    max_per_node: int | None = None
    max_edges: int | None = None
    score: str = "paths"
    decay: float = 0.5
    min_hops: int = 2
    keep_original: bool = True
    self_loops: bool = False
    beam: int | None = None
    ppr_alpha: float = 0.15

    def __post_init__(self) -> None:  # fail at schedule construction, not at the first forward
        _check_int(self.k, "k", 1)
        _check_int(self.max_per_node, "max_per_node", 0, allow_none=True)
        _check_int(self.max_edges, "max_edges", 0, allow_none=True)
        _check_int(self.beam, "beam", 1, allow_none=True)
        _check_int(self.min_hops, "min_hops", 2)
        if self.score not in SHORTCUT_SCORES:
            raise ValueError(f"score must be one of {SHORTCUT_SCORES}, got {self.score!r}")
        if not 0.0 < self.decay <= 1.0:
            raise ValueError(f"decay must lie in (0, 1], got {self.decay}")
        if not 0.0 < self.ppr_alpha < 1.0:
            raise ValueError(f"ppr_alpha must lie in (0, 1), got {self.ppr_alpha}")

    def __call__(self, g: Graph | MultiViewGraph) -> LayerGraph | MultiViewGraph:
        return shortcut_edges(g, self.k, self.max_per_node, self.max_edges, self.score, self.decay, self.min_hops,
                              self.keep_original, self.self_loops, self.beam, self.ppr_alpha)


@dataclass(frozen=True)
class Hubs(GraphTransform):
    """One hub vertex per cluster (:func:`hub_graph`); the fields are its arguments."""

    num_clusters: int
    method: str = "auto"
    hub_weight: float = 1.0
    connect_hubs: bool = True
    hub_init: str = "mean"
    readout: str = "pool"
    seed: int = 0

    def __post_init__(self) -> None:
        _check_int(self.num_clusters, "num_clusters", 1)
        if self.method not in CLUSTER_METHODS:
            raise ValueError(f"method must be one of {CLUSTER_METHODS}, got {self.method!r}")
        if self.hub_init not in _HUB_INITS:
            raise ValueError(f"hub_init must be one of {_HUB_INITS}, got {self.hub_init!r}")
        if self.readout not in _READOUTS:
            raise ValueError(f"readout must be one of {_READOUTS}, got {self.readout!r}")

    def __call__(self, g: Graph | MultiViewGraph) -> LayerGraph:
        if isinstance(g, MultiViewGraph):
            raise TypeError("Hubs works on a Graph; for a MultiViewGraph inflate its union() or use Shortcuts per view")
        return hub_graph(g, num_clusters=self.num_clusters, method=self.method, hub_weight=self.hub_weight,
                         connect_hubs=self.connect_hubs, hub_init=self.hub_init, readout=self.readout, seed=self.seed)


Transform = Union[GraphTransform, None]


class InflationSchedule:
    """Layer index → graph transform, with every transformed graph built once and cached.

    Args:
        transforms: one transform per layer (``None`` means :class:`Identity`). Layers
            with equal transforms share one cached graph.

    Example:
        ``InflationSchedule.from_hops([1, 2, 4, 8], max_per_node=16)`` grows the hop
        range with depth; ``InflationSchedule([None, Hubs(32), Hubs(32), None])``
        inflates only the middle layers.

    Raises:
        TypeError: an entry that is not a :class:`GraphTransform` or ``None``.
        ValueError: an empty schedule.
    """

    def __init__(self, transforms: Sequence[Transform]) -> None:
        transforms = list(transforms)
        if not transforms:
            raise ValueError("transforms must hold one transform per layer, got an empty sequence")
        for i, t in enumerate(transforms):
            if t is not None and not isinstance(t, GraphTransform):
                raise TypeError(f"transforms[{i}] must be a GraphTransform (Identity, Shortcuts, Hubs) or None, "
                                f"got {type(t).__name__}")
        self.transforms: tuple[GraphTransform, ...] = tuple(Identity() if t is None else t for t in transforms)
        # graph -> {transform: result}; weak keys so a schedule does not keep dead graphs alive
        self._cache: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()

    @staticmethod
    def plain(num_layers: int) -> "InflationSchedule":
        """``num_layers`` layers on the unchanged graph."""
        _check_int(num_layers, "num_layers", 1)
        return InflationSchedule([None] * num_layers)

    @staticmethod
    def from_hops(hops: Sequence[int], **shortcut_kwargs) -> "InflationSchedule":
        """Layer ``i`` gets :class:`Shortcuts` ``(k=hops[i], **shortcut_kwargs)`` (``k = 1``: the plain graph)."""
        out = []
        for i, k in enumerate(hops):
            _check_int(k, f"hops[{i}]", 1)
            out.append(None if k == 1 else Shortcuts(int(k), **shortcut_kwargs))
        return InflationSchedule(out)

    def __len__(self) -> int:
        return len(self.transforms)

    def __getitem__(self, layer: int) -> GraphTransform:
        return self.transforms[layer]

    def __repr__(self) -> str:
        return f"InflationSchedule({list(self.transforms)})"

    def check_depth(self, num_layers: int) -> None:
        """Raise unless the schedule covers ``num_layers`` layers."""
        if len(self) < num_layers:
            raise ValueError(
                f"schedule has {len(self)} transforms but the model has num_layers={num_layers}; "
                f"give one transform (or None) per layer"
            )

    def graph(self, layer: int, g: Graph | MultiViewGraph) -> LayerGraph | MultiViewGraph:
        """The graph layer ``layer`` runs on (built on first use, then cached).

        Raises:
            IndexError: ``layer`` outside ``[0, len(schedule))``.
        """
        if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < len(self):
            raise IndexError(f"layer must be an int in [0, {len(self)}), got {layer!r}")
        t = self.transforms[layer]
        if isinstance(t, Identity):  # nothing to build; caching it would pin g in the weak cache
            return t(g)
        per_graph = self._cache.get(g)
        if per_graph is None:
            per_graph = self._cache[g] = {}
        if t not in per_graph:
            per_graph[t] = t(g)
        return per_graph[t]

    def stats(self, g: Graph, num_layers: int | None = None) -> list[dict]:
        """Per layer: the transform, vertices, edges, hubs and edges added to ``g``."""
        out = []
        for i in range(len(self) if num_layers is None else num_layers):
            lg = self.graph(i, g)
            out.append({"layer": i, "transform": repr(self.transforms[i]), **lg.stats(g)})
        return out


# ------------------------------------------------------------------ model
class _MeanSAGE(nn.Module):
    """SAGE with a weighted mean: :math:`x'_v = W_1 x_v + W_2 \\sum_u \\tfrac{w_{uv}}{\\sum_{u'} w_{u'v}} x_u + b`."""

    def __init__(self, features: int):
        super().__init__()
        self.lin_l = nn.Linear(features, features)
        self.lin_r = nn.Linear(features, features, bias=False)

    def reset_parameters(self) -> None:
        self.lin_l.reset_parameters()
        self.lin_r.reset_parameters()

    def forward(self, g: Graph, x: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        if edge_weight is None:
            h = ops.spmm(g, x, reduce="mean")  # [N, F]
        else:
            w = edge_weight.to(x.dtype)
            den = w.new_zeros(g.num_nodes).index_add_(0, g.dst, w)  # [N] weighted in-degree
            h = ops.spmm(g, x, w / den.clamp(min=torch.finfo(w.dtype).tiny)[g.dst])
        return self.lin_l(h) + self.lin_r(x)


_CONVS = ("sage", "gcn")


class InflatedGNN(nn.Module):
    """A layer stack whose layer ``i`` runs on ``schedule.graph(i, g)``.

    encoder (Linear + activation) → ``num_layers`` × [dropout → inflate → conv →
    deflate → activation (→ + residual)] → dropout → decoder (Linear). "Inflate"
    appends hub rows (:meth:`LayerGraph.add_hub_states`) and "deflate" drops or pools
    them back, so hub state lives for one layer only.

    Args:
        in_features, hidden_features, out_features: sizes.
        num_layers: conv layers (``>= 1``); the schedule must cover them.
        schedule: the :class:`InflationSchedule`.
        conv: ``"sage"`` (weighted mean of neighbours plus a root term) or ``"gcn"``
            (:class:`GCNConv`: self-loops and symmetric normalisation of the weights).
        dropout: on every conv's input and the decoder's.
        residual: add each conv's output to its input.
        activation: a name from :data:`gnnkit.blocks.ACTIVATIONS`.

    Shape:
        x ``[N, in_features]`` → ``[N, out_features]``.

    Raises:
        ValueError: a schedule shorter than ``num_layers``, bad sizes, unknown conv/activation.
    """

    def __init__(self, in_features: int, hidden_features: int, out_features: int, num_layers: int,
                 schedule: InflationSchedule, conv: str = "sage", dropout: float = 0.0, residual: bool = True,
                 activation: str = "relu") -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("hidden_features", hidden_features),
                            ("out_features", out_features), ("num_layers", num_layers)):
            _check_int(value, name, 1)
        if not isinstance(schedule, InflationSchedule):
            raise TypeError(f"schedule must be an InflationSchedule, got {type(schedule).__name__}")
        schedule.check_depth(num_layers)
        if conv not in _CONVS:
            raise ValueError(f"conv must be one of {_CONVS}, got {conv!r}")
        activation_fn(activation)  # raises ValueError naming the choices
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        self.schedule, self.num_layers, self.conv_type = schedule, num_layers, conv
        self.dropout, self.residual, self.activation = dropout, residual, activation
        self.encoder = nn.Linear(in_features, hidden_features)
        make = (lambda: _MeanSAGE(hidden_features)) if conv == "sage" else (lambda: GCNConv(hidden_features, hidden_features))
        self.convs = nn.ModuleList([make() for _ in range(num_layers)])
        self.decoder = nn.Linear(hidden_features, out_features)

    def reset_parameters(self) -> None:
        for m in self.modules():
            if m is not self and hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def forward(self, g: Graph, x: Tensor) -> Tensor:
        act = activation_fn(self.activation)
        h = act(self.encoder(x))  # [N, D]
        for i, conv in enumerate(self.convs):
            lg = self.schedule.graph(i, g)
            hin = lg.add_hub_states(F.dropout(h, self.dropout, self.training))  # [N + H, D]
            w = None if lg.edge_weight is None else lg.edge_weight.to(hin.dtype)  # no copy when dtypes agree
            y = act(lg.remove_hub_states(conv(lg.graph, hin, w)))  # [N, D]
            h = h + y if self.residual else y
        return self.decoder(F.dropout(h, self.dropout, self.training))

    def extra_repr(self) -> str:
        return f"num_layers={self.num_layers}, conv={self.conv_type!r}, residual={self.residual}, schedule={self.schedule!r}"
