"""The immutable sparse :class:`Graph`: edges as ``src``/``dst`` id arrays, never a dense adjacency."""
from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
from torch import Tensor

from ._attrs import records_to_tensors
from .frame import DataDict
from .idkeys import lexsort_ids, unique_id_pairs

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


def _as_index(value: Any, name: str, copy: bool = False) -> Tensor:
    """``value`` as a contiguous 1-D int64 tensor.

    With ``copy=True`` the result never shares memory with ``value``: a caller who later
    writes into their tensor or numpy array cannot change ids that were already validated
    (an out-of-range id would reach the compiled kernels, which trust their input).
    """
    given = value
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
    out = value.to(torch.int64).contiguous()
    if copy and (isinstance(given, np.ndarray) or (isinstance(given, Tensor) and _shares_memory(out, given))):
        out = out.clone()
    return out


def _shares_memory(a: Tensor, b: Tensor) -> bool:
    return a.numel() > 0 and a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


def _versions(src: Tensor, dst: Tensor) -> tuple[int, int] | None:
    """The in-place write counters of ``src`` and ``dst`` (``None`` for inference tensors, which have none)."""
    if src.is_inference() or dst.is_inference():
        return None
    return src._version, dst._version


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

    Ownership: ``src`` and ``dst`` are copied when they share memory with what the caller
    passed, so writing into the caller's tensor or numpy array afterwards cannot change the
    graph (the compiled kernels trust validated ids; an id changed after validation could
    read outside an array). The copy is the main cost of construction: for 10 M edges on the
    2-core machine, 230 ms with it against 26 ms for validation alone (medians of 9; an 80 MB
    clone costs 86 ms, mostly page faults). So only ids a caller could still write are copied:
    transforms, samplers, loaders and converters pass ids they just built and skip the copy.
    Writing into ``g.src``/``g.dst`` in place is caught through torch's version counter:
    every op and every layout build raises ``RuntimeError`` on such a graph.
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
    _index_versions: tuple[int, int] | None = field(default=None, repr=False, compare=False)

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
        _copy: bool = True,
    ) -> None:
        # The graph owns its ids: a caller's tensor or array is copied (16 bytes per edge,
        # see Graph's docstring for the cost), so validated ids cannot change under the kernels.
        # Internal callers that pass freshly built tensors nobody else holds skip the copy
        # (``_copy=False``, or ``_validate=False`` for ids that are valid by construction).
        if _validate:
            src, dst = _as_index(src, "src", copy=_copy), _as_index(dst, "dst", copy=_copy)
        set_ = object.__setattr__
        set_(self, "src", src)
        set_(self, "dst", dst)
        set_(self, "_index_versions", _versions(src, dst))
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
    def _check_unchanged(self) -> None:
        """Raise if ``src``/``dst`` were written in place since construction (two int reads, no sync).

        Raises:
            RuntimeError: an in-place write into ``g.src`` or ``g.dst``.
        """
        # under torch.compile the write counters are symbolic: the check runs in the eager steps
        # (one is needed to cache the layouts before compiling), not inside the traced graph
        if torch.compiler.is_compiling():
            return
        if self._index_versions is not None and self._index_versions != (self.src._version, self.dst._version):
            raise RuntimeError(
                "g.src or g.dst was modified in place after the graph was built; a Graph's structure is "
                "immutable, so build a new Graph(src, dst, num_nodes) from the changed ids instead"
            )

    def __setstate__(self, state: dict) -> None:
        # unpickled (a loader worker's batch, deepcopy): the ids are fresh tensors with their own
        # write counters, which the counters recorded in the other process do not describe
        for key, value in state.items():
            object.__setattr__(self, key, value)
        object.__setattr__(self, "_index_versions", _versions(self.src, self.dst))

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
            # copied like the ids: unbatch() slices by these sizes without re-checking them
            bn = _as_index(self.batch_num_nodes, "batch_num_nodes", copy=True)
            be = _as_index(self.batch_num_edges, "batch_num_edges", copy=True)
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
        self._check_unchanged()  # a layout built from, or aliasing, rewritten ids would reach the kernels

        def make() -> CSR:
            rev = self._cache.get("reverse")  # the reversed graph may already hold this layout
            return rev._cache[reverse_key] if rev is not None and reverse_key in rev._cache else build()

        return self._cached(key, make)

    def _set_layouts(self, csr_in: CSR | None = None, csr_out: CSR | None = None) -> "Graph":
        """Cache layouts that an internal producer built with the graph (trusted: not checked).

        A loader that cuts a batch out of one pre-sorted concatenation, or a readout whose pooling
        graph is sorted by construction, knows both CSRs from a few gathers and a cumsum; building
        them here costs a bincount and a sort each. They must equal what :meth:`csr_in` /
        :meth:`csr_out` would build (``eid`` may be an explicit identity where those give None).
        Returns ``self``.
        """
        for key, csr in (("csr_in", csr_in), ("csr_out", csr_out)):
            if csr is not None:
                self._cache[key] = csr
        return self

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
        """The graph with every edge flipped; edge ``i`` stays edge ``i`` (edge data lines up).

        The reversed graph shares this graph's data mappings (no copy): its ``edata`` is
        this ``edata``; for a bipartite graph its ``ndata`` is this ``srcdata`` and its
        ``srcdata`` this ``ndata``. It is cached, and a backward pass calls it on every step.
        """

        def make() -> Graph:
            rev = Graph(self.dst, self.src, self.num_src_nodes, self.batch_num_nodes, self.batch_num_edges,
                        num_src_nodes=self.num_nodes, _validate=False)
            set_ = object.__setattr__
            set_(rev, "_ndata", self._srcdata)
            set_(rev, "_edata", self._edata)
            set_(rev, "_srcdata", self._ndata if rev.is_bipartite else self._srcdata)
            # the reversed graph shares our id tensors: it checks them against our construction-time counters
            set_(rev, "_index_versions", None if self._index_versions is None else self._index_versions[::-1])
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
    def _derive(self, src: Tensor, dst: Tensor, edata: dict[str, Tensor] | None = None) -> "Graph":
        """A graph over the same vertex sets with new edges: vertex data carried (same tensors), ``edata`` given."""
        return Graph(src, dst, self.num_nodes, num_src_nodes=self._num_src_nodes, ndata=self._ndata, edata=edata,
                     srcdata=self._srcdata if self.is_bipartite else None, _validate=False)

    def _data_items(self) -> tuple:
        """Every ``(mapping, name, tensor)`` this graph carries: the identity a cached transform was built from."""
        out: tuple = ()
        for tag, data in (("n", self._ndata), ("e", self._edata), ("s", self._srcdata if self.is_bipartite else None)):
            if data:  # an empty mapping costs one len() on the layers' hot path
                out += tuple((tag, k, v) for k, v in data.items())
        return out

    def to(self, device: torch.device | str) -> "Graph":
        """Copy to ``device`` with all its data (cached layouts are rebuilt there lazily)."""
        device = torch.device(device)
        if device == self.device:
            return self
        bn = None if self.batch_num_nodes is None else self.batch_num_nodes.to(device)
        be = None if self.batch_num_edges is None else self.batch_num_edges.to(device)

        def move(data: DataDict) -> DataDict:
            return data.derive(data.size, lambda _k, v: v.to(device), device)

        return Graph(self.src.to(device), self.dst.to(device), self.num_nodes, bn, be, self._num_src_nodes,
                     ndata=move(self._ndata), edata=move(self._edata),
                     srcdata=move(self._srcdata) if self.is_bipartite else None, _validate=False)

    def sort_by_dst(self, edge_weight: Tensor | None = None, *, edge_attr: Tensor | None = None):
        """Reorder edges by (dst, src) so aggregation needs no edge permutation; ``edata`` rows follow.

        Args:
            edge_weight: optional ``[E, ...]`` tensor reordered like the edges.
            edge_attr: deprecated name of ``edge_weight``.

        Returns:
            The graph, or ``(graph, edge_weight[perm])`` when ``edge_weight`` is given.
        """
        edge_weight = _edge_weight_arg(edge_weight, edge_attr, "sort_by_dst", self.num_edges)
        perm = lexsort_ids((self.dst, self.src), (self.num_nodes, self.num_src_nodes))  # [E]
        g = self._derive(self.src[perm], self.dst[perm], self._edata.select(perm))
        return g if edge_weight is None else (g, edge_weight[perm])

    def add_self_loops(self, edge_weight: Tensor | None = None, fill_value: float | str | Mapping[str, float | str] = 1.0,
                       only_missing: bool = False, *, edge_attr: Tensor | None = None):
        """Add the edge ``v -> v`` for every vertex; edges come out sorted by (dst, src).

        Args:
            edge_weight: optional ``[E, ...]`` weights; loops get ``fill_value``.
            fill_value: value of the added loops in ``edge_weight`` and in every ``edata``
                tensor; a mapping gives one per ``edata`` name (``"edge_weight"`` for the
                ``edge_weight`` argument), and a name it leaves out gets 1.0. ``"mean"`` gives
                a vertex's loop the mean of the rows of its in-edges in this graph (0 for a
                vertex without any), as PyG's ``fill_value="mean"`` does for edge features.
            only_missing: first drop existing loops and then add one per vertex, keeping
                an existing loop's weight and ``edata`` rows (PyG's ``add_remaining_self_loops``);
                otherwise a vertex that already has a loop gets a second one.
            edge_attr: deprecated name of ``edge_weight``.

        Returns:
            The graph (cached on this graph while its data tensors stay the same), or
            ``(graph, weights)`` when ``edge_weight`` is given.

        Raises:
            ValueError: a bipartite graph, a wrong ``edge_weight`` shape, a ``fill_value``
                mapping naming an edge tensor that does not exist.
            TypeError: a fill value that is not a number or ``"mean"``, or ``"mean"`` of a bool tensor.
        """
        self._require_square("add_self_loops")
        key = "self_loops_" + str(only_missing)
        if edge_weight is None and edge_attr is None:
            # layers call this on every forward: reuse the result while the options and data tensors are the same
            hit, data = self._cache.get(key), self._data_items()
            if hit is not None and type(hit[0]) is type(fill_value) and hit[0] == fill_value and _same_items(hit[1], data):
                return hit[2]
        edge_weight = _edge_weight_arg(edge_weight, edge_attr, "add_self_loops", self.num_edges)
        fills = _per_name(fill_value, list(self._edata) + (["edge_weight"] if edge_weight is not None else []),
                          "fill_value", 1.0, _check_loop_fill)
        if edge_weight is not None:
            return self._with_loops(edge_weight, fills, only_missing)
        g = self._with_loops(None, fills, only_missing)
        self._cache[key] = (dict(fill_value) if isinstance(fill_value, Mapping) else fill_value, data, g)
        return g

    def _with_loops(self, w: Tensor | None, fills: dict[str, float | str], only_missing: bool):
        src, dst, n = self.src, self.dst, self.num_nodes
        loops = torch.arange(n, device=self.device)
        if only_missing:
            is_loop = src == dst
            kept, old_loops = (~is_loop).nonzero().view(-1), is_loop.nonzero().view(-1)  # edge ids
            src, dst = src[kept], dst[kept]
        all_src, all_dst = torch.cat([src, loops]), torch.cat([dst, loops])
        perm = lexsort_ids((all_dst, all_src), (n, n))  # sorted by (dst, src)

        def carry(value: Tensor, fill: float | str, name: str) -> Tensor:
            if fill == "mean":  # over all in-edges before any loop is dropped, as PyG's add_*self_loops
                loop_rows = _merge_rows(value, self.dst, n, "mean", name)  # [N, ...]
            else:
                loop_rows = value.new_full((n,) + tuple(value.shape[1:]), fill)  # [N, ...]
            if only_missing:
                # an existing loop keeps its rows; out of place, as a "mean" fill is in the autograd graph
                loop_rows = loop_rows.index_put((self.src[old_loops],), value[old_loops])
                value = value[kept]
            return torch.cat([value, loop_rows])[perm]

        edata = {k: carry(v, fills[k], f"edata[{k!r}]") for k, v in self._edata.items()}
        g = self._derive(all_src[perm], all_dst[perm], edata)
        return g if w is None else (g, carry(w, fills["edge_weight"], "edge_weight"))

    def remove_self_loops(self) -> "Graph":
        """Drop every edge ``v -> v``; the other edges keep their order and ``edata`` rows."""
        keep = (self.src != self.dst).nonzero().view(-1)
        return self._derive(self.src[keep], self.dst[keep], self._edata.select(keep))

    def coalesce(self, edge_weight: Tensor | None = None, reduce: str | Mapping[str, str] = "sum", *,
                 edge_attr: Tensor | None = None):
        """Drop duplicate edges; edges come out sorted by (dst, src).

        Args:
            edge_weight: optional ``[E, ...]`` data merged over duplicates.
            reduce: ``"sum" | "mean" | "max" | "min"``: how the rows of duplicate edges are
                merged, in ``edge_weight`` and in every ``edata`` tensor; a mapping gives one
                per ``edata`` name (``"edge_weight"`` for the argument), and a name it leaves
                out gets ``"sum"``.
            edge_attr: deprecated name of ``edge_weight``.

        Returns:
            The graph, or ``(graph, merged_edge_weight)`` when ``edge_weight`` is given.

        Raises:
            ValueError: an unknown reduce, a mapping naming a missing edge tensor, a wrong
                ``edge_weight`` shape. TypeError: ``"mean"`` of a boolean tensor.
        """
        edge_weight = _edge_weight_arg(edge_weight, edge_attr, "coalesce", self.num_edges)
        reduces = _per_name(reduce, list(self._edata) + (["edge_weight"] if edge_weight is not None else []),
                            "reduce", "sum", _check_reduce)
        dst, src, inverse = unique_id_pairs(self.dst, self.src, self.num_nodes, self.num_src_nodes)  # no int64 overflow
        m = src.numel()
        g = self._derive(src, dst,
                         {k: _merge_rows(v, inverse, m, reduces[k], f"edata[{k!r}]") for k, v in self._edata.items()})
        if edge_weight is None:
            return g
        return g, _merge_rows(edge_weight, inverse, m, reduces["edge_weight"], "edge_weight")

    def to_undirected(self, reduce: str | Mapping[str, str] = "sum") -> "Graph":
        """Add every reversed edge and drop duplicates (sorted by (dst, src)).

        A reversed copy carries its edge's ``edata`` rows; the rows of the edges that then
        coincide (``u -> v`` and ``v -> u``, a self-loop and its copy, duplicates) are
        merged with ``reduce`` as in :meth:`coalesce` (with ``"sum"`` a self-loop's value doubles).
        """
        self._require_square("to_undirected")
        both = self._derive(torch.cat([self.src, self.dst]), torch.cat([self.dst, self.src]),
                            {k: torch.cat([v, v]) for k, v in self._edata.items()})
        return both.coalesce(reduce=reduce)

    def subgraph(self, nodes: Tensor | Sequence[int]) -> tuple["Graph", Tensor, Tensor]:
        """The subgraph induced by ``nodes`` (ids or a boolean mask of length ``num_nodes``).

        Its ``ndata`` holds rows ``node_ids`` of this graph's and its ``edata`` rows ``edge_ids``.

        Returns:
            ``(sub, node_ids, edge_ids)``: vertex ``i`` of ``sub`` is ``node_ids[i]`` of this
            graph and edge ``j`` of ``sub`` is edge ``edge_ids[j]``.

        Memory: ids are relabelled through a ``[num_nodes]`` table only while that is at most
        about 8 entries per edge or kept vertex; a graph with far more vertices (ids up to
        ``2**40`` on a handful of edges) uses a binary search in the sorted ``nodes``, O(E + k).

        Raises:
            ValueError: a bipartite graph, duplicate ids, a boolean mask of the wrong shape.
            IndexError: ids outside ``[0, num_nodes)``.
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
        k = nodes.numel()
        if self.num_nodes <= _DENSE_RELABEL_FACTOR * (self.num_edges + k) + _DENSE_RELABEL_MIN:
            relabel = _relabel_table(nodes, self.num_nodes)
        else:  # a [num_nodes] table would dwarf the graph (ids up to 2**40, few edges): binary search instead
            relabel = _relabel_search(nodes)
        local_src, local_dst = relabel(self.src), relabel(self.dst)  # [E] each, -1 outside nodes
        edge_ids = ((local_src >= 0) & (local_dst >= 0)).nonzero().view(-1)
        sub = Graph(local_src[edge_ids], local_dst[edge_ids], k,
                    ndata=self._ndata.select(nodes), edata=self._edata.select(edge_ids), _validate=False)
        return sub, nodes, edge_ids

    def dst_range(self, start: int, stop: int) -> tuple["Graph", Tensor]:
        """The in-edges of destinations ``[start, stop)`` as a bipartite graph over all sources.

        Destination ``i`` of the result is vertex ``start + i``; the sources keep their ids
        (``num_src_nodes`` is this graph's), so source features are read in place: nothing is
        relabelled or gathered. The edges are rows ``[start, stop)`` of :meth:`csr_in`, in its
        order (by destination, then by edge id): the result's ``src`` is a view of its
        ``indices`` and the result's own CSR is that slice (cached, no count or sort), so a
        chunk costs one ``[E_range]`` destination array. Its ``ndata`` holds rows
        ``[start, stop)`` (views), its source data this graph's source data and its ``edata``
        rows ``edge_ids``. Layer-wise inference aggregates one chunk of destinations this way.

        Args:
            start, stop: the destination range, ``0 <= start <= stop <= num_nodes``.

        Returns:
            ``(sub, edge_ids)``: edge ``j`` of ``sub`` is edge ``edge_ids[j]`` of this graph
            (to select its edge weights).

        Raises:
            IndexError: a range outside ``[0, num_nodes]``.
        """
        if not (isinstance(start, int) and isinstance(stop, int) and 0 <= start <= stop <= self.num_nodes):
            raise IndexError(f"start and stop must satisfy 0 <= start <= stop <= num_nodes={self.num_nodes}, "
                             f"got start={start!r}, stop={stop!r}")
        csr = self.csr_in()
        e0, e1 = int(csr.indptr[start]), int(csr.indptr[stop])
        indptr = csr.indptr[start:stop + 1] - e0  # [n + 1]
        dst = torch.repeat_interleave(torch.arange(stop - start, device=self.device), indptr.diff())  # [E_range]
        edge_ids = torch.arange(e0, e1, device=self.device) if csr.eid is None else csr.eid[e0:e1]  # [E_range]
        edata = self._edata.select(edge_ids) if len(self._edata) else None
        whole = start == 0 and stop == self.num_nodes == self.num_src_nodes  # one vertex set: not bipartite
        sub = Graph(csr.indices[e0:e1], dst, stop - start, num_src_nodes=self.num_src_nodes,
                    ndata={k: v[start:stop] for k, v in self._ndata.items()}, edata=edata,
                    srcdata=None if whole else dict(self._srcdata.items()), _validate=False)
        sub._cache["csr_in"] = CSR(indptr, sub.src, None)  # the slice is already sorted by destination
        return sub, edge_ids

    # --------------------------------------------------------------- batching
    @staticmethod
    def batch(graphs: Sequence["Graph"]) -> "Graph":
        """Join graphs into one disconnected graph; vertex ids of graph ``k`` are offset.

        ``ndata`` and ``edata`` are concatenated in graph order, so every graph must carry
        the same names with the same trailing shapes and dtypes.

        Raises:
            ValueError: no graphs, a bipartite graph, or data that differ from ``graphs[0]``'s
                (the message names the graph index and the key).
            TypeError: an item that is not a Graph.
        """
        graphs = list(graphs)
        if not graphs:
            raise ValueError("batch needs at least one graph, got an empty sequence")
        for i, g in enumerate(graphs):
            if not isinstance(g, Graph):
                raise TypeError(f"graphs[{i}] must be a gnnkit.Graph, got {type(g).__name__}")
            g._require_square(f"batch (graphs[{i}])")
        first = graphs[0]
        for i, g in enumerate(graphs[1:], start=1):
            for what in ("ndata", "edata"):
                _check_same_schema(getattr(first, what), getattr(g, what), what, i)
        device = first.device
        nn = torch.tensor([g.num_nodes for g in graphs], dtype=torch.int64)
        ne = torch.tensor([g.num_edges for g in graphs], dtype=torch.int64)
        offsets = torch.cumsum(nn, 0) - nn
        shift = torch.repeat_interleave(offsets, ne).to(device)
        src = torch.cat([g.src for g in graphs]) + shift
        dst = torch.cat([g.dst for g in graphs]) + shift
        ndata = {k: torch.cat([g.ndata[k] for g in graphs]) for k in first.ndata}
        edata = {k: torch.cat([g.edata[k] for g in graphs]) for k in first.edata}
        return Graph(src, dst, int(nn.sum()), nn.to(device), ne.to(device), ndata=ndata, edata=edata, _validate=False)

    def unbatch(self) -> list["Graph"]:
        """Split a batched graph back into its graphs (inverse of :meth:`batch`), data included (views)."""
        if self.batch_num_nodes is None:
            return [self]
        nn, ne = self.batch_num_nodes.tolist(), self.batch_num_edges.tolist()
        nsplit = {k: torch.split(v, nn) for k, v in self._ndata.items()}
        esplit = {k: torch.split(v, ne) for k, v in self._edata.items()}
        out, node_off, edge_off = [], 0, 0
        for i, (n, e) in enumerate(zip(nn, ne)):
            s = self.src[edge_off : edge_off + e] - node_off
            d = self.dst[edge_off : edge_off + e] - node_off
            out.append(Graph(s, d, n, ndata={k: v[i] for k, v in nsplit.items()},
                             edata={k: v[i] for k, v in esplit.items()}, _validate=False))
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

    @staticmethod
    def block(src: Any, dst: Any, num_nodes: int, num_src_nodes: int, *, srcdata: Mapping[str, Tensor] | None = None,
              edata: Mapping[str, Tensor] | None = None, _validate: bool = True) -> "Graph":
        """A bipartite graph in DGL's block convention: the first ``num_nodes`` sources are the destinations.

        A sampled block and a partition's local graph have this form. The destination data
        are therefore the first ``num_nodes`` rows of the source data: ``ndata`` holds views of
        ``srcdata`` and nothing is gathered twice.

        Args:
            src: ``[E]`` source ids in ``[0, num_src_nodes)``.
            dst: ``[E]`` destination ids in ``[0, num_nodes)``.
            num_nodes: destinations (``<= num_src_nodes``).
            num_src_nodes: sources.
            srcdata: ``name -> [num_src_nodes, ...]`` source-vertex data.
            edata: ``name -> [E, ...]`` edge data.

        Raises:
            ValueError: ``num_nodes > num_src_nodes``, or what :class:`Graph` raises.
        """
        if num_nodes > num_src_nodes:
            raise ValueError(
                f"a block's destinations are its first sources, so num_nodes ({num_nodes}) must be <= "
                f"num_src_nodes ({num_src_nodes})"
            )
        srcdata = {} if srcdata is None else srcdata
        ndata = {k: v[:num_nodes] for k, v in srcdata.items()}  # [num_nodes, ...] views
        return Graph(src, dst, num_nodes, num_src_nodes=num_src_nodes, ndata=ndata, edata=edata,
                     srcdata=srcdata if num_src_nodes != num_nodes else None, _validate=_validate)

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
        return Graph(arr[:, 0], arr[:, 1], num_nodes, _copy=False)  # arr is ours

    @staticmethod
    def from_scipy(matrix: Any) -> tuple["Graph", Tensor]:
        """From a scipy sparse matrix with ``A[src, dst] = w``.

        A square ``[N, N]`` matrix gives a graph over N vertices; a rectangular
        ``[S, N]`` one gives a bipartite graph with ``num_src_nodes = S``.
        Returns ``(graph, edge_weight)``; the graph also carries the values as
        ``edata["edge_weight"]``. Explicit zeros are kept as edges.
        """
        import scipy.sparse as sp

        if not sp.issparse(matrix):
            raise TypeError(f"matrix must be a scipy.sparse matrix, got {type(matrix).__name__}")
        coo = matrix.tocoo()
        w = torch.from_numpy(np.asarray(coo.data))
        g = Graph(coo.row.astype(np.int64), coo.col.astype(np.int64), int(matrix.shape[1]),  # astype copies
                  num_src_nodes=int(matrix.shape[0]), edata={"edge_weight": w}, _copy=False)
        return g, w

    def to_scipy(self, edge_weight: Tensor | None = None, fmt: str = "csr"):
        """As an ``[num_src_nodes, N]`` scipy sparse matrix with ``A[src, dst] = w`` (duplicates summed).

        ``w`` is ``edge_weight``, else ``edata["edge_weight"]`` when the graph has it, else ones.

        Raises:
            ValueError: weights that are not ``[E]``.
        """
        import scipy.sparse as sp

        name = "edge_weight"
        if edge_weight is None and "edge_weight" in self._edata:
            edge_weight, name = self._edata["edge_weight"], "edata['edge_weight']"
        if edge_weight is not None and tuple(edge_weight.shape) != (self.num_edges,):
            raise ValueError(f"{name} must have shape [E={self.num_edges}] for a scipy matrix, got {tuple(edge_weight.shape)}")
        w = np.ones(self.num_edges, dtype=np.float32) if edge_weight is None else edge_weight.detach().cpu().numpy()
        a = sp.coo_matrix((w, (self.src.cpu().numpy(), self.dst.cpu().numpy())), shape=(self.num_src_nodes, self.num_nodes))
        return a.asformat(fmt)

    @staticmethod
    def from_networkx(nx_graph: Any) -> tuple["Graph", list]:
        """From a networkx graph; undirected edges become two directed edges.

        Vertex and edge attributes become ``ndata``/``edata`` under their own names when
        their values are numbers or equal-length sequences of numbers on every vertex
        (edge); an attribute with any other value (a string, ``None``) is left out. The
        two directed copies of an undirected edge carry the same row. Python floats give
        float32, ints int64, bools bool; numpy arrays and tensors keep their dtype.

        Returns:
            ``(graph, nodes)`` where vertex ``i`` is ``nodes[i]`` of ``nx_graph``.

        Raises:
            ValueError: a numeric attribute that is missing on some vertex (edge) or whose
                sequences differ in length (the message names the attribute).
        """
        nodes = list(nx_graph.nodes)
        index = {v: i for i, v in enumerate(nodes)}
        triples = list(nx_graph.edges(data=True))
        src = torch.tensor([index[u] for u, _, _ in triples], dtype=torch.int64)
        dst = torch.tensor([index[v] for _, v, _ in triples], dtype=torch.int64)
        ndata = records_to_tensors([nx_graph.nodes[v] for v in nodes], "vertex")
        edata = records_to_tensors([d for _, _, d in triples], "edge")
        if not nx_graph.is_directed():
            back = (src != dst).nonzero().view(-1)  # a self-loop is one edge, not two
            src, dst = torch.cat([src, dst[back]]), torch.cat([dst, src[back]])
            edata = {k: torch.cat([v, v[back]]) for k, v in edata.items()}
        return Graph(src, dst, len(nodes), ndata=ndata, edata=edata, _copy=False), nodes

    def to_networkx(self):
        """As a ``networkx.MultiDiGraph`` (keeps duplicate edges) with vertices ``0..N-1``.

        ``ndata``/``edata`` become vertex/edge attributes of the same names: a number per
        vertex (edge) for a ``[N]`` tensor, a nested list for ``[N, ...]``.
        """
        import networkx as nx

        self._require_square("to_networkx")
        out = nx.MultiDiGraph()
        nvals = {k: v.detach().cpu().tolist() for k, v in self._ndata.items()}
        evals = {k: v.detach().cpu().tolist() for k, v in self._edata.items()}
        out.add_nodes_from((i, {k: v[i] for k, v in nvals.items()}) for i in range(self.num_nodes))
        out.add_edges_from((s, d, {k: v[j] for k, v in evals.items()})
                           for j, (s, d) in enumerate(zip(self.src.tolist(), self.dst.tolist())))
        return out

    @staticmethod
    def from_dgl(dgl_graph: Any) -> "Graph":
        """From a homogeneous ``DGLGraph`` or a DGL block (edge order kept), with its data.

        ``ndata``/``edata`` are carried under their own names (DGL's ``dgl.NID``/``dgl.EID``
        included). A block becomes a bipartite graph with ``srcdata``/``dstdata``; a block
        with as many sources as destinations is one vertex set and keeps only ``dstdata``.
        """
        one_type = (len(dgl_graph.srctypes) == len(dgl_graph.dsttypes) == 1) if dgl_graph.is_block else len(dgl_graph.ntypes) == 1
        if not one_type or len(dgl_graph.etypes) != 1:
            raise ValueError(
                f"from_dgl needs a homogeneous graph, got node types {dgl_graph.ntypes} and edge types "
                f"{dgl_graph.etypes}; use gnnkit.MultiViewGraph for several edge types"
            )
        s, d = dgl_graph.edges(order="eid")
        edata = dict(dgl_graph.edata)
        if dgl_graph.is_block:
            ns, nd = dgl_graph.num_src_nodes(), dgl_graph.num_dst_nodes()
            return Graph(s, d, nd, num_src_nodes=ns, ndata=dict(dgl_graph.dstdata), edata=edata,
                         srcdata=dict(dgl_graph.srcdata) if ns != nd else None)
        return Graph(s, d, dgl_graph.num_nodes(), ndata=dict(dgl_graph.ndata), edata=edata)

    def to_dgl(self):
        """As a ``DGLGraph`` with ``ndata``/``edata``; a bipartite graph becomes a DGL block (``srcdata``/``dstdata``)."""
        import dgl

        if self.is_bipartite:
            out = dgl.create_block((self.src, self.dst), num_src_nodes=self.num_src_nodes, num_dst_nodes=self.num_nodes)
            out.srcdata.update(dict(self._srcdata))
            out.dstdata.update(dict(self._ndata))
        else:
            out = dgl.graph((self.src, self.dst), num_nodes=self.num_nodes)
            out.ndata.update(dict(self._ndata))
        out.edata.update(dict(self._edata))
        return out

    @staticmethod
    def from_pyg(data: Any) -> "Graph":
        """From a PyG ``Data``: its ``edge_index``, ``num_nodes`` and per-vertex/per-edge tensors.

        Rule for the other attributes: a tensor whose first dimension is ``num_nodes``
        goes to ``ndata``, one whose first dimension is the number of edges (``edge_attr``,
        ``edge_weight``, ...) to ``edata``, each under its own name; when both sizes are
        equal, a name containing ``"edge"`` means edge data (PyG's own rule). Everything
        else (graph-level tensors such as a ``[1]`` label, sparse tensors, non-tensors) is
        ignored.
        """
        if getattr(data, "edge_index", None) is None:
            raise ValueError("data has no edge_index")
        g = Graph.from_edge_index(data.edge_index, int(data.num_nodes))
        keys = data.keys() if callable(data.keys) else data.keys
        for key in keys:
            value = data[key]
            if key in ("edge_index", "num_nodes") or not isinstance(value, Tensor) or value.layout != torch.strided:
                continue
            rows = value.shape[0] if value.dim() else -1
            on_nodes, on_edges = rows == g.num_nodes, rows == g.num_edges
            if on_edges and (not on_nodes or "edge" in key):
                g.edata[key] = value
            elif on_nodes:
                g.ndata[key] = value
        return g

    def to_pyg(self, **attrs: Any):
        """As a PyG ``Data``: ``edge_index``, ``num_nodes``, every ``ndata``/``edata`` tensor, and ``attrs``.

        Raises:
            ValueError: a name used by both ``ndata`` and ``edata`` (or by ``attrs``, or
                ``edge_index``/``num_nodes``), or a bipartite graph with ``srcdata``.
        """
        from torch_geometric.data import Data

        if self.is_bipartite and len(self._srcdata):
            raise ValueError(f"to_pyg keeps one vertex set; this bipartite graph has srcdata {sorted(self._srcdata)}")
        fields: dict[str, Any] = {}
        for what, items in (("ndata", self._ndata), ("edata", self._edata), ("attrs", attrs)):
            for k, v in items.items():
                if k in fields or k in ("edge_index", "num_nodes"):
                    raise ValueError(f"to_pyg: {what} key {k!r} is already a Data attribute; rename one of them")
                fields[k] = v
        return Data(edge_index=self.edge_index, num_nodes=self.num_nodes, **fields)

    def equal(self, other: "Graph", data: bool = True) -> bool:
        """Same vertex counts, the same edges in the same order and, unless ``data=False``, equal data
        (names, dtypes, shapes, values; NaN equals NaN)."""
        return (
            isinstance(other, Graph)
            and self.num_nodes == other.num_nodes
            and self.num_src_nodes == other.num_src_nodes
            and torch.equal(self.src, other.src)
            and torch.equal(self.dst, other.dst)
            and (not data or self._equal_data(other))
        )

    def _equal_data(self, other: "Graph") -> bool:
        return (
            self._ndata.equal(other._ndata)
            and self._edata.equal(other._edata)
            and self._srcdata.equal(other._srcdata)
        )


# ---------------------------------------------------------------- data helpers
_REDUCES = ("sum", "mean", "max", "min")


def _edge_weight_arg(edge_weight: Tensor | None, edge_attr: Tensor | None, method: str, num_edges: int) -> Tensor | None:
    """``edge_weight``, or the deprecated ``edge_attr=`` keyword, checked to have ``num_edges`` rows."""
    if edge_attr is not None:
        warnings.warn(f"{method}(edge_attr=...) is deprecated; pass edge_weight=...", DeprecationWarning, stacklevel=3)
        if edge_weight is not None:
            raise TypeError(f"{method} got both edge_weight and edge_attr; pass only edge_weight")
        edge_weight = edge_attr
    if edge_weight is not None and edge_weight.shape[:1] != (num_edges,):
        raise ValueError(f"edge_weight must have shape [E={num_edges}, ...], got {tuple(edge_weight.shape)}")
    return edge_weight


def _check_loop_fill(value: Any, name: str) -> float | str:
    if isinstance(value, str) and value == "mean":
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} ({value!r}); the one string allowed is 'mean'")
    return value


def _check_reduce(value: Any, name: str) -> str:
    if value not in _REDUCES:
        raise ValueError(f"{name} must be 'sum', 'mean', 'max' or 'min', got {value!r}")
    return value


def _per_name(option: Any, names: list[str], what: str, default: Any, check) -> dict[str, Any]:
    """One checked value of a per-edge-tensor option per name: the option itself, or its mapping entry."""
    if not isinstance(option, Mapping):
        value = check(option, what)
        return {k: value for k in names}
    unknown = sorted(set(option) - set(names))
    if unknown:
        raise ValueError(f"{what} names {unknown}, which the graph does not carry; the edge tensors are {names}")
    return {k: check(option.get(k, default), f"{what}[{k!r}]") for k in names}


def _merge_rows(value: Tensor, inverse: Tensor, size: int, reduce: str, name: str) -> Tensor:
    """Rows of ``value`` merged into ``size`` rows by ``inverse`` with ``reduce``.

    Shape: value ``[E, ...]``, inverse ``[E]`` → ``[size, ...]``.
    """
    if reduce == "mean" and value.dtype == torch.bool:
        raise TypeError(f"reduce 'mean' needs numbers, but {name} is bool; use 'max' (any) or 'min' (all)")
    red = {"sum": "sum", "mean": "mean", "max": "amax", "min": "amin"}[reduce]
    out = value.new_zeros((size,) + tuple(value.shape[1:]))
    idx = inverse.view(-1, *([1] * (value.dim() - 1))).expand_as(value)  # [E, ...]
    return out.scatter_reduce(0, idx, value, reduce=red, include_self=False)


def _same_items(a: tuple, b: tuple) -> bool:
    """Two ``_data_items()`` snapshots hold the same names and the very same tensors."""
    return len(a) == len(b) and all(x[0] == y[0] and x[1] == y[1] and x[2] is y[2] for x, y in zip(a, b))


def _check_same_schema(ref: DataDict, other: DataDict, what: str, index: int) -> None:
    """Raise unless ``other`` has ``ref``'s names, trailing shapes and dtypes (for :meth:`Graph.batch`)."""
    if ref.keys() != other.keys():
        missing, extra = sorted(set(ref) - set(other)), sorted(set(other) - set(ref))
        key = (missing or extra)[0]
        raise ValueError(
            f"graphs[{index}].{what} {'lacks' if missing else 'has an extra'} key {key!r}: every graph of a batch "
            f"must carry the {what} names of graphs[0] ({sorted(ref)}), got {sorted(other)}"
        )
    for key in ref:
        r, o = ref[key], other[key]
        if r.shape[1:] != o.shape[1:] or r.dtype != o.dtype:
            raise ValueError(
                f"graphs[{index}].{what}[{key!r}] has trailing shape {tuple(o.shape[1:])} and dtype {o.dtype}, "
                f"but graphs[0] has {tuple(r.shape[1:])} and {r.dtype}; they must match to be concatenated"
            )


# subgraph relabels through a [num_nodes] table while it costs at most this many entries per edge
# or kept vertex (a gather is cheaper than a binary search); past that, through a sorted copy of nodes
_DENSE_RELABEL_FACTOR = 8
_DENSE_RELABEL_MIN = 1 << 20


def _relabel_table(nodes: Tensor, num_nodes: int) -> Callable[[Tensor], Tensor]:
    """``ids -> position in nodes or -1`` through a ``[num_nodes]`` table.

    Raises:
        ValueError: duplicate ids in ``nodes``.
    """
    k = nodes.numel()
    local = torch.full((num_nodes,), -1, dtype=torch.int64, device=nodes.device)  # [N]
    local[nodes] = torch.arange(k, device=nodes.device)
    if int((local[nodes] != torch.arange(k, device=nodes.device)).sum()):
        raise ValueError("nodes must not contain duplicate ids")
    return lambda ids: local[ids]


def _relabel_search(nodes: Tensor) -> Callable[[Tensor], Tensor]:
    """``ids -> position in nodes or -1`` by binary search in the sorted ``nodes``: O(k) memory.

    Raises:
        ValueError: duplicate ids in ``nodes``.
    """
    ordered, order = torch.sort(nodes)  # [k]
    if ordered.numel() > 1 and bool((ordered[1:] == ordered[:-1]).any()):
        raise ValueError("nodes must not contain duplicate ids")

    def relabel(ids: Tensor) -> Tensor:
        if ordered.numel() == 0:
            return torch.full_like(ids, -1)
        pos = torch.searchsorted(ordered, ids).clamp(max=ordered.numel() - 1)  # [E]
        return torch.where(ordered[pos] == ids, order[pos], torch.full_like(ids, -1))

    return relabel


def _build_csr(rows: Tensor, cols: Tensor, num_rows: int) -> CSR:
    counts = torch.bincount(rows, minlength=num_rows) if rows.numel() else torch.zeros(num_rows, dtype=torch.int64, device=rows.device)
    indptr = torch.zeros(num_rows + 1, dtype=torch.int64, device=rows.device)
    torch.cumsum(counts, 0, out=indptr[1:])
    if rows.numel() == 0 or bool((rows[1:] >= rows[:-1]).all()):
        return CSR(indptr, cols.contiguous(), None)
    eid = torch.argsort(rows, stable=True)
    return CSR(indptr, cols[eid].contiguous(), eid)
