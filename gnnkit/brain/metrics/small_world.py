r"""Random reference graphs and the small-world indices sigma (Humphries & Gurney 2008) and omega (Telesford et al. 2011)."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ...graph import Graph
from ...graph.idkeys import combined_key
from .._validate import check_graph, check_int, rng_from
from ..nullmodels import degree_preserving_rewire, lattice_rewire
from ._common import simple_pairs
from .clustering import average_clustering
from .paths import path_stats

_EULER_GAMMA = 0.5772156649015329


def random_reference_graph(num_nodes: int, num_edges: int, seed: int = 0) -> Graph:
    """An undirected G(n, m) random graph: ``num_edges`` distinct pairs, stored in both directions.

    Pairs are drawn uniformly with replacement and deduplicated, then topped up until
    ``num_edges`` distinct pairs exist (vectorised rounds).

    Raises:
        ValueError: more edges than pairs.
    """
    n = check_int(num_nodes, "num_nodes", minimum=0)
    m = check_int(num_edges, "num_edges", minimum=0)
    if m > n * (n - 1) // 2:
        raise ValueError(f"num_edges = {m} exceeds the {n * (n - 1) // 2} possible pairs of {n} neurons")
    rng = rng_from(seed)
    keys = np.zeros(0, dtype=np.int64)
    while keys.size < m:
        need = m - keys.size
        a = rng.integers(0, n, int(need * 1.1) + 16)
        b = rng.integers(0, n, a.size)
        ok = a != b
        new = combined_key((np.minimum(a, b)[ok], np.maximum(a, b)[ok]), (n, n), "brain metrics")
        merged = np.unique(np.concatenate([keys, new]))
        if merged.size > m:  # keep the old pairs and a random subset of the new ones
            fresh = np.setdiff1d(merged, keys)
            merged = np.sort(np.concatenate([keys, rng.choice(fresh, m - keys.size, replace=False)]))
        keys = merged
    lo, hi = keys // max(n, 1), keys % max(n, 1)
    return Graph(np.concatenate([lo, hi]), np.concatenate([hi, lo]), n)


def small_world_sigma(
    graph: Graph,
    *,
    reference: str | Sequence[Graph] = "analytic",
    num_random: int = 5,
    num_sources: int | None = None,
    seed: int = 0,
) -> dict[str, float]:
    r"""Small-world index :math:`\sigma` of the undirected view (Humphries & Gurney 2008).

    .. math:: \sigma = \frac{C / C_r}{L / L_r}

    with :math:`C` the average clustering and :math:`L` the characteristic path length (hops).
    References for a random graph of the same :math:`N` and mean degree :math:`\bar k`:

    - ``"analytic"``: :math:`C_r = \bar k/(N-1)` (exact for Erdős–Rényi) and
      :math:`L_r = (\ln N - \gamma_E)/\ln \bar k + 1/2` (Fronczak, Fronczak & Hołyst 2004);
    - ``"random"``: means over ``num_random`` :func:`random_reference_graph` samples;
    - a sequence of graphs: means over those (e.g. your own degree-preserving rewirings).

    :math:`\sigma > 1` marks a small world. networkx's ``sigma`` uses degree-preserving
    rewired references instead; pass such graphs as ``reference`` to reproduce it.

    Returns:
        ``{"sigma", "clustering", "path_length", "clustering_random", "path_length_random"}``.

    Raises:
        ValueError: an unknown ``reference`` or a mean degree of at most 1 (no analytic :math:`L_r`).
    """
    check_graph(graph)
    n = graph.num_nodes
    c = average_clustering(graph)
    length = path_stats(graph, directed=False, num_sources=num_sources, seed=seed)["path_length"]
    m = int(simple_pairs(graph, directed=False)[0].size // 2)
    if isinstance(reference, str):
        if reference not in ("analytic", "random"):
            raise ValueError(f"reference must be 'analytic', 'random' or a sequence of graphs, got {reference!r}")
        if reference == "analytic":
            k = 2 * m / n if n else 0.0
            if k <= 1:
                raise ValueError(f"the analytic reference needs a mean degree > 1, got {k:.3g}")
            c_r = k / (n - 1)
            l_r = (math.log(n) - _EULER_GAMMA) / math.log(k) + 0.5
        else:
            check_int(num_random, "num_random", minimum=1)
            reference = [random_reference_graph(n, m, seed=seed + 1 + r) for r in range(num_random)]
    if not isinstance(reference, str):
        refs = list(reference)
        if not refs:
            raise ValueError("reference must hold at least one graph")
        c_r = float(np.mean([average_clustering(check_graph(r, "reference graph")) for r in refs]))
        l_r = float(np.mean([path_stats(r, directed=False, num_sources=num_sources, seed=seed)["path_length"]
                             for r in refs]))
    sigma = (c / c_r) / (length / l_r) if c_r > 0 and length > 0 and math.isfinite(length) else math.nan
    return {"sigma": sigma, "clustering": c, "path_length": length, "clustering_random": c_r, "path_length_random": l_r}


def _undirected_simple(graph: Graph) -> Graph:
    """The undirected view as a simple graph stored in both directions (what the rewirings take)."""
    s, d = simple_pairs(graph, directed=False)
    return Graph(s, d, graph.num_nodes)


def small_world_omega(
    graph: Graph,
    *,
    random_reference: Sequence[Graph] | None = None,
    lattice_reference: Sequence[Graph] | None = None,
    num_references: int = 5,
    swaps_per_edge: int = 10,
    num_sources: int | None = None,
    seed: int = 0,
) -> dict[str, float]:
    r"""Small-world index :math:`\omega` of the undirected view (Telesford et al. 2011).

    .. math:: \omega = \frac{L_r}{L} - \frac{C}{C_\ell}

    :math:`C` is the average clustering and :math:`L` the characteristic path length in hops
    (over reachable pairs). :math:`L_r` is the mean path length of degree-preserving random
    references; :math:`C_\ell` is the largest average clustering among :math:`C` and the
    lattice references (networkx ``omega``'s convention). :math:`\omega` lies near 0 for a
    small world, near 1 for a random graph and near -1 for a lattice. By default the
    references are ``num_references`` :func:`~gnnkit.brain.nullmodels.degree_preserving_rewire`
    graphs with ``2 * swaps_per_edge`` rounds and as many
    :func:`~gnnkit.brain.nullmodels.lattice_rewire` graphs with ``swaps_per_edge`` rounds
    (networkx's ``niter * 2`` and ``niter``; networkx's default ``niter`` is 5). Unlike networkx's ``random_reference`` /
    ``lattice_reference``, these rewirings do not keep the graph connected; pass your own
    ``random_reference`` / ``lattice_reference`` graphs (e.g. networkx's) to use others.

    Args:
        graph: the synapses.
        random_reference: optional random reference graphs (default: generated).
        lattice_reference: optional lattice reference graphs (default: generated).
        num_references: how many of each to generate.
        swaps_per_edge: rewiring rounds of the lattice references (twice that for the random ones).
        num_sources: sample path-length sources (see :func:`path_stats`).
        seed: numpy seed of the references and the sampling.

    Returns:
        ``{"omega", "clustering", "path_length", "clustering_lattice", "path_length_random"}``.

    Raises:
        ValueError: an empty reference list, ``num_references < 1``.
    """
    check_graph(graph)
    base = _undirected_simple(graph)
    if random_reference is None or lattice_reference is None:
        check_int(num_references, "num_references", minimum=1)
        check_int(swaps_per_edge, "swaps_per_edge", minimum=0)
    if random_reference is None:
        random_reference = [degree_preserving_rewire(base, 2 * swaps_per_edge, seed=seed + 1 + r).graph
                            for r in range(num_references)]
    if lattice_reference is None:
        lattice_reference = [lattice_rewire(base, swaps_per_edge, seed=seed + 1 + r).graph
                             for r in range(num_references)]
    rand, latt = list(random_reference), list(lattice_reference)
    if not rand or not latt:
        raise ValueError("random_reference and lattice_reference must each hold at least one graph")
    c = average_clustering(graph)
    length = path_stats(graph, directed=False, num_sources=num_sources, seed=seed)["path_length"]
    l_r = float(np.mean([path_stats(check_graph(r, "reference graph"), directed=False, num_sources=num_sources,
                                    seed=seed)["path_length"] for r in rand]))
    c_l = max([c] + [average_clustering(check_graph(r, "reference graph")) for r in latt])
    omega = l_r / length - (c / c_l if c_l > 0 else 0.0) if length > 0 and math.isfinite(length) else math.nan
    return {"omega": omega, "clustering": c, "path_length": length, "clustering_lattice": c_l,
            "path_length_random": l_r}
