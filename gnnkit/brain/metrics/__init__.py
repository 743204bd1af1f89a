r"""Network metrics on sparse graphs that agree with the Brain Connectivity Toolbox (bctpy).

Every metric works on the edge list (a :class:`~gnnkit.Graph`) through ``scipy.sparse`` and
``scipy.sparse.csgraph``; none builds an ``[N, N]`` dense matrix. Each docstring names the
bctpy function it equals and the tests check it on directed, undirected, weighted and binary
graphs with isolated vertices and disconnected components. Conventions:

- *Directed simple graph*: ``A[src, dst] = 1`` for every distinct pair; self-loops and
  duplicates are dropped (bctpy assumes a matrix without self-connections). Weighted:
  ``W[src, dst]`` = the sum of parallel weights; a zero weight is no edge.
- *Undirected view* (``directed=False``): an edge ``{u, v}`` wherever ``u -> v`` or ``v -> u``
  exists, weight ``max(W, W^T)``. A graph stored in both directions with one weight per pair
  (all generators with ``directed=False``) is the symmetric matrix bctpy's ``_und`` / ``_bu``
  / ``_wu`` functions take. :func:`modularity` alone sums every stored edge (see there).
- *Weights to lengths*: path metrics take ``lengths`` as given, or ``weight`` as
  ``length = 1 / weight`` (bctpy ``weight_conversion(W, 'lengths')``).
- *Paths*: unreachable pairs are left out of the characteristic path length and count as 0
  in the efficiency (Latora & Marchiori 2001), as in bctpy.
- *Sampling*: for large graphs pass ``num_sources``; the path metrics and
  :func:`betweenness` then use single-source searches from that many sources drawn
  uniformly without replacement. The efficiency estimate is unbiased (every source's mean
  over its ``N - 1`` targets is an unbiased draw of the global mean), with standard error
  ``std(per-source efficiency) / sqrt(num_sources) * sqrt(1 - num_sources / N)``; the path
  length is the ratio estimator (sum of finite distances over their count);
  betweenness is scaled by ``N / num_sources`` (unbiased, Brandes & Pich 2007).
"""
from .assortativity import assortativity
from .betweenness import betweenness
from .clustering import average_clustering, clustering
from .degree import degree_histogram, degrees, density, strengths
from .kcore import core_numbers, kcore
from .local_efficiency import local_efficiency
from .modularity import communities_from_sets, detect_communities, label_propagation, modularity
from .motifs import MOTIF3_CLASSES, motif3_counts
from .participation import participation_coef, participation_coef_sign
from .paths import characteristic_path_length, global_efficiency, path_stats
from .rich_club import rich_club
from .robustness import efficiency_robustness, robustness, wiring_length
from .small_world import random_reference_graph, small_world_omega, small_world_sigma

__all__ = [
    "density",
    "degrees",
    "strengths",
    "degree_histogram",
    "clustering",
    "average_clustering",
    "path_stats",
    "characteristic_path_length",
    "global_efficiency",
    "local_efficiency",
    "betweenness",
    "modularity",
    "communities_from_sets",
    "label_propagation",
    "detect_communities",
    "participation_coef",
    "participation_coef_sign",
    "rich_club",
    "assortativity",
    "core_numbers",
    "kcore",
    "MOTIF3_CLASSES",
    "motif3_counts",
    "random_reference_graph",
    "small_world_sigma",
    "small_world_omega",
    "wiring_length",
    "efficiency_robustness",
    "robustness",
]
