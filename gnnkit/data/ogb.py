r"""OGB datasets (node, link and graph property) read from a local directory in OGB's on-disk layout.

The layouts are the ones ``ogb``'s dataset classes unpack (``ogb`` 1.3.6, ``*proppred/dataset.py``
and ``io/read_graph_raw.py``)::

    <root>/<name with "-" replaced by "_">/          e.g. <root>/ogbn_arxiv/, <root>/ogbl_collab/, <root>/ogbg_molhiv/
        RELEASE_v1.txt                              (OGB's own reader prompts without it; not needed here)
        raw/edge.csv.gz                             E rows "src,dst" (graph datasets: ids local to each graph)
        raw/num-node-list.csv.gz                    one row per graph: its vertices
        raw/num-edge-list.csv.gz                    one row per graph: its edges
        raw/node-feat.csv.gz                        N rows of F numbers (datasets with node features)
        raw/edge-feat.csv.gz                        E rows of D numbers (datasets with edge features)
        raw/node-label.csv.gz                       node datasets: N rows of T labels
        raw/graph-label.csv.gz                      graph datasets: B rows of T labels (empty where missing)
        raw/node_year.csv.gz, raw/edge_weight.csv.gz, ...   the extras OGB's master.csv lists
        split/<split>/{train,valid,test}.csv.gz     node/graph datasets: one vertex/graph id per row
        split/<split>/{train,valid,test}.pt         link datasets: {"edge": [K, 2], "edge_neg": ..., ...} tensors

``ogbn-papers100M`` ships ``raw/data.npz`` and ``raw/node-label.npz`` instead of the CSVs;
both forms are read. Datasets whose ``add_inverse_edge`` is set get every edge in both
directions, interleaved as OGB does (edge data repeated alongside).

Unlike OGB's classes this never downloads, never asks a question on stdin, never writes a
``processed/`` cache and never unpickles code: a link split is read with
``torch.load(weights_only=True)``; a missing file raises ``FileNotFoundError`` naming it.
Every loader returns a :class:`~gnnkit.data.Dataset`; features become ``ndata["x"]``, edge
features ``edata["edge_feat"]`` and the extras keep OGB's names (``ndata["node_year"]``,
``edata["edge_weight"]``). Metrics come from ``ogb``'s ``Evaluator`` (:func:`ogb_evaluator`).

``python -m gnnkit.data.ogb make-synthetic DIR [--name ogbl-collab | ogbg-molhiv | ...]`` writes a
small random dataset in one of these layouts (:func:`write_synthetic`, :func:`write_synthetic_link`,
:func:`write_synthetic_graph`), for tests and examples.
"""
from __future__ import annotations

import argparse
import gzip
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..graph import Graph
from ..graph.checks import check_array, check_ids, read_npz
from .evaluator import ogb_evaluator
from .dataset import SPLITS, Dataset, index_to_mask, split_graphs

__all__ = ["OGBMeta", "OGB_NODE_DATASETS", "OGB_LINK_DATASETS", "OGB_GRAPH_DATASETS", "load_ogb", "load_ogb_node",
           "load_ogb_link", "load_ogb_graph", "write_synthetic", "write_synthetic_link", "write_synthetic_graph",
           "ogb_evaluator", "main"]


@dataclass(frozen=True)
class OGBMeta:
    """The facts of one dataset that OGB keeps in ``*proppred/master.csv``."""

    num_tasks: int
    num_classes: int  # per task; 0 for regression and link prediction
    eval_metric: str  # "acc" | "rocauc" | "ap" | "rmse" | "hits@K" | "mrr"
    add_inverse_edge: bool
    split: str
    has_node_attr: bool
    binary: bool = False
    node_files: tuple[str, ...] = ()
    edge_files: tuple[str, ...] = ()
    has_edge_attr: bool = False


