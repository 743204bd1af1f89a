"""Planetoid citation datasets (Cora, CiteSeer, PubMed) from their raw files, read safely.

The raw files (``ind.<name>.{x,y,tx,ty,allx,ally,graph,test.index}``) are Python 2
pickles. They are read with :class:`~gnnkit.data.safe_pickle.RestrictedUnpickler`, which
admits only builtin containers and the numpy/scipy names these files use, and builds no
numpy or scipy object from pickled state: every array passes the checks of
:mod:`gnnkit.data.safe_pickle` and :mod:`gnnkit.graph.checks` (as every array of the
bundled ``.npz`` does) before scipy touches it, so a crafted file is a ``ValueError``,
never an out-of-bounds read.
Nothing here touches the network.

The split is the standard one of Kipf & Welling / Yang et al.: the first
``num_classes * 20`` vertices train, the next 500 validate, the 1000 listed in
``test.index`` test. The graph is made undirected, deduplicated and loop-free (as
PyG's ``Planetoid``: Cora has 2,708 vertices and 10,556 directed edges).
"""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from ..graph import Graph
from ..graph.checks import check_array, check_ids, checked_csr, read_npz
from .dataset import Dataset, index_to_mask
from .safe_pickle import ArraySpec, CSRSpec, RestrictedUnpickler, materialise, unpickle

__all__ = ["RestrictedUnpickler", "read_planetoid", "save_npz", "load_npz"]

_MAX_DENSE = 1 << 32  # entries of the dense [N, F] feature matrix a file may ask for

_SUFFIXES = ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index")


def _features(obj: Any, path: Path) -> sp.csr_matrix:
    """A feature matrix from a pickle, built from checked arrays.

    The pickle's CSR matrix arrives as a :class:`CSRSpec` (its ``__dict__`` as the file wrote
    it): each array is materialised and checked (:func:`checked_csr`: dtype, index bounds,
    monotone ``indptr``) before scipy sees any of them.
    """
    where = f"{path} (features)"
    if isinstance(obj, ArraySpec):
        return sp.csr_matrix(check_array(materialise(obj, where), where, kinds="biuf", ndim=2).astype(np.float32))
    if not isinstance(obj, CSRSpec):
        raise ValueError(f"{where} must hold a scipy CSR matrix or a 2-D array, got {type(obj).__name__}")
    state = vars(obj)
    missing = [k for k in ("data", "indices", "indptr", "_shape") if k not in state]
    if missing:
        raise ValueError(f"{where} is a csr_matrix without the fields {missing}")
    data, indices, indptr = (materialise(state[k], f"{where} {k}") for k in ("data", "indices", "indptr"))
    return checked_csr(data, indices, indptr, state["_shape"], where, _MAX_DENSE)


def _labels(obj: Any, path: Path) -> np.ndarray:
    where = f"{path} (one-hot labels)"
    return check_array(materialise(obj, where), where, kinds="biuf", ndim=2)


