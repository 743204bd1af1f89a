"""Small-world networks (Watts & Strogatz 1998) on a ring."""
from __future__ import annotations

import math

import numpy as np
import torch

from .._validate import check_int, check_probability, rng_from
from ...graph.idkeys import combined_key
from .sampling import _symmetrize, _to_graph
from .spatial import SpatialGraph

__all__ = ["watts_strogatz_graph"]


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
        key = combined_key((np.minimum(u, v), np.maximum(u, v)), (n, n), "small_world")
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
