r"""The sampling core of the generators: Bernoulli trials over pair sets without enumerating the pairs.

**Sampling without enumerating pairs.** Independent Bernoulli trials over a set of ``P``
candidate pairs that share one probability ``p`` are drawn by geometric skipping: the gaps
between successes are i.i.d. ``Geometric(p)``, so the work is :math:`O(pP)`, not :math:`O(P)`.
Stochastic block models group their block pairs by probability and skip through each
group's pair space. The exponential distance rule (:mod:`.distance`) puts neurons into grid cells of
side ``h``; all pairs between two cells whose index offset is :math:`\delta` have a distance of
at least :math:`d_{\min}(\delta) = h \lVert \max(|\delta| - 1, 0) \rVert`, so they are drawn by
geometric skipping with the bound :math:`p_{\max}(\delta) = p_0 e^{-d_{\min}/\lambda}` and then
thinned exactly, accepting each candidate with :math:`p(d)/p_{\max}` (rejection sampling).
"""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import torch

from ...graph import Graph
from ...graph.idkeys import combined_key

_CHUNK = 1 << 22  # candidate pairs per vectorised batch: ~200 MB of temporaries at most


def _bernoulli_positions(total: int, p: float, rng: np.random.Generator, chunk: int = _CHUNK) -> Iterator[np.ndarray]:
    """Sorted positions in ``[0, total)``, each included independently with probability ``p``.

    Geometric skipping: the gaps between included positions are i.i.d. ``Geometric(p)``
    (support 1, 2, ...), so the work is proportional to the number of successes.
    Yields int64 arrays of at most ``chunk`` positions.
    """
    if total <= 0 or p <= 0.0:
        return
    if p >= 1.0:
        for start in range(0, total, chunk):
            yield np.arange(start, min(total, start + chunk), dtype=np.int64)
        return
    last = -1
    while True:
        expected = (total - 1 - last) * p
        m = int(min(chunk, expected + 6.0 * math.sqrt(expected) + 16))
        pos = last + np.cumsum(rng.geometric(p, size=m))
        if pos[-1] >= total:
            pos = pos[pos < total]
            if pos.size:
                yield pos
            return
        yield pos
        last = int(pos[-1])


