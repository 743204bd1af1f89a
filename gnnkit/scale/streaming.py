r"""Streaming vertex partitioning in bounded memory: LDG or Fennel, then boundary refinement.

One pass over the vertices in a chosen order reads each vertex's in-neighbours from the
CSR (rows are destinations, as :class:`gnnkit.data.generators.CSRGraph` and
:meth:`Graph.csr_in <gnnkit.Graph.csr_in>`) and puts the vertex in the part that scores
best given the vertices already placed:

* LDG (Stanton & Kliot 2012, https://doi.org/10.1145/2339530.2339722):
  :math:`|N(v) \cap P_p| \, (1 - |P_p| / C)` with capacity :math:`C = (1 + \epsilon) N / P`.
* Fennel (Tsourakakis et al. 2014, https://doi.org/10.1145/2556195.2556213):
  :math:`|N(v) \cap P_p| - \alpha \gamma |P_p|^{\gamma - 1}`, :math:`\gamma = 1.5`,
  :math:`\alpha = \sqrt{P} E / N^{1.5}`.

The pass is vectorised over chunks of ``chunk_size`` vertices: a chunk is scored against
the assignment made before it (one ``bincount`` of ``(vertex, part)`` keys over the chunk's
edges), then a hard capacity check moves the chunk's overflow to the parts with room. A
vertex with no placed neighbour goes to the least-filled part. Afterwards ``refine_passes``
boundary passes move a vertex to the part holding most of its in-neighbours when that
beats its own part and the target has room (Nishimura & Ugander 2013's restreaming, with a
positive-gain rule; https://doi.org/10.1145/2487575.2487696).

Memory: the CSR (read, never copied) plus ``O(N)`` (assignment, order, sizes) plus
``O(chunk_size * P)`` temporaries, so partitioning a 62 M-edge graph stays within a small
multiple of its CSR. Only in-edges are read: on a symmetric graph that is every edge; on
a directed one each edge counts from its destination's side, the side that owns it.
"""
from __future__ import annotations

import numpy as np

__all__ = ["STREAM_METHODS", "ORDERS", "stream_partition", "edge_cut_csr"]

STREAM_METHODS = ("ldg", "fennel")
ORDERS = ("natural", "random", "bfs")
DEFAULT_CHUNK = 4096  # vertices per vectorised step: small enough that one chunk barely moves the part sizes


def _check(indptr: np.ndarray, indices: np.ndarray, num_parts: int, method: str, order: str, chunk_size: int,
           imbalance: float, refine_passes: int) -> None:
    if not (isinstance(indptr, np.ndarray) and indptr.ndim == 1 and indptr.size >= 1):
        raise ValueError(f"indptr must be a 1-d numpy array of N + 1 offsets, got {type(indptr).__name__} "
                         f"{getattr(indptr, 'shape', '')}")
    if not (isinstance(indices, np.ndarray) and indices.ndim == 1 and indices.size == int(indptr[-1])):
        raise ValueError(f"indices must be a 1-d numpy array of indptr[-1]={int(indptr[-1])} entries, "
                         f"got shape {getattr(indices, 'shape', None)}")
    n = indptr.size - 1
    if isinstance(num_parts, bool) or not isinstance(num_parts, (int, np.integer)):
        raise TypeError(f"num_parts must be an int, got {type(num_parts).__name__} ({num_parts!r})")
    if not 1 <= num_parts <= max(n, 1):
        raise ValueError(f"num_parts must lie in [1, num_nodes={n}], got {num_parts}")
    if method not in STREAM_METHODS:
        raise ValueError(f"method must be one of {STREAM_METHODS}, got {method!r}")
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an int >= 1, got {chunk_size!r}")
    if not imbalance >= 0:
        raise ValueError(f"imbalance must be >= 0 (0.03 allows parts 3% above N / P), got {imbalance}")
    if isinstance(refine_passes, bool) or not isinstance(refine_passes, (int, np.integer)) or refine_passes < 0:
        raise ValueError(f"refine_passes must be an int >= 0, got {refine_passes!r}")


