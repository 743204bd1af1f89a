"""The one :class:`Dataset` type every loader returns and every trainer, example and CLI reads.

A dataset is a list of :class:`~gnnkit.graph.Graph` plus what a task needs around them:

* ``task="node"`` (Planetoid, OGB ``ogbn-*``, edge lists): one graph whose ``ndata`` carries
  ``"x"`` ``[N, F]``, ``"y"`` ``[N]`` (or ``[N, T]``) and the bool ``[N]`` masks
  ``"train_mask"``/``"val_mask"``/``"test_mask"``; ``split_idx`` holds the same split as
  vertex ids.
* ``task="link"`` (OGB ``ogbl-*``): one graph (the training edges, as OGB ships them) and
  ``split_edges``: ``{"train" | "valid" | "test": {name: tensor}}`` in OGB's own key names
  (``"edge"`` ``[K, 2]``, ``"edge_neg"``, ``"source_node"``, ...).
* ``task="graph"`` (TU, OGB ``ogbg-*``): ``B`` graphs (each with ``ndata["x"]`` where the
  files have features), graph labels ``y`` ``[B]`` (or ``[B, T]``) and ``split_idx`` of graph ids.

Nothing here reads files; the loaders in :mod:`gnnkit.data` build it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from ..graph import Graph
from .evaluator import ogb_evaluator

__all__ = ["Dataset", "TASKS", "SPLITS", "index_to_mask", "split_graphs"]

TASKS = ("node", "link", "graph")
SPLITS = ("train", "valid", "test")
_MASKS = {"train": "train_mask", "valid": "val_mask", "test": "test_mask"}


@dataclass(eq=False)
class Dataset:
    """Graphs, features, labels, a split and the facts a model needs (classes, features, task).

    Args:
        name: the dataset's name, e.g. ``"cora"``, ``"ogbn-arxiv"``, ``"MUTAG"``.
        task: ``"node" | "link" | "graph"``.
        graphs: the graphs; exactly one for node and link tasks.
        num_classes: classes per task (``0`` for regression and link prediction).
        labels: graph task only: ``[B]`` (or ``[B, T]``) graph labels; read it as :attr:`y`.
        split_idx: ``"train"/"valid"/"test"`` → int64 ids (vertices for node tasks, graphs
            for graph tasks).
        split_edges: link task only: OGB's edge split, ``{"train"|"valid"|"test": {key: tensor}}``.
        eval_metric: the metric OGB's ``Evaluator`` reports (``"acc"``, ``"rocauc"``, ...),
            or ``None`` for datasets without one.

    Raises:
        ValueError: an unknown task, a node/link dataset without exactly one graph, graph
            labels whose first dimension is not the number of graphs, or split ids out of range.
        TypeError: ``graphs`` holding something other than :class:`Graph`.
    """

    name: str
    task: str
    graphs: list[Graph]
    num_classes: int
    labels: Tensor | None = None
    split_idx: dict[str, Tensor] = field(default_factory=dict)
    split_edges: dict[str, dict[str, Tensor]] = field(default_factory=dict)
    eval_metric: str | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        self.graphs = list(self.graphs)
        for i, g in enumerate(self.graphs):
            if not isinstance(g, Graph):
                raise TypeError(f"graphs[{i}] must be a gnnkit.Graph, got {type(g).__name__}")
        if self.task != "graph" and len(self.graphs) != 1:
            raise ValueError(f"a {self.task!r} dataset holds exactly one graph, got {len(self.graphs)}")
        if self.task == "graph":
            if self.labels is None or self.labels.dim() == 0 or self.labels.shape[0] != len(self.graphs):
                shape = None if self.labels is None else tuple(self.labels.shape)
                raise ValueError(f"labels must have first dimension B={len(self.graphs)} (one per graph), got {shape}")
        elif self.labels is not None:
            raise ValueError(f"labels are graph labels (task 'graph'); a {self.task!r} dataset keeps its labels in "
                             f"graph.ndata['y']")
        size = len(self.graphs) if self.task == "graph" else self.graphs[0].num_nodes
        for part, ids in self.split_idx.items():
            if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= size):
                raise ValueError(f"split_idx[{part!r}] holds ids in [{int(ids.min())}, {int(ids.max())}] "
                                 f"but the dataset has {size} {'graphs' if self.task == 'graph' else 'vertices'}")

    # ------------------------------------------------------------ containers
    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, index: int) -> Graph:
        return self.graphs[index]

    def __repr__(self) -> str:
        split = {k: v.numel() for k, v in self.split_idx.items()}
        return (f"Dataset(name={self.name!r}, task={self.task!r}, graphs={len(self.graphs)}, "
                f"num_features={self.num_features}, num_classes={self.num_classes}, split={split})")

    # ------------------------------------------------- single-graph accessors
    @property
    def graph(self) -> Graph:
        """The graph of a node or link dataset.

        Raises:
            ValueError: a graph-classification dataset (index it, or ``Graph.batch(ds.graphs)``).
        """
        if self.task == "graph":
            raise ValueError(f"dataset {self.name!r} holds {len(self.graphs)} graphs (task 'graph'); "
                             f"use ds[i] or ds.graphs")
        return self.graphs[0]

    @property
    def x(self) -> Tensor | None:
        """``[N, F]`` vertex features of the single graph, or ``None`` when it has none."""
        data = self.graph.ndata
        return data["x"] if "x" in data else None

    @property
    def y(self) -> Tensor:
        """Labels: ``[N]`` vertex labels (node task) or ``[B]`` graph labels (graph task).

        Raises:
            ValueError: a link dataset (its targets are ``split_edges``).
        """
        if self.task == "graph":
            return self.labels
        if "y" not in self.graph.ndata:
            raise ValueError(f"dataset {self.name!r} (task {self.task!r}) has no vertex labels ndata['y']")
        return self.graph.ndata["y"]

    def _mask(self, split: str) -> Tensor:
        data = self.graph.ndata
        if _MASKS[split] in data:
            return data[_MASKS[split]]
        if split not in self.split_idx:
            raise ValueError(f"dataset {self.name!r} has no {split!r} split")
        return index_to_mask(self.split_idx[split], self.graph.num_nodes)

    @property
    def train_mask(self) -> Tensor:
        """``[N]`` bool: the training vertices."""
        return self._mask("train")

    @property
    def val_mask(self) -> Tensor:
        """``[N]`` bool: the validation vertices."""
        return self._mask("valid")

    @property
    def test_mask(self) -> Tensor:
        """``[N]`` bool: the test vertices."""
        return self._mask("test")

    @property
    def num_features(self) -> int:
        """Feature columns of ``ndata["x"]`` (of the first graph for a graph task); 0 without features."""
        if not self.graphs or "x" not in self.graphs[0].ndata:
            return 0
        x = self.graphs[0].ndata["x"]
        return 1 if x.dim() == 1 else int(x.shape[1])

    # ------------------------------------------------------------- metrics
    def evaluate(self, y_pred: Tensor, split: str = "test") -> float:
        """The dataset's OGB metric (``ogb``'s ``Evaluator``) on one split of a node or graph task.

        Args:
            y_pred: predictions for *all* vertices (node task) or graphs (graph task): ``[N]``
                or ``[N, 1]`` classes for accuracy, ``[N, T]`` scores otherwise; only
                ``split``'s rows are scored.
            split: ``"train" | "valid" | "test"``.

        Raises:
            ValueError: no metric for this dataset, a link task, an unknown split or a wrong shape.
            ImportError: ogb is not installed.
        """
        if self.eval_metric is None or self.task == "link":
            raise ValueError(f"dataset {self.name!r} (task {self.task!r}) has no OGB metric for evaluate(); "
                             f"link datasets: ogb_evaluator(name).eval({{'y_pred_pos', 'y_pred_neg'}})")
        if split not in self.split_idx:
            raise ValueError(f"split must be one of {sorted(self.split_idx)}, got {split!r}")
        y = self.y
        if y_pred.shape[0] != y.shape[0]:
            what = "graph" if self.task == "graph" else "vertex"
            raise ValueError(f"y_pred must have one row per {what} ({y.shape[0]}), got shape {tuple(y_pred.shape)}")
        idx = self.split_idx[split]
        y_true = y[idx].reshape(idx.numel(), -1)
        pred = y_pred[idx].reshape(idx.numel(), -1)
        return float(ogb_evaluator(self.name).eval({"y_true": y_true, "y_pred": pred})[self.eval_metric])


def index_to_mask(index: Tensor, size: int) -> Tensor:
    """``[size]`` bool mask that is True at ``index``."""
    mask = torch.zeros(size, dtype=torch.bool, device=index.device)
    mask[index] = True
    return mask


def split_graphs(src: np.ndarray, dst: np.ndarray, num_nodes: np.ndarray, num_edges: np.ndarray,
                 ndata: Mapping[str, Tensor], edata: Mapping[str, Tensor], where: str) -> list[Graph]:
    """Cut concatenated graphs (OGB ``ogbg-*`` files, TU after relabelling) into one :class:`Graph` each.

    Args:
        src, dst: ``[E]`` edge endpoints, numbered *within* their graph; graph ``b`` owns the
            ``num_edges[b]`` edges after those of graphs ``0..b-1``.
        num_nodes, num_edges: ``[B]`` vertices and edges per graph.
        ndata, edata: ``[sum(num_nodes), ...]`` and ``[E, ...]`` data, cut alongside.
        where: how errors name the source (a file).

    Returns:
        ``B`` graphs; graph ``b`` carries rows ``b`` of every ``ndata``/``edata`` value.

    Raises:
        ValueError: sizes that do not add up, or an edge whose endpoint lies outside its graph.
    """
    num_nodes, num_edges = np.asarray(num_nodes, dtype=np.int64), np.asarray(num_edges, dtype=np.int64)
    total_n, total_e = int(num_nodes.sum()), int(num_edges.sum())
    if src.shape != (total_e,) or dst.shape != (total_e,):
        raise ValueError(f"{where}: the graphs list {total_e} edges in all, got src {src.shape} and dst {dst.shape}")
    for what, data, size in (("ndata", ndata, total_n), ("edata", edata, total_e)):
        for key, value in data.items():
            if value.shape[0] != size:
                raise ValueError(f"{where}: {what}[{key!r}] has {value.shape[0]} rows, the graphs have {size} in all")
    bound = np.repeat(num_nodes, num_edges)  # [E]: vertices of the graph each edge belongs to
    bad = (src < 0) | (dst < 0) | (src >= bound) | (dst >= bound)
    if bad.any():
        i = int(np.argmax(bad))
        b = int(np.searchsorted(np.cumsum(num_edges), i, side="right"))
        raise ValueError(f"{where}: edge {i} ({int(src[i])}, {int(dst[i])}) belongs to graph {b}, whose vertex ids "
                         f"lie in [0, {int(num_nodes[b])})")
    node_ptr = np.concatenate([[0], np.cumsum(num_nodes)]).tolist()
    edge_ptr = np.concatenate([[0], np.cumsum(num_edges)]).tolist()
    src_t, dst_t = torch.from_numpy(np.ascontiguousarray(src, dtype=np.int64)), torch.from_numpy(np.ascontiguousarray(dst, dtype=np.int64))
    graphs = []
    for b in range(num_nodes.size):  # one Graph object per graph: a loop over graphs, not edges
        n0, n1, e0, e1 = node_ptr[b], node_ptr[b + 1], edge_ptr[b], edge_ptr[b + 1]
        graphs.append(Graph(src_t[e0:e1], dst_t[e0:e1], n1 - n0, ndata={k: v[n0:n1] for k, v in ndata.items()},
                            edata={k: v[e0:e1] for k, v in edata.items()}))
    return graphs
