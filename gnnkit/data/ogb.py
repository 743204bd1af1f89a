r"""OGB node-property datasets read from a local directory in OGB's on-disk layout.

The layout is the one ``ogb.nodeproppred.NodePropPredDataset`` unpacks (``ogb`` 1.3.6,
``nodeproppred/dataset.py`` and ``io/read_graph_raw.py``)::

    <root>/<name with "-" replaced by "_">/          e.g. <root>/ogbn_arxiv/
        RELEASE_v1.txt                              (OGB's own reader prompts without it; not needed here)
        raw/edge.csv.gz                             E rows "src,dst"
        raw/num-node-list.csv.gz                    one row: N
        raw/num-edge-list.csv.gz                    one row: E
        raw/node-feat.csv.gz                        N rows of F floats (datasets with node features)
        raw/node-label.csv.gz                       N rows of T labels
        raw/node_year.csv.gz, raw/edge-feat.csv.gz  optional extras (arxiv, proteins)
        split/<split name>/{train,valid,test}.csv.gz  one vertex id per row

``ogbn-papers100M`` ships ``raw/data.npz`` and ``raw/node-label.npz`` instead of the CSVs;
both forms are read. Datasets whose ``add_inverse_edge`` is set (products, proteins) get
every edge in both directions, interleaved as OGB does.

Unlike ``NodePropPredDataset`` this never downloads, never asks a question on stdin and
never writes a ``processed/`` cache: a missing file raises ``FileNotFoundError`` naming it.
Metrics come from ``ogb.nodeproppred.Evaluator`` (:meth:`OGBNodeDataset.evaluate`).

``python -m gnnkit.data.ogb make-synthetic DIR`` writes a small random dataset in this
layout (see :func:`write_synthetic`), for tests and examples.
"""
from __future__ import annotations

import argparse
import gzip
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..graph import Graph

__all__ = ["OGBNodeDataset", "OGBMeta", "OGB_NODE_DATASETS", "load_ogb_node", "write_synthetic", "ogb_evaluator", "main"]


@dataclass(frozen=True)
class OGBMeta:
    """The facts of one dataset that OGB keeps in ``nodeproppred/master.csv``."""

    num_tasks: int
    num_classes: int
    eval_metric: str  # "acc" | "rocauc"
    add_inverse_edge: bool
    split: str
    has_node_attr: bool
    binary: bool = False
    node_files: tuple[str, ...] = ()


# From ogb 1.3.6 nodeproppred/master.csv (ogbn-mag is heterogeneous and not supported).
OGB_NODE_DATASETS: dict[str, OGBMeta] = {
    "ogbn-arxiv": OGBMeta(1, 40, "acc", False, "time", True, node_files=("node_year",)),
    "ogbn-products": OGBMeta(1, 47, "acc", True, "sales_ranking", True),
    "ogbn-proteins": OGBMeta(112, 2, "rocauc", True, "species", False, node_files=("node_species",)),
    "ogbn-papers100M": OGBMeta(1, 172, "acc", False, "time", True, binary=True, node_files=("node_year",)),
}
SYNTHETIC_LAYOUTS = ("ogbn-arxiv", "ogbn-products")  # single-task accuracy datasets write_synthetic can imitate


