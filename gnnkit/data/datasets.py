"""Datasets: the bundled Cora, a safe reader for raw Planetoid directories, OGB node-property directories.

The OGB reader lives in :mod:`gnnkit.data.ogb` (``from gnnkit.data.ogb import load_ogb_node``); it is
imported on first use, so that ``python -m gnnkit.data.ogb`` does not find itself already imported.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .planetoid import PlanetoidDataset, load_npz, read_planetoid

if TYPE_CHECKING:
    from .ogb import OGBNodeDataset

__all__ = ["load_dataset", "BUNDLED", "PLANETOID"]

BUNDLED = {"cora": Path(__file__).with_name("cora.npz")}
PLANETOID = ("cora", "citeseer", "pubmed")


def load_dataset(name: str, data_dir: str | Path | None = None,
                 normalize_features: bool = True) -> PlanetoidDataset | OGBNodeDataset:
    """Load a node-classification dataset.

    Args:
        name: dataset name. Without ``data_dir`` only the bundled ones
            (``"cora"``) are available; with it, any raw Planetoid name whose
            ``ind.<name>.*`` files lie in ``data_dir``, or an OGB node-property name
            (``"ogbn-arxiv"``, ...) whose ``<name with _>/`` folder lies in ``data_dir``
            (:func:`gnnkit.data.ogb.load_ogb_node`: never downloads, never prompts).
        data_dir: a directory of raw Planetoid files, or an OGB root.
        normalize_features: row-normalise the features (Planetoid only; OGB features are used as given).

    Raises:
        ValueError: an unknown name without ``data_dir``.
        FileNotFoundError: a raw file is missing.
    """
    key = name.lower()
    if key.startswith("ogbn-"):
        from .ogb import OGB_NODE_DATASETS, load_ogb_node

        if data_dir is None:
            raise ValueError(f"dataset {name!r} is an OGB dataset: pass data_dir=DIR (gnnkit train --data-dir DIR) for a "
                             f"folder holding {name.replace('-', '_')}/ in OGB's layout; nothing is downloaded")
        canonical = {k.lower(): k for k in OGB_NODE_DATASETS}.get(key, name)  # "ogbn-papers100m" -> "ogbn-papers100M"
        return load_ogb_node(canonical, data_dir)
    if data_dir is not None:
        return read_planetoid(data_dir, key, normalize_features)
    if key not in BUNDLED:
        raise ValueError(
            f"dataset {name!r} is not bundled (bundled: {sorted(BUNDLED)}); pass data_dir=DIR (gnnkit train --data-dir DIR) "
            f"for a directory holding the raw Planetoid files ind.{key}.* (Planetoid names: {PLANETOID})"
        )
    return load_npz(BUNDLED[key], normalize_features)
