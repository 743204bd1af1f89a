r"""Multi-view graphs: several named edge sets ("views", relations) over one vertex set.

A :class:`MultiViewGraph` is the one-node-type case of :class:`~gnnkit.graph.hetero.HeteroGraph`:
its node type is ``"_N"`` (DGL's default) and view ``name`` is the relation
``("_N", name, "_N")``, so ``mvg["cites"]``, ``mvg.ndata["_N"]``, ``subgraph``, the converters,
:class:`gnnkit.nn.HeteroConv` and the heterogeneous sampler all apply to it.

A brain has chemical synapses and electrical gap junctions, a citation graph has
cites / same-author / same-venue edges. :class:`MultiViewGraph` holds such views and
builds, once and cached, the single graphs that let a layer process every view in one
sparse product (:class:`gnnkit.nn.MultiViewConv`):

- ``union()``: all views' edges over ``N`` vertices (parallel edges kept);
- ``expanded("src")``: a bipartite graph from ``N·V`` expanded sources to ``N`` vertices,
  edge ``u -> w`` of view ``v`` becoming ``u·V + v -> w``;
- ``expanded("dst")``: from ``N`` sources to ``N·V`` expanded destinations (``w·V + v``);
- ``expanded("both")``: ``u·V + v -> w·V + v`` over ``N·V`` vertices.

All four share one edge order (sorted by destination, then view, then source), so one
``[E]`` edge-weight vector (``edge_view``, ``normalized_edge_weight``) fits all of them
and every one of them is already in CSR order for the aggregation kernels.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import Tensor

from .graph import Graph
from .hetero import HeteroGraph
from .idkeys import lexsort_ids

__all__ = ["MultiViewGraph", "VIEW_NORMS", "NODE_TYPE"]

NODE_TYPE = "_N"  # the one node type (DGL's default name), so to_dgl() gives DGL's usual layout

VIEW_NORMS = ("none", "mean", "symmetric")
_SIDES = ("src", "dst", "both")


def _check_weight(w: Any, g: Graph, name: str) -> Tensor:
    if not isinstance(w, Tensor):
        raise TypeError(f"edge_weights[{name!r}] must be a torch.Tensor, got {type(w).__name__}")
    if not w.is_floating_point():
        raise TypeError(f"edge_weights[{name!r}] must be floating point, got dtype {w.dtype}; cast with .float()")
    if w.shape != (g.num_edges,):
        raise ValueError(
            f"edge_weights[{name!r}] must have shape [E] with E = {g.num_edges} (the edges of view {name!r}), "
            f"got {tuple(w.shape)}"
        )
    if w.device != g.device:
        raise ValueError(f"edge_weights[{name!r}] is on {w.device} but view {name!r} is on {g.device}")
    return w


class MultiViewGraph(HeteroGraph):
    r"""Named views (edge sets) over one set of ``num_nodes`` vertices, with optional per-view edge weights.

    The lecture's multi-view layer :math:`E' = g(\tfrac13 A E W + \tfrac13 B E W + \tfrac13 C E W)`
    reads one adjacency per view; this class stores them as :class:`Graph` objects and
    derives the cached single graphs a batched layer needs (see the module docstring).

    Args:
        views: ``{name: Graph}``, at least one; every view must have the same
            ``num_nodes`` and device and must not be bipartite. Order is kept: view
            ``i`` is ``names[i]``.
        edge_weights: optional ``{name: [E_name] float tensor}`` for some or all views;
            a view without an entry has weight 1 on every edge. They are fixed at
            construction (the cached layouts hold them), unlike ``edata``.
        ndata: optional vertex data ``{name: [num_nodes, ...]}`` (``ndata["_N"]``); each
            view's own ``edata`` is kept as its relation's edge data.

    As a :class:`HeteroGraph` with one node type, ``num_nodes`` and ``num_edges`` are
    properties here (this class's API predates it): they equal ``HeteroGraph.num_nodes(g)``
    and ``HeteroGraph.num_edges(g)``; generic code reads ``g.num_dst_nodes(t)`` and
    ``g[rel].num_edges``, which every ``HeteroGraph`` answers alike.

    Raises:
        TypeError: a view that is not a ``Graph``, a non-string name, non-float weights.
        ValueError: no views, views with different vertex counts or devices, a
            bipartite view, weights of the wrong shape or for an unknown view.

    Edge cases: a view may have zero edges; duplicate edges and self-loops are kept
    as given (each is a separate message); the same edge may appear in several views.
    """

    def __init__(self, views: Mapping[str, Graph], edge_weights: Mapping[str, Tensor] | None = None, *,
                 ndata: Mapping[str, Tensor] | None = None) -> None:
        if not isinstance(views, Mapping):
            raise TypeError(f"views must be a mapping {{name: Graph}}, got {type(views).__name__}")
        if len(views) == 0:
            raise ValueError("views must hold at least one view, got an empty mapping")
        first_name, first = None, None
        for name, g in views.items():
            if not isinstance(name, str):
                raise TypeError(f"view names must be strings, got {name!r} ({type(name).__name__})")
            if not isinstance(g, Graph):
                raise TypeError(f"views[{name!r}] must be a gnnkit.Graph, got {type(g).__name__}")
            if g.is_bipartite:
                raise ValueError(
                    f"views[{name!r}] is bipartite (num_src_nodes={g.num_src_nodes}, num_nodes={g.num_nodes}); "
                    f"every view must connect the one shared vertex set"
                )
            if first is None:
                first_name, first = name, g
                continue
            if g.num_nodes != first.num_nodes:
                raise ValueError(
                    f"views must share one vertex set: view {first_name!r} has num_nodes={first.num_nodes} but "
                    f"view {name!r} has num_nodes={g.num_nodes}; build every view with the same num_nodes"
                )
            if g.device != first.device:
                raise ValueError(f"views must be on one device: view {first_name!r} is on {first.device}, {name!r} on {g.device}")
        weights: dict[str, Tensor] = {}
        for name, w in (edge_weights or {}).items():
            if name not in views:
                raise ValueError(f"edge_weights names view {name!r}, which is not one of the views {list(views)}")
            weights[name] = _check_weight(w, views[name], name)
        dtypes = {w.dtype for w in weights.values()}
        if len(dtypes) > 1:
            raise TypeError(f"edge_weights must share one dtype, got {sorted(str(d) for d in dtypes)}")
        super().__init__(
            {NODE_TYPE: first.num_nodes},
            {(NODE_TYPE, name, NODE_TYPE): (g.src, g.dst) for name, g in views.items()},
            ndata={NODE_TYPE: ndata} if ndata is not None else None,
            edata={(NODE_TYPE, name, NODE_TYPE): dict(g.edata) for name, g in views.items()},
            _validate=False,  # every view is a Graph, checked when it was built
        )
        self._views: dict[str, Graph] = {name: self._graphs[(NODE_TYPE, name, NODE_TYPE)] for name in views}
        self._weights = weights
        self._names = tuple(views)

    # ------------------------------------------------------------ builders
    @staticmethod
    def from_typed_edges(
        src: Any,
        dst: Any,
        edge_type: Any,
        num_nodes: int,
        names: Sequence[str],
        edge_weight: Tensor | None = None,
    ) -> "MultiViewGraph":
        """From one typed edge list: edge ``i`` is ``src[i] -> dst[i]`` in view ``names[edge_type[i]]``.

        Args:
            src, dst: ``[E]`` integer vertex ids.
            edge_type: ``[E]`` integer view index in ``[0, len(names))``.
            num_nodes: number of vertices (shared by all views).
            names: the view names, in index order. A name with no edges gives an empty view.
            edge_weight: optional ``[E]`` float weights, split into per-view weights.

        Raises:
            ValueError: lengths differ, a type index outside ``[0, len(names))``, repeated names.
        """
        names = list(names)
        if len(names) == 0:
            raise ValueError("names must list at least one view name, got an empty sequence")
        if len(set(names)) != len(names):
            raise ValueError(f"names must be distinct, got {names}")
        g = Graph(src, dst, num_nodes)
        et = torch.as_tensor(edge_type) if not isinstance(edge_type, Tensor) else edge_type
        if et.is_floating_point() or et.dtype == torch.bool or et.dim() != 1:
            raise TypeError(f"edge_type must be a 1-D integer tensor, got dtype {et.dtype} and shape {tuple(et.shape)}")
        if et.numel() != g.num_edges:
            raise ValueError(f"edge_type must have one entry per edge (E = {g.num_edges}), got {et.numel()}")
        et = et.to(device=g.device, dtype=torch.int64)
        if et.numel() and (int(et.min()) < 0 or int(et.max()) >= len(names)):
            raise ValueError(
                f"edge_type holds view index {int(et.min()) if int(et.min()) < 0 else int(et.max())} but names has "
                f"{len(names)} entries; indices must lie in [0, {len(names)})"
            )
        if edge_weight is not None and (not isinstance(edge_weight, Tensor) or edge_weight.shape != (g.num_edges,)):
            shape = tuple(edge_weight.shape) if isinstance(edge_weight, Tensor) else type(edge_weight).__name__
            raise ValueError(f"edge_weight must be a tensor of shape [E={g.num_edges}], got {shape}")
        views, weights = {}, {}
        for i, name in enumerate(names):  # construction only; the layers never loop over views
            sel = (et == i).nonzero().view(-1)
            views[name] = Graph(g.src[sel], g.dst[sel], num_nodes, _validate=False)
            if edge_weight is not None:
                weights[name] = edge_weight[sel]
        return MultiViewGraph(views, weights or None)

    @staticmethod
    def from_dgl(hetero_graph: Any, edge_weight_field: str | None = None) -> "MultiViewGraph":
        """From a DGL heterograph with one node type: each edge type becomes a view named by the relation.

        Node and edge data come along under their own names (:meth:`HeteroGraph.to_dgl`, inherited,
        is the inverse, with node type ``"_N"``).

        Args:
            hetero_graph: a ``dgl.DGLGraph`` with exactly one node type.
            edge_weight_field: optional edge-data key holding ``[E_r]`` weights per relation.

        Raises:
            ValueError: several node types, or a missing weight field.
        """
        if len(hetero_graph.ntypes) != 1:
            raise ValueError(
                f"hetero_graph must have one node type (a multi-view graph shares its vertex set), got node types "
                f"{hetero_graph.ntypes}"
            )
        n = hetero_graph.num_nodes()
        views, weights = {}, {}
        for canonical in hetero_graph.canonical_etypes:
            s, d = hetero_graph.edges(etype=canonical, order="eid")
            name = canonical[1]
            views[name] = Graph(s, d, n, edata=dict(hetero_graph.edges[canonical].data))
            if edge_weight_field is not None:
                data = hetero_graph.edges[canonical].data
                if edge_weight_field not in data:
                    raise ValueError(f"edge_weight_field {edge_weight_field!r} is missing on relation {name!r}")
                weights[name] = data[edge_weight_field]
        return MultiViewGraph(views, weights or None, ndata=dict(hetero_graph.ndata))

    # ------------------------------------------------------------ access
    @property
    def names(self) -> tuple[str, ...]:
        """View names in order; view index ``i`` is ``names[i]``."""
        return self._names

    @property
    def num_views(self) -> int:
        return len(self._names)

    @property
    def num_nodes(self) -> int:
        return self._views[self._names[0]].num_nodes

    @property
    def num_edges(self) -> int:
        """Total edges over all views (an edge present in two views counts twice)."""
        return sum(g.num_edges for g in self._views.values())

    @property
    def device(self) -> torch.device:
        return self._views[self._names[0]].device

    @property
    def views(self) -> dict[str, Graph]:
        """A copy of the ``{name: Graph}`` mapping."""
        return dict(self._views)

    def __len__(self) -> int:
        return self.num_views

    def __repr__(self) -> str:
        per = ", ".join(f"{n}={g.num_edges}" for n, g in self._views.items())
        return f"MultiViewGraph(num_nodes={self.num_nodes}, views=[{per}], device={self.device})"

    def _check_name(self, name: str) -> None:
        if name not in self._views:
            raise ValueError(f"name must be one of the views {list(self._names)}, got {name!r}")

    def view(self, name: str) -> Graph:
        """The graph of one view, as given.

        Raises:
            ValueError: ``name`` is not a view.
        """
        self._check_name(name)
        return self._views[name]

    def edge_weight(self, name: str) -> Tensor | None:
        """The ``[E_name]`` weights of one view, or ``None`` when it is unweighted."""
        self._check_name(name)
        return self._weights.get(name)

    @property
    def is_weighted(self) -> bool:
        return bool(self._weights)

    def to(self, device: torch.device | str) -> "MultiViewGraph":
        """Copy to ``device``, data included (cached graphs are rebuilt there lazily)."""
        device = torch.device(device)
        if device == self.device:
            return self
        views = {n: Graph(g.src.to(device), g.dst.to(device), g.num_nodes, edata={k: v.to(device) for k, v in g.edata.items()},
                          _validate=False) for n, g in self._views.items()}
        return MultiViewGraph(views, {n: w.to(device) for n, w in self._weights.items()} or None,
                              ndata={k: v.to(device) for k, v in self._ndata[NODE_TYPE].items()})

    def subgraph(self, nodes: Any) -> tuple["MultiViewGraph", dict[str, Tensor], dict[tuple[str, str, str], Tensor]]:
        """The subgraph induced by ``nodes``, as a ``MultiViewGraph`` with every view's weights and data sliced.

        Args:
            nodes: ``[K]`` vertex ids or a ``[num_nodes]`` bool mask, or ``{"_N": ids}`` as for
                :meth:`HeteroGraph.subgraph`.

        Returns:
            ``(sub, node_ids, edge_ids)`` as :meth:`HeteroGraph.subgraph` (keyed by ``"_N"`` and
            by relation).
        """
        sub, node_ids, edge_ids = super().subgraph(nodes if isinstance(nodes, Mapping) else {NODE_TYPE: nodes})
        rels = {name: (NODE_TYPE, name, NODE_TYPE) for name in self._names}
        weights = {name: w[edge_ids[rels[name]]] for name, w in self._weights.items()}
        views = {name: sub[rel] for name, rel in rels.items()}
        return MultiViewGraph(views, weights or None, ndata=dict(sub.ndata[NODE_TYPE])), node_ids, edge_ids

    def map_views(self, fn) -> "MultiViewGraph":
        """Apply ``fn(graph, edge_weight | None) -> (graph, edge_weight | None)`` to every view.

        Used by per-view graph transforms (e.g. :func:`gnnkit.inflation.shortcut_edges`);
        all results must still share one vertex count. The vertex data is kept; each view's
        edge data is whatever ``fn``'s graph carries.
        """
        views, weights = {}, {}
        for name in self._names:  # preprocessing, run once per transform
            g, w = fn(self._views[name], self._weights.get(name))
            views[name] = g
            if w is not None:
                weights[name] = w
        return MultiViewGraph(views, weights or None, ndata=dict(self._ndata[NODE_TYPE]))

    # ------------------------------------------------------- batched layouts
    def _union_arrays(self) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        """``(src, dst, view, weight)`` of every edge, sorted by (dst, view, src)."""

        def make():
            graphs = [self._views[n] for n in self._names]
            v = self.num_views
            src = torch.cat([g.src for g in graphs])
            dst = torch.cat([g.dst for g in graphs])
            counts = torch.tensor([g.num_edges for g in graphs], device=self.device)
            view = torch.repeat_interleave(torch.arange(v, device=self.device), counts)  # [E]
            weight = None
            if self._weights:
                dtype = next(iter(self._weights.values())).dtype
                weight = torch.cat([
                    self._weights[n] if n in self._weights else torch.ones(g.num_edges, dtype=dtype, device=self.device)
                    for n, g in zip(self._names, graphs)
                ])
            # one order for the union and all three expanded graphs: (dst, view, src) is
            # sorted by dst and by dst*V + view, so every one of them is in CSR order
            perm = lexsort_ids((dst, view, src), (self.num_nodes, v, self.num_nodes))  # no int64 overflow
            return src[perm], dst[perm], view[perm], None if weight is None else weight[perm]

        return self._cached("union_arrays", make)

    @property
    def edge_view(self) -> Tensor:
        """``[E]`` int64 view index of each edge, in the shared order of ``union()`` and ``expanded()``."""
        return self._union_arrays()[2]

    def union(self) -> Graph:
        """All views' edges over ``num_nodes`` vertices (cached).

        Parallel edges are kept: an edge in two views is two edges, so a sum over the
        union with per-edge weights equals the sum over views. Call ``.coalesce()`` on
        the result for the set union. Edge ``i`` belongs to view ``edge_view[i]``;
        the order is (dst, view, src).

        Shape:
            ``[E]`` edges with ``E = num_edges``.
        """
        def make():
            src, dst, _, _ = self._union_arrays()
            return Graph(src, dst, self.num_nodes, _validate=False)

        return self._cached("union", make)

    def union_edge_weight(self) -> Tensor | None:
        """``[E]`` per-view edge weights in ``union()`` order, or ``None`` when no view is weighted."""
        return self._union_arrays()[3]

    def expanded(self, side: str) -> Graph:
        """One graph holding every view, with views told apart by expanded vertex ids (cached).

        Args:
            side: ``"src"``: ``u·V + v -> w`` (``num_src_nodes = N·V``, ``num_nodes = N``),
                for features already projected per view as ``[N·V, F]`` rows;
                ``"dst"``: ``u -> w·V + v`` (``num_src_nodes = N``, ``num_nodes = N·V``),
                which aggregates each view into its own row;
                ``"both"``: ``u·V + v -> w·V + v`` over ``N·V`` vertices.

        Returns:
            A graph whose edge ``i`` is union edge ``i`` (same order, same weights).

        Raises:
            ValueError: an unknown ``side``.
        """
        if side not in _SIDES:
            raise ValueError(f"side must be one of {_SIDES}, got {side!r}")

        def make():
            src, dst, view, _ = self._union_arrays()
            n, v = self.num_nodes, self.num_views
            if side == "src":
                return Graph(src * v + view, dst, n, num_src_nodes=n * v, _validate=False)
            if side == "dst":
                return Graph(src, dst * v + view, n * v, num_src_nodes=n, _validate=False)
            return Graph(src * v + view, dst * v + view, n * v, _validate=False)

        return self._cached(("expanded", side), make)

    def normalized_edge_weight(self, norm: str, dtype: torch.dtype = torch.float32) -> Tensor:
        r"""``[E]`` per-view normalised edge weights in ``union()`` order (cached per norm and dtype).

        With :math:`w_e` the view's edge weight (1 when unweighted), for an edge
        :math:`u \to w` of view :math:`v`:

        - ``"none"``: :math:`w_e` — the lecture's plain :math:`A_v`;
        - ``"mean"``: :math:`w_e / |\{e' \to w \in v\}|`, the mean over ``w``'s in-edges in
          view ``v`` (as ``ops.spmm(reduce="mean")``: weighted messages, counted edges);
        - ``"symmetric"``: :math:`w_e / \sqrt{d^{out}_v(u)\, d^{in}_v(w)}` with weighted
          degrees inside view ``v`` (DGL ``GraphConv(norm="both")``; on an undirected view
          this is ``ops.gcn_norm``). No self-loops are added.

        A vertex with no in-edges in a view simply receives nothing from it.

        Raises:
            ValueError: unknown ``norm``. TypeError: a non-float ``dtype``.
        """
        if norm not in VIEW_NORMS:
            raise ValueError(f"norm must be one of {VIEW_NORMS}, got {norm!r}")
        if not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating-point dtype, got {dtype}")

        def make():
            src, dst, view, weight = self._union_arrays()
            n, v = self.num_nodes, self.num_views
            w = torch.ones(src.numel(), dtype=dtype, device=self.device) if weight is None else weight.to(dtype)
            if norm == "none":
                return w
            dkey = dst * v + view  # [E] (vertex, view) slot of each destination
            if norm == "mean":
                cnt = torch.bincount(dkey, minlength=n * v).clamp(min=1).to(dtype)
                return w / cnt[dkey]
            skey = src * v + view
            din = w.new_zeros(n * v).index_add_(0, dkey, w)
            dout = w.new_zeros(n * v).index_add_(0, skey, w)
            scale = (dout[skey] * din[dkey]).rsqrt()
            return torch.where(torch.isfinite(scale), w * scale, torch.zeros_like(w))

        return self._cached(("norm", norm, dtype), make)

    def equal(self, other: "MultiViewGraph") -> bool:
        """Same names in the same order, equal view graphs and equal weights."""
        if not isinstance(other, MultiViewGraph) or other.names != self.names:
            return False
        for n in self._names:
            if not self._views[n].equal(other._views[n]):
                return False
            a, b = self._weights.get(n), other._weights.get(n)
            if (a is None) != (b is None) or (a is not None and not torch.equal(a, b)):
                return False
        return True
