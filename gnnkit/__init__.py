"""gnnkit: scalable sparse graph neural networks on PyTorch.

The tree shows the architecture: :mod:`gnnkit.graph` (graph data), :mod:`gnnkit.ops` (sparse ops),
:mod:`gnnkit.nn` (layers), :mod:`gnnkit.blocks` (node functions), :mod:`gnnkit.models` (layer stacks),
:mod:`gnnkit.data` (datasets, samplers, generators), :mod:`gnnkit.scale` (partitions, distributed
layers), :mod:`gnnkit.inflation`, :mod:`gnnkit.brain` and :mod:`gnnkit.cli`.

Importing ``gnnkit`` loads the core (graph, ops, nn, models); the larger subpackages below are
imported on first attribute access, so ``import gnnkit`` stays fast and pulls no optional package.
"""
from __future__ import annotations

import importlib
from typing import Any

from . import graph, nn, ops
from .graph import CSR, Graph, HeteroGraph, MultiViewGraph, load, save
from .models import GNN, GNNConfig
from .nn.neurons import NeuronGraph

__version__ = "0.1.0"

# name -> (module, attribute or None for the module itself); resolved on first use
_LAZY = {
    "blocks": ("gnnkit.blocks", None),
    "brain": ("gnnkit.brain", None),
    "data": ("gnnkit.data", None),
    "inflation": ("gnnkit.inflation", None),
    "link": ("gnnkit.link", None),
    "precision": ("gnnkit.precision", None),
    "scale": ("gnnkit.scale", None),
    "partition": ("gnnkit.scale.partition", "partition"),
    "Part": ("gnnkit.scale.partition", "Part"),
    "Partitioning": ("gnnkit.scale.partition", "Partitioning"),
    "InflatedGNN": ("gnnkit.inflation", "InflatedGNN"),
    "InflationSchedule": ("gnnkit.inflation", "InflationSchedule"),
    "NeighborSampler": ("gnnkit.data.sampling", "NeighborSampler"),
    "ClusterGCNSampler": ("gnnkit.data.sampling", "ClusterGCNSampler"),
    "HeteroNeighborSampler": ("gnnkit.data.hetero_sampling", "HeteroNeighborSampler"),
    # deprecated module paths (each warns once imported)
    "sampling": ("gnnkit.sampling", None),
    "generators": ("gnnkit.generators", None),
}

__all__ = [
    "Graph", "CSR", "HeteroGraph", "MultiViewGraph", "save", "load", "GNN", "GNNConfig", "NeuronGraph",
    "partition", "Part", "Partitioning", "InflatedGNN", "InflationSchedule", "NeighborSampler", "ClusterGCNSampler",
    "HeteroNeighborSampler",
    "graph", "ops", "nn", "blocks", "brain", "data", "inflation", "link", "precision", "scale", "__version__",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'gnnkit' has no attribute {name!r}")
    module, attr = _LAZY[name]
    value = importlib.import_module(module)
    if attr is not None:
        value = getattr(value, attr)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
