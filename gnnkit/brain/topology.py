r"""Built-in brain topologies: spatially embedded, small-world, modular/hierarchical and layered networks.

Every generator returns a :class:`SpatialGraph`: a sparse :class:`~gnnkit.Graph` of synapses
``src -> dst`` plus the ``[N, D]`` positions of the neurons (kept for wiring lengths and
layouts) and optional group labels (modules, layers). All generators are reproducible by
``seed`` (numpy ``PCG64``) and sparse end to end: none of them looks at all
:math:`N^2` pairs, so they scale to :math:`10^6` neurons and :math:`10^8` synapses (see
``docs/brain.md`` for a measured run).

**Sampling without enumerating pairs.** Independent Bernoulli trials over a set of ``P``
candidate pairs that share one probability ``p`` are drawn by geometric skipping: the gaps
between successes are i.i.d. ``Geometric(p)``, so the work is :math:`O(pP)`, not :math:`O(P)`.
Stochastic block models group their block pairs by probability and skip through each
group's pair space. The exponential distance rule (below) puts neurons into grid cells of
side ``h``; all pairs between two cells whose index offset is :math:`\delta` have a distance of
at least :math:`d_{\min}(\delta) = h \lVert \max(|\delta| - 1, 0) \rVert`, so they are drawn by
geometric skipping with the bound :math:`p_{\max}(\delta) = p_0 e^{-d_{\min}/\lambda}` and then
thinned exactly, accepting each candidate with :math:`p(d)/p_{\max}` (rejection sampling).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch
from torch import Tensor

from ..graph import Graph
from ._validate import (
    as_positions,
    check_graph,
    check_int,
    check_positive,
    check_probability,
    check_probability_array,
    rng_from,
)

__all__ = [
    "SpatialGraph",
    "edge_lengths",
    "decay_for_degree",
    "spatial_graph",
    "watts_strogatz_graph",
    "modular_graph",
    "hierarchical_modular_graph",
    "layered_graph",
    "cortical_column",
    "PD14_POPULATIONS",
    "PD14_SIZES",
    "PD14_PROBS",
]

_CHUNK = 1 << 22  # candidate pairs per vectorised batch: ~200 MB of temporaries at most


# ----------------------------------------------------------------- container
@dataclass(frozen=True, eq=False)
class SpatialGraph:
    """A synapse graph whose neurons have positions in space.

    Args:
        graph: synapses ``src -> dst`` over ``N`` neurons (one vertex set).
        positions: ``[N, D]`` finite coordinates (float32, CPU).
        groups: optional ``[N]`` int64 group of each neuron (module, layer, population).
        group_names: optional names of the groups, ``group_names[g]`` for label ``g``.

    Raises:
        TypeError: a non-Graph ``graph``. ValueError: a bipartite graph, positions that
            are not ``[N, D]`` or not finite, groups of the wrong length.
    """

    graph: Graph
    positions: Tensor
    groups: Tensor | None = None
    group_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        check_graph(self.graph, "graph")
        object.__setattr__(self, "positions", as_positions(self.positions, self.graph.num_nodes))
        if self.groups is not None:
            groups = torch.as_tensor(self.groups)
            if groups.shape != (self.graph.num_nodes,) or groups.is_floating_point():
                raise ValueError(
                    f"groups must be an integer tensor of shape [N] = [{self.graph.num_nodes}], got "
                    f"{groups.dtype} {tuple(groups.shape)}"
                )
            object.__setattr__(self, "groups", groups.to(torch.int64))
        if self.group_names is not None:
            object.__setattr__(self, "group_names", tuple(str(n) for n in self.group_names))

    @property
    def num_nodes(self) -> int:
        return self.graph.num_nodes

    @property
    def num_edges(self) -> int:
        return self.graph.num_edges

    @property
    def dim(self) -> int:
        """Number of spatial coordinates ``D``."""
        return self.positions.shape[1]

    def edge_lengths(self) -> Tensor:
        """``[E]`` Euclidean length of every synapse (float32), in the graph's edge order."""
        return edge_lengths(self.graph, self.positions)

    def with_graph(self, graph: Graph) -> "SpatialGraph":
        """The same neurons (positions, groups) with another synapse set, e.g. after pruning."""
        if not isinstance(graph, Graph) or graph.num_nodes != self.num_nodes:
            got = graph.num_nodes if isinstance(graph, Graph) else type(graph).__name__
            raise ValueError(f"graph must be a Graph over the same {self.num_nodes} neurons, got {got}")
        return SpatialGraph(graph, self.positions, self.groups, self.group_names)

    def __repr__(self) -> str:
        groups = "" if self.groups is None else f", groups={int(self.groups.max()) + 1 if self.num_nodes else 0}"
        return f"SpatialGraph(num_nodes={self.num_nodes}, num_edges={self.num_edges}, dim={self.dim}{groups})"


