"""Datasets: the bundled Cora and a safe reader for raw Planetoid directories."""
from __future__ import annotations

from pathlib import Path

from .planetoid import PlanetoidDataset, RestrictedUnpickler, load_npz, read_planetoid, save_npz

__all__ = ["load_dataset", "PlanetoidDataset", "RestrictedUnpickler", "read_planetoid", "save_npz", "load_npz", "BUNDLED"]

BUNDLED = {"cora": Path(__file__).with_name("cora.npz")}
PLANETOID = ("cora", "citeseer", "pubmed")


def load_dataset(name: str, data_dir: str | Path | None = None, normalize_features: bool = True) -> PlanetoidDataset:
    """Load a node-classification dataset.

    Args:
        name: dataset name. Without ``data_dir`` only the bundled ones
            (``"cora"``) are available; with it, any raw Planetoid name whose
            ``ind.<name>.*`` files lie in ``data_dir``.
        data_dir: a directory of raw Planetoid files.
        normalize_features: row-normalise the features.

    Raises:
        ValueError: an unknown name without ``data_dir``.
        FileNotFoundError: a raw file is missing.
    """
    key = name.lower()
    if data_dir is not None:
        return read_planetoid(data_dir, key, normalize_features)
    if key not in BUNDLED:
        raise ValueError(
            f"dataset {name!r} is not bundled (bundled: {sorted(BUNDLED)}); pass data_dir=DIR (gnnkit train --data-dir DIR) "
            f"for a directory holding the raw Planetoid files ind.{key}.* (Planetoid names: {PLANETOID})"
        )
    return load_npz(BUNDLED[key], normalize_features)