@dataclass
class OGBNodeDataset:
    """One OGB node-property dataset.

    Attributes:
        name: e.g. ``"ogbn-arxiv"``.
        graph: the graph (with inverse edges for products/proteins).
        x: ``[N, F]`` float32 node features, or ``None`` (proteins has none).
        y: ``[N]`` int64 labels for single-task datasets (``-1`` where missing, as
            papers100M's NaNs), ``[N, T]`` int64 for multi-task ones (proteins).
        split_idx: ``{"train", "valid", "test"}`` → vertex ids (int64).
        num_classes: classes per task.
        edge_attr: ``[E, D]`` edge features or ``None``.
        node_data: extra per-vertex arrays (``node_year``, ``node_species``).

    ``train_mask``/``val_mask``/``test_mask`` and ``num_features`` match
    :class:`~gnnkit.data.PlanetoidDataset`, so the full-batch trainer runs on it.
    """

    name: str
    graph: Graph
    x: Tensor | None
    y: Tensor
    split_idx: dict[str, Tensor]
    num_classes: int
    meta: OGBMeta
    edge_attr: Tensor | None = None
    node_data: dict[str, Tensor] = field(default_factory=dict)

    @property
    def num_features(self) -> int:
        return 0 if self.x is None else self.x.shape[1]

    def _mask(self, split: str) -> Tensor:
        m = torch.zeros(self.graph.num_nodes, dtype=torch.bool)
        m[self.split_idx[split]] = True
        return m

    @property
    def train_mask(self) -> Tensor:
        return self._mask("train")

    @property
    def val_mask(self) -> Tensor:
        return self._mask("valid")

    @property
    def test_mask(self) -> Tensor:
        return self._mask("test")

    def evaluate(self, y_pred: Tensor, split: str = "test") -> float:
        """The dataset's metric with ``ogb.nodeproppred.Evaluator`` on one split.

        Args:
            y_pred: ``[N]`` or ``[N, 1]`` predicted classes (accuracy datasets), or ``[N, T]``
                scores (ROC-AUC datasets), for *all* vertices; only ``split``'s rows are scored.
            split: ``"train" | "valid" | "test"``.

        Raises:
            ValueError: an unknown split or a wrong shape. ImportError: ogb is not installed.
        """
        if split not in self.split_idx:
            raise ValueError(f"split must be one of {sorted(self.split_idx)}, got {split!r}")
        n = self.graph.num_nodes
        if y_pred.shape[0] != n:
            raise ValueError(f"y_pred must have one row per vertex ({n}), got shape {tuple(y_pred.shape)}")
        idx = self.split_idx[split]
        y_true = self.y[idx].view(idx.numel(), -1)
        pred = y_pred[idx].reshape(idx.numel(), -1)
        key = self.meta.eval_metric
        return float(ogb_evaluator(self.name).eval({"y_true": y_true, "y_pred": pred})[key])


# -------------------------------------------------------------------- Evaluator
_EVALUATOR: dict[str, Any] = {}


def ogb_evaluator(name: str) -> Any:
    """``ogb.nodeproppred.Evaluator(name)``, importing it without side effects.

    ``import ogb.nodeproppred`` runs the package ``__init__``, which imports OGB's PyG and
    DGL dataset classes (torch_geometric and dgl: about 10 s here) and, through
    ``ogb/version.py``, starts a thread that asks PyPI whether ogb is outdated. The
    Evaluator needs neither, so unless ``ogb.nodeproppred`` is already imported its module
    file (``ogb/nodeproppred/evaluate.py``) is loaded on its own: the same class, no network.

    Raises:
        ImportError: ogb is not installed (``pip install 'gnnkit[ogb]'``).
        ValueError: a name OGB does not know.
    """
    if "ogb.nodeproppred" in sys.modules:
        cls = sys.modules["ogb.nodeproppred"].Evaluator
    else:
        if "evaluate" not in _EVALUATOR:
            spec = importlib.util.find_spec("ogb")  # locates the package without importing it
            if spec is None or spec.origin is None:
                raise ImportError("ogb.nodeproppred.Evaluator needs the ogb package: pip install 'gnnkit[ogb]' (ogb>=1.3.6)")
            path = Path(spec.origin).parent / "nodeproppred" / "evaluate.py"
            mod_spec = importlib.util.spec_from_file_location("_gnnkit_ogb_nodeproppred_evaluate", path)
            module = importlib.util.module_from_spec(mod_spec)
            mod_spec.loader.exec_module(module)
            _EVALUATOR["evaluate"] = module
        cls = _EVALUATOR["evaluate"].Evaluator
    try:
        return cls(name)
    except ValueError as exc:
        raise ValueError(f"ogb.nodeproppred.Evaluator does not know dataset {name!r}: {str(exc).splitlines()[0]}") from exc


