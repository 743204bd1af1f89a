"""Data: the :class:`Dataset` type and its loaders (never a download), samplers and loaders, generators.

The OGB reader lives in :mod:`gnnkit.data.ogb`; it is imported on first use, so that
``python -m gnnkit.data.ogb`` does not find itself already imported.
"""
from .dataset import SPLITS, TASKS, Dataset
from .datasets import BUNDLED, FORMATS, PLANETOID, load_dataset
from .convert import GeneratorSpec, convert, generate
from .edgelist import load_edgelist
from .graph_loader import GraphBatch, GraphDataLoader
from .ondisk import OnDiskGraph
from .planetoid import RestrictedUnpickler, load_npz, read_planetoid, save_npz
from .splits import stratified_split
from .tu import load_tu, write_tu

__all__ = ["Dataset", "TASKS", "SPLITS", "load_dataset", "load_tu", "write_tu", "load_edgelist", "RestrictedUnpickler",
           "read_planetoid", "save_npz", "load_npz", "BUNDLED", "PLANETOID", "FORMATS", "GraphDataLoader", "GraphBatch",
           "stratified_split", "OnDiskGraph", "convert", "generate", "GeneratorSpec"]
