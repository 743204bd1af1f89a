"""Mini-batches of whole graphs for graph classification and regression.

Each step joins ``batch_size`` graphs into one disconnected graph, exactly as
:meth:`Graph.batch` would (vertex ids offset per graph, ``ndata`` and ``edata`` carried
along, the same edge order), so a model runs one sparse op per layer for the whole batch
and a readout pools per graph. The loader calls :meth:`Graph.batch` once, on all its
graphs, when it is built; each step then gathers its graphs' rows of that one
concatenation with a handful of vectorised index ops, with no Python work per graph (per
step: joining 32 graphs of 10-30 vertices with 32 features took 0.4 ms this way against
1.3 ms for ``Graph.batch`` on the 32 graph objects, measured on a shared 2-core CPU).

The batch also comes with both compressed layouts (in-CSR for the forward sparse ops, out-CSR
for their backward), cut from the concatenation's, which are built once: a graph's edges are
one contiguous block in the edge order and in both CSR orders alike, so a batch's CSR entries
are the same gathered rows, renumbered, and its row offsets a cumsum of the gathered degrees.
The index work runs in numpy (about 1 us per small op against 5-10 us for a torch op); building
the layouts per batch instead took a bincount and an argsort each (``benchmarks/graph_classification.py
--phases`` times the loader).
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..graph import CSR, Graph
from .dataset import Dataset
from .sampling import _ranges

__all__ = ["GraphDataLoader", "GraphBatch"]


@dataclass(frozen=True, eq=False)
class GraphBatch:
    """One mini-batch of graphs.

    Args:
        graph: the ``B`` graphs joined by :meth:`Graph.batch` (``batch_num_nodes`` and
            ``batch_num_edges`` set, ``ndata``/``edata`` concatenated in batch order).
        y: ``[B]`` (or ``[B, T]``) labels of these graphs in the same order, or ``None``
            when the loader was given no labels.
        index: ``[B]`` int64 ids of these graphs in the dataset.
    """

    graph: Graph
    y: Tensor | None
    index: Tensor

    def __len__(self) -> int:
        return self.index.numel()


def _check_index(index: Tensor, size: int) -> Tensor:
    if not isinstance(index, Tensor):
        raise TypeError(f"index must be an int64 tensor of graph ids, got {type(index).__name__}")
    if index.dtype not in (torch.int64, torch.int32) or index.dim() != 1:
        raise ValueError(f"index must be a 1-D integer tensor of graph ids, got {index.dtype} of shape "
                         f"{tuple(index.shape)}")
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= size):
        raise IndexError(f"index holds graph ids in [{int(index.min())}, {int(index.max())}] but the dataset has "
                         f"{size} graphs (ids 0..{size - 1})")
    return index.to(torch.int64).cpu()


class GraphDataLoader:
    """Iterate over a graph-task dataset in mini-batches of whole graphs.

    Args:
        dataset: a graph-task :class:`~gnnkit.data.Dataset` (its ``labels`` become ``y``),
            or a sequence of :class:`Graph` (then pass ``labels=``, or none for unlabelled graphs).
        batch_size: graphs per batch (``>= 1``).
        shuffle: draw a new order of the graphs every time the loader is iterated.
        drop_last: drop a last batch smaller than ``batch_size``.
        index: ``[M]`` int64 ids of the graphs to iterate over (e.g.
            ``dataset.split_idx["train"]``); default: all graphs in order.
        generator: the random source of the shuffles; a seeded generator gives the same
            sequence of epochs on every run.
        labels: ``[B_total]`` (or ``[B_total, T]``) labels when ``dataset`` is a sequence of graphs.

    Every graph must carry the same ``ndata``/``edata`` names, trailing shapes and dtypes
    (:meth:`Graph.batch` raises otherwise, naming the graph and key).

    Raises:
        TypeError: ``dataset`` neither a Dataset nor a sequence of Graph, a non-int
            ``batch_size``, a non-tensor ``index`` or ``labels``, or a non-Generator ``generator``.
        ValueError: a dataset whose task is not ``"graph"``, ``labels`` given with a Dataset or
            with a first dimension other than the number of graphs, ``batch_size < 1``, an
            ``index`` that is not 1-D integer.
        IndexError: ``index`` ids outside ``[0, number of graphs)``.
    """

    def __init__(self, dataset: Dataset | Sequence[Graph], batch_size: int = 32, *, shuffle: bool = False,
                 drop_last: bool = False, index: Tensor | None = None, generator: torch.Generator | None = None,
                 labels: Tensor | None = None) -> None:
        if isinstance(dataset, Dataset):
            if dataset.task != "graph":
                raise ValueError(f"dataset must be a graph-task Dataset (task 'graph'), got task {dataset.task!r} "
                                 f"for {dataset.name!r}; node and link tasks use gnnkit.data.sampling")
            if labels is not None:
                raise ValueError("labels are taken from the Dataset (dataset.labels); pass labels= only with a "
                                 "sequence of graphs")
            graphs, labels = dataset.graphs, dataset.labels
        elif isinstance(dataset, Sequence) and all(isinstance(g, Graph) for g in dataset):
            graphs = list(dataset)
        else:
            raise TypeError(f"dataset must be a graph-task gnnkit.data.Dataset or a sequence of gnnkit.Graph, got "
                            f"{type(dataset).__name__}")
        if labels is not None:
            if not isinstance(labels, Tensor):
                raise TypeError(f"labels must be a tensor, got {type(labels).__name__}")
            if labels.dim() == 0 or labels.shape[0] != len(graphs):
                raise ValueError(f"labels must have first dimension {len(graphs)} (one per graph), got shape "
                                 f"{tuple(labels.shape)}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int):
            raise TypeError(f"batch_size must be an int, got {type(batch_size).__name__}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
        self.graphs, self.labels = graphs, labels
        self.index = torch.arange(len(graphs)) if index is None else _check_index(index, len(graphs))
        self.batch_size, self.shuffle, self.drop_last, self.generator = batch_size, bool(shuffle), bool(drop_last), generator
        # all graphs joined once (Graph.batch also checks that their data agree); a step gathers its graphs'
        # rows of this and renumbers their vertices. The price is one more copy of the edges and data.
        self._all = Graph.batch(graphs) if graphs else None
        if self._all is not None:
            self._num_nodes = self._all.batch_num_nodes.cpu().numpy()  # [B_total]
            self._num_edges = self._all.batch_num_edges.cpu().numpy()
            self._node_start = np.cumsum(self._num_nodes) - self._num_nodes  # [B_total] first row of each graph
            self._edge_start = np.cumsum(self._num_edges) - self._num_edges
            # host copies of the ids and of both layouts (views when the graphs are on the CPU)
            host = lambda t: None if t is None else t.cpu().numpy()  # noqa: E731
            self._src, self._dst = host(self._all.src), host(self._all.dst)  # [E_total]
            self._layouts = tuple((np.diff(host(c.indptr)), host(c.indices), host(c.eid))
                                  for c in (self._all.csr_in(), self._all.csr_out()))

    def __len__(self) -> int:
        """Number of batches per pass."""
        full, rest = divmod(self.index.numel(), self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def __iter__(self) -> Iterator[GraphBatch]:
        order = self.index
        if self.shuffle:
            order = order[torch.randperm(order.numel(), generator=self.generator)]
        for b in range(len(self)):
            ids = order[b * self.batch_size : (b + 1) * self.batch_size]  # [B]
            yield self.collate(ids)

    def collate(self, ids: Tensor) -> GraphBatch:
        """The batch of the graphs ``ids`` (``[B]`` int64 dataset ids), in that order: ``Graph.batch`` of them,
        with its in- and out-CSR already cached."""
        b = ids.numpy()
        nn, ne = self._num_nodes[b], self._num_edges[b]  # [B]
        total_n, total_e = int(nn.sum()), int(ne.sum())
        node_rows = _ranges(self._node_start[b], nn, total_n)  # [N] rows of the joined graphs
        edge_rows = _ranges(self._edge_start[b], ne, total_e)  # [E]: edge order and both CSR orders alike
        # joined id -> batch id: subtract the graph's old first vertex (edge), add its new one
        shift = np.repeat(np.cumsum(nn) - nn - self._node_start[b], ne)  # [E]
        eshift = np.repeat(np.cumsum(ne) - ne - self._edge_start[b], ne)  # [E]
        device = self._all.device

        def tensor(a: np.ndarray) -> Tensor:
            t = torch.from_numpy(a)
            return t if device.type == "cpu" else t.to(device)

        def cut(deg: np.ndarray, indices: np.ndarray, eid: np.ndarray | None) -> CSR:
            indptr = np.zeros(total_n + 1, dtype=np.int64)
            np.cumsum(deg[node_rows], out=indptr[1:])  # [N + 1]
            return CSR(tensor(indptr), tensor(indices[edge_rows] + shift),
                       None if eid is None else tensor(eid[edge_rows] + eshift))

        csr_in, csr_out = (cut(*layout) for layout in self._layouts)
        src, dst = tensor(self._src[edge_rows] + shift), tensor(self._dst[edge_rows] + shift)  # [E]
        rows_n, rows_e = tensor(node_rows), tensor(edge_rows)
        graph = Graph(src, dst, total_n, torch.from_numpy(nn).to(device), torch.from_numpy(ne).to(device),
                      ndata=self._all.ndata.select(rows_n), edata=self._all.edata.select(rows_e),
                      _validate=False)  # valid by construction: rows of a validated batch
        graph._set_layouts(csr_in, csr_out)  # the layouts csr_in()/csr_out() would build, cut from the joined ones
        y = None if self.labels is None else self.labels[ids]
        return GraphBatch(graph, y, ids)

    def __repr__(self) -> str:
        return (f"GraphDataLoader(graphs={self.index.numel()}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last})")