# From ogb 1.3.6 nodeproppred/master.csv (ogbn-mag is heterogeneous and not supported).
OGB_NODE_DATASETS: dict[str, OGBMeta] = {
    "ogbn-arxiv": OGBMeta(1, 40, "acc", False, "time", True, node_files=("node_year",)),
    "ogbn-products": OGBMeta(1, 47, "acc", True, "sales_ranking", True),
    "ogbn-proteins": OGBMeta(112, 2, "rocauc", True, "species", False, node_files=("node_species",)),
    "ogbn-papers100M": OGBMeta(1, 172, "acc", False, "time", True, binary=True, node_files=("node_year",)),
}
# From ogb 1.3.6 linkproppred/master.csv (wikikg2 and biokg are knowledge graphs, vessel is binary: not supported).
OGB_LINK_DATASETS: dict[str, OGBMeta] = {
    "ogbl-ppa": OGBMeta(1, 0, "hits@100", True, "throughput", True),
    "ogbl-collab": OGBMeta(1, 0, "hits@50", True, "time", True, edge_files=("edge_weight", "edge_year")),
    "ogbl-citation2": OGBMeta(1, 0, "mrr", False, "time", True, node_files=("node_year",)),
    "ogbl-ddi": OGBMeta(1, 0, "hits@20", True, "target", False),
}
_MOL = {"bace": (1, "rocauc"), "bbbp": (1, "rocauc"), "clintox": (2, "rocauc"), "muv": (17, "ap"), "pcba": (128, "ap"),
        "sider": (27, "rocauc"), "tox21": (12, "rocauc"), "toxcast": (617, "rocauc"), "hiv": (1, "rocauc"),
        "esol": (1, "rmse"), "freesolv": (1, "rmse"), "lipo": (1, "rmse"), "chembl": (1310, "rocauc")}
# From ogb 1.3.6 graphproppred/master.csv (code2's labels are token sequences: not supported).
OGB_GRAPH_DATASETS: dict[str, OGBMeta] = {
    **{f"ogbg-mol{k}": OGBMeta(t, 0 if m == "rmse" else 2, m, True, "scaffold", True, has_edge_attr=True)
       for k, (t, m) in _MOL.items()},
    "ogbg-ppa": OGBMeta(1, 37, "acc", True, "species", False, has_edge_attr=True),
}
SYNTHETIC_LAYOUTS = ("ogbn-arxiv", "ogbn-products")  # single-task accuracy datasets write_synthetic can imitate


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
        raise FileNotFoundError(f"OGB file missing: {path} (put the file of OGB's layout there; nothing is downloaded)")
    return path


def _read_csv(path: Path, dtype: Any = None) -> np.ndarray:
    """A headerless gzip CSV as a 2-D array (pandas' C parser when present, numpy otherwise).

    ``dtype=None`` keeps integers as int64 and makes anything else float32, as OGB's reader does.

    Raises:
        FileNotFoundError: no such file. ValueError: unparsable content (the message names the file).
    """
    _require(path)
    try:
        import pandas as pd
    except ImportError:
        pd = None
    try:
        if pd is None:
            with gzip.open(path, "rt") as fh:
                arr = np.loadtxt(fh, delimiter=",", dtype=np.float64 if dtype is None else dtype, ndmin=2)
        else:
            try:
                arr = pd.read_csv(path, compression="gzip", header=None).to_numpy(copy=True)  # writable
            except pd.errors.EmptyDataError:  # an empty split file
                arr = np.zeros((0, 1), dtype=np.int64)
            if dtype is not None:
                arr = arr.astype(dtype)
    except (ValueError, TypeError, OSError, EOFError) as exc:  # pandas' ParserError is a ValueError
        raise ValueError(f"{path}: not a CSV of numbers: {exc}") from exc
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{path}: not a CSV of numbers (parsed as {arr.dtype})")
    if dtype is None:
        arr = arr.astype(np.int64 if arr.dtype.kind in "biu" else np.float32)
    return arr


def _read_split(folder: Path, n: int, what: str = "vertex") -> dict[str, Tensor]:
    out = {}
    for part in SPLITS:
        path = folder / f"{part}.csv.gz"
        ids = _read_csv(path, np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= n):
            raise ValueError(f"{path} holds {what} ids in [{ids.min()}, {ids.max()}] but the dataset has {n} "
                             f"({what} ids lie in [0, {n}))")
        out[part] = torch.from_numpy(ids)
    return out


