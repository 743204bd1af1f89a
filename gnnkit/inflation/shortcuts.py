r"""Shortcut edges :math:`u \to v` between vertices within ``k`` hops, from sparse products (never a dense :math:`A^k`)."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from ..graph import Graph
from ..graph.idkeys import combined_key, lexsort_ids
from ..graph.multiview import MultiViewGraph
from ._validate import _check_edge_weight, _check_graph, _check_int
from .layer_graph import LayerGraph

__all__ = ["shortcut_edges", "SHORTCUT_SCORES"]

SHORTCUT_SCORES = ("paths", "ppr")


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
            keys = combined_key((rows, ppr.indices.astype(np.int64)), (n, n), "ppr shortcuts")
            pos = np.searchsorted(keys, combined_key((r.astype(np.int64), c), (n, n), "ppr shortcuts"))
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
    perm = lexsort_ids((dst, src), (n, n))
    out = Graph(src[perm], dst[perm], n, _validate=False)
    return LayerGraph(out, torch.cat(parts_w)[perm], hops=torch.cat(parts_h)[perm])
