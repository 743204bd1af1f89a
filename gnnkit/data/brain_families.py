"""A generated graph-classification dataset: brain-like networks labelled by the family that made them.

Each graph comes from one of the :mod:`gnnkit.brain.topology` generators (or the random
reference of :mod:`gnnkit.brain.metrics`); the task is to tell the family from the structure:

====  ===============  ==============================================================================
 y    family           generator
====  ===============  ==============================================================================
 0    ``small-world``  :func:`~gnnkit.brain.topology.watts_strogatz_graph`, ``k=4``, rewiring ``p ~ U(0.05, 0.3)``
 1    ``spatial``      :func:`~gnnkit.brain.topology.spatial_graph` (exponential distance rule in the unit
                       square, undirected), mean degree ``~ U(3, 5)``
 2    ``modular``      :func:`~gnnkit.brain.topology.modular_graph`, 2–4 modules, 85 % of each vertex's
                       expected degree ``~ U(3, 5)`` inside its module
 3    ``random``       :func:`~gnnkit.brain.metrics.random_reference_graph` (G(n, m)), mean degree ``~ U(3, 5)``
====  ===============  ==============================================================================

Every graph is undirected (each edge stored in both directions). Every family draws its
vertex count from the same range and aims at the same mean degree, so neither size nor
edge count gives the family away; the vertex positions are left out for the same reason
(the small-world ring would). Vertex features ``ndata["x"]`` ``[N, 2]`` float32 are the
structure a vertex sees locally: column 0 its degree divided by 4 (the families' typical
mean degree), column 1 its local clustering coefficient
(:func:`gnnkit.brain.metrics.clustering`). Everything is generated, nothing downloaded,
and equal seeds give equal datasets.
"""
from __future__ import annotations

import numpy as np
import torch

from ..brain.metrics import clustering, random_reference_graph
from ..brain.topology import modular_graph, spatial_graph, watts_strogatz_graph
from ..graph import Graph
from .dataset import Dataset
from .splits import stratified_split

__all__ = ["BRAIN_FAMILIES", "brain_families"]

BRAIN_FAMILIES = ("small-world", "spatial", "modular", "random")
_MEAN_DEGREE = (3.0, 5.0)  # every family draws its target mean degree from this range


def _family_graph(family: int, n: int, rng: np.random.Generator) -> Graph:
    """One undirected graph of ``family`` over ``n`` vertices, its parameters and seed drawn from ``rng``."""
    seed = int(rng.integers(2**31))
    degree = float(rng.uniform(*_MEAN_DEGREE))
    if family == 0:
        return watts_strogatz_graph(n, 4, float(rng.uniform(0.05, 0.3)), seed=seed).graph
    if family == 1:
        # the unit square's border costs vertices near it neighbours: at 20-60 vertices the mean degree
        # comes out about 2/3 of the target (measured over 50 seeds), so aim 1.5x higher
        return spatial_graph(n, dim=2, mean_degree=1.5 * degree, directed=False, seed=seed).graph
    if family == 2:
        modules = int(rng.integers(2, 5))
        size = n / modules
        p_in = min(1.0, 0.85 * degree / max(size - 1, 1))
        p_out = min(1.0, 0.15 * degree / max(n - size, 1))
        return modular_graph(n, modules, p_in, p_out, seed=seed).graph
    return random_reference_graph(n, int(round(degree * n / 2)), seed=seed)


def _with_features(g: Graph) -> Graph:
    """``g`` (edges only) with ``ndata["x"] = [degree / 4, clustering]``."""
    degree = g.in_degrees().to(torch.float32) / 4.0  # [N]; in = out degree in an undirected graph
    x = torch.stack([degree, clustering(g).to(torch.float32)], 1)  # [N, 2]
    return Graph(g.src, g.dst, g.num_nodes, ndata={"x": x})


def brain_families(num_graphs: int = 1000, min_nodes: int = 20, max_nodes: int = 60, seed: int = 0,
                   fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> Dataset:
    """Generate the ``"brain-families"`` graph-classification dataset (see the module docstring).

    Args:
        num_graphs: graphs in all; the families take turns, so the classes are balanced
            (sizes differ by at most one).
        min_nodes, max_nodes: each graph's vertex count is uniform in this range, for every family.
        seed: equal seeds give equal graphs, labels and split.
        fractions: train/valid/test fractions of :func:`~gnnkit.data.stratified_split`.

    Returns:
        A graph-task :class:`Dataset` named ``"brain-families"``: ``labels`` ``[B]`` int64 family
        ids (:data:`BRAIN_FAMILIES`), ``num_classes = 4``, ``split_idx`` stratified by family.

    Raises:
        ValueError: ``num_graphs < 1`` or a size range that is empty or starts below 10 (the
            generators need room for their modules and ring).
    """
    if isinstance(num_graphs, bool) or not isinstance(num_graphs, int) or num_graphs < 1:
        raise ValueError(f"num_graphs must be an int >= 1, got {num_graphs!r}")
    if not (isinstance(min_nodes, int) and isinstance(max_nodes, int)) or not 10 <= min_nodes <= max_nodes:
        raise ValueError(f"min_nodes and max_nodes must be ints with 10 <= min_nodes <= max_nodes, got "
                         f"min_nodes={min_nodes!r}, max_nodes={max_nodes!r}")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(num_graphs) % len(BRAIN_FAMILIES))
    sizes = rng.integers(min_nodes, max_nodes + 1, num_graphs)
    # one generator call per graph: a loop over graphs, each generator itself vectorised
    graphs = [_with_features(_family_graph(int(y), int(n), rng)) for y, n in zip(labels, sizes)]
    y = torch.from_numpy(labels.astype(np.int64))
    return Dataset("brain-families", "graph", graphs, len(BRAIN_FAMILIES), labels=y,
                   split_idx=stratified_split(y, fractions, seed))