def _interleave_inverse(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each edge followed by its reverse, OGB's ``add_inverse_edge`` order."""
    s = np.empty(2 * src.size, dtype=np.int64)
    d = np.empty(2 * src.size, dtype=np.int64)
    s[0::2], s[1::2] = src, dst
    d[0::2], d[1::2] = dst, src
    return s, d


def _squeeze(arr: np.ndarray) -> np.ndarray:
    """A one-column extra (``node_year``, ``edge_weight``) as ``[N]``; wider ones unchanged."""
    return arr.reshape(-1) if arr.ndim == 2 and arr.shape[1] == 1 else arr


def _read_raw(raw: Path, meta: OGBMeta, graph_level: bool = False) -> dict[str, Any]:
    """The CSV layout of ``raw/``: sizes, edges (inverse edges added), ``ndata``/``edata`` arrays."""
    num_nodes = _read_csv(raw / "num-node-list.csv.gz", np.int64).reshape(-1)
    num_edges = _read_csv(raw / "num-edge-list.csv.gz", np.int64).reshape(-1)
    if num_nodes.size != num_edges.size or (not graph_level and num_nodes.size != 1):
        raise ValueError(f"{raw}: num-node-list.csv.gz and num-edge-list.csv.gz must have "
                         f"{'one row per graph' if graph_level else 'one row'}, got {num_nodes.size} and {num_edges.size}")
    if num_nodes.size and (num_nodes.min() < 0 or num_edges.min() < 0):
        raise ValueError(f"{raw}: num-node-list.csv.gz / num-edge-list.csv.gz hold a negative size")
    n, e = int(num_nodes.sum()), int(num_edges.sum())
    edges = _read_csv(raw / "edge.csv.gz", np.int64)
    if edges.shape != (e, 2) and not (e == 0 and edges.size == 0):
        raise ValueError(f"{raw / 'edge.csv.gz'} must hold {e} rows 'src,dst' (num-edge-list.csv.gz), "
                         f"got shape {edges.shape}")
    if e:
        src, dst = np.ascontiguousarray(edges[:, 0]), np.ascontiguousarray(edges[:, 1])
    else:
        src = dst = np.zeros(0, dtype=np.int64)
    del edges
    ndata: dict[str, np.ndarray] = {}
    edata: dict[str, np.ndarray] = {}
    if meta.has_node_attr:
        ndata["x"] = _read_csv(raw / "node-feat.csv.gz")
    if meta.has_edge_attr or (raw / "edge-feat.csv.gz").is_file():
        edata["edge_feat"] = _read_csv(raw / "edge-feat.csv.gz")
    for f in meta.node_files:
        if (raw / f"{f}.csv.gz").is_file():
            ndata[f] = _squeeze(_read_csv(raw / f"{f}.csv.gz"))
    for f in meta.edge_files:
        edata[f] = _squeeze(_read_csv(raw / f"{f}.csv.gz"))
    file_of = {"x": "node-feat.csv.gz", "edge_feat": "edge-feat.csv.gz"}
    for what, data, size in (("num-node-list", ndata, n), ("num-edge-list", edata, e)):
        for key, arr in data.items():
            if arr.shape[0] != size:
                raise ValueError(f"{raw / file_of.get(key, f'{key}.csv.gz')} has {arr.shape[0]} rows but {what}.csv.gz "
                                 f"says {size}")
    if meta.add_inverse_edge:
        src, dst = _interleave_inverse(src, dst)
        edata = {k: np.repeat(v, 2, axis=0) for k, v in edata.items()}
        num_edges = 2 * num_edges
    return {"num_nodes": num_nodes, "num_edges": num_edges, "src": src, "dst": dst, "ndata": ndata, "edata": edata}


def _rows(arr: np.ndarray, n: int, where: str) -> np.ndarray:
    """``arr`` unchanged if it has ``n`` rows (num_nodes_list).

    Raises:
        ValueError: a 0-d array or another row count; the message names ``where``.
    """
    if arr.ndim == 0 or arr.shape[0] != n:
        raise ValueError(f"{where} must have {n} rows (num_nodes_list), got shape {arr.shape}")
    return arr


def _to_tensors(data: dict[str, np.ndarray]) -> dict[str, Tensor]:
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in data.items()}


def _labels(raw_labels: np.ndarray, path: Path, meta: OGBMeta, name: str) -> np.ndarray:
    """Float labels (NaN where missing) as int64 with -1 for missing, checked against ``num_classes``."""
    missing = np.isnan(raw_labels)
    present = raw_labels[~missing]
    if (present >= meta.num_classes).any() or (present < 0).any() or (present != np.round(present)).any():
        raise ValueError(f"{path} holds labels outside [0, {meta.num_classes}) or non-integer ones "
                         f"({name} has {meta.num_classes} classes)")
    return np.where(missing, -1, raw_labels).astype(np.int64)


def _meta(name: str, table: dict[str, OGBMeta], hint: str = "") -> OGBMeta:
    if name not in table:
        raise ValueError(f"name must be one of {sorted(table)}{hint}, got {name!r}")
    return table[name]


