"""Data: datasets and their readers, samplers and loaders, large-graph generators.

The OGB reader lives in :mod:`gnnkit.data.ogb`; it is imported on first use, so that
``python -m gnnkit.data.ogb`` does not find itself already imported.
"""
from .datasets import BUNDLED, PLANETOID, load_dataset
from .planetoid import PlanetoidDataset, RestrictedUnpickler, load_npz, read_planetoid, save_npz

__all__ = ["load_dataset", "PlanetoidDataset", "RestrictedUnpickler", "read_planetoid", "save_npz", "load_npz",
           "BUNDLED", "PLANETOID"]