# ---------------------------------------------------------------------- reading
def _dataset_dir(root: Path, name: str) -> Path:
    sub = root / name.replace("-", "_")
    if sub.is_dir():
        return sub
    if (root / "raw").is_dir() and root.name == name.replace("-", "_"):
        return root  # root is the dataset folder itself
    raise FileNotFoundError(
        f"OGB dataset folder missing: {sub} (expected <root>/{name.replace('-', '_')}/raw/... as OGB unpacks it; "
        f"write a synthetic one with `python -m gnnkit.data.ogb make-synthetic {root} --name {name}`)"
    )


def _require(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"OGB file missing: {path}")
    return path


def _read_csv(path: Path, dtype: Any) -> np.ndarray:
    """A headerless gzip CSV as a 2-D array (pandas' C parser when present, numpy otherwise)."""
    _require(path)
    try:
        import pandas as pd
    except ImportError:
        with gzip.open(path, "rt") as fh:
            return np.loadtxt(fh, delimiter=",", dtype=dtype, ndmin=2)
    try:
        return pd.read_csv(path, compression="gzip", header=None).to_numpy(dtype=dtype, copy=True)  # writable
    except pd.errors.EmptyDataError:  # an empty split file
        return np.zeros((0, 1), dtype=dtype)


def _read_split(folder: Path, n: int) -> dict[str, Tensor]:
    out = {}
    for part in ("train", "valid", "test"):
        path = folder / f"{part}.csv.gz"
        ids = _read_csv(path, np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= n):
            raise ValueError(f"{path} holds vertex ids in [{ids.min()}, {ids.max()}] but the graph has {n} vertices")
        out[part] = torch.from_numpy(ids)
    return out