def edge_lengths(graph: Graph, positions: Tensor) -> Tensor:
    r"""Euclidean length :math:`d_e = \lVert x_{src} - x_{dst} \rVert` of every edge.

    Args:
        graph: the synapses.
        positions: ``[N, D]`` finite neuron coordinates.

    Returns:
        ``[E]`` float32 on the graph's device, in the graph's edge order.

    Raises:
        ValueError: positions of the wrong shape or not finite.
    """
    check_graph(graph)
    pos = as_positions(positions, graph.num_nodes).to(graph.device)
    if graph.num_edges == 0:
        return pos.new_zeros(0)
    return (pos.index_select(0, graph.src) - pos.index_select(0, graph.dst)).norm(dim=1)  # [E]


# -------------------------------------------------------------- sampling core
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
    key = dst.astype(np.int64) * max(num_nodes, 1) + src.astype(np.int64)
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


# --------------------------------------------------------------- generators
def _unit_sphere_area(dim: int) -> float:
    return 2.0 * math.pi ** (dim / 2) / math.gamma(dim / 2)


def decay_for_degree(mean_degree: float, num_nodes: int, dim: int = 2, extent: float = 1.0, p0: float = 1.0) -> float:
    r"""Length constant :math:`\lambda` that gives a mean out-degree under the exponential distance rule.

    For neurons of density :math:`\rho = N / \text{extent}^D` in an unbounded medium,

    .. math:: \bar k = \rho\, p_0 \int e^{-r/\lambda}\, dV = \rho\, p_0\, S_{D-1}\, (D-1)!\, \lambda^D

    with :math:`S_{D-1}` the area of the unit sphere (2, :math:`2\pi`, :math:`4\pi`). Neurons near
    the box boundary lose part of their neighbourhood, so the realised mean degree of a
    finite box is somewhat lower (by :math:`\approx 2D\lambda/\text{extent}` relative).

    Raises:
        ValueError: a non-positive ``mean_degree``, ``extent``, ``num_nodes``; ``p0`` outside (0, 1].
    """
    k = check_positive(mean_degree, "mean_degree")
    n = check_int(num_nodes, "num_nodes", minimum=1)
    dim = check_int(dim, "dim", minimum=1, maximum=3)
    extent = check_positive(extent, "extent")
    p0 = check_probability(p0, "p0")
    if p0 == 0:
        raise ValueError("p0 must be > 0 to reach a positive mean_degree, got 0")
    rho = n / extent**dim
    return (k / (rho * p0 * _unit_sphere_area(dim) * math.factorial(dim - 1))) ** (1.0 / dim)


