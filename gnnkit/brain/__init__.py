"""Brain-topology simulation: built-in topologies, connectomes, lifecycle pruning, wiring/energy costs, metrics.

- :mod:`~gnnkit.brain.topology` — spatially embedded (exponential distance rule), small-world,
  modular/hierarchical and layered (cortical column) generators, sparse and seeded;
- :mod:`~gnnkit.brain.connectome` — import measured wiring diagrams (matrices, CSV/JSON, networkx)
  with synapse types as views of a :class:`~gnnkit.graph.multiview.MultiViewGraph`;
- :mod:`~gnnkit.brain.network` — :class:`SpatialRNN`, a rate RNN whose recurrent weights are the edges;
- :mod:`~gnnkit.brain.dynamics` — rate and leaky integrate-and-fire networks (delays, refractoriness,
  surrogate gradients), the LIF one equal to Brian2 spike for spike;
- :mod:`~gnnkit.brain.lifecycle` — pruning schedules and criteria, regrowth, in-place rewiring;
- :mod:`~gnnkit.brain.costs` — wiring cost, communicability-weighted wiring cost, energy penalties;
- :mod:`~gnnkit.brain.metrics` — clustering, path length, efficiency, modularity, small-worldness, robustness.
"""
from . import connectome, costs, dynamics, lifecycle, metrics, network, topology
from .connectome import Connectome
from .costs import (
    activity_l1,
    communicability,
    communicability_wiring_cost,
    firing_rate_penalty,
    weight_budget_penalty,
    wiring_cost,
)
from .dynamics import LIFNetwork, LIFState, RateNetwork, Surrogate, simulate
from .lifecycle import (
    CRITERIA,
    SCHEDULES,
    Lifecycle,
    PruneReport,
    PruningSchedule,
    UsageTracker,
    prune_fraction,
    prune_graph,
    regrow,
    rewire_,
    select_survivors,
    synapse_scores,
)
from .metrics import (
    average_clustering,
    characteristic_path_length,
    clustering,
    communities_from_sets,
    degree_histogram,
    density,
    detect_communities,
    efficiency_robustness,
    global_efficiency,
    label_propagation,
    modularity,
    path_stats,
    random_reference_graph,
    robustness,
    small_world_sigma,
    wiring_length,
)
from .network import SpatialRNN
from .topology import (
    SpatialGraph,
    cortical_column,
    decay_for_degree,
    edge_lengths,
    hierarchical_modular_graph,
    layered_graph,
    modular_graph,
    spatial_graph,
    watts_strogatz_graph,
)

__all__ = [
    # modules
    "connectome", "costs", "dynamics", "lifecycle", "metrics", "network", "topology",
    # topology
    "SpatialGraph", "edge_lengths", "decay_for_degree", "spatial_graph", "watts_strogatz_graph", "modular_graph",
    "hierarchical_modular_graph", "layered_graph", "cortical_column",
    # connectome
    "Connectome",
    # network
    "SpatialRNN",
    # dynamics
    "RateNetwork", "LIFNetwork", "LIFState", "Surrogate", "simulate",
    # lifecycle
    "SCHEDULES", "CRITERIA", "PruningSchedule", "UsageTracker", "synapse_scores", "select_survivors",
    "prune_fraction", "prune_graph", "regrow", "rewire_", "Lifecycle", "PruneReport",
    # costs
    "wiring_cost", "communicability", "communicability_wiring_cost", "activity_l1", "firing_rate_penalty",
    "weight_budget_penalty",
    # metrics
    "density", "degree_histogram", "clustering", "average_clustering", "path_stats", "characteristic_path_length",
    "global_efficiency", "modularity", "communities_from_sets", "label_propagation", "detect_communities",
    "random_reference_graph", "small_world_sigma", "wiring_length", "efficiency_robustness", "robustness",
]