def load_ogb_node(name: str, root: str | Path) -> Dataset:
    """Read an OGB node-property dataset from ``root`` (never downloads, never prompts).

    Args:
        name: one of :data:`OGB_NODE_DATASETS` (``ogbn-arxiv``, ``ogbn-products``,
            ``ogbn-proteins``, ``ogbn-papers100M``).
        root: the folder holding ``<name with _>/`` (OGB's ``root`` argument), or that
            dataset folder itself.

    Returns:
        A node :class:`Dataset`: ``ndata`` ``"x"`` (float32, absent for proteins), ``"y"``
        (``[N]`` int64, ``-1`` where missing as papers100M's NaNs; ``[N, T]`` for proteins),
        the three masks and OGB's extras (``"node_year"``, ``"node_species"``); ``edata``
        ``"edge_feat"`` where the files have it; ``split_idx`` ``"train"/"valid"/"test"``.

    Raises:
        ValueError: an unknown or heterogeneous dataset; files that disagree on sizes.
        FileNotFoundError: a missing folder or file (named in the message).
    """
    meta = _meta(name, OGB_NODE_DATASETS, " (heterogeneous graphs are not supported)" if name == "ogbn-mag" else "")
    folder = _dataset_dir(Path(root), name)
    raw = folder / "raw"
    if meta.binary:
        z = read_npz(_require(raw / "data.npz"), ("edge_index", "num_nodes_list") + ("node_feat",) * meta.has_node_attr)
        where = f"{raw / 'data.npz'} field"
        edge_index, num_nodes_list = z["edge_index"], z["num_nodes_list"].reshape(-1)
        if edge_index.ndim != 2 or edge_index.shape[0] != 2 or edge_index.dtype.kind not in "iu":
            raise ValueError(f"{where} 'edge_index' must be [2, E] integers, got {edge_index.shape}")
        if num_nodes_list.size != 1 or num_nodes_list.dtype.kind not in "iu" or num_nodes_list[0] < 0:
            raise ValueError(f"{where} 'num_nodes_list' must hold one vertex count, got {num_nodes_list}")
        n = int(num_nodes_list[0])
        # every array is checked for a numeric dtype and its row count before any astype or torch
        # conversion: a string array would otherwise be parsed into plausible numbers by astype
        ndata = {f: _rows(check_array(z[f], f"{where} {f!r}", "biuf"), n, f"{where} {f!r}")
                 for f in meta.node_files if f in z}
        if meta.has_node_attr:
            feat = check_array(z["node_feat"], f"{where} 'node_feat'", "biuf", ndim=2)
            ndata["x"] = _rows(feat, n, f"{where} 'node_feat'").astype(np.float32)
        where_y = f"{raw / 'node-label.npz'} field 'node_label'"
        labels = read_npz(_require(raw / "node-label.npz"), ("node_label",))["node_label"]
        labels = _rows(check_array(labels, where_y, "biuf"), n, where_y).astype(np.float64).reshape(n, -1)
        src, dst = edge_index[0].astype(np.int64), edge_index[1].astype(np.int64)
        check_ids(src, n, f"{where} 'edge_index' row 0 (sources)")
        check_ids(dst, n, f"{where} 'edge_index' row 1 (destinations)")
        if meta.add_inverse_edge:
            src, dst = _interleave_inverse(src, dst)
        edata: dict[str, np.ndarray] = {}
    else:
        r = _read_raw(raw, meta)
        n, src, dst, ndata, edata = int(r["num_nodes"][0]), r["src"], r["dst"], r["ndata"], r["edata"]
        labels = _read_csv(raw / "node-label.csv.gz", np.float64)
        if "x" in ndata:
            ndata["x"] = ndata["x"].astype(np.float32)
    for key, arr in (("node-feat", ndata.get("x")), ("node-label", labels)):
        if arr is not None and arr.shape[0] != n:
            raise ValueError(f"{raw} {key} has {arr.shape[0]} rows but num-node-list says {n} vertices")
    y = _labels(labels, raw / "node-label.csv.gz", meta, name)
    ndata["y"] = y[:, 0].copy() if meta.num_tasks == 1 else y
    split = _read_split(folder / "split" / meta.split, n)
    for part, mask_name in zip(SPLITS, ("train_mask", "val_mask", "test_mask")):
        ndata[mask_name] = index_to_mask(split[part], n)
    try:
        graph = Graph(torch.from_numpy(src), torch.from_numpy(dst), n, ndata=_to_tensors(ndata), edata=_to_tensors(edata))
    except ValueError as exc:
        raise ValueError(f"{raw}: edges do not fit the {n} vertices of num-node-list: {exc}") from exc
    return Dataset(name, "node", [graph], meta.num_classes, split_idx=split, eval_metric=meta.eval_metric)


