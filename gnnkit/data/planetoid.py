"""Planetoid citation datasets (Cora, CiteSeer, PubMed) from their raw files, read safely.

The raw files (``ind.<name>.{x,y,tx,ty,allx,ally,graph,test.index}``) are Python 2
pickles. They are read with :class:`RestrictedUnpickler`, which admits only the numpy,
scipy.sparse and builtin classes these files contain, so a tampered file cannot run code.
Nothing here touches the network.

The split is the standard one of Kipf & Welling / Yang et al.: the first
``num_classes * 20`` vertices train, the next 500 validate, the 1000 listed in
``test.index`` test. The graph is made undirected, deduplicated and loop-free (as
PyG's ``Planetoid``: Cora has 2,708 vertices and 10,556 directed edges).
"""
from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from ..graph import Graph

__all__ = ["PlanetoidDataset", "RestrictedUnpickler", "read_planetoid", "save_npz", "load_npz"]

_ALLOWED = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("scipy.sparse.csr", "csr_matrix"),
    ("scipy.sparse._csr", "csr_matrix"),
    ("scipy.sparse", "csr_matrix"),
    ("collections", "defaultdict"),
    ("__builtin__", "list"),
    ("builtins", "list"),
    ("__builtin__", "set"),
    ("builtins", "set"),
    # files re-pickled by Python 3 in protocol 2 write bytes as _codecs.encode(str, "latin1")
    # (or __builtin__.bytes() when empty); both only build bytes
    ("_codecs", "encode"),
    ("__builtin__", "bytes"),
    ("builtins", "bytes"),
}
_RENAMED = {"numpy.core.multiarray": "numpy._core.multiarray", "scipy.sparse.csr": "scipy.sparse", "__builtin__": "builtins"}
_SUFFIXES = ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index")


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the classes Planetoid files need; anything else raises."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(
                f"refusing to unpickle {module}.{name}: Planetoid files only hold numpy arrays, "
                f"scipy.sparse CSR matrices and builtin containers"
            )
        if module in _RENAMED:
            try:
                return super().find_class(_RENAMED[module], name)
            except (ImportError, AttributeError):
                pass
        return super().find_class(module, name)


def _unpickle(path: Path) -> Any:
    with open(path, "rb") as fh:
        return RestrictedUnpickler(io.BytesIO(fh.read()), encoding="latin1").load()


@dataclass
class PlanetoidDataset:
    """One citation graph with features, labels and the standard split.

    Shape:
        x ``[N, F]`` float32, y ``[N]`` int64, masks ``[N]`` bool.
    """

    name: str
    graph: Graph
    x: Tensor
    y: Tensor
    train_mask: Tensor
    val_mask: Tensor
    test_mask: Tensor
    num_classes: int

    @property
    def num_features(self) -> int:
        return self.x.shape[1]