def spatial_graph(
    num_nodes: int,
    *,
    dim: int = 2,
    decay: float | None = None,
    mean_degree: float | None = None,
    p0: float = 1.0,
    extent: float = 1.0,
    positions: Tensor | np.ndarray | None = None,
    directed: bool = True,
    tol: float = 1e-6,
    cell_size: float | None = None,
    seed: int = 0,
    progress: bool = False,
) -> SpatialGraph:
    r"""Neurons in space, connected by the exponential distance rule.

    .. math:: P(i \to j) = p_0\, e^{-d_{ij}/\lambda} \quad\text{for } d_{ij} \le r_c = \lambda \ln(p_0/\text{tol}),\ 0 \text{ beyond}

    (Ercsey-Ravasz et al. 2013, *Neuron* 80:184, measured this decay in macaque cortex.)
    Every ordered pair is an independent trial (``directed=True``) or every unordered pair
    one trial whose edge is stored in both directions (``directed=False``). No self-loops.
    Beyond the cutoff :math:`r_c` the probability is below ``tol``; those pairs are never
    examined, which is what makes the generator :math:`O(N + E)` instead of :math:`O(N^2)`.

    Args:
        num_nodes: number of neurons ``N``.
        dim: 1, 2 or 3 (ignored when ``positions`` is given).
        decay: length constant :math:`\lambda`; give it or ``mean_degree``.
        mean_degree: target mean out-degree; sets :math:`\lambda` by :func:`decay_for_degree`.
        p0: connection probability at distance 0, in [0, 1].
        extent: side of the box :math:`[0, \text{extent}]^D` positions are drawn from (uniform).
        positions: optional ``[N, D]`` fixed positions instead of uniform ones (``dim`` and
            ``extent`` are then ignored; ``mean_degree`` uses the positions' bounding box).
        directed: one trial per ordered pair (default) or per unordered pair.
        tol: probability below which pairs are not examined (sets the cutoff).
        cell_size: side of the grid cells used for sampling; default: chosen by a cost model.
            Only speed depends on it, not the distribution (but the random stream does).
        seed: random seed; equal seeds give equal graphs.
        progress: show a tqdm bar over cell offsets.

    Returns:
        A :class:`SpatialGraph`; edges sorted by ``(dst, src)``.

    Raises:
        ValueError: non-finite positions, ``p0`` or ``tol`` outside [0, 1], neither or both of
            ``decay`` and ``mean_degree``, non-positive sizes.
    """
    n = check_int(num_nodes, "num_nodes", minimum=0)
    p0 = check_probability(p0, "p0")
    tol = check_probability(tol, "tol")
    if tol == 0:
        raise ValueError("tol must be > 0 (the probability below which pairs are skipped), got 0")
    if positions is not None:
        pos = as_positions(positions, n)
        dim = pos.shape[1]
        x = pos.numpy().astype(np.float64)
    else:
        dim = check_int(dim, "dim", minimum=1, maximum=3)
        extent = check_positive(extent, "extent")
    if (decay is None) == (mean_degree is None):
        raise ValueError(
            f"give exactly one of decay (the length constant) and mean_degree, got decay={decay!r}, "
            f"mean_degree={mean_degree!r}"
        )
    rng = rng_from(seed)
    if positions is None:
        x = rng.random((n, dim)) * extent
        pos = torch.from_numpy(x.astype(np.float32))
    if decay is None:
        box = float((x.max(0) - x.min(0)).max()) if n > 1 else 1.0
        decay = decay_for_degree(mean_degree, max(n, 1), dim, extent if positions is None else max(box, 1e-12), max(p0, 1e-300))
    decay = check_positive(decay, "decay")
    if cell_size is not None:
        cell_size = check_positive(cell_size, "cell_size")
    i, j = _distance_rule_edges(x, decay, p0, tol, rng, directed, cell_size=cell_size, progress=progress)
    return SpatialGraph(_to_graph(i, j, n), pos)


def watts_strogatz_graph(num_nodes: int, k: int, p: float, *, seed: int = 0) -> SpatialGraph:
    r"""Watts–Strogatz small world: a ring lattice with each edge rewired with probability ``p``.

    Neuron ``i`` sits at angle :math:`2\pi i/N` on the unit circle and is joined to its ``k/2``
    clockwise neighbours. Each lattice edge ``(u, u + s)`` independently keeps ``u`` and gets
    a uniformly random new endpoint with probability ``p``; a draw that would make a
    self-loop or duplicate an edge is redrawn (all conflicting draws at once, repeated until
    none are left), as networkx does; with ``k = N - 1`` (the complete graph) no edge can move.
    The result is undirected: every edge is stored in both directions, ``N·k`` directed edges in all.

    Raises:
        ValueError: ``k`` odd, below 2 or not below ``N``; ``p`` outside [0, 1].
    """
    n = check_int(num_nodes, "num_nodes", minimum=3)
    k = check_int(k, "k", minimum=2)
    if k % 2 or k >= n:
        raise ValueError(f"k must be even and < num_nodes = {n} (each neuron links k/2 neighbours per side), got {k}")
    p = check_probability(p, "p")
    rng = rng_from(seed)
    half = k // 2
    u = np.repeat(np.arange(n, dtype=np.int64), half)
    v = (u + np.tile(np.arange(1, half + 1, dtype=np.int64), n)) % n  # [N*k/2] lattice edges
    # k = N - 1 is the complete graph: no free endpoint exists, so nothing can be rewired (networkx skips too)
    rewired = np.nonzero(rng.random(u.size) < (p if k < n - 1 else 0.0))[0]
    v[rewired] = rng.integers(0, n, rewired.size)
    flag = np.zeros(u.size, dtype=np.int8)
    flag[rewired] = 1  # kept lattice edges win a tie against a rewired duplicate
    pending = rewired
    for _ in range(1_000):  # rounds of redraws; the conflicts shrink geometrically
        key = np.minimum(u, v) * n + np.maximum(u, v)
        order = np.lexsort((flag, key))
        dup = np.zeros(u.size, dtype=bool)
        dup[order[1:]] = key[order[1:]] == key[order[:-1]]
        bad = np.nonzero(dup | (u == v))[0]
        if bad.size == 0:
            break
        v[bad] = rng.integers(0, n, bad.size)
        pending = bad
    else:  # pragma: no cover - a neuron saturated by rewired edges (k close to N); not seen in practice
        raise ValueError(f"could not rewire without duplicates ({pending.size} conflicts left); lower k or p")
    angle = 2 * math.pi * np.arange(n) / n
    pos = torch.from_numpy(np.stack([np.cos(angle), np.sin(angle)], 1).astype(np.float32))
    src, dst = _symmetrize(u, v)
    return SpatialGraph(_to_graph(src, dst, n), pos)