def _load_pt(path: Path) -> dict[str, Tensor]:
    """One link split file: ``{name: tensor}`` read with ``torch.load(weights_only=True)`` (no code runs)."""
    _require(path)
    try:
        obj = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:  # weights_only refuses classes with UnpicklingError; damage raises anything
        raise ValueError(f"{path}: not a readable split file of tensors (torch.load(weights_only=True) failed: "
                         f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from exc
    if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items()):
        raise ValueError(f"{path} must hold a dict of name -> tensor (OGB's edge split), got {type(obj).__name__}")
    return obj


def _check_split_edges(part: dict[str, Tensor], path: Path, n: int) -> dict[str, Tensor]:
    for key, value in part.items():
        if key in ("edge", "edge_neg", "source_node", "target_node", "target_node_neg"):
            if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
                raise ValueError(f"{path} {key!r} must hold integer vertex ids, got dtype {value.dtype}")
            if key in ("edge", "edge_neg") and (value.dim() != 2 or value.shape[1] != 2):
                raise ValueError(f"{path} {key!r} must have shape [K, 2], got {tuple(value.shape)}")
            check_ids(value.reshape(-1).numpy(), n, f"{path} {key!r}")
    return part


def load_ogb_link(name: str, root: str | Path) -> Dataset:
    """Read an OGB link-property dataset from ``root`` (never downloads, never prompts, runs no pickled code).

    Args:
        name: one of :data:`OGB_LINK_DATASETS` (``ogbl-ppa``, ``ogbl-collab``, ``ogbl-citation2``, ``ogbl-ddi``).
        root: the folder holding ``<name with _>/``, or that dataset folder itself.

    Returns:
        A link :class:`Dataset`: the graph of the training edges (``ndata["x"]`` where the
        files have features, OGB's extras such as ``edata["edge_weight"]``) and
        ``split_edges`` as OGB's ``get_edge_split()`` returns it, e.g.
        ``{"valid": {"edge": [K, 2], "edge_neg": [K', 2]}, ...}``.

    Raises:
        ValueError: an unknown dataset; files that disagree on sizes; split ids out of range;
            a split file holding anything but tensors.
        FileNotFoundError: a missing folder or file (named in the message).
    """
    meta = _meta(name, OGB_LINK_DATASETS)
    folder = _dataset_dir(Path(root), name)
    r = _read_raw(folder / "raw", meta)
    n = int(r["num_nodes"][0])
    try:
        graph = Graph(torch.from_numpy(r["src"]), torch.from_numpy(r["dst"]), n,
                      ndata=_to_tensors(r["ndata"]), edata=_to_tensors(r["edata"]))
    except ValueError as exc:
        raise ValueError(f"{folder / 'raw'}: edges do not fit the {n} vertices of num-node-list: {exc}") from exc
    split_dir = folder / "split" / meta.split
    split_edges = {part: _check_split_edges(_load_pt(split_dir / f"{part}.pt"), split_dir / f"{part}.pt", n)
                   for part in SPLITS}
    return Dataset(name, "link", [graph], 0, split_edges=split_edges, eval_metric=meta.eval_metric)


