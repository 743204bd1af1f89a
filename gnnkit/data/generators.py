r"""Large random power-law graphs, built as CSR in chunks with numpy.

Nothing here holds a dense ``[N, N]`` matrix or a Python list of edges: edges are drawn
``chunk_size`` at a time into preallocated ``int64`` arrays, so the peak memory is the
output CSR (``8 (N + 1) + 8 E`` bytes) plus ``O(N)`` weight tables plus ``O(chunk_size)``
temporaries. Rows are *destinations*: row ``v`` of ``(indptr, indices)`` lists the
in-neighbours of ``v``, which is :meth:`Graph.csr_in`'s layout and what
:class:`~gnnkit.data.sampling.NeighborSampler.from_csr` samples from.

* :func:`chung_lu`: every edge picks its source and its destination independently with
  probability proportional to a weight :math:`w_i \propto (i + i_0)^{-1/(\gamma - 1)}`,
  so in- and out-degrees follow a power law :math:`P(d) \propto d^{-\gamma}` (Chung & Lu
  2002, https://doi.org/10.1007/PL00012580). One pass; exact.
* :func:`rmat`: recursive-matrix edges (Chakrabarti et al. 2004,
  https://doi.org/10.1137/1.9781611972740.43). Two passes over the same per-chunk seeds
  (count, then fill), so the edges are never stored as ``src``/``dst`` arrays.
* :func:`dedupe_csr` and :func:`symmetrize_csr` post-process a CSR with ``O(chunk_size)``
  extra memory beyond their output.

Both generators keep duplicate edges and self-loops (a multigraph), as the models define
them; :func:`dedupe_csr` removes them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch
from tqdm import tqdm

from ..graph import Graph
from ..graph.idkeys import combined_key

__all__ = ["CSRGraph", "chung_lu", "rmat", "dedupe_csr", "symmetrize_csr", "power_law_weights", "chung_lu_edge_chunks"]

DEFAULT_CHUNK = 1 << 22  # 4M edges: 32 MB per int64 temporary


@dataclass
class CSRGraph:
    """A graph as a CSR by destination: ``indices[indptr[v]:indptr[v+1]]`` are the in-neighbours of ``v``.

    Shape:
        indptr ``[N + 1]`` int64, indices ``[E]`` int64.
    """

    indptr: np.ndarray
    indices: np.ndarray

    @property
    def num_nodes(self) -> int:
        return self.indptr.size - 1

    @property
    def num_edges(self) -> int:
        return self.indices.size

    @property
    def nbytes(self) -> int:
        return self.indptr.nbytes + self.indices.nbytes

    def in_degrees(self) -> np.ndarray:
        """``[N]`` int64."""
        return np.diff(self.indptr)

    def out_degrees(self, chunk_size: int = DEFAULT_CHUNK) -> np.ndarray:
        """``[N]`` int64, counted chunk by chunk."""
        out = np.zeros(self.num_nodes, dtype=np.int64)
        for a in range(0, self.num_edges, chunk_size):
            out += np.bincount(self.indices[a : a + chunk_size], minlength=self.num_nodes)
        return out

    def to_graph(self) -> Graph:
        """As a :class:`Graph` (edges sorted by destination).

        ``src`` shares ``indices``' memory and the graph's ``csr_in()`` reuses it, so this
        adds only ``dst`` (``8 E`` bytes) and ``csr_in``'s ``indptr``. The graph then owns
        that memory: ``indices`` becomes read-only (numpy raises ``ValueError`` on a write,
        :func:`dedupe_csr` included), since a changed id would reach the compiled kernels.
        """
        n = self.num_nodes
        dst = np.repeat(np.arange(n, dtype=np.int64), self.in_degrees())
        src = torch.from_numpy(self.indices)  # before the flag: torch warns on read-only arrays
        self.indices.flags.writeable = False
        return Graph(src, torch.from_numpy(dst), n, _copy=False)


# ------------------------------------------------------------------- checks
def _check_sizes(num_nodes: int, num_edges: int) -> None:
    for name, v in (("num_nodes", num_nodes), ("num_edges", num_edges)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{name} must be an int, got {type(v).__name__} ({v!r})")
    if num_nodes < 1:
        raise ValueError(f"num_nodes must be >= 1, got {num_nodes}")
    if num_edges < 0:
        raise ValueError(f"num_edges must be >= 0, got {num_edges}")


def _check_chunk(chunk_size: int) -> None:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an int >= 1, got {chunk_size!r}")


def _chunks(total: int, chunk_size: int, desc: str | None) -> tqdm:
    starts = range(0, total, chunk_size)
    return tqdm(starts, desc=desc, unit="chunk", disable=desc is None, leave=False)


# ------------------------------------------------------------------ Chung-Lu
def power_law_weights(num_nodes: int, exponent: float, max_weight_ratio: float | None = None) -> np.ndarray:
    r"""``[N]`` float64 weights :math:`w_i = (i + i_0)^{-1/(\gamma-1)}`, normalised to sum 1.

    ``i_0`` bounds the largest weight: :math:`w_0 / \bar w` is at most ``max_weight_ratio``
    (default :math:`\sqrt N`, which keeps the largest expected degree at
    :math:`\bar d \sqrt N`, the usual structural cut-off).
    """
    beta, i0 = _power_law_shape(num_nodes, exponent, max_weight_ratio)
    w = (np.arange(num_nodes, dtype=np.float64) + i0) ** -beta
    w /= w.sum()
    return w


def _power_law_shape(num_nodes: int, exponent: float, max_weight_ratio: float | None) -> tuple[float, float]:
    """``(beta, i0)`` of the weights ``(i + i0)**-beta``, checked (see :func:`power_law_weights`)."""
    if not exponent > 2:
        raise ValueError(f"exponent must be > 2 (a finite mean degree), got {exponent}")
    beta = 1.0 / (exponent - 1.0)
    ratio = float(np.sqrt(num_nodes)) if max_weight_ratio is None else float(max_weight_ratio)
    if not ratio >= 1:
        raise ValueError(f"max_weight_ratio must be >= 1, got {max_weight_ratio}")
    return beta, _offset_for_ratio(num_nodes, beta, ratio)


def _offset_for_ratio(n: int, beta: float, ratio: float) -> float:
    """The ``i0 >= 1`` at which ``w_0 / mean(w) = ratio`` (bisection on the midpoint-rule integral of the sum)."""

    def head_over_mean(i0: float) -> float:
        lo, hi = i0 - 0.5, n + i0 - 0.5
        mean = (hi ** (1 - beta) - lo ** (1 - beta)) / ((1 - beta) * n)
        return i0 ** -beta / mean

    if head_over_mean(1.0) <= ratio:
        return 1.0  # even the sharpest head is below the cap
    lo, hi = 0.0, float(np.log(n) + 1.0)  # log i0; the ratio falls as i0 grows
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if head_over_mean(float(np.exp(mid))) > ratio else (lo, mid)
    return float(np.exp(hi))


def chung_lu(num_nodes: int, num_edges: int, exponent: float = 2.5, seed: int = 0, chunk_size: int = DEFAULT_CHUNK,
             max_weight_ratio: float | None = None, permute: bool = True, progress: bool = False) -> CSRGraph:
    r"""A directed Chung-Lu graph with exactly ``num_edges`` edges, as a CSR by destination.

    Each edge draws its destination and its source independently from the weights of
    :func:`power_law_weights`. The destinations are drawn as one multinomial (the row
    lengths), the sources ``chunk_size`` at a time by inverse-CDF lookup, so the output is
    written row block by row block and never sorted as a whole.

    Args:
        num_nodes: ``N >= 1``. num_edges: ``E >= 0``.
        exponent: :math:`\gamma > 2` of the degree distribution :math:`P(d) \propto d^{-\gamma}`.
        seed: the graph is a function of ``(seed, chunk_size)`` and the sizes.
        chunk_size: edges drawn at a time.
        max_weight_ratio: largest weight over the mean (default :math:`\sqrt N`).
        permute: shuffle the vertex ids, so the hubs are not vertices ``0, 1, …``.
        progress: show a tqdm bar.

    Raises:
        TypeError: non-int sizes. ValueError: sizes < 1 (< 0 for edges), ``exponent <= 2``,
            ``chunk_size < 1``.

    Memory: the output plus ``24 N`` bytes of weight tables plus about ``24 chunk_size`` bytes.
    """
    _check_sizes(num_nodes, num_edges)
    _check_chunk(chunk_size)
    rng = np.random.default_rng(seed)
    p = power_law_weights(num_nodes, exponent, max_weight_ratio)
    if permute:
        p = p[rng.permutation(num_nodes)]
    indptr = np.zeros(num_nodes + 1, dtype=np.int64)
    np.cumsum(rng.multinomial(num_edges, p), out=indptr[1:])  # in-degrees: destinations drawn ∝ p
    cdf = np.cumsum(p)
    del p
    cdf /= cdf[-1]
    indices = np.empty(num_edges, dtype=np.int64)
    for a in _chunks(num_edges, chunk_size, "chung-lu" if progress else None):
        m = min(chunk_size, num_edges - a)
        # sorted uniforms make the binary searches walk the cdf in order (3x faster than
        # random probes on a 10M table); the shuffle restores independence across slots
        u = np.sort(rng.random(m))
        src = np.searchsorted(cdf, u, side="right")
        np.minimum(src, num_nodes - 1, out=src)  # u within rounding of 1.0
        rng.shuffle(src)
        indices[a : a + m] = src
    return CSRGraph(indptr, indices)


def chung_lu_edge_chunks(num_nodes: int, num_edges: int, exponent: float = 2.5, seed: int = 0,
                         chunk_size: int = DEFAULT_CHUNK, max_weight_ratio: float | None = None,
                         dtype: type = np.int64) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    r"""The edges of a directed Chung-Lu graph as a stream of ``(src, dst)`` chunks, never all at once.

    Both ends of every edge are drawn independently with probability proportional to the
    weights of :func:`power_law_weights` (same exponent and head cap ``i_0``), vertex ids
    shuffled. The draw inverts the weights' continuous form in closed form: with
    :math:`\beta = 1/(\gamma-1)`, :math:`\ell = i_0 - \tfrac12`, :math:`h = N + i_0 - \tfrac12`,
    a uniform :math:`u` maps to :math:`\lfloor (\ell^{1-\beta} + u (h^{1-\beta} - \ell^{1-\beta}))^{1/(1-\beta)} - \ell \rfloor`,
    so vertex ``i`` has the probability of the integral of :math:`(t + i_0)^{-\beta}` over
    ``[i - 1/2, i + 1/2)`` (the midpoint rule of :func:`power_law_weights`). That is O(1) per
    edge where a binary search in a 100 M-entry cumulative table costs a cache miss per level
    (25 s per 16 M-edge chunk on the 2-core machine, against about 1 s here).

    Nothing of size ``E`` exists, so the stream can feed an out-of-core converter. Chunk
    ``i`` is a function of ``(seed, i)``, so the stream can be replayed. Duplicate edges
    and self-loops are kept (a multigraph).

    Shape:
        each chunk ``[m]``, ``[m]`` of ``dtype`` with ``m <= chunk_size``.

    Memory: ``8 N`` bytes of permutation plus about ``24 chunk_size`` bytes.
    """
    _check_sizes(num_nodes, num_edges)
    _check_chunk(chunk_size)
    beta, i0 = _power_law_shape(num_nodes, exponent, max_weight_ratio)
    lo, hi = i0 - 0.5, num_nodes + i0 - 0.5
    q = 1.0 - beta
    lo_q, span = lo**q, hi**q - lo**q
    perm = np.random.default_rng([seed, 1 << 41]).permutation(num_nodes).astype(dtype)  # [N] hubs spread out
    for i, a in enumerate(range(0, num_edges, chunk_size)):
        rng = np.random.default_rng([seed, i])
        m = min(chunk_size, num_edges - a)
        ends = []
        for _ in range(2):
            t = rng.random(m)  # [m] u, then the inverse cdf in place
            t *= span
            t += lo_q
            np.power(t, 1.0 / q, out=t)
            t -= lo
            v = t.astype(np.int64)  # floor (t >= 0)
            np.clip(v, 0, num_nodes - 1, out=v)  # u within rounding of 0 or 1
            ends.append(perm[v])
        yield ends[0], ends[1]


# --------------------------------------------------------------------- R-MAT
def _rmat_chunk(rng: np.random.Generator, m: int, levels: int, a: float, b: float, c: float) -> tuple[np.ndarray, np.ndarray]:
    """``m`` R-MAT edges over ``2**levels`` vertices. Shape: ``[m]``, ``[m]`` int64."""
    src = np.zeros(m, dtype=np.int64)
    dst = np.zeros(m, dtype=np.int64)
    ab, abc = a + b, a + b + c
    for _ in range(levels):
        u = rng.random(m)
        src <<= 1
        dst <<= 1
        src += u >= ab  # quadrants c, d: lower half
        dst += ((u >= a) & (u < ab)) | (u >= abc)  # quadrants b, d: right half
    return src, dst


def rmat(num_nodes: int, num_edges: int, a: float = 0.57, b: float = 0.19, c: float = 0.19, seed: int = 0,
         chunk_size: int = DEFAULT_CHUNK, permute: bool = True, progress: bool = False) -> CSRGraph:
    r"""A directed R-MAT graph with exactly ``num_edges`` edges, as a CSR by destination.

    Each edge descends :math:`\lceil\log_2 N\rceil` levels of the adjacency matrix, picking
    quadrant ``a, b, c`` or ``d = 1 - a - b - c``; edges landing outside ``[0, N)`` (when ``N``
    is not a power of two) are folded back by ``id mod N``. Graph500 uses ``(0.57, 0.19, 0.19)``.

    Two passes generate identical chunks from per-chunk seeds: the first counts the
    in-degrees, the second writes each edge into its row, so no ``[E]`` ``src``/``dst``
    pair is ever stored.

    Raises:
        ValueError: probabilities outside ``[0, 1]`` or summing above 1, bad sizes.
    """
    _check_sizes(num_nodes, num_edges)
    _check_chunk(chunk_size)
    for name, v in (("a", a), ("b", b), ("c", c)):
        if not 0 <= v <= 1:
            raise ValueError(f"{name} must lie in [0, 1], got {v}")
    if a + b + c > 1:
        raise ValueError(f"a + b + c must be <= 1 (d = 1 - a - b - c), got {a + b + c}")
    levels = max(1, int(np.ceil(np.log2(num_nodes))))
    perm = np.random.default_rng([seed, 1 << 40]).permutation(num_nodes) if permute else None

    def chunk(i: int, start: int) -> tuple[np.ndarray, np.ndarray]:
        m = min(chunk_size, num_edges - start)
        src, dst = _rmat_chunk(np.random.default_rng([seed, i]), m, levels, a, b, c)
        src %= num_nodes
        dst %= num_nodes
        return (src, dst) if perm is None else (perm[src], perm[dst])

    return _csr_from_chunks(chunk, num_nodes, num_edges, chunk_size, "r-mat" if progress else None)


def _csr_from_chunks(chunk: Callable[[int, int], tuple[np.ndarray, np.ndarray]], num_nodes: int, num_edges: int,
                     chunk_size: int, desc: str | None) -> CSRGraph:
    """Count pass then fill pass over regenerated edge chunks ``chunk(i, start) -> (src, dst)``."""
    counts = np.zeros(num_nodes, dtype=np.int64)
    for i, s in enumerate(_chunks(num_edges, chunk_size, None if desc is None else desc + " (count)")):
        counts += np.bincount(chunk(i, s)[1], minlength=num_nodes)
    indptr = np.zeros(num_nodes + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    fill = indptr[:-1].copy()  # [N] next free slot of each row
    indices = np.empty(num_edges, dtype=np.int64)
    for i, s in enumerate(_chunks(num_edges, chunk_size, None if desc is None else desc + " (fill)")):
        src, dst = chunk(i, s)
        _scatter_rows(indices, fill, dst, src)
    return CSRGraph(indptr, indices)


def _scatter_rows(out: np.ndarray, fill: np.ndarray, rows: np.ndarray, values: np.ndarray) -> None:
    """Append ``values[i]`` to row ``rows[i]`` of ``out`` at ``fill[row]``, advancing ``fill``.

    Shape: rows, values ``[m]``; fill ``[N]``.
    """
    if rows.size == 0:
        return
    order = np.argsort(rows, kind="stable")
    r = rows[order]  # [m] sorted
    run_start = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])  # [k] first index of each row's run
    run_len = np.diff(np.r_[run_start, r.size])  # [k]
    rank = np.arange(r.size) - np.repeat(run_start, run_len)  # [m] position within the run
    out[fill[r] + rank] = values[order]
    fill[r[run_start]] += run_len


# -------------------------------------------------------------- post-process
def dedupe_csr(g: CSRGraph, remove_self_loops: bool = True, chunk_size: int = DEFAULT_CHUNK,
               progress: bool = False) -> CSRGraph:
    """Drop duplicate edges (and self-loops), sorting each row; in place on ``g.indices``.

    Rows are processed in blocks of about ``chunk_size`` entries and compacted towards the
    front of ``indices``, which is then shrunk; the extra memory is ``O(chunk_size)`` plus
    the new ``[N + 1]`` indptr. ``g`` must not be used afterwards.
    """
    _check_chunk(chunk_size)
    n, indptr, indices = g.num_nodes, g.indptr, g.indices
    new_deg = np.zeros(n, dtype=np.int64)
    write = 0
    bounds = _row_blocks(indptr, chunk_size)
    for r0, r1 in tqdm(bounds, desc="dedupe", unit="block", disable=not progress, leave=False):
        a, b = int(indptr[r0]), int(indptr[r1])
        rows = np.repeat(np.arange(r0, r1, dtype=np.int64), np.diff(indptr[r0 : r1 + 1]))  # [b - a]
        key = combined_key((rows - r0, indices[a:b]), (r1 - r0, n), "dedupe")  # (row, col) pairs ordered by row
        key.sort()
        keep = np.r_[True, key[1:] != key[:-1]] if key.size else np.zeros(0, dtype=bool)
        key = key[keep]
        row, col = key // n + r0, key % n
        if remove_self_loops:
            loop = row == col
            row, col = row[~loop], col[~loop]
        indices[write : write + col.size] = col  # write <= a: never overtakes unread entries
        new_deg[r0:r1] = np.bincount(row - r0, minlength=r1 - r0)
        write += col.size
    indices.resize(write, refcheck=False)  # shrinks in place (realloc), no second copy
    out_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(new_deg, out=out_ptr[1:])
    return CSRGraph(out_ptr, indices)


def _row_blocks(indptr: np.ndarray, chunk_size: int) -> list[tuple[int, int]]:
    """Row ranges ``[r0, r1)`` of about ``chunk_size`` entries each (a longer row stands alone)."""
    n = indptr.size - 1
    targets = np.arange(chunk_size, int(indptr[-1]) + chunk_size, chunk_size)
    cuts = np.searchsorted(indptr, targets, side="right") - 1
    cuts = np.unique(np.clip(np.r_[0, cuts, n], 0, n))
    return [(int(r0), int(r1)) for r0, r1 in zip(cuts[:-1], cuts[1:])]  # a list of blocks, not vertices


def symmetrize_csr(g: CSRGraph, chunk_size: int = DEFAULT_CHUNK, dedupe: bool = True, progress: bool = False) -> CSRGraph:
    r"""The undirected version :math:`A + A^\top` of ``g``: every edge in both directions.

    Writes ``2E`` entries straight into the output rows (row ``v`` gets its own in-neighbours
    and then the vertices ``v`` points to), then optionally :func:`dedupe_csr` (which also
    drops self-loops). Extra memory: the ``[2E]`` output plus ``O(N + chunk_size)``.
    """
    _check_chunk(chunk_size)
    n, indptr, indices = g.num_nodes, g.indptr, g.indices
    in_deg = np.diff(indptr)
    out_deg = g.out_degrees(chunk_size)
    out_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(in_deg + out_deg, out=out_ptr[1:])
    del out_deg
    out = np.empty(int(out_ptr[-1]), dtype=np.int64)
    fill = out_ptr[:-1] + in_deg  # [N] transposed entries go after a row's own
    for r0, r1 in tqdm(_row_blocks(indptr, chunk_size), desc="symmetrize", unit="block", disable=not progress, leave=False):
        a, b = int(indptr[r0]), int(indptr[r1])
        deg = in_deg[r0:r1]
        # this row block's own entries, unchanged
        first = out_ptr[r0:r1]
        out[np.repeat(first - (np.cumsum(deg) - deg), deg) + np.arange(b - a)] = indices[a:b]
        # edge u -> v (u in row v) also becomes v -> u: append v to row u
        rows = np.repeat(np.arange(r0, r1, dtype=np.int64), deg)
        _scatter_rows(out, fill, indices[a:b], rows)
    result = CSRGraph(out_ptr, out)
    return dedupe_csr(result, remove_self_loops=True, chunk_size=chunk_size, progress=progress) if dedupe else result
