r"""Built-in brain topologies: spatially embedded, small-world, modular/hierarchical and layered networks.

Every generator returns a :class:`SpatialGraph`: a sparse :class:`~gnnkit.Graph` of synapses
``src -> dst`` plus the ``[N, D]`` positions of the neurons (kept for wiring lengths and
layouts) and optional group labels (modules, layers). All generators are reproducible by
``seed`` (numpy ``PCG64``) and sparse end to end: none of them looks at all
:math:`N^2` pairs, so they scale to :math:`10^6` neurons and :math:`10^8` synapses (see
``docs/brain.md`` for a measured run).

The families live in one module each: :mod:`.spatial` (the :class:`SpatialGraph` result),
:mod:`.distance` (exponential distance rule), :mod:`.small_world`, :mod:`.modular`,
:mod:`.layered` (layers, cortical column), on the shared :mod:`.sampling` core.
"""
from .distance import decay_for_degree, spatial_graph
from .layered import PD14_POPULATIONS, PD14_PROBS, PD14_SIZES, cortical_column, layered_graph
from .modular import hierarchical_modular_graph, modular_graph
from .small_world import watts_strogatz_graph
from .spatial import SpatialGraph, edge_lengths

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
