"""Modular and hierarchical modular networks (stochastic block models with positions)."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from .._validate import check_int, check_positive, check_probability, check_probability_array, rng_from
from .sampling import _block_edges, _to_graph
from .spatial import SpatialGraph

__all__ = ["hierarchical_modular_graph", "modular_graph"]


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
