"""TU graph-classification datasets (MUTAG, PROTEINS, ENZYMES, ...) read from their text files.

The format (Morris et al., "TUDataset", https://chrsmrrs.github.io/datasets/docs/format/)
is a set of comma-separated text files sharing the prefix ``<NAME>_``; vertex and graph ids
in them count from 1::

    <NAME>_A.txt                 E rows "u, v": an edge between global vertices u and v
    <NAME>_graph_indicator.txt   N rows: the graph of vertex i
    <NAME>_graph_labels.txt      B rows: the class of graph b  (or <NAME>_graph_attributes.txt: regression targets)
    <NAME>_node_labels.txt       optional, N rows of integer labels
    <NAME>_node_attributes.txt   optional, N rows of comma-separated numbers
    <NAME>_edge_labels.txt       optional, E rows of integer labels
    <NAME>_edge_attributes.txt   optional, E rows of comma-separated numbers

The files may lie in ``root``, ``root/<NAME>/`` or ``root/<NAME>/raw/`` (PyG's layout).
Each graph keeps its edges in file order (``A.txt`` lists each undirected edge in both
directions); the data keep the files' own names in ``ndata``/``edata`` (``"node_labels"``
int64, ``"node_attributes"`` float32, ``"edge_labels"``, ``"edge_attributes"``), and
``ndata["x"]`` is PyG's ``TUDataset`` feature: the node attributes followed by a one-hot of
each node-label column (shifted to start at 0). Graph labels become ``0..C-1`` in sorted
order of the original values. Nothing is downloaded.

:func:`write_tu` writes a graph-task :class:`Dataset` in the same format (for tests and
examples that need a TU folder without shipping one).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..graph import Graph
from .dataset import Dataset, split_graphs
from .textfile import read_table

__all__ = ["load_tu", "tu_folder", "write_tu"]

_OPTIONAL = ("node_labels", "node_attributes", "edge_labels", "edge_attributes")


def tu_folder(root: str | Path, name: str) -> Path:
    """The folder holding ``<name>_A.txt``: ``root``, ``root/<name>`` or ``root/<name>/raw``.

    Raises:
        FileNotFoundError: none of them holds it (the message lists where it looked).
    """
    root = Path(root)
    candidates = (root, root / name, root / name / "raw")
    for folder in candidates:
        if (folder / f"{name}_A.txt").is_file():
            return folder
    raise FileNotFoundError(
        f"TU file missing: {name}_A.txt in none of {[str(c) for c in candidates]} (a TU dataset needs "
        f"{name}_A.txt, {name}_graph_indicator.txt and {name}_graph_labels.txt, optionally {name}_node_labels.txt, "
        f"..._node_attributes.txt, ..._edge_labels.txt, ..._edge_attributes.txt; nothing is downloaded)"
    )


_MAX_ONE_HOT = 1 << 28  # entries of the dense one-hot block a node-label file may ask for


def _one_hot_columns(labels: np.ndarray, path: Path) -> np.ndarray:
    """One-hot of every column of ``[N, K]`` integer labels (each shifted to start at 0), side by side.

    Raises:
        ValueError: labels spanning so many values that the dense one-hot would exceed
            :data:`_MAX_ONE_HOT` entries (a crafted file must not become a huge allocation).
    """
    shifted = labels - labels.min(0, keepdims=True)  # [N, K]
    widths = shifted.max(0) + 1  # [K]
    if labels.shape[0] * int(widths.sum()) > _MAX_ONE_HOT:
        raise ValueError(f"{path}: node labels span {widths.tolist()} values per column; their one-hot features "
                         f"would exceed {_MAX_ONE_HOT} entries")
    rows = np.arange(labels.shape[0])
    blocks = []
    for col, width in zip(shifted.T, widths.tolist()):  # one block per label column (a handful), not per vertex
        block = np.zeros((labels.shape[0], width), dtype=np.float32)
        block[rows, col] = 1
        blocks.append(block)
    return np.concatenate(blocks, 1)


def load_tu(name: str, root: str | Path) -> Dataset:
    """Read the TU dataset ``name`` from ``root`` (see the module docstring for the files).

    Args:
        name: the file prefix, e.g. ``"MUTAG"`` (case as in the file names).
        root: ``root``, ``root/<name>/`` or ``root/<name>/raw/`` holds the files.

    Returns:
        A graph :class:`Dataset` of ``B`` graphs with ``y`` ``[B]`` int64 classes (or float32
        ``[B]``/``[B, T]`` targets from ``graph_attributes``, ``num_classes=0``) and no split
        (TU ships none: ``split_idx`` is empty).

    Raises:
        FileNotFoundError: a required file is missing (named, with what to put there).
        ValueError: unparsable content (file and line named), files that disagree on sizes,
            graph ids that are not ``1..B`` in order, or an edge joining two graphs.
    """
    folder = tu_folder(root, name)
    path = {k: folder / f"{name}_{k}.txt" for k in ("A", "graph_indicator", "graph_labels", "graph_attributes", *_OPTIONAL)}
    edges = read_table(path["A"], np.int64, ",", "one 'u, v' row per edge, 1-based vertex ids")
    if edges.size and edges.shape[1] != 2:
        raise ValueError(f"{path['A']} must have two columns 'u, v', got {edges.shape[1]}")
    indicator = read_table(path["graph_indicator"], np.int64, ",", "one 1-based graph id per vertex").reshape(-1)
    n = indicator.size
    steps = np.diff(indicator)
    if n and (indicator[0] != 1 or ((steps != 0) & (steps != 1)).any()):
        raise ValueError(f"{path['graph_indicator']} must number the graphs 1..B with the vertices of each graph "
                         f"together, in order, every graph having a vertex (got ids {indicator.min()}..{indicator.max()} "
                         f"with a decrease or a gap)")
    num_graphs = int(indicator.max()) if n else 0
    num_nodes = np.bincount(indicator - 1, minlength=num_graphs)  # [B]
    src, dst = (edges[:, 0] - 1, edges[:, 1] - 1) if edges.size else (np.zeros(0, np.int64), np.zeros(0, np.int64))
    if src.size and (min(src.min(), dst.min()) < 0 or max(src.max(), dst.max()) >= n):
        raise ValueError(f"{path['A']} holds vertex ids in [{min(src.min(), dst.min()) + 1}, "
                         f"{max(src.max(), dst.max()) + 1}] but {path['graph_indicator'].name} lists {n} vertices (1..{n})")
    graph_of_edge = indicator[src] - 1 if src.size else np.zeros(0, np.int64)
    if src.size and (indicator[dst] - 1 != graph_of_edge).any():
        i = int(np.argmax(indicator[dst] - 1 != graph_of_edge))
        raise ValueError(f"{path['A']} line {i + 1}: edge ({src[i] + 1}, {dst[i] + 1}) joins two graphs")
    order = np.argsort(graph_of_edge, kind="stable")  # group edges by graph, file order within each
    num_edges = np.bincount(graph_of_edge, minlength=num_graphs)
    offset = np.concatenate([[0], np.cumsum(num_nodes)[:-1]])  # first global vertex of each graph
    local_src, local_dst = src[order] - offset[graph_of_edge[order]], dst[order] - offset[graph_of_edge[order]]

    ndata: dict[str, Tensor] = {}
    edata: dict[str, Tensor] = {}
    for key in _OPTIONAL:
        if not path[key].is_file():
            continue
        is_label = key.endswith("labels")
        table = read_table(path[key], np.int64 if is_label else np.float32, ",")
        size, target = (n, ndata) if key.startswith("node") else (src.size, edata)
        if table.shape[0] != size:
            raise ValueError(f"{path[key]} has {table.shape[0]} rows but there are {size} "
                             f"{'vertices' if key.startswith('node') else 'edges'}")
        if key.startswith("edge"):
            table = table[order]
        target[key] = torch.from_numpy(table[:, 0].copy() if table.shape[1] == 1 else table)
    features = []
    if "node_attributes" in ndata:
        features.append(ndata["node_attributes"].reshape(n, -1))
    if "node_labels" in ndata and n:
        features.append(torch.from_numpy(_one_hot_columns(ndata["node_labels"].reshape(n, -1).numpy(), path["node_labels"])))
    if features:
        ndata["x"] = torch.cat(features, 1)

    graphs = split_graphs(local_src, local_dst, num_nodes, num_edges, ndata, edata, str(path["A"]))
    if path["graph_attributes"].is_file():
        targets = read_table(path["graph_attributes"], np.float32, ",")
        labels, num_classes, source = targets[:, 0].copy() if targets.shape[1] == 1 else targets, 0, path["graph_attributes"]
    else:
        raw = read_table(path["graph_labels"], np.int64, ",", "one integer class per graph").reshape(-1)
        _, labels = np.unique(raw, return_inverse=True)
        labels, num_classes, source = labels.reshape(-1).astype(np.int64), int(np.unique(raw).size), path["graph_labels"]
    if labels.shape[0] != num_graphs:
        raise ValueError(f"{source} has {labels.shape[0]} rows but {path['graph_indicator'].name} numbers "
                         f"{num_graphs} graphs")
    return Dataset(name, "graph", graphs, num_classes, labels=torch.from_numpy(labels))


def _write_rows(path: Path, table: Tensor) -> None:
    """``[rows]`` or ``[rows, cols]`` numbers as comma-separated lines (floats as ``%.9g``: exact for float32)."""
    array = table.detach().cpu().numpy()
    fmt = "%.9g" if np.issubdtype(array.dtype, np.floating) else "%d"
    np.savetxt(path, array.reshape(array.shape[0], -1), fmt=fmt, delimiter=", ")


def write_tu(dataset: Dataset, root: str | Path, name: str) -> Path:
    """Write a graph-task dataset as TU text files ``root/<name>/<name>_*.txt`` (:func:`load_tu` reads them).

    What is written: the edges (``A.txt``, each graph's edges in its own order), the graph of
    each vertex, the labels (integer ``labels`` as ``graph_labels.txt``, float ones as
    ``graph_attributes.txt``) and, when the graphs carry them, ``ndata["node_labels"]``,
    ``ndata["node_attributes"]``, ``edata["edge_labels"]`` and ``edata["edge_attributes"]``.
    A dataset with neither node file but ``ndata["x"]`` gets ``x`` as its node attributes, so
    ``load_tu`` gives back the same ``x``; other keys are not written (the format has no place
    for them). Integer labels ``0..C-1`` with every class present come back unchanged.

    Args:
        dataset: a graph-task :class:`Dataset` with at least one graph.
        root: the folder to write ``<name>/`` into (created if missing).
        name: the file prefix.

    Returns:
        The folder the files were written to.

    Raises:
        ValueError: a dataset whose task is not ``"graph"``, no graphs, a graph without
            vertices (TU cannot store one), or graphs whose data names differ (as :meth:`Graph.batch`).
    """
    if not isinstance(dataset, Dataset) or dataset.task != "graph":
        raise ValueError(f"dataset must be a graph-task gnnkit.data.Dataset, got "
                         f"{getattr(dataset, 'task', type(dataset).__name__)!r}")
    if not dataset.graphs:
        raise ValueError("dataset must hold at least one graph to write a TU folder")
    empty = [i for i, g in enumerate(dataset.graphs) if g.num_nodes == 0]
    if empty:
        raise ValueError(f"TU files cannot store a graph without vertices; graphs {empty[:5]} have none")
    joined = Graph.batch(dataset.graphs)  # global vertex ids: graph k's ids offset by the vertices before it
    folder = Path(root) / name
    folder.mkdir(parents=True, exist_ok=True)
    _write_rows(folder / f"{name}_A.txt", torch.stack([joined.src, joined.dst], 1) + 1)  # [E, 2], 1-based
    _write_rows(folder / f"{name}_graph_indicator.txt", joined.node_graph() + 1)  # [N], 1-based
    labels = dataset.labels
    kind = "graph_attributes" if labels.is_floating_point() else "graph_labels"
    _write_rows(folder / f"{name}_{kind}.txt", labels)
    ndata = {k: joined.ndata[k] for k in ("node_labels", "node_attributes") if k in joined.ndata}
    if not ndata and "x" in joined.ndata:
        ndata["node_attributes"] = joined.ndata["x"].to(torch.float32)
    edata = {k: joined.edata[k] for k in ("edge_labels", "edge_attributes") if k in joined.edata}
    for key, value in {**ndata, **edata}.items():
        _write_rows(folder / f"{name}_{key}.txt", value)
    return folder