def _stream_order(indptr: np.ndarray, indices: np.ndarray, order: str, seed: int) -> np.ndarray:
    n = indptr.size - 1
    if order == "natural":
        return np.arange(n, dtype=np.int64)
    if order == "random":
        return np.random.default_rng(seed).permutation(n)
    # bfs: neighbours arrive together, so the stream sees placed neighbours early. Level-synchronous
    # and vectorised over the frontier (chunked), following in-neighbour links; vertices no link
    # reaches (no out-edges into the visited set) follow in id order.
    seen = np.zeros(n, dtype=bool)
    out, filled = np.empty(n, dtype=np.int64), 0
    deg = np.diff(indptr)
    roots = np.argsort(-deg, kind="stable")[:64]  # restart points: the hubs
    for root in roots:
        if seen[root]:
            continue
        frontier = np.array([root], dtype=np.int64)
        seen[root] = True
        while frontier.size:
            out[filled:filled + frontier.size] = frontier
            filled += frontier.size
            nxt = []
            for a in range(0, frontier.size, DEFAULT_CHUNK * 16):
                rows = frontier[a:a + DEFAULT_CHUNK * 16]
                d = deg[rows]
                pos = np.repeat(indptr[rows] - np.cumsum(d) + d, d) + np.arange(int(d.sum()))  # [E_f] CSR positions
                nb = indices[pos]
                nb = np.unique(nb[~seen[nb]])
                seen[nb] = True
                nxt.append(nb)
            frontier = np.concatenate(nxt) if nxt else np.empty(0, dtype=np.int64)
        if filled > n // 2:
            break
    rest = np.flatnonzero(~seen)
    out[filled:] = rest
    return out


def _neighbour_counts(indptr: np.ndarray, indices: np.ndarray, assignment: np.ndarray, rows: np.ndarray,
                      num_parts: int) -> np.ndarray:
    """``[R, P]`` how many placed in-neighbours of each row lie in each part (unplaced ones: -1, skipped)."""
    deg = indptr[rows + 1] - indptr[rows]  # [R]
    total = int(deg.sum())
    r = rows.size
    if total == 0:
        return np.zeros((r, num_parts), dtype=np.int64)
    starts = np.repeat(indptr[rows] - np.cumsum(deg) + deg, deg) + np.arange(total)  # [E_R] CSR positions
    parts = assignment[indices[starts]]  # [E_R]
    owner = np.repeat(np.arange(r, dtype=np.int64), deg)  # [E_R]
    keep = parts >= 0
    return np.bincount(owner[keep] * num_parts + parts[keep], minlength=r * num_parts).reshape(r, num_parts)


def _fit_capacity(choice: np.ndarray, score: np.ndarray, sizes: np.ndarray, capacity: int) -> np.ndarray:
    """Move the chunk's overflow (the vertices a full part wants least) to the parts with the most room."""
    p = sizes.size
    counts = np.bincount(choice, minlength=p)
    room = capacity - sizes  # [P] before this chunk
    over = counts - room
    if not (over > 0).any():
        return choice
    choice = choice.copy()
    moved = []
    for q in np.flatnonzero(over > 0):  # a loop over parts, not vertices
        mine = np.flatnonzero(choice == q)
        worst = mine[np.argsort(score[mine, q], kind="stable")[: int(over[q])]]
        moved.append(worst)
        counts[q] -= worst.size
    moved = np.concatenate(moved)
    free = np.maximum(room - counts, 0)  # [P] room left after the kept choices
    # deal the moved vertices to the parts with room, in proportion to it (every part has room: C * P >= N)
    targets = np.repeat(np.arange(p), free)[: moved.size]
    if targets.size < moved.size:  # cannot happen while capacity * P >= N; kept for safety with odd capacities
        targets = np.concatenate([targets, np.argsort(sizes + counts)[np.arange(moved.size - targets.size) % p]])
    choice[moved] = targets
    return choice


