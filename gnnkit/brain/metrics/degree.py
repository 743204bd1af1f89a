r"""Density, degrees, strengths and the degree histogram (bctpy ``density_*``, ``degrees_*``, ``strengths_*``)."""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ...graph import Graph
from .._validate import check_graph
from ._common import check_kind, matrix, simple_pairs

_KINDS = ("in", "out", "total", "undirected")


def density(graph: Graph, directed: bool = True) -> float:
    r"""Fraction of possible synapses present (bctpy ``density_dir`` / ``density_und``).

    Directed: :math:`K / (N(N-1))` with :math:`K` the distinct non-loop pairs ``(src, dst)``;
    ``directed=False``: :math:`K_u / \binom{N}{2}` over the undirected view. Binary: weights
    play no part. Self-loops and duplicates are dropped (bctpy assumes a matrix without
    self-connections; on one with them it would count the diagonal). Isolated vertices count
    in :math:`N`; graphs with fewer than 2 vertices have density 0.

    Args:
        graph: the synapses.
        directed: the directed simple graph, or the undirected view.

    Returns:
        The density in ``[0, 1]``.
    """
    check_graph(graph)
    n = graph.num_nodes
    if n < 2:
        return 0.0
    s, _ = simple_pairs(graph, directed)
    return s.size / (n * (n - 1))  # undirected: 2|E_u| / (N(N-1)) = |E_u| / C(N, 2)


def degrees(graph: Graph, kind: str = "total") -> Tensor:
    r"""Number of distinct neighbours per vertex (bctpy ``degrees_dir`` / ``degrees_und``).

    ``"in"``, ``"out"``, ``"total"`` (in + out, bctpy's ``deg``) count the pairs of the
    directed simple graph; ``"undirected"`` counts the neighbours in the undirected view. Self-loops and
    duplicate edges do not count; an isolated vertex has degree 0. (:func:`degree_histogram`
    counts every stored edge instead.)

    Args:
        graph: the synapses.
        kind: ``"in"``, ``"out"``, ``"total"`` or ``"undirected"``.

    Returns:
        ``[N]`` int64 degrees.

    Raises:
        ValueError: an unknown ``kind``.
    """
    check_graph(graph)
    check_kind(kind, _KINDS)
    n = graph.num_nodes
    s, d = simple_pairs(graph, directed=kind != "undirected")
    out = np.bincount(s, minlength=n)
    inn = np.bincount(d, minlength=n)
    deg = {"in": inn, "out": out, "total": inn + out, "undirected": out}[kind]
    return torch.from_numpy(deg.astype(np.int64))


def strengths(graph: Graph, weight: Tensor, kind: str = "total") -> Tensor:
    r"""Sum of edge weights per vertex (bctpy ``strengths_dir`` / ``strengths_und``).

    On the weighted matrix of :mod:`gnnkit.brain.metrics` (parallel weights summed,
    self-loops dropped): ``"in"`` = column sums, ``"out"`` = row sums, ``"total"`` = both;
    ``"undirected"`` = row sums of the undirected view :math:`\max(W, W^\top)`. Signed weights
    are summed as they are, as bctpy does.

    Args:
        graph: the synapses.
        weight: ``[E]`` finite weights.
        kind: ``"in"``, ``"out"``, ``"total"`` or ``"undirected"``.

    Returns:
        ``[N]`` float64 strengths (0 for an isolated vertex).

    Raises:
        ValueError: an unknown ``kind``, a weight of the wrong shape or a non-finite weight.
    """
    check_graph(graph)
    check_kind(kind, _KINDS)
    w = matrix(graph, weight, directed=kind != "undirected", nonnegative=False)
    out = np.asarray(w.sum(1)).ravel()
    inn = np.asarray(w.sum(0)).ravel()
    return torch.from_numpy({"in": inn, "out": out, "total": inn + out, "undirected": out}[kind])


def degree_histogram(graph: Graph, kind: str = "out") -> Tensor:
    """Number of neurons with degree ``0, 1, 2, ...`` (``networkx.degree_histogram``).

    Args:
        graph: the synapses (every stored edge counts, duplicates and self-loops included).
        kind: ``"in"``, ``"out"`` or ``"total"`` (in + out, the degree of a ``networkx.DiGraph``).

    Returns:
        ``[max_degree + 1]`` int64 counts (``[0]`` for an empty vertex set).

    Raises:
        ValueError: an unknown ``kind``.
    """
    check_graph(graph)
    if kind not in ("in", "out", "total"):
        raise ValueError(f"kind must be 'in', 'out' or 'total', got {kind!r}")
    deg = {"in": lambda: graph.in_degrees(), "out": lambda: graph.out_degrees(),
           "total": lambda: graph.in_degrees() + graph.out_degrees()}[kind]().cpu()
    if deg.numel() == 0:
        return torch.zeros(1, dtype=torch.int64)
    return torch.bincount(deg)