def load_ogb_graph(name: str, root: str | Path) -> Dataset:
    """Read an OGB graph-property dataset from ``root`` (never downloads, never prompts).

    Args:
        name: one of :data:`OGB_GRAPH_DATASETS` (``ogbg-molhiv``, ``ogbg-molpcba``, ..., ``ogbg-ppa``).
        root: the folder holding ``<name with _>/``, or that dataset folder itself.

    Returns:
        A graph :class:`Dataset`: one :class:`Graph` per row of ``num-node-list`` with
        ``ndata["x"]`` (int64 atom features for the molecules, as OGB keeps them) and
        ``edata["edge_feat"]``; labels ``y`` ``[B]`` (single task) or ``[B, T]``, int64 with
        ``-1`` where missing for classification, float32 (NaN where missing) for regression;
        ``split_idx`` of graph ids.

    Raises:
        ValueError: an unknown dataset; an edge joining vertices outside its graph; sizes
            that disagree; labels out of range.
        FileNotFoundError: a missing folder or file (named in the message).
    """
    meta = _meta(name, OGB_GRAPH_DATASETS)
    folder = _dataset_dir(Path(root), name)
    raw = folder / "raw"
    r = _read_raw(raw, meta, graph_level=True)
    graphs = split_graphs(r["src"], r["dst"], r["num_nodes"], r["num_edges"], _to_tensors(r["ndata"]),
                          _to_tensors(r["edata"]), f"{raw / 'edge.csv.gz'}")
    raw_labels = _read_csv(raw / "graph-label.csv.gz", np.float64)
    if raw_labels.shape[0] != len(graphs):
        raise ValueError(f"{raw / 'graph-label.csv.gz'} has {raw_labels.shape[0]} rows but num-node-list lists "
                         f"{len(graphs)} graphs")
    if meta.num_classes:
        y = _labels(raw_labels, raw / "graph-label.csv.gz", meta, name)
    else:
        y = raw_labels.astype(np.float32)  # regression targets
    y = y[:, 0].copy() if meta.num_tasks == 1 else y
    split = _read_split(folder / "split" / meta.split, len(graphs), "graph")
    return Dataset(name, "graph", graphs, meta.num_classes, labels=torch.from_numpy(y), split_idx=split,
                   eval_metric=meta.eval_metric)


def load_ogb(name: str, root: str | Path) -> Dataset:
    """Read any supported OGB dataset (``ogbn-*``, ``ogbl-*``, ``ogbg-*``) from ``root``.

    Raises:
        ValueError: a name that is not a supported OGB dataset (the message lists them).
        FileNotFoundError: a missing folder or file.
    """
    canonical = {k.lower(): k for table in (OGB_NODE_DATASETS, OGB_LINK_DATASETS, OGB_GRAPH_DATASETS)
                 for k in table}.get(name.lower(), name)  # "ogbn-papers100m" -> "ogbn-papers100M"
    loader = {"ogbn": load_ogb_node, "ogbl": load_ogb_link, "ogbg": load_ogb_graph}.get(canonical[:4])
    if loader is None:
        raise ValueError(f"name must start with ogbn-, ogbl- or ogbg- (an OGB dataset), got {name!r}")
    return loader(canonical, root)


# ---------------------------------------------------------------------- writing
def _check_positive(**sizes: int) -> None:
    for arg, v in sizes.items():
        if v < 1:
            raise ValueError(f"{arg} must be >= 1, got {v}")


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
    _check_positive(num_nodes=num_nodes, num_features=num_features, num_classes=num_classes or 1)
    if num_edges < 0:
        raise ValueError(f"num_edges must be >= 0, got {num_edges}")
    if not 0 <= homophily <= 1:
        raise ValueError(f"homophily must lie in [0, 1], got {homophily}")
    _check_split_fractions(split)
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
    raw = _write_common(folder, src, dst, np.array([num_nodes]), np.array([num_edges]))
    _write_csv(raw / "node-feat.csv.gz", x, "%.6f")
    _write_csv(raw / "node-label.csv.gz", y, "%d")
    if "node_year" in meta.node_files:
        _write_csv(raw / "node_year.csv.gz", rng.integers(1990, 2021, num_nodes), "%d")
    _write_split_ids(folder / "split" / meta.split, num_nodes, split, rng)
    return folder


def _check_split_fractions(split: tuple[float, float]) -> None:
    if not (0 < split[0] and 0 <= split[1] and split[0] + split[1] < 1):
        raise ValueError(f"split must be (train, valid) fractions with train > 0 and train + valid < 1, got {split}")


def _write_common(folder: Path, src: np.ndarray, dst: np.ndarray, num_nodes: np.ndarray, num_edges: np.ndarray) -> Path:
    raw = folder / "raw"
    _write_csv(raw / "edge.csv.gz", np.stack([src, dst], 1), "%d")
    _write_csv(raw / "num-node-list.csv.gz", num_nodes, "%d")
    _write_csv(raw / "num-edge-list.csv.gz", num_edges, "%d")
    (folder / "processed").mkdir(exist_ok=True)  # OGB's zips ship it empty; its reader saves into it
    (folder / "RELEASE_v1.txt").write_text("synthetic data written by gnnkit.data.ogb\n")
    return raw


