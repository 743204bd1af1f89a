"""Brain-topology simulation: built-in topologies, connectomes, lifecycle pruning, wiring/energy costs, metrics.

- :mod:`~gnnkit.brain.topology` — spatially embedded (exponential distance rule), small-world,
  modular/hierarchical and layered (cortical column) generators, sparse and seeded;
- :mod:`~gnnkit.brain.connectome` — import measured wiring diagrams (matrices, CSV/JSON, networkx)
  with synapse types as views of a :class:`~gnnkit.graph.multiview.MultiViewGraph`;
- :mod:`~gnnkit.brain.celegans` — the *C. elegans* connectomes shipped by ``cect`` (Witvliet
  developmental series, Cook 2019 hermaphrodite and male, ...): :func:`load_celegans`;
- :mod:`~gnnkit.brain.connectome_tables` — neuPrint/FlyWire-style neurons + connections CSV
  exports, one view per neurotransmitter: :func:`read_connectome_csv`;
- :mod:`~gnnkit.brain.network` — :class:`SpatialRNN`, a rate RNN whose recurrent weights are the edges;
- :mod:`~gnnkit.brain.dynamics` — rate and leaky integrate-and-fire networks (delays, refractoriness,
  surrogate gradients), the LIF one equal to Brian2 spike for spike;
- :mod:`~gnnkit.brain.lifecycle` — pruning schedules and criteria, regrowth, in-place rewiring;
- :mod:`~gnnkit.brain.costs` — wiring cost, communicability-weighted wiring cost, energy penalties;
- :mod:`~gnnkit.brain.metrics` — the Brain Connectivity Toolbox's metrics: clustering, paths, efficiency,
  betweenness, modularity, participation, rich club, assortativity, k-cores, motifs, small-worldness, robustness;
- :mod:`~gnnkit.brain.nullmodels` — degree-preserving, lattice and length-preserving rewiring;
- :mod:`~gnnkit.brain.stats` — bootstrap confidence intervals, permutation tests and Holm correction over seeds.
"""
from . import (celegans, connectome, connectome_tables, costs, dynamics, lifecycle, metrics, network, nullmodels, stats,
               topology)
from .celegans import CelegansDataset, celegans_datasets, load_celegans
from .connectome import Connectome
from .connectome_tables import CSV_LAYOUTS, CsvLayout, read_connectome_csv
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
    MOTIF3_CLASSES,
    assortativity,
    average_clustering,
    betweenness,
    characteristic_path_length,
    clustering,
    communities_from_sets,
    core_numbers,
    degree_histogram,
    degrees,
    density,
    detect_communities,
    efficiency_robustness,
    global_efficiency,
    kcore,
    label_propagation,
    local_efficiency,
    modularity,
    motif3_counts,
    participation_coef,
    participation_coef_sign,
    path_stats,
    random_reference_graph,
    rich_club,
    robustness,
    small_world_omega,
    small_world_sigma,
    strengths,
    wiring_length,
)
from .network import SpatialRNN
from .nullmodels import Rewired, degree_preserving_rewire, lattice_rewire, spatial_rewire
from .stats import Comparison, ConfidenceInterval, bootstrap_ci, compare, holm, holm_adjust, summary_rows
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
    "celegans", "connectome", "connectome_tables", "costs", "dynamics", "lifecycle", "metrics", "network", "nullmodels", "stats",
    "topology",
    # topology
    "SpatialGraph", "edge_lengths", "decay_for_degree", "spatial_graph", "watts_strogatz_graph", "modular_graph",
    "hierarchical_modular_graph", "layered_graph", "cortical_column",
    # connectome
    "Connectome", "CelegansDataset", "celegans_datasets", "load_celegans", "CsvLayout", "CSV_LAYOUTS",
    "read_connectome_csv",
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
    "degrees", "strengths", "local_efficiency", "betweenness", "participation_coef", "participation_coef_sign", "rich_club",
    "assortativity", "core_numbers", "kcore", "MOTIF3_CLASSES", "motif3_counts", "small_world_omega",
    # null models
    "Rewired", "degree_preserving_rewire", "lattice_rewire", "spatial_rewire",
    # stats
    "ConfidenceInterval", "Comparison", "bootstrap_ci", "compare", "holm", "holm_adjust", "summary_rows",
]