def _symmetrize(i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([i, j]), np.concatenate([j, i])


def _to_graph(src: np.ndarray, dst: np.ndarray, num_nodes: int) -> Graph:
    """Edges sorted by (dst, src) (CSR order for aggregation). Pairs are unique by construction."""
    key = combined_key((dst.astype(np.int64), src.astype(np.int64)), (num_nodes, num_nodes), "topology sampling")
    del src, dst
    key.sort()
    n = max(num_nodes, 1)
    return Graph(torch.from_numpy(key % n), torch.from_numpy(key // n), num_nodes)


def _offsets(dim: int, radius: int) -> np.ndarray:
    """All integer offsets in ``[-radius, radius]^dim``, ``[K, dim]`` int64."""
    axes = [np.arange(-radius, radius + 1, dtype=np.int64)] * dim
    return np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, dim)


def _offset_bounds(deltas: np.ndarray, h: float, decay: float, pmax0: float) -> tuple[np.ndarray, np.ndarray]:
    """``(d_min, p_max)`` per cell offset: the smallest distance between two cells and the probability bound."""
    gap = np.maximum(np.abs(deltas) - 1, 0).astype(np.float64) * h
    dmin = np.sqrt((gap**2).sum(1))
    return dmin, np.minimum(1.0, pmax0 * np.exp(-dmin / decay))


# relative costs (ns) of the sampler's parts, measured on one CPU core; they only steer speed
_NS_PER_OFFSET = 1e5  # Python and numpy call overhead of one exact cell offset
_NS_PER_CELL = 40.0  # matching one occupied cell to its partner for one offset
_NS_PER_CANDIDATE = 150.0  # drawing, mapping and thinning one candidate pair


def _slot_cap(occupancy: float) -> float:
    """Expected largest cell occupancy for Poisson cells of the given mean (a +5 sigma bound)."""
    return occupancy + 5.0 * math.sqrt(occupancy) + 2.0


def _plan_costs(n: int, cells: float, pmax: np.ndarray, cap: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-offset cost of the exact (cell pair) and the slot (per neuron) strategies."""
    occupied = min(float(n), cells)
    occupancy = n / occupied
    exact = _NS_PER_OFFSET + _NS_PER_CELL * occupied + _NS_PER_CANDIDATE * pmax * n * occupancy
    slot = _NS_PER_CANDIDATE * pmax * n * cap
    return exact, slot


def _choose_cell_size(x: np.ndarray, decay: float, cutoff: float, pmax0: float) -> float:
    """Cell side minimising the sampler's cost model (see :func:`_distance_rule_edges`).

    Small cells give tight probability bounds but many offsets and sparse cells; large
    cells give few offsets but many rejected candidates.
    """
    n, dim = x.shape
    extent = np.maximum(x.max(0) - x.min(0), 1e-12)
    best_h, best_cost = cutoff, math.inf
    for factor in (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, math.inf):
        h = min(factor * decay, cutoff)
        cells = float(np.prod(np.floor(extent / h) + 1))
        radius = math.ceil(cutoff / h) + 1
        if (2 * radius + 1) ** dim > 2_000_000 or cells > 2.0**60:
            continue
        dmin, pmax = _offset_bounds(_offsets(dim, radius), h, decay, pmax0)
        pmax = pmax[dmin <= cutoff]
        exact, slot = _plan_costs(n, cells, pmax, _slot_cap(n / min(float(n), cells)))
        cost = float(np.minimum(exact, 2.0 * slot).sum())  # 2x: power-of-two probability bins
        if cost < best_cost:
            best_h, best_cost = h, cost
    return best_h


def _distance_rule_edges(
    x: np.ndarray,
    decay: float,
    p0: float,
    tol: float,
    rng: np.random.Generator,
    directed: bool,
    groups: np.ndarray | None = None,
    group_probs: np.ndarray | None = None,
    cell_size: float | None = None,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Ordered pairs ``(i, j)``, ``i != j``, each drawn with :math:`p_0\,g_{ij}\,e^{-d_{ij}/\lambda}` for :math:`d_{ij} \le r_c`.

    ``x`` ``[N, D]`` float64 are the coordinates the distance is measured in; ``g`` is
    ``group_probs[groups[i], groups[j]]`` (1 without groups). With ``directed=False`` each
    unordered pair is drawn once and returned in both orders.

    Neurons are binned into cells of side ``h``. Each cell offset :math:`\delta` is sampled by
    one of two exact strategies, whichever the cost model says is cheaper:

    - *cell pairs* (near offsets, high bound): the candidates are all pairs of the
      occupied cells ``(A, A + delta)``, concatenated into one pair space;
    - *slots* (far offsets, low bound): offsets whose bounds lie within a factor of 2
      are pooled; the pair space is ``(source neuron, offset, slot < cap)`` with ``cap``
      the largest cell occupancy, and a candidate is real only when the target cell has
      more than ``slot`` neurons. No per-offset work, so thousands of far offsets cost
      only their few candidates.

    Either way every ordered pair within the cutoff is one Bernoulli trial with the bound
    followed by acceptance :math:`p(d)/p_{\max}`, so the edges are exactly independent.
    """
    n, dim = x.shape
    gmax = float(group_probs.max()) if group_probs is not None and group_probs.size else 1.0
    pmax0 = p0 * gmax
    empty = np.zeros(0, dtype=np.int32)
    if n < 2 or pmax0 <= tol:
        return empty, empty
    cutoff = decay * math.log(pmax0 / tol)
    h = cell_size if cell_size is not None else _choose_cell_size(x, decay, cutoff, pmax0)
    span = x.max(0) - x.min(0)
    if float(np.prod(np.floor(span / h) + 1)) >= 2.0**62:  # linear cell ids must fit in int64
        raise ValueError(f"cell_size={h} is too small for positions spanning {span}; pass a larger cell_size")
    cell = np.floor((x - x.min(0)) / h).astype(np.int64)  # [N, D]
    grid = cell.max(0) + 1
    lin = np.ravel_multi_index(tuple(cell.T), tuple(grid))
    order = np.argsort(lin, kind="stable")  # neurons grouped by cell
    cells, starts, counts = np.unique(lin[order], return_index=True, return_counts=True)
    cell_coords = np.stack(np.unravel_index(cells, tuple(grid)), 1)  # [C, D]
    strides = np.array([int(np.prod(grid[k + 1 :])) for k in range(dim)], dtype=np.int64)
    cap = int(counts.max())
    num_grid = int(np.prod(grid))
    table = None
    if num_grid <= max(8 * n, 1 << 22):  # dense cell -> occupied-cell index table: O(1) lookups
        table = np.full(num_grid, -1, dtype=np.int64)
        table[cells] = np.arange(cells.size)

    def lookup(tlin: np.ndarray) -> np.ndarray:
        """Index into ``cells`` of each linear cell id, or -1 for an empty cell."""
        if table is not None:
            return table[tlin]
        b = np.minimum(np.searchsorted(cells, tlin), len(cells) - 1)
        return np.where(cells[b] == tlin, b, -1)

    def inside(coords: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """Rows of ``coords`` [M, D] whose cell moved by ``delta`` stays in the grid."""
        ok = np.ones(coords.shape[0], dtype=bool)
        for k in range(dim):
            if delta[k] > 0:
                ok &= coords[:, k] < grid[k] - delta[k]
            elif delta[k] < 0:
                ok &= coords[:, k] >= -delta[k]
        return ok

    deltas = _offsets(dim, math.ceil(cutoff / h) + 1)
    dmin, pmax = _offset_bounds(deltas, h, decay, pmax0)
    keep = dmin <= cutoff
    if not directed:  # each unordered cell pair once: the offsets in one half-space, plus 0
        first = np.argmax(deltas != 0, axis=1)
        lead = deltas[np.arange(len(deltas)), first]
        keep &= (lead > 0) | (deltas == 0).all(1)
    deltas, pmax = deltas[keep], pmax[keep]
    exact_cost, slot_cost = _plan_costs(n, float(np.prod(grid.astype(np.float64))), pmax, float(cap))
    use_exact = (exact_cost <= 2.0 * slot_cost) | ~deltas.any(1)  # offset 0 always by cell pairs
    out_i: list[np.ndarray] = []
    out_j: list[np.ndarray] = []

    columns = [np.ascontiguousarray(x[:, k]) for k in range(dim)]

    def thin(i: np.ndarray, j: np.ndarray, bound: float) -> None:
        d2 = np.zeros(i.size)
        for col in columns:  # per coordinate: no [M, D] temporaries
            t = col[i]
            t -= col[j]
            t *= t
            d2 += t
        d = np.sqrt(d2, out=d2)
        prob = p0 * np.exp(-d / decay)
        prob[d > cutoff] = 0.0
        if group_probs is not None:
            prob *= group_probs[groups[i], groups[j]]
        accept = rng.random(i.size) * bound < prob
        out_i.append(i[accept].astype(np.int32))
        out_j.append(j[accept].astype(np.int32))

    exact = np.nonzero(use_exact)[0]
    bins: dict[int, np.ndarray] = {}
    far = np.nonzero(~use_exact)[0]
    if far.size:
        level = np.floor(np.log2(pmax[far])).astype(np.int64)
        for lv in np.unique(level):
            bins[int(lv)] = far[level == lv]
    steps = [("exact", int(k)) for k in exact] + [("slots", lv) for lv in sorted(bins)]
    if progress:
        from tqdm import tqdm

        steps = tqdm(steps, desc="cell offsets", unit="offset", leave=False)
    for kind, k in steps:  # a loop over cell offsets / probability bins; pairs inside are vectorised
        if kind == "exact":
            delta, pm = deltas[k], float(pmax[k])
            zero = not delta.any()
            a = np.nonzero(inside(cell_coords, delta))[0]
            b = lookup(cells[a] + int(delta @ strides))
            found = b >= 0
            a, b = a[found], b[found]
            if a.size == 0:
                continue
            na, nb = counts[a].astype(np.int64), counts[b].astype(np.int64)
            sizes = na * nb
            cum = np.cumsum(sizes)
            for pos in _bernoulli_positions(int(cum[-1]), pm, rng):
                blk = np.searchsorted(cum, pos, side="right")  # which cell pair each candidate falls in
                local = pos - (cum[blk] - sizes[blk])
                il = local // nb[blk]
                jl = local - il * nb[blk]
                if zero:
                    ok = (il != jl) if directed else (il < jl)
                    blk, il, jl = blk[ok], il[ok], jl[ok]
                thin(order[starts[a[blk]] + il], order[starts[b[blk]] + jl], pm)
        else:
            members = bins[k]
            dl, pm = deltas[members], float(pmax[members].max())
            per_source = members.size * cap
            for pos in _bernoulli_positions(n * per_source, pm, rng):
                i = pos // per_source
                rem = pos - i * per_source
                o = rem // cap
                slot = rem - o * cap
                target = cell[i] + dl[o]  # [M, D] target cell of each candidate
                ok = ((target >= 0) & (target < grid)).all(1)
                i, slot = i[ok], slot[ok]
                b = lookup(target[ok] @ strides)
                real = b >= 0
                real[real] = slot[real] < counts[b[real]]
                thin(i[real], order[starts[b[real]] + slot[real]], pm)
    if not out_i:
        return empty, empty
    i, j = np.concatenate(out_i), np.concatenate(out_j)
    out_i.clear()  # the chunks are copied into i, j: free them before symmetrising
    out_j.clear()
    return (i, j) if directed else _symmetrize(i, j)


def _block_edges(
    sizes: np.ndarray, probs: np.ndarray, rng: np.random.Generator, directed: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Stochastic block model: pair ``(i, j)``, ``i != j``, of blocks ``(a, b)`` exists with ``probs[a, b]``.

    Block pairs with equal probability share one pair space, so the work is one geometric
    skip per distinct probability, whatever the number of blocks.
    """
    k = len(sizes)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    a, b = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    a, b = a.ravel(), b.ravel()
    if not directed:
        keep = a <= b
        a, b = a[keep], b[keep]
    p = probs[a, b]
    out_i: list[np.ndarray] = []
    out_j: list[np.ndarray] = []
    for value in np.unique(p[p > 0]):  # a loop over distinct probabilities (a handful for a hierarchy)
        sel = np.nonzero(p == value)[0]
        pa, pb = a[sel], b[sel]
        na, nb = sizes[pa].astype(np.int64), sizes[pb].astype(np.int64)
        block_sizes = na * nb
        cum = np.cumsum(block_sizes)
        for pos in _bernoulli_positions(int(cum[-1]), float(value), rng):
            blk = np.searchsorted(cum, pos, side="right")
            local = pos - (cum[blk] - block_sizes[blk])
            il = local // nb[blk]
            jl = local - il * nb[blk]
            same = pa[blk] == pb[blk]
            ok = ~same | ((il < jl) if not directed else (il != jl))
            out_i.append((offsets[pa[blk]] + il)[ok].astype(np.int32))
            out_j.append((offsets[pb[blk]] + jl)[ok].astype(np.int32))
    if not out_i:
        empty = np.zeros(0, dtype=np.int32)
        return empty, empty
    i, j = np.concatenate(out_i), np.concatenate(out_j)
    return (i, j) if directed else _symmetrize(i, j)
