r"""Structural motifs of size 3 (bctpy ``motif3struct_bin``), vectorised over the sparse triads."""
from __future__ import annotations

import itertools

import numpy as np
import torch
from torch import Tensor

from ...graph import Graph
from ...graph.idkeys import combined_key
from .._validate import check_graph, check_int
from ._common import adjacency

# One member of each of the 13 classes of weakly connected 3-vertex digraphs, as arc lists on
# vertices 0, 1, 2, in the order of the Brain Connectivity Toolbox's motif34lib (Sporns &
# Kötter 2004), with networkx's triadic-census name of each class. The order was derived
# from bctpy 0.6's make_motif34lib classification (its generated library file is malformed
# in that release, so motif3struct_bin itself cannot run); the tests check the names.
MOTIF3_CLASSES: tuple[tuple[str, tuple[tuple[int, int], ...]], ...] = (
    ("021U", ((0, 2), (1, 2))),
    ("021C", ((0, 2), (1, 0))),
    ("021D", ((0, 1), (0, 2))),
    ("111D", ((0, 1), (1, 0), (2, 0))),
    ("030T", ((0, 1), (0, 2), (1, 2))),
    ("111U", ((0, 1), (0, 2), (1, 0))),
    ("030C", ((0, 1), (1, 2), (2, 0))),
    ("120D", ((0, 2), (1, 0), (1, 2), (2, 0))),
    ("201", ((0, 1), (0, 2), (1, 0), (2, 0))),
    ("120C", ((0, 1), (0, 2), (1, 2), (2, 0))),
    ("120U", ((0, 1), (0, 2), (1, 0), (1, 2))),
    ("210", ((0, 1), (0, 2), (1, 0), (1, 2), (2, 0))),
    ("300", ((0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1))),
)
_ARCS = ((0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1))  # bit i of a triad code is arc _ARCS[i]


def _code(arcs: set[tuple[int, int]]) -> int:
    return sum(1 << i for i, arc in enumerate(_ARCS) if arc in arcs)


def _class_table() -> np.ndarray:
    """``[64]`` class id (0..12, -1 for not weakly connected) of every 6-arc pattern."""
    table = np.full(64, -1, dtype=np.int64)
    for cls, (_, arcs) in enumerate(MOTIF3_CLASSES):
        for perm in itertools.permutations(range(3)):  # every relabelling is the same class
            table[_code({(perm[u], perm[v]) for u, v in arcs})] = cls
    return table


_TABLE = _class_table()


def motif3_counts(graph: Graph, *, chunk_wedges: int = 1 << 22) -> tuple[Tensor, Tensor]:
    r"""Counts of the 13 structural 3-vertex motifs (bctpy ``motif3struct_bin``).

    Every weakly connected set of 3 vertices of the directed simple graph (binary;
    self-loops and duplicates dropped) is one motif instance, classified by the arcs among
    its vertices into the 13 classes of :data:`MOTIF3_CLASSES` (class ``i`` is bctpy's motif
    ``i + 1``; networkx ``triadic_census`` names them). Connected triads are enumerated as
    pairs of neighbours of a centre in the undirected view (a closed triad once, from its
    smallest vertex), in chunks of ``chunk_wedges`` pairs, with no loop over vertices.
    Isolated vertices and disconnected pairs belong to no motif.

    Args:
        graph: the synapses.
        chunk_wedges: neighbour pairs classified at once (bounds memory).

    Returns:
        ``(f, F)``: ``f`` ``[13]`` int64 instances per class, ``F`` ``[13, N]`` int64 instances
        per class that each vertex takes part in (bctpy's ``F``; ``F.sum(1) = 3 f``).
    """
    check_graph(graph)
    check_int(chunk_wedges, "chunk_wedges", minimum=1)
    n = graph.num_nodes
    arcs = adjacency(graph, directed=True).tocoo()
    arc_keys = np.sort(combined_key((arcs.row.astype(np.int64), arcs.col.astype(np.int64)), (max(n, 1),) * 2,
                                    "motifs"))
    und = adjacency(graph, directed=False)
    indptr, nbr = und.indptr, und.indices.astype(np.int64)
    deg = np.diff(indptr)
    f = np.zeros(13, dtype=np.int64)
    per_vertex = np.zeros(13 * max(n, 1), dtype=np.int64)

    def has(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        key = combined_key((u, v), (max(n, 1),) * 2, "motifs")
        pos = np.minimum(np.searchsorted(arc_keys, key), max(arc_keys.size - 1, 0))
        return arc_keys[pos] == key if arc_keys.size else np.zeros(key.size, dtype=bool)

    # position p in the CSR pairs with the later positions of its row: (k - 1 - offset) pairs
    slot = np.arange(nbr.size) - np.repeat(indptr[:-1], deg)  # offset of p in its row
    later = np.repeat(deg, deg) - 1 - slot  # [nnz] pairs starting at p
    starts = np.concatenate([[0], np.cumsum(later)])
    total = int(starts[-1])
    centre_of = np.repeat(np.arange(n), deg)
    for lo in range(0, total, chunk_wedges):  # a loop over chunks of neighbour pairs
        hi = min(total, lo + chunk_wedges)
        w = np.arange(lo, hi)
        p = np.searchsorted(starts, w, side="right") - 1  # first neighbour's CSR position
        q = p + 1 + (w - starts[p])  # second neighbour's CSR position
        c, v1, v2 = centre_of[p], nbr[p], nbr[q]  # [W] centre and two neighbours
        closed = has(v1, v2) | has(v2, v1)
        keep = ~closed | ((c < v1) & (c < v2))  # a triangle once, from its smallest vertex
        c, v1, v2 = c[keep], v1[keep], v2[keep]
        code = np.zeros(c.size, dtype=np.int64)
        for bit, (x, y) in enumerate(_ARCS):  # six arc lookups, each vectorised over the chunk
            tri = (c, v1, v2)
            code |= has(tri[x], tri[y]).astype(np.int64) << bit
        cls = _TABLE[code]
        f += np.bincount(cls, minlength=13)
        for vert in (c, v1, v2):
            per_vertex += np.bincount(cls * max(n, 1) + vert, minlength=13 * max(n, 1))
    return torch.from_numpy(f), torch.from_numpy(per_vertex.reshape(13, max(n, 1))[:, :n].copy())