def _write_split_ids(folder: Path, size: int, split: tuple[float, float], rng: np.random.Generator) -> None:
    """A random ``split[0] : split[1] : rest`` of ``range(size)`` as sorted ``{train,valid,test}.csv.gz``."""
    perm = rng.permutation(size)
    n_train, n_valid = int(split[0] * size), int(split[1] * size)
    parts = {"train": perm[:n_train], "valid": perm[n_train : n_train + n_valid], "test": perm[n_train + n_valid :]}
    for part, ids in parts.items():
        _write_csv(folder / f"{part}.csv.gz", np.sort(ids), "%d")


def write_synthetic_link(root: str | Path, name: str = "ogbl-collab", num_nodes: int = 200, num_edges: int = 800,
                         num_features: int = 8, num_eval: int = 20, seed: int = 0) -> Path:
    """Write a small random link dataset in OGB's layout under ``root/<name with _>``.

    The raw edges are the training edges; ``split/<split>/{train,valid,test}.pt`` hold
    ``{"edge": [K, 2]}`` (plus ``"weight"``/``"year"`` for collab) for train and
    ``{"edge", "edge_neg"}`` with ``num_eval`` rows each for valid and test, as
    ``torch.save`` of tensors (the form ``LinkPropPredDataset.get_edge_split`` returns).
    Only the ``edge``/``edge_neg`` layouts are written (``ogbl-collab``, ``ogbl-ppa``, ``ogbl-ddi``).

    Returns:
        The dataset folder.

    Raises:
        ValueError: an unsupported layout or sizes < 1.
    """
    layouts = ("ogbl-collab", "ogbl-ppa", "ogbl-ddi")
    if name not in layouts:
        raise ValueError(f"name must be one of {layouts} (edge/edge_neg split layouts), got {name!r}")
    _check_positive(num_nodes=num_nodes, num_edges=num_edges, num_features=num_features, num_eval=num_eval)
    meta = OGB_LINK_DATASETS[name]
    rng = np.random.default_rng(seed)
    src, dst = rng.integers(0, num_nodes, num_edges), rng.integers(0, num_nodes, num_edges)
    folder = Path(root) / name.replace("-", "_")
    raw = _write_common(folder, src, dst, np.array([num_nodes]), np.array([num_edges]))
    if meta.has_node_attr:
        _write_csv(raw / "node-feat.csv.gz", rng.standard_normal((num_nodes, num_features)).astype(np.float32), "%.6f")
    extras = {"edge_weight": rng.integers(1, 4, num_edges), "edge_year": rng.integers(2000, 2020, num_edges)}
    for f in meta.edge_files:
        _write_csv(raw / f"{f}.csv.gz", extras[f], "%d")
    split = folder / "split" / meta.split
    split.mkdir(parents=True, exist_ok=True)
    train = {"edge": torch.from_numpy(np.stack([src, dst], 1))}
    if meta.edge_files:
        train.update(weight=torch.from_numpy(extras["edge_weight"]), year=torch.from_numpy(extras["edge_year"]))
    torch.save(train, split / "train.pt")
    for part in ("valid", "test"):
        pairs = {k: torch.from_numpy(rng.integers(0, num_nodes, (num_eval, 2))) for k in ("edge", "edge_neg")}
        torch.save(pairs, split / f"{part}.pt")
    return folder


