r"""Vertex inflation: a graph that changes from layer to layer.

GNNs reuse one graph for every layer, so a message needs ``d`` layers to travel ``d``
hops. This module changes the graph as a function of the layer index:

- :func:`shortcut_edges` adds edges :math:`u \to v` for vertices within ``k`` hops,
  found with sparse products (scipy CSR, never a dense :math:`A^k`), kept under a
  per-vertex and/or global budget ranked by shortest-path count or personalised
  PageRank, weighted by a hop decay. Works per view of a :class:`MultiViewGraph`.
- :func:`hub_graph` literally adds vertices: one hub per cluster (METIS via
  ``pymetis`` when importable, else vectorised :func:`label_propagation`), joined
  to its members and to the hubs of neighbouring clusters. The hubs exist for one
  layer; their state is dropped or pooled back into the members afterwards.
- :class:`InflationSchedule` maps layer index → transform (:class:`Identity`,
  :class:`Shortcuts`, :class:`Hubs`) and caches each transformed graph, built once
  per (graph, transform); :class:`InflatedGNN` is a layer stack that takes a schedule.

Related: DGL's ``KHopGraph`` and PyG's ``TwoHop`` / ``VirtualNode`` are one-shot
preprocessing; DRew (Gutteridge et al. 2023, https://arxiv.org/abs/2305.08018)
grows the hop range with depth. The measured answer to "does it pay?" is in
``docs/multiview_inflation.md`` (``benchmarks/inflation.py``).
"""
from ..scale.clustering import label_propagation  # re-exported: hub clusters without pymetis
from .hubs import CLUSTER_METHODS, cluster_nodes, hub_graph
from .layer_graph import LayerGraph
from .model import InflatedGNN
from .schedule import GraphTransform, Hubs, Identity, InflationSchedule, Shortcuts
from .shortcuts import SHORTCUT_SCORES, shortcut_edges

__all__ = [
    "LayerGraph",
    "shortcut_edges",
    "cluster_nodes",
    "label_propagation",
    "hub_graph",
    "GraphTransform",
    "Identity",
    "Shortcuts",
    "Hubs",
    "InflationSchedule",
    "InflatedGNN",
    "SHORTCUT_SCORES",
    "CLUSTER_METHODS",
]