def _adjacency(obj: Any, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(src, dst)`` from the ``{vertex: [neighbours]}`` dict of ``ind.<name>.graph``."""
    if not isinstance(obj, dict):
        raise ValueError(f"{path} must hold a dict of vertex -> list of neighbours, got {type(obj).__name__}")
    lists = list(obj.values())
    if not all(isinstance(v, (list, tuple, set)) for v in lists):
        raise ValueError(f"{path} must map every vertex to a list of neighbour ids")
    lengths = np.fromiter((len(v) for v in lists), dtype=np.int64, count=len(lists))  # one entry per vertex
    try:
        keys = np.array(list(obj.keys()))
        dst = np.array(list(itertools.chain.from_iterable(lists)))
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{path} holds vertex ids that are not integers: {exc}") from exc
    for what, ids in (("vertex keys", keys), ("neighbour ids", dst)):
        if ids.size and (ids.dtype.kind not in "iu" or ids.ndim != 1):
            raise ValueError(f"{path} {what} must be integers, got dtype {ids.dtype}")
    return np.repeat(keys.astype(np.int64), lengths), dst.astype(np.int64)


def _raw_arrays(data_dir: Path, name: str) -> dict:
    """Read the raw files into plain, checked arrays: features (as CSR), labels, edges, split."""
    paths = {s: data_dir / f"ind.{name}.{s}" for s in _SUFFIXES}
    for p in paths.values():
        if not p.is_file():
            found = sorted(f.name[4:-2] for f in data_dir.glob("ind.*.x")) if data_dir.is_dir() else []
            raise FileNotFoundError(
                f"Planetoid file missing: {p} (a dataset needs ind.{name}.{{{','.join(_SUFFIXES)}}}; "
                f"datasets with an ind.<name>.x file in {data_dir}: {found})"
            )
    x, tx, allx = (_features(unpickle(paths[s]), paths[s]) for s in ("x", "tx", "allx"))
    y, ty, ally = (_labels(unpickle(paths[s]), paths[s]) for s in ("y", "ty", "ally"))
    src, dst = _adjacency(unpickle(paths["graph"]), paths["graph"])
    try:
        test_index = np.loadtxt(paths["test.index"], dtype=np.int64, ndmin=1).reshape(-1)
    except ValueError as exc:
        raise ValueError(f"{paths['test.index']} must hold one integer vertex id per line: {exc}") from exc
    _check_sizes(paths, x, y, tx, ty, allx, ally, test_index, name)
    test_sorted = np.sort(test_index)
    if test_sorted.size and name.lower() == "citeseer":
        # CiteSeer has isolated test vertices missing from tx/ty: pad them with zero rows
        full = np.arange(test_sorted.min(), test_sorted.max() + 1)
        tx_ext = sp.lil_matrix((len(full), tx.shape[1]), dtype=tx.dtype)
        tx_ext[test_sorted - test_sorted.min(), :] = tx
        ty_ext = np.zeros((len(full), ty.shape[1]))
        ty_ext[test_sorted - test_sorted.min(), :] = ty
        tx, ty = tx_ext.tocsr(), ty_ext
    features = sp.vstack([allx, tx]).tolil()
    labels = np.vstack([ally, ty])
    if test_index.size:
        # row j of tx belongs to vertex test_index[j] (test.index is unsorted) but now sits at test_sorted[j]
        features[test_index, :] = features[test_sorted, :]
        labels[test_index, :] = labels[test_sorted, :]
    n = features.shape[0]
    keep = (src >= 0) & (dst >= 0) & (src < n) & (dst < n)  # a few lists name vertices beyond the feature rows
    return {
        "features": features.tocsr().astype(np.float32),
        "y": labels.argmax(1).astype(np.int64),
        "src": src[keep],
        "dst": dst[keep],
        "train": np.arange(y.shape[0]),
        "val": np.arange(y.shape[0], min(y.shape[0] + 500, n)),
        "test": test_index,
        "num_classes": labels.shape[1],
    }


def _check_sizes(paths: dict, x: sp.csr_matrix, y: np.ndarray, tx: sp.csr_matrix, ty: np.ndarray, allx: sp.csr_matrix,
                 ally: np.ndarray, test_index: np.ndarray, name: str) -> None:
    """The eight files must agree on rows and columns before they are stacked and indexed."""
    cols = {s: m.shape[1] for s, m in (("x", x), ("tx", tx), ("allx", allx))}
    if len(set(cols.values())) != 1:
        raise ValueError(f"{paths['x']}, {paths['tx']}, {paths['allx']}: feature columns differ: {cols}")
    classes = {s: m.shape[1] for s, m in (("y", y), ("ty", ty), ("ally", ally))}
    if len(set(classes.values())) != 1 or y.shape[1] == 0:
        raise ValueError(f"{paths['y']}, {paths['ty']}, {paths['ally']}: label columns differ or are 0: {classes}")
    for feats, labels, fs, ls in ((x, y, "x", "y"), (tx, ty, "tx", "ty"), (allx, ally, "allx", "ally")):
        if feats.shape[0] != labels.shape[0]:
            raise ValueError(f"{paths[fs]} has {feats.shape[0]} rows but {paths[ls]} has {labels.shape[0]}")
    if x.shape[0] > allx.shape[0]:
        raise ValueError(f"{paths['x']} has {x.shape[0]} rows, more than {paths['allx']} ({allx.shape[0]})")
    lo, hi = allx.shape[0], allx.shape[0] + tx.shape[0]
    if name.lower() == "citeseer":  # isolated test vertices leave gaps: ids may run past allx + tx
        hi = lo + _MAX_DENSE // max(tx.shape[1], 1)
    ok = test_index.size == tx.shape[0] and (not test_index.size or (test_index.min() >= lo and test_index.max() < hi))
    if not ok or np.unique(test_index).size != test_index.size:
        got = f" in [{test_index.min()}, {test_index.max()}]" if test_index.size else ""
        raise ValueError(f"{paths['test.index']} must hold {tx.shape[0]} distinct ids (one per row of tx) in "
                         f"[{lo}, {hi}), after the rows of allx; got {test_index.size} ids{got}")


def _assemble(name: str, arrays: dict, normalize_features: bool) -> Dataset:
    feats = arrays["features"]
    n = feats.shape[0]
    x = torch.from_numpy(np.asarray(feats.todense(), dtype=np.float32))
    if normalize_features:  # row-normalise as Kipf & Welling's preprocess_features: rows summing to 0 stay 0
        rowsum = x.sum(1, keepdim=True)  # [N, 1]
        x = x / rowsum.masked_fill(rowsum == 0, 1)
    g = Graph(arrays["src"], arrays["dst"], n).to_undirected().remove_self_loops()
    split = {part: torch.from_numpy(np.asarray(arrays[key], dtype=np.int64))
             for part, key in (("train", "train"), ("valid", "val"), ("test", "test"))}
    ndata = {"x": x, "y": torch.from_numpy(arrays["y"])}
    for part, mask_name in (("train", "train_mask"), ("valid", "val_mask"), ("test", "test_mask")):
        ndata[mask_name] = index_to_mask(split[part], n)
    g = Graph(g.src, g.dst, n, ndata=ndata)
    return Dataset(name, "node", [g], int(arrays["num_classes"]), split_idx=split)


def read_planetoid(data_dir: str | Path, name: str, normalize_features: bool = True) -> Dataset:
    """Load ``ind.<name>.*`` from ``data_dir``; never touches the network.

    Args:
        data_dir: directory holding the eight raw files of ``name``.
        name: the file prefix, e.g. ``"cora"``, ``"citeseer"``, ``"pubmed"``. For
            ``"citeseer"`` the test vertices missing from ``tx``/``ty`` get zero features
            and label 0 (Kipf & Welling's and PyG's fix); they are in no mask.
        normalize_features: divide each feature row by its sum (rows summing to 0 stay 0).

    Returns:
        A node :class:`~gnnkit.data.Dataset`: ``ndata`` ``"x"``, ``"y"`` and the three masks,
        ``split_idx`` ``"train"/"valid"/"test"``.

    Raises:
        FileNotFoundError: a raw file is missing (the message names it).
        pickle.UnpicklingError: a file asks for a class outside the allowlist.
        ValueError: a truncated or garbled pickle, or arrays that fail their checks (a
            feature matrix whose indices or row pointer are out of range, files that
            disagree on sizes, test ids outside the test rows); the message names the file.
    """
    return _assemble(name, _raw_arrays(Path(data_dir), name), normalize_features)


def save_npz(data_dir: str | Path, name: str, out: str | Path) -> None:
    """Convert raw Planetoid files into the compact array file gnnkit ships (no pickles inside).

    The arrays are the raw ones (features as CSR, the graph's lists as ``src``/``dst``, the
    split as id lists) in the smallest dtype that holds them; :func:`load_npz` assembles
    them exactly as :func:`read_planetoid` does. ``python -m gnnkit.data --convert DIR
    NAME OUT.npz`` runs this.
    """
    a = _raw_arrays(Path(data_dir), name)
    f = a["features"].tocsr()
    extra = {} if bool(np.all(f.data == 1)) else {"data": f.data.astype(np.float32)}  # binary bags of words need no values
    np.savez_compressed(
        out,
        **extra,
        name=np.array(name),
        indptr=f.indptr.astype(np.int32),
        indices=f.indices.astype(np.int16 if f.shape[1] <= np.iinfo(np.int16).max else np.int32),
        shape=np.array(f.shape, dtype=np.int64),
        y=a["y"].astype(np.int8 if a["num_classes"] <= np.iinfo(np.int8).max else np.int32),
        src=a["src"].astype(np.int32),
        dst=a["dst"].astype(np.int32),
        train=a["train"].astype(np.int32),
        val=a["val"].astype(np.int32),
        test=a["test"].astype(np.int32),
        num_classes=np.array(a["num_classes"]),
    )


def load_npz(path: str | Path, normalize_features: bool = True) -> Dataset:
    """Load a file written by :func:`save_npz` (``allow_pickle=False``), checking every array first.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        ValueError: a field is missing, has the wrong dtype or shape, or holds ids out of range
            (the message names the file and the field); a truncated or corrupt file.
    """
    z = read_npz(path, ("indices", "indptr", "shape", "y", "src", "dst", "train", "val", "test", "num_classes", "name"))
    where = f"{path}"
    num_classes = z["num_classes"]
    if num_classes.shape != () or num_classes.dtype.kind not in "iu" or int(num_classes) < 1:
        raise ValueError(f"{where} field 'num_classes' must be a positive integer scalar, got {num_classes!r}")
    if z["name"].shape != () or z["name"].dtype.kind != "U":
        raise ValueError(f"{where} field 'name' must be a string scalar, got dtype {z['name'].dtype}")
    indices = z["indices"]
    data = z["data"] if "data" in z else np.ones(indices.size, dtype=np.float32)
    feats = checked_csr(data, indices, z["indptr"], z["shape"], f"{where} features", _MAX_DENSE)
    n = feats.shape[0]
    y = check_ids(z["y"], int(num_classes), f"{where} field 'y'")
    if y.size != n:
        raise ValueError(f"{where} field 'y' must have one label per feature row ({n}), got {y.size}")
    arrays = {"features": feats, "y": y.astype(np.int64), "num_classes": int(num_classes)}
    for key in ("src", "dst", "train", "val", "test"):
        arrays[key] = check_ids(z[key], n, f"{where} field {key!r}").astype(np.int64)
    if arrays["src"].size != arrays["dst"].size:
        raise ValueError(f"{where} fields 'src' and 'dst' must have the same length, got "
                         f"{arrays['src'].size} and {arrays['dst'].size}")
    return _assemble(str(z["name"]), arrays, normalize_features)
