"""Plain edge lists: ``src dst [weight]`` text with optional ``features.npy``, ``labels.npy`` and ``split.npz``.

A dataset folder (``root/<name>/``, or ``root`` itself) holds::

    edges.txt       one edge per line: "src dst" or "src dst weight" (0-based ids, any whitespace, "#" comments)
    features.npy    optional [N, F] numbers: ndata["x"]
    labels.npy      optional [N] integer classes (-1: unlabelled): ndata["y"]
    split.npz       optional arrays "train", "valid", "test" of vertex ids: the masks and split_idx

The number of vertices is the number of rows of ``features.npy`` (or ``labels.npy``), never
guessed from the largest id, so isolated vertices at the end are kept. Every array is
read with ``allow_pickle=False`` and checked (dtype, shape, id range) before use.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..graph import Graph
from ..graph.checks import check_array, check_ids, read_npy, read_npz
from .dataset import SPLITS, Dataset, index_to_mask
from .textfile import read_table

__all__ = ["load_edgelist", "edgelist_folder"]

_MASKS = ("train_mask", "val_mask", "test_mask")


def edgelist_folder(root: str | Path, name: str) -> Path:
    """``root/<name>`` if it holds ``edges.txt``, else ``root`` if it does.

    Raises:
        FileNotFoundError: neither holds ``edges.txt`` (the message says what to put there).
    """
    root = Path(root)
    for folder in (root / name, root):
        if (folder / "edges.txt").is_file():
            return folder
    raise FileNotFoundError(
        f"edge list missing: {root / name / 'edges.txt'} (put one 'src dst [weight]' line per edge there, with "
        f"features.npy [N, F], labels.npy [N] and split.npz (train/valid/test ids) beside it; nothing is downloaded)"
    )


def load_edgelist(name: str, root: str | Path) -> Dataset:
    """Read the edge-list dataset ``name`` from ``root`` (see the module docstring for the files).

    Args:
        name: the dataset's name (its folder under ``root``, if it has one).
        root: the folder holding ``<name>/edges.txt`` or ``edges.txt``.

    Returns:
        A node :class:`Dataset`: edges in file order, ``edata["edge_weight"]`` (float32) when
        the lines have a third column, ``ndata`` ``"x"``/``"y"``/masks from the ``.npy``/``.npz`` files.
        ``num_classes`` is ``max(label) + 1`` (0 without labels).

    Raises:
        FileNotFoundError: no ``edges.txt`` (the message says what to put there).
        ValueError: a malformed line (file and line named), rows with 1 or more than 3
            columns, neither ``features.npy`` nor ``labels.npy`` (nothing fixes the number of
            vertices), arrays that disagree on N, ids out of range.
    """
    folder = edgelist_folder(root, name)
    path = folder / "edges.txt"
    table = read_table(path, np.float64, None, "'src dst [weight]' lines")
    if table.size and table.shape[1] not in (2, 3):
        raise ValueError(f"{path} must have lines 'src dst' or 'src dst weight', got {table.shape[1]} columns")
    ids = table[:, :2] if table.size else np.zeros((0, 2))
    if (ids != np.round(ids)).any():
        row = int(np.argmax((ids != np.round(ids)).any(1)))
        raise ValueError(f"{path}: edge {row + 1} has a vertex id that is not an integer: {ids[row].tolist()}")
    ndata: dict[str, torch.Tensor] = {}
    n = None
    for key, file in (("x", "features.npy"), ("y", "labels.npy")):
        if (folder / file).is_file():
            arr = read_npy(folder / file)
            if key == "x":
                arr = check_array(arr, f"{folder / file}", kinds="biuf", ndim=2).astype(np.float32)
            else:
                arr = check_array(arr, f"{folder / file}", kinds="iu", ndim=1).astype(np.int64)
            if n is not None and arr.shape[0] != n:
                raise ValueError(f"{folder / file} has {arr.shape[0]} rows but features.npy has {n}")
            n = arr.shape[0]
            ndata[key] = torch.from_numpy(arr)
    if n is None:
        raise ValueError(f"{folder} needs features.npy [N, F] or labels.npy [N] beside edges.txt: they fix the number "
                         f"of vertices N (an edge list alone cannot say how many isolated vertices there are)")
    src = check_ids(ids[:, 0].astype(np.int64), n, f"{path} column 1 (src)")
    dst = check_ids(ids[:, 1].astype(np.int64), n, f"{path} column 2 (dst)")
    edata = {"edge_weight": torch.from_numpy(table[:, 2].astype(np.float32))} if table.size and table.shape[1] == 3 else {}
    num_classes = 0
    if "y" in ndata:
        y = ndata["y"]
        if y.numel() and int(y.min()) < -1:
            raise ValueError(f"{folder / 'labels.npy'} holds label {int(y.min())}; labels are >= 0, or -1 for unlabelled")
        num_classes = int(y.max()) + 1 if y.numel() else 0
    split = {}
    if (folder / "split.npz").is_file():
        z = read_npz(folder / "split.npz", SPLITS)
        for part, mask_name in zip(SPLITS, _MASKS):
            split[part] = torch.from_numpy(check_ids(z[part], n, f"{folder / 'split.npz'} field {part!r}").astype(np.int64))
            ndata[mask_name] = index_to_mask(split[part], n)
    graph = Graph(torch.from_numpy(src), torch.from_numpy(dst), n, ndata=ndata, edata=edata)
    return Dataset(name, "node", [graph], num_classes, split_idx=split)