def _interleave_inverse(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each edge followed by its reverse, OGB's ``add_inverse_edge`` order."""
    s = np.empty(2 * src.size, dtype=np.int64)
    d = np.empty(2 * src.size, dtype=np.int64)
    s[0::2], s[1::2] = src, dst
    d[0::2], d[1::2] = dst, src
    return s, d


def load_ogb_node(name: str, root: str | Path) -> OGBNodeDataset:
    """Read an OGB node-property dataset from ``root`` (never downloads, never prompts).

    Args:
        name: one of :data:`OGB_NODE_DATASETS` (``ogbn-arxiv``, ``ogbn-products``,
            ``ogbn-proteins``, ``ogbn-papers100M``).
        root: the folder holding ``<name with _>/`` (OGB's ``root`` argument), or that
            dataset folder itself.

    Raises:
        ValueError: an unknown or heterogeneous dataset; files that disagree on sizes.
        FileNotFoundError: a missing folder or file (named in the message).
    """
    if name not in OGB_NODE_DATASETS:
        hint = " (heterogeneous graphs are not supported)" if name == "ogbn-mag" else ""
        raise ValueError(f"name must be one of {sorted(OGB_NODE_DATASETS)}{hint}, got {name!r}")
    meta = OGB_NODE_DATASETS[name]
    folder = _dataset_dir(Path(root), name)
    raw = folder / "raw"
    node_data: dict[str, Tensor] = {}
    edge_attr = None
    if meta.binary:
        with np.load(_require(raw / "data.npz")) as z:
            edge_index, n = z["edge_index"].astype(np.int64), int(z["num_nodes_list"][0])
            x = z["node_feat"].astype(np.float32) if meta.has_node_attr else None
            for f in meta.node_files:
                if f in z:
                    node_data[f] = torch.from_numpy(np.asarray(z[f]))
        with np.load(_require(raw / "node-label.npz")) as z:
            labels = z["node_label"].astype(np.float64).reshape(n, -1)
        src, dst = edge_index[0], edge_index[1]
    else:
        n = int(_read_csv(raw / "num-node-list.csv.gz", np.int64).reshape(-1)[0])
        e = int(_read_csv(raw / "num-edge-list.csv.gz", np.int64).reshape(-1)[0])
        edges = _read_csv(raw / "edge.csv.gz", np.int64)
        if edges.shape != (e, 2):
            raise ValueError(f"{raw / 'edge.csv.gz'} must hold {e} rows 'src,dst' (num-edge-list.csv.gz), "
                             f"got shape {edges.shape}")
        src, dst = np.ascontiguousarray(edges[:, 0]), np.ascontiguousarray(edges[:, 1])
        del edges
        x = _read_csv(raw / "node-feat.csv.gz", np.float32) if meta.has_node_attr else None
        labels = _read_csv(raw / "node-label.csv.gz", np.float64)
        if (raw / "edge-feat.csv.gz").is_file():
            edge_attr = torch.from_numpy(_read_csv(raw / "edge-feat.csv.gz", np.float32))
        for f in meta.node_files:
            if (raw / f"{f}.csv.gz").is_file():
                node_data[f] = torch.from_numpy(_read_csv(raw / f"{f}.csv.gz", np.int64).reshape(-1))
    for what, arr in (("node-feat", x), ("node-label", labels)):
        if arr is not None and arr.shape[0] != n:
            raise ValueError(f"{raw} {what} has {arr.shape[0]} rows but num-node-list says {n} vertices")
    if meta.add_inverse_edge:
        src, dst = _interleave_inverse(src, dst)
        if edge_attr is not None:
            edge_attr = edge_attr.repeat_interleave(2, dim=0)
    try:
        graph = Graph(torch.from_numpy(src), torch.from_numpy(dst), n)
    except ValueError as exc:
        raise ValueError(f"{raw}: edges do not fit the {n} vertices of num-node-list: {exc}") from exc
    missing = np.isnan(labels)
    if (labels[~missing] >= meta.num_classes).any() or (labels[~missing] < 0).any():
        raise ValueError(f"{raw} node-label holds labels outside [0, {meta.num_classes}) "
                         f"({name} has {meta.num_classes} classes)")
    y_np = np.where(missing, -1, labels).astype(np.int64)
    y = torch.from_numpy(y_np[:, 0].copy() if meta.num_tasks == 1 else y_np)
    split = _read_split(folder / "split" / meta.split, n)
    return OGBNodeDataset(name=name, graph=graph, x=None if x is None else torch.from_numpy(x), y=y, split_idx=split,
                          num_classes=meta.num_classes, meta=meta, edge_attr=edge_attr, node_data=node_data)


# ---------------------------------------------------------------------- writing
def _write_csv(path: Path, arr: np.ndarray, fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as fh:
        np.savetxt(fh, arr.reshape(arr.shape[0], -1), fmt=fmt, delimiter=",")


def write_synthetic(root: str | Path, name: str = "ogbn-arxiv", num_nodes: int = 1000, num_edges: int = 5000,
                    num_features: int = 16, num_classes: int | None = None, homophily: float = 0.8, seed: int = 0,
                    split: tuple[float, float] = (0.6, 0.2)) -> Path:
    """Write a small random dataset in OGB's layout under ``root/<name with _>``.

    It takes the *layout* of a real single-task dataset (``ogbn-arxiv`` or
    ``ogbn-products``) so OGB's own reader and ``Evaluator`` accept it; the contents are
    random (do not put it next to the real one). Labels are uniform over ``num_classes``
    (default: the real dataset's, which the loader reports whatever labels occur);
    features are a class centroid plus unit noise; each edge joins two vertices of the same
    class with probability ``homophily``, else two uniform vertices, so a GNN can learn it.
    The split is a random ``split[0] : split[1] : rest`` of the vertices.

    Returns:
        The dataset folder.

    Raises:
        ValueError: an unsupported layout name, sizes < 1, ``homophily`` outside ``[0, 1]``.
    """
    if name not in SYNTHETIC_LAYOUTS:
        raise ValueError(f"name must be one of {SYNTHETIC_LAYOUTS} (single-task accuracy layouts), got {name!r}")
    for arg, v in (("num_nodes", num_nodes), ("num_features", num_features), ("num_classes", num_classes or 1)):
        if v < 1:
            raise ValueError(f"{arg} must be >= 1, got {v}")
    if num_edges < 0:
        raise ValueError(f"num_edges must be >= 0, got {num_edges}")
    if not 0 <= homophily <= 1:
        raise ValueError(f"homophily must lie in [0, 1], got {homophily}")
    if not (0 < split[0] and 0 <= split[1] and split[0] + split[1] < 1):
        raise ValueError(f"split must be (train, valid) fractions with train > 0 and train + valid < 1, got {split}")
    meta = OGB_NODE_DATASETS[name]
    num_classes = meta.num_classes if num_classes is None else num_classes
    if num_classes > meta.num_classes:
        raise ValueError(f"num_classes must be <= {meta.num_classes} for the {name} layout, got {num_classes}")
    rng = np.random.default_rng(seed)
    y = rng.integers(0, num_classes, num_nodes)
    centroids = rng.standard_normal((num_classes, num_features)).astype(np.float32)
    x = centroids[y] + rng.standard_normal((num_nodes, num_features)).astype(np.float32)
    # homophilous edges: the source is a random vertex of the destination's class
    by_class = np.argsort(y, kind="stable")
    class_ptr = np.r_[0, np.cumsum(np.bincount(y, minlength=num_classes))]
    dst = rng.integers(0, num_nodes, num_edges)
    same = rng.random(num_edges) < homophily
    c = y[dst]
    pick = class_ptr[c] + (rng.random(num_edges) * (class_ptr[c + 1] - class_ptr[c])).astype(np.int64)
    src = np.where(same, by_class[np.minimum(pick, num_nodes - 1)], rng.integers(0, num_nodes, num_edges))
    folder = Path(root) / name.replace("-", "_")
    raw = folder / "raw"
    _write_csv(raw / "edge.csv.gz", np.stack([src, dst], 1), "%d")
    _write_csv(raw / "num-node-list.csv.gz", np.array([num_nodes]), "%d")
    _write_csv(raw / "num-edge-list.csv.gz", np.array([num_edges]), "%d")
    _write_csv(raw / "node-feat.csv.gz", x, "%.6f")
    _write_csv(raw / "node-label.csv.gz", y, "%d")
    if "node_year" in meta.node_files:
        _write_csv(raw / "node_year.csv.gz", rng.integers(1990, 2021, num_nodes), "%d")
    perm = rng.permutation(num_nodes)
    n_train, n_valid = int(split[0] * num_nodes), int(split[1] * num_nodes)
    parts = {"train": perm[:n_train], "valid": perm[n_train : n_train + n_valid], "test": perm[n_train + n_valid :]}
    for part, ids in parts.items():
        _write_csv(folder / "split" / meta.split / f"{part}.csv.gz", np.sort(ids), "%d")
    (folder / "processed").mkdir(exist_ok=True)  # OGB's zips ship it empty; its reader saves into it
    (folder / "RELEASE_v1.txt").write_text("synthetic data written by gnnkit.data.ogb.write_synthetic\n")
    return folder


# -------------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    """``python -m gnnkit.data.ogb {make-synthetic,info} DIR [...]``."""
    parser = argparse.ArgumentParser(prog="python -m gnnkit.data.ogb", description="OGB node-property datasets on disk.")
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("make-synthetic", help="write a small random dataset in OGB's layout")
    make.add_argument("root", type=Path, help="folder to write <name with _>/ into")
    make.add_argument("--name", default="ogbn-arxiv", choices=SYNTHETIC_LAYOUTS, help="layout to imitate")
    make.add_argument("--nodes", type=int, default=1000)
    make.add_argument("--edges", type=int, default=5000)
    make.add_argument("--features", type=int, default=16)
    make.add_argument("--classes", type=int, help="label classes (default: the imitated dataset's)")
    make.add_argument("--homophily", type=float, default=0.8)
    make.add_argument("--seed", type=int, default=0)
    info = sub.add_parser("info", help="load a dataset and print its sizes")
    info.add_argument("root", type=Path)
    info.add_argument("--name", default="ogbn-arxiv")
    args = parser.parse_args(argv)
    try:
        if args.command == "make-synthetic":
            folder = write_synthetic(args.root, args.name, args.nodes, args.edges, args.features, args.classes,
                                     args.homophily, args.seed)
            print(f"wrote {folder}")
        else:
            ds = load_ogb_node(args.name, args.root)
            sizes = {k: v.numel() for k, v in ds.split_idx.items()}
            print(f"{ds.name}: {ds.graph.num_nodes} vertices, {ds.graph.num_edges} edges, {ds.num_features} features, "
                  f"{ds.num_classes} classes, split {sizes}")
    except (ValueError, FileNotFoundError) as exc:
        parser.error(str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