def _raw_arrays(data_dir: Path, name: str) -> dict:
    """Read the raw files into plain arrays: features (as CSR), labels, edges, split."""
    paths = {s: data_dir / f"ind.{name}.{s}" for s in _SUFFIXES}
    for p in paths.values():
        if not p.is_file():
            found = sorted(f.name[4:-2] for f in data_dir.glob("ind.*.x")) if data_dir.is_dir() else []
            raise FileNotFoundError(
                f"Planetoid file missing: {p} (a dataset needs ind.{name}.{{{','.join(_SUFFIXES)}}}; "
                f"datasets with an ind.<name>.x file in {data_dir}: {found})"
            )
    x, y, tx, ty, allx, ally, graph = (_unpickle(paths[s]) for s in _SUFFIXES[:7])
    test_index = np.loadtxt(paths["test.index"], dtype=np.int64).reshape(-1)
    test_sorted = np.sort(test_index)
    if name.lower() == "citeseer":
        # CiteSeer has isolated test vertices missing from tx/ty: pad them with zero rows
        full = np.arange(test_sorted.min(), test_sorted.max() + 1)
        tx_ext = sp.lil_matrix((len(full), tx.shape[1]))
        tx_ext[test_sorted - test_sorted.min(), :] = tx
        ty_ext = np.zeros((len(full), ty.shape[1]))
        ty_ext[test_sorted - test_sorted.min(), :] = ty
        tx, ty = tx_ext.tocsr(), ty_ext
    features = sp.vstack([allx, tx]).tolil()
    labels = np.vstack([ally, ty])
    # row j of tx belongs to vertex test_index[j] (test.index is unsorted) but now sits at test_sorted[j]
    features[test_index, :] = features[test_sorted, :]
    labels[test_index, :] = labels[test_sorted, :]
    n = features.shape[0]
    src = np.fromiter((s for s, nbrs in graph.items() for _ in nbrs), dtype=np.int64)
    dst = np.fromiter((d for nbrs in graph.values() for d in nbrs), dtype=np.int64)
    keep = (src < n) & (dst < n)  # a few lists name vertices beyond the feature rows
    num_classes = labels.shape[1]
    return {
        "features": features.tocsr().astype(np.float32),
        "y": labels.argmax(1).astype(np.int64),
        "src": src[keep],
        "dst": dst[keep],
        "train": np.arange(y.shape[0]),
        "val": np.arange(y.shape[0], y.shape[0] + 500),
        "test": test_index,
        "num_classes": num_classes,
    }


def _assemble(name: str, arrays: dict, normalize_features: bool) -> PlanetoidDataset:
    feats = arrays["features"]
    n = feats.shape[0]
    x = torch.from_numpy(np.asarray(feats.todense(), dtype=np.float32))
    if normalize_features:  # row-normalise as Kipf & Welling's preprocess_features: rows summing to 0 stay 0
        rowsum = x.sum(1, keepdim=True)  # [N, 1]
        x = x / rowsum.masked_fill(rowsum == 0, 1)
    g = Graph(arrays["src"], arrays["dst"], n).to_undirected().remove_self_loops()
    masks = []
    for key in ("train", "val", "test"):
        m = torch.zeros(n, dtype=torch.bool)
        m[torch.from_numpy(np.asarray(arrays[key], dtype=np.int64))] = True
        masks.append(m)
    return PlanetoidDataset(name, g, x, torch.from_numpy(arrays["y"]), *masks, int(arrays["num_classes"]))


def read_planetoid(data_dir: str | Path, name: str, normalize_features: bool = True) -> PlanetoidDataset:
    """Load ``ind.<name>.*`` from ``data_dir``; never touches the network.

    Args:
        data_dir: directory holding the eight raw files of ``name``.
        name: the file prefix, e.g. ``"cora"``, ``"citeseer"``, ``"pubmed"``. For
            ``"citeseer"`` the test vertices missing from ``tx``/``ty`` get zero features
            and label 0 (Kipf & Welling's and PyG's fix); they are in no mask.
        normalize_features: divide each feature row by its sum (rows summing to 0 stay 0).

    Returns:
        The dataset with the standard split.

    Raises:
        FileNotFoundError: a raw file is missing (the message names it).
        pickle.UnpicklingError: a file asks for a class outside the allowlist.
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


def load_npz(path: str | Path, normalize_features: bool = True) -> PlanetoidDataset:
    """Load a file written by :func:`save_npz` (``allow_pickle=False``)."""
    with np.load(path, allow_pickle=False) as z:
        indices = z["indices"].astype(np.int64)
        data = z["data"] if "data" in z.files else np.ones(indices.size, dtype=np.float32)
        feats = sp.csr_matrix((data, indices, z["indptr"].astype(np.int64)), shape=tuple(z["shape"]))
        arrays = {
            "features": feats, "y": z["y"].astype(np.int64), "src": z["src"].astype(np.int64), "dst": z["dst"].astype(np.int64),
            "train": z["train"], "val": z["val"], "test": z["test"], "num_classes": int(z["num_classes"]),
        }
        name = str(z["name"])
    return _assemble(name, arrays, normalize_features)