def _split_sizes(num_nodes: int, parts: int) -> np.ndarray:
    return num_nodes // parts + (np.arange(parts) < num_nodes % parts).astype(np.int64)


def _nested_boxes(branching: int, depth: int, dim: int, extent: float) -> tuple[np.ndarray, float]:
    """Lower corners ``[branching**depth, D]`` and side of the leaf boxes of a recursive grid.

    Each level splits a box into a ``g^D`` grid (``g = ceil(branching^(1/D))``) and uses its
    first ``branching`` cells, so sibling modules are spatial neighbours.
    """
    g = max(1, math.ceil(branching ** (1.0 / dim) - 1e-9))
    leaves = np.arange(branching**depth, dtype=np.int64)
    corner = np.zeros((leaves.size, dim))
    side = extent
    for level in range(depth):
        side /= g
        digit = (leaves // branching ** (depth - 1 - level)) % branching
        corner += np.stack(np.unravel_index(digit, (g,) * dim), 1) * side
    return corner, side


def hierarchical_modular_graph(
    num_nodes: int,
    branching: int,
    probs: Sequence[float],
    *,
    dim: int = 2,
    extent: float = 1.0,
    directed: bool = False,
    seed: int = 0,
) -> SpatialGraph:
    r"""Hierarchically modular network: modules within modules, denser connections deeper down.

    The neurons are split into ``branching**depth`` leaf modules (sizes differ by at most 1),
    ``depth = len(probs) - 1``. Two neurons whose deepest common module is at level ``l``
    (0: only the whole network, ``depth``: the same leaf module) connect with ``probs[l]``.
    Positions are nested boxes: each module is a box split into a grid of its submodules,
    and neurons are uniform inside the central 80 % of their leaf box. ``groups`` holds the
    leaf module of each neuron.

    Raises:
        ValueError: probabilities outside [0, 1], fewer than 2 levels, ``branching < 2``,
            fewer neurons than leaf modules.
    """
    n = check_int(num_nodes, "num_nodes", minimum=1)
    b = check_int(branching, "branching", minimum=2)
    p = check_probability_array(probs, "probs")
    if p.ndim != 1 or p.size < 2:
        raise ValueError(f"probs must list one probability per level, at least 2 (between, within), got {list(p.shape)}")
    dim = check_int(dim, "dim", minimum=1, maximum=3)
    extent = check_positive(extent, "extent")
    depth = p.size - 1
    leaves = b**depth
    if leaves > n:
        raise ValueError(f"num_nodes = {n} is smaller than the {leaves} leaf modules (branching**depth); add neurons")
    rng = rng_from(seed)
    ids = np.arange(leaves)
    common = np.zeros((leaves, leaves), dtype=np.int64)
    for level in range(1, depth + 1):  # a loop over levels
        unit = b ** (depth - level)
        common += (ids[:, None] // unit) == (ids[None, :] // unit)
    block_p = p[common]
    sizes = _split_sizes(n, leaves)
    src, dst = _block_edges(sizes, block_p, rng, directed)
    groups = np.repeat(np.arange(leaves), sizes)
    corner, side = _nested_boxes(b, depth, dim, extent)
    x = corner[groups] + side * (0.1 + 0.8 * rng.random((n, dim)))
    return SpatialGraph(_to_graph(src, dst, n), torch.from_numpy(x.astype(np.float32)), torch.from_numpy(groups))


def modular_graph(
    num_nodes: int,
    num_modules: int,
    p_in: float,
    p_out: float,
    *,
    dim: int = 2,
    extent: float = 1.0,
    directed: bool = False,
    seed: int = 0,
) -> SpatialGraph:
    """Modules of equal size (±1) with within-module probability ``p_in`` and between-module ``p_out``.

    A planted-partition model: :func:`hierarchical_modular_graph` with one level,
    ``probs=[p_out, p_in]``. ``groups`` is the module of each neuron.

    Raises:
        ValueError: probabilities outside [0, 1], ``num_modules < 2`` or more modules than neurons.
    """
    p_in = check_probability(p_in, "p_in")
    p_out = check_probability(p_out, "p_out")
    check_int(num_modules, "num_modules", minimum=2)
    return hierarchical_modular_graph(num_nodes, num_modules, [p_out, p_in], dim=dim, extent=extent,
                                      directed=directed, seed=seed)


def layered_graph(
    layer_sizes: Sequence[int],
    layer_probs: Sequence[Sequence[float]] | np.ndarray,
    *,
    decay: float | None = None,
    extent: float = 1.0,
    depth: float | None = None,
    dim: int = 3,
    directed: bool = True,
    layer_names: Sequence[str] | None = None,
    tol: float = 1e-6,
    seed: int = 0,
    progress: bool = False,
) -> SpatialGraph:
    r"""Layered (laminar, cortex-like) network: layer-to-layer probabilities times lateral distance decay.

    .. math:: P(i \to j) = P_{\ell(i)\,\ell(j)} \; e^{-d^{\text{lat}}_{ij}/\lambda}

    where :math:`P` is ``layer_probs[source layer][target layer]`` and
    :math:`d^{\text{lat}}` the distance within the sheet (all coordinates but the last).
    With ``decay=None`` there is no distance term: a block model, as in the Potjans &
    Diesmann (2014) microcircuit whose probabilities are averages over a 1 mm² patch.
    Neurons are uniform in the sheet :math:`[0, \text{extent}]^{D-1}`; the last coordinate is
    the cortical depth, layer 0 at the top (``depth`` down to 0, default ``extent``), each
    layer a band of equal thickness.

    Args:
        layer_sizes: neurons per layer.
        layer_probs: ``[L, L]`` probabilities, ``[source, target]``.
        decay: lateral length constant :math:`\lambda`, or None for no distance dependence.
        extent: side of the sheet. depth: thickness of the whole column.
        dim: 2 (a line of cortex and depth) or 3 (a sheet and depth).
        directed: one trial per ordered pair; ``False`` needs a symmetric ``layer_probs``.
        layer_names: names for ``group_names``. tol: cutoff probability (with ``decay``).
        seed: random seed. progress: tqdm bar over cell offsets.

    Returns:
        A :class:`SpatialGraph` whose ``groups`` is the layer of each neuron.

    Raises:
        ValueError: probabilities outside [0, 1], shape mismatches, a non-symmetric
            ``layer_probs`` with ``directed=False``.
    """
    sizes = np.asarray([check_int(s, f"layer_sizes[{i}]", minimum=0) for i, s in enumerate(layer_sizes)], dtype=np.int64)
    if sizes.size == 0:
        raise ValueError("layer_sizes must list at least one layer, got none")
    num_layers = sizes.size
    probs = check_probability_array(layer_probs, "layer_probs", (num_layers, num_layers))
    if not directed and not np.allclose(probs, probs.T):
        raise ValueError("layer_probs must be symmetric when directed=False (one trial per unordered pair)")
    dim = check_int(dim, "dim", minimum=2, maximum=3)
    extent = check_positive(extent, "extent")
    depth = extent if depth is None else check_positive(depth, "depth")
    if layer_names is not None and len(layer_names) != num_layers:
        raise ValueError(f"layer_names must name the {num_layers} layers, got {len(layer_names)} names")
    rng = rng_from(seed)
    n = int(sizes.sum())
    groups = np.repeat(np.arange(num_layers), sizes)
    band = depth / num_layers
    x = np.empty((n, dim))
    x[:, : dim - 1] = rng.random((n, dim - 1)) * extent
    x[:, dim - 1] = depth - (groups + rng.random(n)) * band
    if decay is None:
        src, dst = _block_edges(sizes, probs, rng, directed)
    else:
        decay = check_positive(decay, "decay")
        tol = check_probability(tol, "tol")
        if tol == 0:
            raise ValueError("tol must be > 0 (the probability below which pairs are skipped), got 0")
        src, dst = _distance_rule_edges(np.ascontiguousarray(x[:, : dim - 1]), decay, 1.0, tol, rng, directed,
                                        groups=groups, group_probs=probs, progress=progress)
    names = tuple(layer_names) if layer_names is not None else None
    return SpatialGraph(_to_graph(src, dst, n), torch.from_numpy(x.astype(np.float32)), torch.from_numpy(groups), names)


# Potjans & Diesmann (2014), Cerebral Cortex 24:785, Table 5: neurons under 1 mm² of cortex and
# connection probabilities. Their table is [target, source]; stored here transposed, [source, target].
PD14_POPULATIONS = ("L2/3e", "L2/3i", "L4e", "L4i", "L5e", "L5i", "L6e", "L6i")
PD14_SIZES = (20683, 5834, 21915, 5479, 4850, 1065, 14395, 2948)
PD14_PROBS = tuple(map(tuple, np.array([
    [0.1009, 0.1689, 0.0437, 0.0818, 0.0323, 0.0, 0.0076, 0.0],
    [0.1346, 0.1371, 0.0316, 0.0515, 0.0755, 0.0, 0.0042, 0.0],
    [0.0077, 0.0059, 0.0497, 0.1350, 0.0067, 0.0003, 0.0453, 0.0],
    [0.0691, 0.0029, 0.0794, 0.1597, 0.0033, 0.0, 0.1057, 0.0],
    [0.1004, 0.0622, 0.0505, 0.0057, 0.0831, 0.3726, 0.0204, 0.0],
    [0.0548, 0.0269, 0.0257, 0.0022, 0.0600, 0.3158, 0.0086, 0.0],
    [0.0156, 0.0066, 0.0211, 0.0166, 0.0572, 0.0197, 0.0396, 0.2252],
    [0.0364, 0.0010, 0.0034, 0.0005, 0.0277, 0.0080, 0.0658, 0.1443],
]).T.tolist()))


def cortical_column(
    num_nodes: int = 7_717,
    *,
    decay: float | None = None,
    extent: float = 1.0,
    dim: int = 3,
    seed: int = 0,
    progress: bool = False,
) -> SpatialGraph:
    """A scaled Potjans–Diesmann (2014) cortical microcircuit: 8 populations in 4 layers.

    Population sizes keep the proportions of :data:`PD14_SIZES`; pair probabilities are
    :data:`PD14_PROBS`, so a column smaller than the original 77,169 neurons keeps the
    probabilities and its in-degrees shrink in proportion (the usual "scale N, keep p"
    down-scaling). Excitatory and inhibitory populations of a layer share its depth band.
    With ``decay`` the probabilities become peak values at lateral distance 0 (see
    :func:`layered_graph`). ``groups`` indexes :data:`PD14_POPULATIONS`.

    Raises:
        ValueError: ``num_nodes`` below 8.
    """
    n = check_int(num_nodes, "num_nodes", minimum=len(PD14_SIZES))
    full = np.asarray(PD14_SIZES, dtype=np.float64)
    sizes = np.floor(full / full.sum() * n).astype(np.int64)
    sizes[np.argsort(-(full / full.sum() * n - sizes))[: n - int(sizes.sum())]] += 1  # largest remainders
    sg = layered_graph(sizes.tolist(), np.asarray(PD14_PROBS), decay=decay, extent=extent, dim=dim, directed=True,
                       layer_names=PD14_POPULATIONS, seed=seed, progress=progress)
    # the excitatory and inhibitory population of a layer share the layer's depth band
    groups = sg.groups.numpy()
    rng = rng_from(seed + 1)
    depth_pos = sg.positions.numpy().astype(np.float64)
    depth_pos[:, -1] = extent - ((groups // 2) + rng.random(n)) * (extent / 4)
    return SpatialGraph(sg.graph, torch.from_numpy(depth_pos.astype(np.float32)), sg.groups, sg.group_names)
