"""``load_dataset(name, root=...)``: one entry point for every dataset format, never a download.

Formats: the bundled Cora; raw Planetoid ``ind.<name>.*`` files (:mod:`gnnkit.data.planetoid`);
OGB ``ogbn-*``/``ogbl-*``/``ogbg-*`` folders (:mod:`gnnkit.data.ogb`); TU text files
(:mod:`gnnkit.data.tu`); plain edge lists with ``.npy`` features (:mod:`gnnkit.data.edgelist`);
generated datasets (``"brain-families"``, :mod:`gnnkit.data.brain_families`).
The OGB reader is imported on first use, so that ``python -m gnnkit.data.ogb`` does not find
itself already imported.
"""
from __future__ import annotations

from pathlib import Path

from .dataset import Dataset
from .planetoid import load_npz, read_planetoid

__all__ = ["load_dataset", "BUNDLED", "PLANETOID", "FORMATS", "GENERATED"]

BUNDLED = {"cora": Path(__file__).with_name("cora.npz")}
PLANETOID = ("cora", "citeseer", "pubmed")
FORMATS = ("planetoid", "ogb", "tu", "edgelist")
GENERATED = ("brain-families",)  # built by code, with their default arguments; root is not used


def _detect(name: str, root: Path) -> str:
    """The format of ``name`` under ``root``, from the files present."""
    from .edgelist import edgelist_folder
    from .tu import tu_folder

    if (root / f"ind.{name.lower()}.x").is_file() or (root / f"ind.{name}.x").is_file():
        return "planetoid"
    for fmt, finder in (("tu", tu_folder), ("edgelist", edgelist_folder)):
        try:
            finder(root, name)
            return fmt
        except FileNotFoundError:
            pass
    if name.lower() in PLANETOID:
        return "planetoid"  # its reader names the missing ind.* file
    raise FileNotFoundError(
        f"no dataset {name!r} under {root}: expected raw Planetoid files {root}/ind.{name}.{{x,y,tx,ty,allx,ally,graph,"
        f"test.index}}, TU files {root}/{name}/{name}_A.txt (+ _graph_indicator.txt, _graph_labels.txt), or an edge "
        f"list {root}/{name}/edges.txt (+ features.npy, labels.npy); OGB names start with ogbn-, ogbl- or ogbg-"
    )


def load_dataset(name: str, root: str | Path | None = None, normalize_features: bool = True, *,
                 data_dir: str | Path | None = None, format: str | None = None) -> Dataset:
    """Load a dataset from local files (or the bundled Cora) as a :class:`~gnnkit.data.Dataset`.

    Args:
        name: without ``root`` only the bundled ones (``"cora"``); with it, an OGB name
            (``"ogbn-arxiv"``, ``"ogbl-collab"``, ``"ogbg-molhiv"``: ``root`` holds
            ``<name with _>/`` in OGB's layout), a raw Planetoid name (``root`` holds
            ``ind.<name>.*``), a TU name (``root[/<name>[/raw]]/<name>_A.txt``) or an edge
            list (``root[/<name>]/edges.txt``); or a generated one (:data:`GENERATED`:
            ``"brain-families"``, :func:`gnnkit.data.brain_families.brain_families` with its
            defaults; call that function for other sizes or seeds).
        root: the folder the files lie in (not used by generated datasets).
        normalize_features: row-normalise the features (Planetoid only; others are used as given).
        data_dir: the former name of ``root`` (still accepted).
        format: ``"planetoid" | "ogb" | "tu" | "edgelist"`` to skip detection from the files present.

    Raises:
        ValueError: an unknown name without ``root``, ``root`` and ``data_dir`` both given,
            an unknown ``format``, or malformed files (the message names file and field or line).
        FileNotFoundError: a missing file or folder (the message names it and what to put there).
    """
    if data_dir is not None:
        if root is not None:
            raise ValueError(f"pass root or data_dir (its former name), not both; got root={root!r}, data_dir={data_dir!r}")
        root = data_dir
    if format is not None and format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS} or None, got {format!r}")
    key = name.lower()
    if format is None and key in GENERATED:
        from .brain_families import brain_families

        return brain_families()
    if format == "ogb" or (format is None and key[:5] in ("ogbn-", "ogbl-", "ogbg-")):
        from .ogb import load_ogb

        if root is None:
            raise ValueError(f"dataset {name!r} is an OGB dataset: pass root=DIR (gnnkit train --data-dir DIR) for a "
                             f"folder holding {name.replace('-', '_')}/ in OGB's layout; nothing is downloaded")
        return load_ogb(name, root)
    if root is None:
        if key not in BUNDLED:
            raise ValueError(
                f"dataset {name!r} is not bundled (bundled: {sorted(BUNDLED)}); pass root=DIR (gnnkit train --data-dir "
                f"DIR) for a directory holding its files: raw Planetoid ind.{key}.* (Planetoid names: {PLANETOID}), "
                f"TU {name}_*.txt, an edge list edges.txt, or an OGB folder"
            )
        return load_npz(BUNDLED[key], normalize_features)
    root = Path(root)
    fmt = format or _detect(name, root)
    if fmt == "planetoid":
        prefix = key if (root / f"ind.{key}.x").is_file() or not (root / f"ind.{name}.x").is_file() else name
        return read_planetoid(root, prefix, normalize_features)
    if fmt == "tu":
        from .tu import load_tu

        return load_tu(name, root)
    from .edgelist import load_edgelist

    return load_edgelist(name, root)