def write_synthetic_graph(root: str | Path, name: str = "ogbg-molhiv", num_graphs: int = 30, max_nodes: int = 8,
                          num_features: int = 9, num_edge_features: int = 3, seed: int = 0,
                          split: tuple[float, float] = (0.6, 0.2)) -> Path:
    """Write a small random graph-property dataset in OGB's layout under ``root/<name with _>``.

    Graphs of 1 to ``max_nodes`` vertices, each a random path plus a few random edges, with
    integer node features (``num_features`` columns, as OGB's atom features) and edge
    features; ``graph-label.csv.gz`` holds one label per task (0/1 for the molecule
    layouts) with about one in ten left empty (missing) on multi-task layouts.

    Returns:
        The dataset folder.

    Raises:
        ValueError: an unsupported layout or sizes < 1.
    """
    if name not in OGB_GRAPH_DATASETS:
        raise ValueError(f"name must be one of {sorted(OGB_GRAPH_DATASETS)}, got {name!r}")
    _check_positive(num_graphs=num_graphs, max_nodes=max_nodes, num_features=num_features,
                    num_edge_features=num_edge_features)
    _check_split_fractions(split)
    meta = OGB_GRAPH_DATASETS[name]
    rng = np.random.default_rng(seed)
    num_nodes = rng.integers(1, max_nodes + 1, num_graphs)
    extra = rng.integers(0, 3, num_graphs)
    num_edges = num_nodes - 1 + extra
    graph_of_edge = np.repeat(np.arange(num_graphs), num_edges)
    first = np.repeat(np.concatenate([[0], np.cumsum(num_edges)[:-1]]), num_edges)
    pos = np.arange(graph_of_edge.size) - first  # position of each edge within its graph
    n_e = num_nodes[graph_of_edge]
    on_path = pos < n_e - 1
    src = np.where(on_path, pos, (rng.random(pos.size) * n_e).astype(np.int64))
    dst = np.where(on_path, pos + 1, (rng.random(pos.size) * n_e).astype(np.int64))
    folder = Path(root) / name.replace("-", "_")
    raw = _write_common(folder, src, dst, num_nodes, num_edges)
    if meta.has_node_attr:
        _write_csv(raw / "node-feat.csv.gz", rng.integers(0, 5, (int(num_nodes.sum()), num_features)), "%d")
    _write_csv(raw / "edge-feat.csv.gz", rng.integers(0, 3, (int(num_edges.sum()), num_edge_features)), "%d")
    if meta.num_classes:
        labels = rng.integers(0, meta.num_classes, (num_graphs, meta.num_tasks)).astype(np.float64)
        if meta.num_tasks > 1:
            labels[rng.random(labels.shape) < 0.1] = np.nan
    else:
        labels = rng.standard_normal((num_graphs, meta.num_tasks))
    with gzip.open(raw / "graph-label.csv.gz", "wt") as fh:  # empty fields where missing, as OGB's files
        fh.writelines(",".join("" if np.isnan(v) else (f"{v:.0f}" if meta.num_classes else f"{v:.6f}") for v in row)
                      + "\n" for row in labels)
    _write_split_ids(folder / "split" / meta.split, num_graphs, split, rng)
    return folder


# -------------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    """``python -m gnnkit.data.ogb {make-synthetic,info} DIR [...]``."""
    parser = argparse.ArgumentParser(prog="python -m gnnkit.data.ogb", description="OGB datasets on disk.")
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("make-synthetic", help="write a small random dataset in OGB's layout")
    make.add_argument("root", type=Path, help="folder to write <name with _>/ into")
    make.add_argument("--name", default="ogbn-arxiv",
                      help=f"layout to imitate: {', '.join(SYNTHETIC_LAYOUTS)}, ogbl-collab/ppa/ddi or an ogbg-* name")
    make.add_argument("--nodes", type=int, default=1000, help="vertices (node and link layouts)")
    make.add_argument("--edges", type=int, default=5000, help="edges (node and link layouts)")
    make.add_argument("--graphs", type=int, default=100, help="graphs (graph layouts)")
    make.add_argument("--features", type=int, default=16)
    make.add_argument("--classes", type=int, help="label classes (node layouts; default: the imitated dataset's)")
    make.add_argument("--homophily", type=float, default=0.8)
    make.add_argument("--seed", type=int, default=0)
    info = sub.add_parser("info", help="load a dataset and print its sizes")
    info.add_argument("root", type=Path)
    info.add_argument("--name", default="ogbn-arxiv")
    args = parser.parse_args(argv)
    try:
        if args.command == "make-synthetic":
            if args.name.startswith("ogbl-"):
                folder = write_synthetic_link(args.root, args.name, args.nodes, args.edges, args.features, seed=args.seed)
            elif args.name.startswith("ogbg-"):
                folder = write_synthetic_graph(args.root, args.name, args.graphs, num_features=args.features, seed=args.seed)
            else:
                folder = write_synthetic(args.root, args.name, args.nodes, args.edges, args.features, args.classes,
                                         args.homophily, args.seed)
            print(f"wrote {folder}")
        else:
            ds = load_ogb(args.name, args.root)
            if ds.task == "graph":
                sizes = f"{len(ds)} graphs, {sum(g.num_nodes for g in ds.graphs)} vertices"
            else:
                sizes = f"{ds.graph.num_nodes} vertices, {ds.graph.num_edges} edges"
            split = {k: v.numel() for k, v in ds.split_idx.items()} or {k: {n: tuple(t.shape) for n, t in v.items()}
                                                                         for k, v in ds.split_edges.items()}
            print(f"{ds.name}: {sizes}, {ds.num_features} features, {ds.num_classes} classes, split {split}")
    except (ValueError, FileNotFoundError) as exc:
        parser.error(str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
