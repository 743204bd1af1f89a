"""The immutable sparse :class:`Graph`: edges as ``src``/``dst`` id arrays, never a dense adjacency."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from torch import Tensor

from .frame import DataDict

__all__ = ["Graph", "CSR"]


@dataclass(frozen=True)
class CSR:
    """Compressed rows of a graph's edges.

    ``indptr[v]:indptr[v+1]`` are the stored entries of row ``v``; ``indices`` holds the
    other endpoint of each entry and ``eid`` its edge id in the graph's edge order, or
    ``None`` when the edges are already in row order (the identity permutation).
    """

    indptr: Tensor  # [N + 1] int64
    indices: Tensor  # [E] int64
    eid: Tensor | None  # [E] int64 or None


def _as_index(value: Any, name: str) -> Tensor:
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    elif not isinstance(value, Tensor):
        if isinstance(value, (list, tuple)) and len(value) == 0:
            return torch.zeros(0, dtype=torch.int64)  # an empty list has no dtype to check
        try:
            value = torch.as_tensor(value)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(f"{name} must be a 1-D integer tensor or array, got {type(value).__name__}") from exc
    if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
        raise TypeError(
            f"{name} must hold integer vertex ids (int32 or int64), got dtype {value.dtype}; "
            f"convert with .long() only if the values are whole numbers"
        )
    if value.dim() != 1:
        raise ValueError(f"{name} must be 1-D with shape [E], got shape {tuple(value.shape)}")
    return value.to(torch.int64).contiguous()


@dataclass(frozen=True, eq=False)
class Graph:
    r"""A directed graph over ``num_nodes`` vertices with ``E`` edges ``src[i] -> dst[i]``.

    The graph is immutable; every transform returns a new graph. Messages flow along
    edges, so a layer aggregates over the *in-edges* of each destination vertex:
    :math:`y = A x` with :math:`A_{dst,src} = w_e`. Compressed layouts (CSR by
    destination for aggregation, by source for backward) are built lazily and cached.

    Args:
        src: ``[E]`` source vertex ids, integer.
        dst: ``[E]`` destination vertex ids, integer.
        num_nodes: number of vertices. Always explicit: trailing isolated vertices
            are never lost to a ``max() + 1`` guess.
        batch_num_nodes: ``[B]`` vertices per graph when this graph is a batch.
        batch_num_edges: ``[B]`` edges per graph when this graph is a batch.
        num_src_nodes: for a bipartite graph (a sampled block, a view of expanded
            sources), the size of the source vertex set; ``src`` ids lie in
            ``[0, num_src_nodes)`` and ``dst`` ids in ``[0, num_nodes)``. Default: the
            same vertex set on both sides.
        ndata: vertex data, ``name -> [num_nodes, ...]`` tensors (:attr:`ndata`).
        edata: edge data, ``name -> [E, ...]`` tensors in edge order (:attr:`edata`).
        srcdata: source-vertex data of a bipartite graph, ``name -> [num_src_nodes, ...]``
            (:attr:`srcdata`); for a graph over one vertex set it is ``ndata``.

    The structure (``src``, ``dst``, sizes) is immutable; the data mappings are not, and
    every transform returns a new graph whose mappings hold the matching rows.

    Raises:
        TypeError: non-integer ids or a non-integer ``num_nodes``.
        ValueError: wrong shapes, mismatched lengths, or ids outside ``[0, num_nodes)``.

    Edge cases: zero edges is valid; duplicate edges and self-loops are kept as given
    (use :meth:`coalesce` / :meth:`remove_self_loops`).
    """

    src: Tensor
    dst: Tensor
    num_nodes: int
    batch_num_nodes: Tensor | None = None
    batch_num_edges: Tensor | None = None
    _num_src_nodes: int | None = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False)
    _ndata: DataDict | None = field(default=None, repr=False, compare=False)
    _edata: DataDict | None = field(default=None, repr=False, compare=False)
    _srcdata: DataDict | None = field(default=None, repr=False, compare=False)

    def __init__(
        self,
        src: Any,
        dst: Any,
        num_nodes: int,
        batch_num_nodes: Tensor | None = None,
        batch_num_edges: Tensor | None = None,
        num_src_nodes: int | None = None,
        *,
        ndata: Any = None,
        edata: Any = None,
        srcdata: Any = None,
        _validate: bool = True,
    ) -> None:
        if _validate:
            src, dst = _as_index(src, "src"), _as_index(dst, "dst")
        set_ = object.__setattr__
        set_(self, "src", src)
        set_(self, "dst", dst)
        set_(self, "num_nodes", num_nodes)
        set_(self, "batch_num_nodes", batch_num_nodes)
        set_(self, "batch_num_edges", batch_num_edges)
        set_(self, "_num_src_nodes", None if num_src_nodes is None or num_src_nodes == num_nodes else num_src_nodes)
        set_(self, "_cache", {})
        if _validate:
            self.validate()
        device = self.src.device
        set_(self, "_ndata", DataDict(self.num_nodes, "ndata", "num_nodes", device, ndata))
        set_(self, "_edata", DataDict(self.src.numel(), "edata", "num_edges", device, edata))
        if self._num_src_nodes is None:
            if srcdata is not None and len(srcdata):
                raise ValueError("srcdata is only for a bipartite graph (num_src_nodes given); use ndata")
            set_(self, "_srcdata", self._ndata)
        else:
            set_(self, "_srcdata", DataDict(self._num_src_nodes, "srcdata", "num_src_nodes", device, srcdata))

    # ------------------------------------------------------------------ checks
    def validate(self) -> "Graph":
        """Check ids and sizes once, at construction. Returns ``self``."""
        n = self.num_nodes
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"num_nodes must be an int, got {type(n).__name__} ({n!r})")
        n = int(n)
        object.__setattr__(self, "num_nodes", n)
        if n < 0:
            raise ValueError(f"num_nodes must be >= 0, got {n}")
        ns = self._num_src_nodes
        if ns is not None:
            if isinstance(ns, bool) or not isinstance(ns, (int, np.integer)):
                raise TypeError(f"num_src_nodes must be an int or None, got {type(ns).__name__} ({ns!r})")
            if ns < 0:
                raise ValueError(f"num_src_nodes must be >= 0, got {ns}")
            object.__setattr__(self, "_num_src_nodes", int(ns))
            if self.batch_num_nodes is not None:
                raise ValueError("a bipartite graph (num_src_nodes given) cannot carry batch sizes")
        if self.src.numel() != self.dst.numel():
            raise ValueError(
                f"src and dst must have the same length E, got src of length {self.src.numel()} "
                f"and dst of length {self.dst.numel()}"
            )
        if self.src.device != self.dst.device:
            raise ValueError(f"src and dst must be on one device, got {self.src.device} and {self.dst.device}")
        for name, ids, size, size_name in (
            ("src", self.src, self.num_src_nodes, "num_src_nodes" if self.is_bipartite else "num_nodes"),
            ("dst", self.dst, n, "num_nodes"),
        ):
            if ids.numel() == 0:
                continue
            lo, hi = int(ids.min()), int(ids.max())
            if lo < 0:
                raise ValueError(f"{name} holds a negative vertex id ({lo}); ids must lie in [0, {size_name}={size})")
            if hi >= size:
                raise ValueError(
                    f"{name} holds vertex id {hi} but {size_name} is {size}; ids must lie in [0, {size_name}), "
                    f"so pass {size_name} >= {hi + 1}"
                )
        if (self.batch_num_nodes is None) != (self.batch_num_edges is None):
            raise ValueError("batch_num_nodes and batch_num_edges must be given together")
        if self.batch_num_nodes is not None:
            bn, be = _as_index(self.batch_num_nodes, "batch_num_nodes"), _as_index(self.batch_num_edges, "batch_num_edges")
            object.__setattr__(self, "batch_num_nodes", bn)
            object.__setattr__(self, "batch_num_edges", be)
            if bn.numel() != be.numel():
                raise ValueError(
                    f"batch_num_nodes and batch_num_edges must have one entry per graph, got lengths "
                    f"{bn.numel()} and {be.numel()}"
                )
            if bn.numel() and (int(bn.min()) < 0 or int(be.min()) < 0):
                raise ValueError(f"batch sizes must be >= 0, got batch_num_nodes={bn.tolist()}, batch_num_edges={be.tolist()}")
            if int(bn.sum()) != n or int(be.sum()) != self.num_edges:
                raise ValueError(
                    f"batch sizes do not add up: batch_num_nodes sums to {int(bn.sum())} "
                    f"(num_nodes={n}), batch_num_edges to {int(be.sum())} (E={self.num_edges})"
                )
            # unbatch() slices by these sizes without re-checking: an edge must stay inside its graph
            dev = self.device
            ids = torch.arange(bn.numel(), device=dev)
            graph_of_node = torch.repeat_interleave(ids, bn.to(dev), output_size=n)  # [N]
            graph_of_edge = torch.repeat_interleave(ids, be.to(dev), output_size=self.num_edges)  # [E]
            if self.num_edges and not bool(
                ((graph_of_node[self.src] == graph_of_edge) & (graph_of_node[self.dst] == graph_of_edge)).all()
            ):
                raise ValueError(
                    "batch sizes do not match the edges: edge i of graph k (by batch_num_edges) must join "
                    "vertices of graph k (by batch_num_nodes); build batches with Graph.batch"
                )
        return self

    # -------------------------------------------------------------- properties
    @property
    def num_edges(self) -> int:
        return self.src.numel()

    @property
    def num_src_nodes(self) -> int:
        """Size of the source vertex set (``num_nodes`` unless the graph is bipartite)."""
        return self.num_nodes if self._num_src_nodes is None else self._num_src_nodes

    @property
    def ndata(self) -> DataDict:
        """Vertex data: ``name -> [num_nodes, ...]`` (destination vertices of a bipartite graph)."""
        return self._ndata

    @property
    def edata(self) -> DataDict:
        """Edge data: ``name -> [num_edges, ...]``, row ``i`` belongs to edge ``i``."""
        return self._edata

    @property
    def srcdata(self) -> DataDict:
        """Source-vertex data: ``ndata`` itself unless the graph is bipartite."""
        return self._srcdata

    @property
    def dstdata(self) -> DataDict:
        """Destination-vertex data: always ``ndata``."""
        return self._ndata

    @property
    def is_bipartite(self) -> bool:
        return self._num_src_nodes is not None

    def _require_square(self, what: str) -> None:
        if self.is_bipartite:
            raise ValueError(
                f"{what} needs one vertex set, but this graph is bipartite "
                f"(num_src_nodes={self.num_src_nodes}, num_nodes={self.num_nodes})"
            )

    @property
    def device(self) -> torch.device:
        return self.src.device

    @property
    def edge_index(self) -> Tensor:
        """``[2, E]`` stacked ``(src, dst)``, PyG's layout."""
        return torch.stack([self.src, self.dst])

    @property
    def batch_size(self) -> int:
        return 1 if self.batch_num_nodes is None else self.batch_num_nodes.numel()

    def __repr__(self) -> str:
        extra = "" if self.batch_num_nodes is None else f", batch_size={self.batch_size}"
        if self.is_bipartite:
            extra += f", num_src_nodes={self.num_src_nodes}"
        for name, data in (("ndata", self._ndata), ("edata", self._edata)):
            if len(data):
                extra += f", {name}={sorted(data)}"
        if self.is_bipartite and len(self._srcdata):
            extra += f", srcdata={sorted(self._srcdata)}"
        return f"Graph(num_nodes={self.num_nodes}, num_edges={self.num_edges}{extra}, device={self.device})"

    def _cached(self, key: str, fn):
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    # ---------------------------------------------------------------- layouts
    def _layout(self, key: str, reverse_key: str, build) -> CSR:
        def make() -> CSR:
            rev = self._cache.get("reverse")  # the reversed graph may already hold this layout
            return rev._cache[reverse_key] if rev is not None and reverse_key in rev._cache else build()

        return self._cached(key, make)

    def csr_in(self) -> CSR:
        """CSR by destination: row ``v`` lists the in-edges of ``v`` (sources in ``indices``)."""
        return self._layout("csr_in", "csr_out", lambda: _build_csr(self.dst, self.src, self.num_nodes))

    def csr_out(self) -> CSR:
        """CSR by source: row ``u`` lists the out-edges of ``u`` (destinations in ``indices``)."""
        return self._layout("csr_out", "csr_in", lambda: _build_csr(self.src, self.dst, self.num_src_nodes))

    def in_degrees(self) -> Tensor:
        """``[N]`` int64 number of in-edges per vertex."""
        return self._cached("in_deg", lambda: self.csr_in().indptr.diff())

    def out_degrees(self) -> Tensor:
        """``[num_src_nodes]`` int64 number of out-edges per (source) vertex."""
        return self._cached("out_deg", lambda: self.csr_out().indptr.diff())

    def reverse(self) -> "Graph":
        """The graph with every edge flipped; edge ``i`` stays edge ``i`` (edge data lines up)."""

        def make() -> Graph:
            rev = Graph(self.dst, self.src, self.num_src_nodes, self.batch_num_nodes, self.batch_num_edges,
                        num_src_nodes=self.num_nodes, _validate=False)
            rev._cache["reverse"] = self
            for mine, theirs in (("csr_in", "csr_out"), ("csr_out", "csr_in")):
                if mine in self._cache:
                    rev._cache[theirs] = self._cache[mine]
            return rev

        rev = self._cached("reverse", make)
        # layouts built later on either side are shared with the other
        for mine, theirs in (("csr_in", "csr_out"), ("csr_out", "csr_in")):
            if mine in self._cache and theirs not in rev._cache:
                rev._cache[theirs] = self._cache[mine]
        return rev

    def is_sorted_by_dst(self) -> bool:
        return self.csr_in().eid is None

    # ------------------------------------------------------------- transforms
    def _derive(self, src: Tensor, dst: Tensor) -> "Graph":
        return Graph(src, dst, self.num_nodes, num_src_nodes=self._num_src_nodes, _validate=False)

    def to(self, device: torch.device | str) -> "Graph":
        """Copy to ``device`` (cached layouts are rebuilt there lazily)."""
        device = torch.device(device)
        if device == self.device:
            return self
        bn = None if self.batch_num_nodes is None else self.batch_num_nodes.to(device)
        be = None if self.batch_num_edges is None else self.batch_num_edges.to(device)
        return Graph(self.src.to(device), self.dst.to(device), self.num_nodes, bn, be, self._num_src_nodes, _validate=False)

    def sort_by_dst(self, edge_attr: Tensor | None = None):
        """Reorder edges by (dst, src) so aggregation needs no edge permutation.

        Returns the graph, or ``(graph, edge_attr[perm])`` when ``edge_attr`` is given.
        """
        key = self.dst * max(self.num_src_nodes, 1) + self.src
        perm = torch.argsort(key, stable=True)
        g = self._derive(self.src[perm], self.dst[perm])
        return g if edge_attr is None else (g, edge_attr[perm])

    def add_self_loops(self, edge_weight: Tensor | None = None, fill_value: float = 1.0, only_missing: bool = False):
        """Add the edge ``v -> v`` for every vertex; edges come out sorted by (dst, src).

        Args:
            edge_weight: optional ``[E, ...]`` weights; loops get ``fill_value``.
            fill_value: weight of the added loops.
            only_missing: first drop existing loops and then add one per vertex, keeping
                an existing loop's weight (PyG's ``add_remaining_self_loops``); otherwise
                a vertex that already has a loop gets a second one.

        Returns:
            The graph (cached on this graph), or ``(graph, weights)`` when ``edge_weight`` is given.
        """
        self._require_square("add_self_loops")
        if edge_weight is None:
            return self._cached(f"self_loops_{only_missing}", lambda: self._with_loops(None, fill_value, only_missing))
        if edge_weight.shape[:1] != (self.num_edges,):
            raise ValueError(f"edge_weight must have shape [E={self.num_edges}, ...], got {tuple(edge_weight.shape)}")
        return self._with_loops(edge_weight, fill_value, only_missing)

    def _with_loops(self, w: Tensor | None, fill_value: float, only_missing: bool):
        src, dst = self.src, self.dst
        loops = torch.arange(self.num_nodes, device=self.device)
        loop_w = None
        if w is not None:
            loop_w = w.new_full((self.num_nodes,) + tuple(w.shape[1:]), fill_value)
        if only_missing:
            keep = src != dst
            if w is not None:
                loop_w[src[~keep]] = w[~keep]
                w = w[keep]
            src, dst = src[keep], dst[keep]
        g = self._derive(torch.cat([src, loops]), torch.cat([dst, loops]))
        if w is None:
            return g.sort_by_dst()
        return g.sort_by_dst(torch.cat([w, loop_w]))

    def remove_self_loops(self) -> "Graph":
        keep = self.src != self.dst
        return self._derive(self.src[keep], self.dst[keep])

    def coalesce(self, edge_attr: Tensor | None = None, reduce: str = "sum"):
        """Drop duplicate edges; edges come out sorted by (dst, src).

        Args:
            edge_attr: optional ``[E, ...]`` data merged over duplicates with ``reduce``.
            reduce: ``"sum" | "mean" | "max" | "min"`` for ``edge_attr``.

        Returns:
            The graph, or ``(graph, merged_edge_attr)`` when ``edge_attr`` is given.
        """
        n = max(self.num_src_nodes, 1)
        key = self.dst * n + self.src
        uniq, inverse = torch.unique(key, sorted=True, return_inverse=True)
        g = self._derive(uniq % n, uniq // n)
        if edge_attr is None:
            return g
        if edge_attr.shape[:1] != (self.num_edges,):
            raise ValueError(f"edge_attr must have shape [E={self.num_edges}, ...], got {tuple(edge_attr.shape)}")
        if reduce not in ("sum", "mean", "max", "min"):
            raise ValueError(f"reduce must be 'sum', 'mean', 'max' or 'min', got {reduce!r}")
        red = {"sum": "sum", "mean": "mean", "max": "amax", "min": "amin"}[reduce]
        out = edge_attr.new_zeros((uniq.numel(),) + tuple(edge_attr.shape[1:]))
        idx = inverse.view(-1, *([1] * (edge_attr.dim() - 1))).expand_as(edge_attr)
        out = out.scatter_reduce(0, idx, edge_attr, reduce=red, include_self=False)
        return g, out

    def to_undirected(self) -> "Graph":
        """Add every reversed edge and drop duplicates (sorted by (dst, src))."""
        self._require_square("to_undirected")
        return self._derive(torch.cat([self.src, self.dst]), torch.cat([self.dst, self.src])).coalesce()

    def subgraph(self, nodes: Tensor | Sequence[int]) -> tuple["Graph", Tensor, Tensor]:
        """The subgraph induced by ``nodes`` (ids or a boolean mask of length ``num_nodes``).

        Returns:
            ``(sub, node_ids, edge_ids)``: vertex ``i`` of ``sub`` is ``node_ids[i]`` of this
            graph and edge ``j`` of ``sub`` is edge ``edge_ids[j]``.
        """
        self._require_square("subgraph")
        if isinstance(nodes, (list, tuple)) and len(nodes) == 0:
            nodes = torch.zeros(0, dtype=torch.int64)  # torch.as_tensor([]) would be float32
        nodes = torch.as_tensor(nodes, device=self.device)
        if nodes.dtype == torch.bool:
            if nodes.shape != (self.num_nodes,):
                raise ValueError(f"a boolean nodes mask must have shape [num_nodes={self.num_nodes}], got {tuple(nodes.shape)}")
            nodes = nodes.nonzero().view(-1)
        nodes = _as_index(nodes, "nodes")
        if nodes.numel() and (int(nodes.min()) < 0 or int(nodes.max()) >= self.num_nodes):
            raise IndexError(f"nodes must lie in [0, num_nodes={self.num_nodes}), got ids in [{int(nodes.min())}, {int(nodes.max())}]")
        local = torch.full((self.num_nodes,), -1, dtype=torch.int64, device=self.device)
        local[nodes] = torch.arange(nodes.numel(), device=self.device)
        if int((local[nodes] != torch.arange(nodes.numel(), device=self.device)).sum()):
            raise ValueError("nodes must not contain duplicate ids")
        keep = (local[self.src] >= 0) & (local[self.dst] >= 0)
        edge_ids = keep.nonzero().view(-1)
        sub = Graph(local[self.src[edge_ids]], local[self.dst[edge_ids]], nodes.numel(), _validate=False)
        return sub, nodes, edge_ids

    # --------------------------------------------------------------- batching
    @staticmethod
    def batch(graphs: Sequence["Graph"]) -> "Graph":
        """Join graphs into one disconnected graph; vertex ids of graph ``k`` are offset."""
        graphs = list(graphs)
        if not graphs:
            raise ValueError("batch needs at least one graph, got an empty sequence")
        for i, g in enumerate(graphs):
            if not isinstance(g, Graph):
                raise TypeError(f"graphs[{i}] must be a gnnkit.Graph, got {type(g).__name__}")
            g._require_square(f"batch (graphs[{i}])")
        device = graphs[0].device
        nn = torch.tensor([g.num_nodes for g in graphs], dtype=torch.int64)
        ne = torch.tensor([g.num_edges for g in graphs], dtype=torch.int64)
        offsets = torch.cumsum(nn, 0) - nn
        shift = torch.repeat_interleave(offsets, ne).to(device)
        src = torch.cat([g.src for g in graphs]) + shift
        dst = torch.cat([g.dst for g in graphs]) + shift
        return Graph(src, dst, int(nn.sum()), nn.to(device), ne.to(device), _validate=False)

    def unbatch(self) -> list["Graph"]:
        """Split a batched graph back into its graphs (inverse of :meth:`batch`)."""
        if self.batch_num_nodes is None:
            return [self]
        nn, ne = self.batch_num_nodes.tolist(), self.batch_num_edges.tolist()
        out, node_off, edge_off = [], 0, 0
        for n, e in zip(nn, ne):
            s = self.src[edge_off : edge_off + e] - node_off
            d = self.dst[edge_off : edge_off + e] - node_off
            out.append(Graph(s, d, n, _validate=False))
            node_off += n
            edge_off += e
        return out

    def node_graph(self) -> Tensor:
        """``[N]`` index of the graph each vertex belongs to (all zeros for an unbatched graph)."""
        if self.batch_num_nodes is None:
            return torch.zeros(self.num_nodes, dtype=torch.int64, device=self.device)
        return self._cached(
            "node_graph",
            lambda: torch.repeat_interleave(torch.arange(self.batch_size, device=self.device), self.batch_num_nodes),
        )

    # ------------------------------------------------------------ converters
    @staticmethod
    def from_edge_index(edge_index: Any, num_nodes: int) -> "Graph":
        """From a ``[2, E]`` ``(src, dst)`` array (PyG's layout)."""
        ei = torch.as_tensor(edge_index) if not isinstance(edge_index, Tensor) else edge_index
        if ei.dim() != 2 or ei.shape[0] != 2:
            raise ValueError(f"edge_index must have shape [2, E], got {tuple(ei.shape)}")
        return Graph(ei[0], ei[1], num_nodes)

    @staticmethod
    def from_edges(edges: Iterable[tuple[int, int]], num_nodes: int) -> "Graph":
        """From a list of ``(src, dst)`` pairs."""
        arr = np.asarray(list(edges), dtype=np.int64).reshape(-1, 2)
        return Graph(arr[:, 0], arr[:, 1], num_nodes)

    @staticmethod
    def from_scipy(matrix: Any) -> tuple["Graph", Tensor]:
        """From a scipy sparse matrix with ``A[src, dst] = w``.

        A square ``[N, N]`` matrix gives a graph over N vertices; a rectangular
        ``[S, N]`` one gives a bipartite graph with ``num_src_nodes = S``.
        Returns ``(graph, edge_weight)``; explicit zeros are kept as edges.
        """
        import scipy.sparse as sp

        if not sp.issparse(matrix):
            raise TypeError(f"matrix must be a scipy.sparse matrix, got {type(matrix).__name__}")
        coo = matrix.tocoo()
        g = Graph(coo.row.astype(np.int64), coo.col.astype(np.int64), int(matrix.shape[1]), num_src_nodes=int(matrix.shape[0]))
        return g, torch.from_numpy(np.asarray(coo.data))

    def to_scipy(self, edge_weight: Tensor | None = None, fmt: str = "csr"):
        """As an ``[num_src_nodes, N]`` scipy sparse matrix with ``A[src, dst] = w`` (duplicates summed)."""
        import scipy.sparse as sp

        w = np.ones(self.num_edges, dtype=np.float32) if edge_weight is None else edge_weight.detach().cpu().numpy()
        a = sp.coo_matrix((w, (self.src.cpu().numpy(), self.dst.cpu().numpy())), shape=(self.num_src_nodes, self.num_nodes))
        return a.asformat(fmt)

    @staticmethod
    def from_networkx(nx_graph: Any) -> tuple["Graph", list]:
        """From a networkx graph; undirected edges become two directed edges.

        Returns ``(graph, nodes)`` where vertex ``i`` is ``nodes[i]`` of ``nx_graph``.
        """
        nodes = list(nx_graph.nodes)
        index = {v: i for i, v in enumerate(nodes)}
        pairs = [(index[u], index[v]) for u, v in nx_graph.edges()]
        if not nx_graph.is_directed():
            pairs += [(v, u) for u, v in pairs if u != v]
        return Graph.from_edges(pairs, len(nodes)), nodes

    def to_networkx(self):
        """As a ``networkx.MultiDiGraph`` (keeps duplicate edges) with vertices ``0..N-1``."""
        import networkx as nx

        self._require_square("to_networkx")
        out = nx.MultiDiGraph()
        out.add_nodes_from(range(self.num_nodes))
        out.add_edges_from(zip(self.src.tolist(), self.dst.tolist()))
        return out

    @staticmethod
    def from_dgl(dgl_graph: Any) -> "Graph":
        """From a homogeneous ``DGLGraph`` (edge order kept)."""
        if len(dgl_graph.ntypes) != 1 or len(dgl_graph.etypes) != 1:
            raise ValueError(
                f"from_dgl needs a homogeneous graph, got node types {dgl_graph.ntypes} and edge types "
                f"{dgl_graph.etypes}; use gnnkit.MultiViewGraph for several edge types"
            )
        s, d = dgl_graph.edges(order="eid")
        return Graph(s, d, dgl_graph.num_nodes())

    def to_dgl(self):
        import dgl

        return dgl.graph((self.src, self.dst), num_nodes=self.num_nodes)

    @staticmethod
    def from_pyg(data: Any) -> "Graph":
        """From a PyG ``Data`` (its ``edge_index`` and ``num_nodes``)."""
        if getattr(data, "edge_index", None) is None:
            raise ValueError("data has no edge_index")
        return Graph.from_edge_index(data.edge_index, int(data.num_nodes))

    def to_pyg(self, **attrs: Any):
        from torch_geometric.data import Data

        return Data(edge_index=self.edge_index, num_nodes=self.num_nodes, **attrs)

    def equal(self, other: "Graph") -> bool:
        """Same vertex count and the same edges in the same order."""
        return (
            isinstance(other, Graph)
            and self.num_nodes == other.num_nodes
            and self.num_src_nodes == other.num_src_nodes
            and torch.equal(self.src, other.src)
            and torch.equal(self.dst, other.dst)
        )


def _build_csr(rows: Tensor, cols: Tensor, num_rows: int) -> CSR:
    counts = torch.bincount(rows, minlength=num_rows) if rows.numel() else torch.zeros(num_rows, dtype=torch.int64, device=rows.device)
    indptr = torch.zeros(num_rows + 1, dtype=torch.int64, device=rows.device)
    torch.cumsum(counts, 0, out=indptr[1:])
    if rows.numel() == 0 or bool((rows[1:] >= rows[:-1]).all()):
        return CSR(indptr, cols.contiguous(), None)
    eid = torch.argsort(rows, stable=True)
    return CSR(indptr, cols[eid].contiguous(), eid)
