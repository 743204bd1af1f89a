r"""Wiring length and robustness to random synapse removal."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import Tensor

from ...graph import Graph
from .._validate import as_edge_tensor, as_positions, check_fraction, check_graph, check_int, rng_from
from .paths import global_efficiency


def wiring_length(graph: Graph, positions: Tensor, weight: Tensor | None = None) -> float:
    r"""Total wiring :math:`\sum_e d_e` (or :math:`\sum_e |w_e| d_e` with ``weight``) of the synapses."""
    from ..topology import edge_lengths

    d = edge_lengths(graph, as_positions(positions, check_graph(graph).num_nodes)).double()
    if weight is None:
        return float(d.sum())
    w = as_edge_tensor(weight, graph.num_edges, "weight").detach().to(d.device).double()
    return float((w.abs() * d).sum())


def _keep_mask(num_edges: int, fraction: float, rng: np.random.Generator) -> Tensor:
    keep = torch.ones(num_edges, dtype=torch.bool)
    drop = int(round(fraction * num_edges))
    keep[torch.from_numpy(rng.choice(num_edges, size=drop, replace=False))] = False
    return keep


def robustness(
    evaluate: Callable[[Tensor], float],
    num_edges: int,
    fraction: float,
    *,
    trials: int = 5,
    seed: int = 0,
) -> tuple[float, float]:
    """Mean and standard deviation of ``evaluate(keep)`` after random synapse removal.

    Each trial removes exactly ``round(fraction * num_edges)`` synapses chosen uniformly
    and calls ``evaluate`` with the ``[E]`` boolean mask of the survivors (e.g. accuracy of
    a network with those synapses, or a graph metric of ``graph`` restricted to them).

    Raises:
        ValueError: ``fraction`` outside [0, 1), ``trials < 1``.
    """
    fraction = check_fraction(fraction, "fraction")
    trials = check_int(trials, "trials", minimum=1)
    num_edges = check_int(num_edges, "num_edges", minimum=0)
    rng = rng_from(seed)
    scores = np.array([float(evaluate(_keep_mask(num_edges, fraction, rng))) for _ in range(trials)])
    return float(scores.mean()), float(scores.std())


def efficiency_robustness(
    graph: Graph,
    fraction: float,
    *,
    trials: int = 5,
    directed: bool = True,
    num_sources: int | None = None,
    seed: int = 0,
) -> float:
    """Global efficiency after removing a random ``fraction`` of synapses, relative to the intact graph.

    1 means removal costs nothing; the mean over ``trials`` random removals.
    """
    check_graph(graph)
    base = global_efficiency(graph, directed=directed, num_sources=num_sources, seed=seed)
    if base == 0:
        return 0.0

    def evaluate(keep: Tensor) -> float:
        sub = Graph(graph.src[keep], graph.dst[keep], graph.num_nodes, _validate=False)
        return global_efficiency(sub, directed=directed, num_sources=num_sources, seed=seed)

    return robustness(evaluate, graph.num_edges, fraction, trials=trials, seed=seed)[0] / base