def stream_partition(indptr: np.ndarray, indices: np.ndarray, num_parts: int, method: str = "fennel",
                     order: str = "bfs", seed: int = 0, chunk_size: int = DEFAULT_CHUNK, imbalance: float = 0.03,
                     refine_passes: int = 2) -> np.ndarray:
    """Assign every vertex of a CSR graph to one of ``num_parts`` parts with LDG or Fennel, then refine.

    Args:
        indptr: ``[N + 1]`` int64 row offsets; row ``v`` lists the in-neighbours of ``v``.
            May be a read-only ``np.memmap``.
        indices: ``[E]`` int64 or int32 in-neighbour ids (read only; a ``np.memmap`` works).
        num_parts: ``P`` in ``[1, N]``.
        method: ``"fennel"`` or ``"ldg"``.
        order: the stream order: ``"bfs"`` (breadth-first along in-neighbour links from the
            highest-degree vertex; best cuts), ``"natural"`` (vertex ids; good when ids follow locality) or
            ``"random"`` (seeded).
        seed: seed of ``order="random"``.
        chunk_size: vertices scored at once (larger is faster and slightly worse).
        imbalance: each part holds at most ``ceil((1 + imbalance) N / P)`` vertices.
        refine_passes: boundary passes after the stream (0: none).

    Returns:
        ``[N]`` int64 part of each vertex, every part non-empty when ``N >= P``.

    Raises:
        TypeError: non-int ``num_parts``.
        ValueError: malformed CSR arrays, ``num_parts`` outside ``[1, N]``, unknown ``method`` or
            ``order``, ``chunk_size < 1``, negative ``imbalance`` or ``refine_passes``.

    Edge cases: isolated vertices have no score and fill the emptiest part; self-loops count
    towards the vertex's own part only once it is placed (so not in the stream); duplicate
    edges count once per copy.
    """
    _check(indptr, indices, num_parts, method, order, chunk_size, imbalance, refine_passes)
    n, e = indptr.size - 1, indices.size
    if num_parts == 1:
        return np.zeros(n, dtype=np.int64)
    capacity = int(np.ceil((1.0 + imbalance) * n / num_parts))
    assignment = np.full(n, -1, dtype=np.int64)
    sizes = np.zeros(num_parts, dtype=np.int64)
    gamma = 1.5
    alpha = np.sqrt(num_parts) * max(e, 1) / max(n, 1) ** gamma
    stream = _stream_order(indptr, indices, order, seed)
    for a in range(0, n, chunk_size):
        rows = stream[a:a + chunk_size]  # [R]
        counts = _neighbour_counts(indptr, indices, assignment, rows, num_parts).astype(np.float64)  # [R, P]
        if method == "ldg":
            score = counts * (1.0 - sizes / capacity)[None, :]
        else:
            score = counts - (alpha * gamma * np.power(sizes.astype(np.float64), gamma - 1.0))[None, :]
        # ties (no placed neighbour) go to the emptiest part: a tiny size penalty breaks them
        score -= 1e-9 * sizes[None, :]
        choice = np.argmax(score, axis=1)
        lonely = counts.sum(1) == 0
        if lonely.any():  # deal neighbourless vertices round the emptiest parts, not all into one
            k = int(lonely.sum())
            choice[lonely] = np.argsort(sizes, kind="stable")[np.arange(k) % num_parts]
        choice = _fit_capacity(choice, score, sizes, capacity)
        assignment[rows] = choice
        sizes += np.bincount(choice, minlength=num_parts)
    for _ in range(refine_passes):
        if _refine(indptr, indices, assignment, sizes, capacity, chunk_size) == 0:
            break
    return assignment


def _refine(indptr: np.ndarray, indices: np.ndarray, assignment: np.ndarray, sizes: np.ndarray, capacity: int,
            chunk_size: int) -> int:
    """One boundary pass in id order: move a vertex to its neighbours' majority part if that gains; returns moves."""
    n, p = assignment.size, sizes.size
    moves = 0
    step = max(chunk_size, 1)
    for a in range(0, n, step):
        rows = np.arange(a, min(a + step, n), dtype=np.int64)
        counts = _neighbour_counts(indptr, indices, assignment, rows, p)  # [R, P]
        own = assignment[rows]
        best = np.argmax(counts, axis=1)
        gain = counts[np.arange(rows.size), best] - counts[np.arange(rows.size), own]
        cand = np.flatnonzero((gain > 0) & (best != own))
        if cand.size == 0:
            continue
        # keep the largest gains that fit into each target part's room
        cand = cand[np.argsort(-gain[cand], kind="stable")]
        tgt = best[cand]
        rank_in_target = np.empty(cand.size, dtype=np.int64)
        order = np.argsort(tgt, kind="stable")
        first = np.searchsorted(tgt[order], np.arange(p))
        rank_in_target[order] = np.arange(cand.size) - first[tgt[order]]
        ok = rank_in_target < (capacity - sizes)[tgt]
        cand, tgt = cand[ok], tgt[ok]
        if cand.size == 0:
            continue
        src = own[cand]
        # never empty a part: a part may lose at most size - 1 vertices in one step
        lose = np.bincount(src, minlength=p)
        if (lose >= sizes).any():  # rare (tiny parts): drop every move out of a part it would empty
            keep = ~(lose >= sizes)[src]
            cand, tgt, src = cand[keep], tgt[keep], src[keep]
        assignment[rows[cand]] = tgt
        sizes -= np.bincount(src, minlength=p)
        sizes += np.bincount(tgt, minlength=p)
        moves += cand.size
    return moves


def edge_cut_csr(indptr: np.ndarray, indices: np.ndarray, assignment: np.ndarray,
                 chunk_size: int = 1 << 22) -> int:
    """Directed edges whose two endpoints lie in different parts, counted in chunks of the CSR.

    Returns:
        The number of entries ``u`` of row ``v`` with ``assignment[u] != assignment[v]``; the
        same count as :attr:`gnnkit.scale.partition.Partitioning.edge_cut`.
    """
    n = indptr.size - 1
    cut = 0
    for a in range(0, indices.size, chunk_size):
        b = min(a + chunk_size, indices.size)
        # destination row of each entry: the row whose offset range holds it
        rows = np.searchsorted(indptr, np.arange(a, b, dtype=np.int64), side="right") - 1  # [b - a]
        np.minimum(rows, n - 1, out=rows)
        cut += int((assignment[indices[a:b]] != assignment[rows]).sum())
    return cut
