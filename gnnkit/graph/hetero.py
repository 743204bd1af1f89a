r"""Heterogeneous graphs: named node types, each with its own count and data, and typed relations.

A relation is a canonical triple ``(src_type, edge_type, dst_type)`` (DGL's canonical edge
type, PyG's edge type) whose edges form one :class:`~gnnkit.graph.Graph`: bipartite from the
``src_type`` vertices to the ``dst_type`` vertices, or an ordinary square graph when both types
are the same. A layer runs per relation on that graph (:class:`gnnkit.nn.HeteroConv`), so
everything a :class:`Graph` offers (cached CSR, the sparse ops) applies to each relation as is.

A *block* (one layer of a sampled mini-batch, :mod:`gnnkit.data.hetero_sampling`) is a
``HeteroGraph`` built with ``num_dst_nodes``: the destinations of each type are the first
``num_dst_nodes[t]`` vertices of that type (DGL's block convention), and every relation graph
is bipartite from all vertices of its source type to the destinations of its destination type.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from .frame import DataDict
from .graph import Graph

__all__ = ["HeteroGraph", "Relation", "RelationKey"]

Relation = Tuple[str, str, str]
RelationKey = Union[Relation, str]  # a canonical triple, or an edge-type name that is unique


def _rel_repr(rel: Relation) -> str:
    return f"({rel[0]!r}, {rel[1]!r}, {rel[2]!r})"


def _check_count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r})")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {int(value)}")
    return int(value)


class _Frames(Mapping):
    """A read-only ``type -> DataDict`` mapping whose keys resolve like the graph's (names for relations)."""

    __slots__ = ("_frames", "_resolve")

    def __init__(self, frames: dict, resolve) -> None:
        self._frames, self._resolve = frames, resolve

    def __getitem__(self, key: Any) -> DataDict:
        return self._frames[self._resolve(key)]

    def __iter__(self) -> Iterator:
        return iter(self._frames)

    def __len__(self) -> int:
        return len(self._frames)

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{k!r}: {v!r}" for k, v in self._frames.items()) + "}"


def _share_node_data(graph: Graph, dst_data: DataDict, src_data: DataDict) -> None:
    # Graph copies the mapping it is given; a relation's graph must instead show the node
    # data of its types live (an assignment to hg.ndata[t] is seen through hg[rel].srcdata),
    # so the relation graph is pointed at the HeteroGraph's own DataDict objects.
    object.__setattr__(graph, "_ndata", dst_data)
    object.__setattr__(graph, "_srcdata", src_data)


class HeteroGraph:
    r"""A graph with named node types and typed relations ``(src_type, edge_type, dst_type)``.

    Each relation is stored as a :class:`Graph` (see the module docstring) carrying that
    relation's edge data; each node type has its own count and its own :class:`DataDict`.
    The structure is immutable; the data mappings are not.

    Args:
        num_nodes: ``{node_type: count}``, at least one type. Order is kept (:attr:`ntypes`).
        edges: ``{(src_type, edge_type, dst_type): (src, dst)}`` with ``[E_r]`` integer ids,
            ``src`` into ``[0, num_nodes[src_type])`` and ``dst`` into ``[0, num_nodes[dst_type])``
            (``[0, num_dst_nodes[dst_type])`` for a block). Order is kept (:attr:`relations`).
        ndata: ``{node_type: {name: [num_nodes[type], ...] tensor}}``.
        edata: ``{relation: {name: [E_r, ...] tensor}}``; a relation may be named by its edge
            type alone when that name is unique.
        num_dst_nodes: makes a *block*: ``{node_type: D_t}`` with ``D_t <= num_nodes[t]`` for
            every type; the destinations of type ``t`` are its first ``D_t`` vertices.

    Raises:
        TypeError: non-string type names, non-int counts, a relation key that is not a triple
            of strings, ``(src, dst)`` not a pair.
        ValueError: no node types, a relation naming an unknown node type, ids out of range,
            data of the wrong size, tensors on several devices, ``num_dst_nodes`` that does
            not name every type or exceeds a count.

    Edge cases: a type may have zero vertices and a relation zero edges; duplicate edges and
    self-loops are kept as given; several relations may share an edge-type name (then only
    the canonical triple names them).
    """

    def __init__(
        self,
        num_nodes: Mapping[str, int],
        edges: Mapping[Relation, tuple[Any, Any]],
        *,
        ndata: Mapping[str, Mapping[str, Tensor]] | None = None,
        edata: Mapping[RelationKey, Mapping[str, Tensor]] | None = None,
        num_dst_nodes: Mapping[str, int] | None = None,
        _validate: bool = True,
    ) -> None:
        if not isinstance(num_nodes, Mapping):
            raise TypeError(f"num_nodes must be a mapping {{node_type: count}}, got {type(num_nodes).__name__}")
        if len(num_nodes) == 0:
            raise ValueError("num_nodes must name at least one node type, got an empty mapping")
        counts: dict[str, int] = {}
        for t, n in num_nodes.items():
            if not isinstance(t, str):
                raise TypeError(f"node types must be strings, got {t!r} ({type(t).__name__})")
            counts[t] = _check_count(n, f"num_nodes[{t!r}]")
        self._num_nodes = counts
        self._num_dst_nodes: dict[str, int] | None = None
        if num_dst_nodes is not None:
            if not isinstance(num_dst_nodes, Mapping) or set(num_dst_nodes) != set(counts):
                got = sorted(num_dst_nodes) if isinstance(num_dst_nodes, Mapping) else type(num_dst_nodes).__name__
                raise ValueError(f"num_dst_nodes must give a count for every node type {list(counts)}, got {got}")
            dst_counts = {}
            for t in counts:
                d = _check_count(num_dst_nodes[t], f"num_dst_nodes[{t!r}]")
                if d > counts[t]:
                    raise ValueError(
                        f"num_dst_nodes[{t!r}]={d} exceeds num_nodes[{t!r}]={counts[t]}: a block's destinations "
                        f"are the first vertices of their type"
                    )
                dst_counts[t] = d
            self._num_dst_nodes = dst_counts

        if not isinstance(edges, Mapping):
            raise TypeError(f"edges must be a mapping {{(src_type, edge_type, dst_type): (src, dst)}}, got {type(edges).__name__}")
        graphs: dict[Relation, Graph] = {}
        for rel, pair in edges.items():
            if not (isinstance(rel, tuple) and len(rel) == 3 and all(isinstance(p, str) for p in rel)):
                raise TypeError(f"relations must be (src_type, edge_type, dst_type) triples of strings, got {rel!r}")
            for side, t in (("source", rel[0]), ("destination", rel[2])):
                if t not in counts:
                    raise ValueError(f"relation {_rel_repr(rel)} has {side} type {t!r}, which is not one of the node types {list(counts)}")
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                raise TypeError(f"edges[{_rel_repr(rel)}] must be a pair (src, dst) of id arrays, got {type(pair).__name__}")
            graphs[rel] = self._relation_graph(rel, pair[0], pair[1], _validate)
        self._graphs = graphs
        devices = {g.device for g in graphs.values()}
        if len(devices) > 1:
            raise ValueError(f"every relation must be on one device, got {sorted(str(d) for d in devices)}")
        self._device = devices.pop() if devices else torch.device("cpu")

        for name, given in (("ndata", ndata), ("edata", edata)):
            if given is not None and not isinstance(given, Mapping):
                raise TypeError(f"{name} must be a mapping {{type: {{name: tensor}}}}, got {type(given).__name__}")
        for key in ndata or {}:
            if key not in counts:
                raise ValueError(f"ndata names node type {key!r}, which is not one of the node types {list(counts)}")
        self._ndata = {
            t: DataDict(n, f"ndata[{t!r}]", f"num_nodes[{t!r}]", self._device, (ndata or {}).get(t)) for t, n in counts.items()
        }
        for key, items in (edata or {}).items():
            rel = self._resolve(key, "edata")
            g = graphs[rel]
            # checked here so that a wrong size names the relation, then handed to the relation's graph
            for name, value in DataDict(g.num_edges, f"edata[{_rel_repr(rel)}]", "num_edges", self._device, items).items():
                g.edata[name] = value
        dst_rows = dict(self._ndata)
        if self._num_dst_nodes is not None:
            # a block's destinations are a prefix of their type: views of those rows, taken now
            for t, n in self._num_dst_nodes.items():
                dst_rows[t] = self._ndata[t].derive(n, lambda _k, v, n=n: v[:n])
        for (s, _, d), g in graphs.items():
            _share_node_data(g, dst_rows[d], self._ndata[s])
        self._cache: dict = {}  # layouts derived from the (immutable) structure, e.g. by layers

    def _cached(self, key: Any, fn):
        """``fn()`` computed once per ``key`` for this graph: the structure never changes."""
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    def _relation_graph(self, rel: Relation, src: Any, dst: Any, validate: bool) -> Graph:
        s, _, d = rel
        num_dst = self._num_nodes[d] if self._num_dst_nodes is None else self._num_dst_nodes[d]
        if not validate:  # ids built by this module (to, subgraph, sampling) or taken from checked Graphs
            return Graph(src, dst, num_dst, num_src_nodes=self._num_nodes[s], _validate=False)
        try:
            return Graph(src, dst, num_dst, num_src_nodes=self._num_nodes[s])
        except (TypeError, ValueError) as exc:  # re-raised with the relation named
            raise type(exc)(f"edges[{_rel_repr(rel)}]: {exc}") from exc

    # ------------------------------------------------------------ access
    @property
    def ntypes(self) -> tuple[str, ...]:
        """Node types, in the order given."""
        return tuple(self._num_nodes)

    @property
    def relations(self) -> tuple[Relation, ...]:
        """Canonical relations ``(src_type, edge_type, dst_type)``, in the order given."""
        return tuple(self._graphs)

    @property
    def edge_types(self) -> tuple[str, ...]:
        """The edge-type name of every relation (may repeat)."""
        return tuple(r[1] for r in self._graphs)

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def is_block(self) -> bool:
        """Whether this is a sampled block (built with ``num_dst_nodes``)."""
        return self._num_dst_nodes is not None

    def _check_ntype(self, ntype: Any) -> str:
        if ntype not in self._num_nodes:
            raise ValueError(f"ntype must be one of the node types {list(self._num_nodes)}, got {ntype!r}")
        return ntype

    def _resolve(self, key: Any, what: str = "relation") -> Relation:
        """The canonical triple of ``key`` (a triple, or an edge-type name that is unique)."""
        if isinstance(key, tuple):
            if key in self._graphs:
                return key
            raise ValueError(f"{what} {key!r} is not one of the relations {list(self._graphs)}")
        if isinstance(key, str):
            found = [r for r in self._graphs if r[1] == key]
            if len(found) == 1:
                return found[0]
            if not found:
                raise ValueError(f"{what} {key!r} is not an edge type of this graph; its relations are {list(self._graphs)}")
            raise ValueError(f"{what} {key!r} names several relations {found}; pass the (src_type, edge_type, dst_type) triple")
        raise TypeError(f"{what} must be a (src_type, edge_type, dst_type) triple or an edge-type name, got {type(key).__name__}")

    def canonical(self, rel: RelationKey) -> Relation:
        """The canonical triple of ``rel`` (an edge-type name alone is accepted when unique).

        Raises:
            ValueError: an unknown or ambiguous relation. TypeError: neither a triple nor a string.
        """
        return self._resolve(rel)

    def num_nodes(self, ntype: str | None = None) -> int:
        """Vertices of ``ntype``, or of all types together when ``ntype`` is None.

        Raises:
            ValueError: an unknown node type.
        """
        if ntype is None:
            return sum(self._num_nodes.values())
        return self._num_nodes[self._check_ntype(ntype)]

    def num_dst_nodes(self, ntype: str) -> int:
        """Destination vertices of ``ntype``: the first ones of a block, all of them otherwise."""
        self._check_ntype(ntype)
        return self._num_nodes[ntype] if self._num_dst_nodes is None else self._num_dst_nodes[ntype]

    def num_edges(self, rel: RelationKey | None = None) -> int:
        """Edges of relation ``rel``, or of all relations together when ``rel`` is None."""
        if rel is None:
            return sum(g.num_edges for g in self._graphs.values())
        return self._graphs[self._resolve(rel)].num_edges

    def __getitem__(self, rel: RelationKey) -> Graph:
        """The :class:`Graph` of one relation; its ``edata`` is the relation's edge data, its
        ``srcdata``/``dstdata`` show the node data of the two types (for a block, ``dstdata`` is
        a snapshot of the destinations' rows taken at construction)."""
        return self._graphs[self._resolve(rel)]

    @property
    def ndata(self) -> Mapping[str, DataDict]:
        """``{node_type: DataDict}``; each DataDict is mutable, the mapping of types is not."""
        return _Frames(self._ndata, self._check_ntype)

    @property
    def edata(self) -> Mapping[Relation, DataDict]:
        """``{relation: DataDict}`` (the relation graphs' own ``edata``); names resolve as in ``g[rel]``."""
        return _Frames({r: g.edata for r, g in self._graphs.items()}, self._resolve)

    def __repr__(self) -> str:
        nodes = ", ".join(f"{t!r}: {n}" for t, n in self._num_nodes.items())
        rels = ", ".join(f"{_rel_repr(r)}: {g.num_edges}" for r, g in self._graphs.items())
        block = "" if self._num_dst_nodes is None else f", num_dst_nodes={self._num_dst_nodes}"
        return f"{type(self).__name__}(num_nodes={{{nodes}}}, num_edges={{{rels}}}{block}, device={self.device})"

    def _edges(self) -> dict[Relation, tuple[Tensor, Tensor]]:
        return {r: (g.src, g.dst) for r, g in self._graphs.items()}

    def _data(self, fn) -> tuple[dict, dict]:
        ndata = {t: {k: fn(v) for k, v in d.items()} for t, d in self._ndata.items()}
        edata = {r: {k: fn(v) for k, v in g.edata.items()} for r, g in self._graphs.items()}
        return ndata, edata

    def to(self, device: torch.device | str) -> "HeteroGraph":
        """A copy on ``device``, data included (``self`` when already there)."""
        device = torch.device(device)
        if device == self.device:
            return self
        ndata, edata = self._data(lambda v: v.to(device))
        edges = {r: (s.to(device), d.to(device)) for r, (s, d) in self._edges().items()}
        return HeteroGraph(self._num_nodes, edges, ndata=ndata, edata=edata, num_dst_nodes=self._num_dst_nodes,
                           _validate=False)

    def equal(self, other: Any) -> bool:
        """Same types with the same counts, the same relations with the same edges in the same
        order, and equal data (the order of types and relations is not compared)."""
        if not isinstance(other, HeteroGraph) or self._num_nodes != other._num_nodes:
            return False
        if self._num_dst_nodes != other._num_dst_nodes or set(self._graphs) != set(other._graphs):
            return False
        # a relation's Graph.equal compares its edges and edata (and its end types' data)
        return (all(self._graphs[r].equal(other._graphs[r]) for r in self._graphs)
                and all(self._ndata[t].equal(other._ndata[t]) for t in self._num_nodes))

    # ------------------------------------------------------------ transforms
    def subgraph(self, nodes: Mapping[str, Any]) -> tuple["HeteroGraph", dict[str, Tensor], dict[Relation, Tensor]]:
        """The subgraph induced by ``nodes``, with the matching rows of every data tensor.

        Args:
            nodes: ``{node_type: ids}`` (``[K]`` integer ids or a ``[num_nodes[t]]`` bool
                mask). A type not listed keeps no vertices (as DGL's ``node_subgraph``).

        Returns:
            ``(sub, node_ids, edge_ids)``: vertex ``i`` of type ``t`` in ``sub`` is
            ``node_ids[t][i]`` here, edge ``j`` of relation ``r`` is ``edge_ids[r][j]`` here.

        Raises:
            ValueError: an unknown node type, a mask of the wrong length, duplicate ids, a block.
            IndexError: ids outside ``[0, num_nodes[t])``. TypeError: non-integer ids.
        """
        if self.is_block:
            raise ValueError("subgraph needs a whole graph, got a block (num_dst_nodes given); take it of the sampled graph")
        if not isinstance(nodes, Mapping):
            raise TypeError(f"nodes must be a mapping {{node_type: ids}}, got {type(nodes).__name__}")
        for t in nodes:
            self._check_ntype(t)
        node_ids, local = {}, {}
        for t, n in self._num_nodes.items():  # once per node type, not per vertex
            node_ids[t], local[t] = _local_ids(nodes.get(t, ()), n, f"nodes[{t!r}]", self._device)
        edges, edge_ids, edata = {}, {}, {}
        for rel, g in self._graphs.items():  # once per relation
            ls, ld = local[rel[0]][g.src], local[rel[2]][g.dst]  # [E_r] local ids, -1 outside
            eid = ((ls >= 0) & (ld >= 0)).nonzero().view(-1)
            edges[rel], edge_ids[rel] = (ls[eid], ld[eid]), eid
            edata[rel] = g.edata.select(eid)
        ndata = {t: self._ndata[t].select(node_ids[t]) for t in self._num_nodes}
        counts = {t: ids.numel() for t, ids in node_ids.items()}
        return HeteroGraph(counts, edges, ndata=ndata, edata=edata, _validate=False), node_ids, edge_ids

    def to_homogeneous(self, ndata: Sequence[str] = (), edata: Sequence[str] = ()) -> tuple[Graph, Tensor, Tensor]:
        """One :class:`Graph` over all vertices: type ``ntypes[k]`` takes the ids after those of
        the types before it; relations' edges follow one another in :attr:`relations` order.

        Args:
            ndata: node-data names to concatenate over types (every type must hold each).
            edata: edge-data names to concatenate over relations (every relation must hold each).

        Returns:
            ``(graph, node_type [N], edge_type [E])``: int64 indices into :attr:`ntypes` and
            :attr:`relations`.

        Raises:
            ValueError: a block, or a data name missing on some type or relation.
        """
        if self.is_block:
            raise ValueError("to_homogeneous needs a whole graph, got a block (num_dst_nodes given)")
        dev = self._device
        counts = torch.tensor(list(self._num_nodes.values()), dtype=torch.int64)
        offset = dict(zip(self._num_nodes, (torch.cumsum(counts, 0) - counts).tolist()))
        graphs = list(self._graphs.items())
        src = torch.cat([g.src + offset[r[0]] for r, g in graphs]) if graphs else torch.zeros(0, dtype=torch.int64, device=dev)
        dst = torch.cat([g.dst + offset[r[2]] for r, g in graphs]) if graphs else torch.zeros(0, dtype=torch.int64, device=dev)
        node_type = torch.repeat_interleave(torch.arange(counts.numel()), counts).to(dev)  # [N]
        edge_type = torch.repeat_interleave(torch.arange(len(graphs)), torch.tensor([g.num_edges for _, g in graphs],
                                                                                      dtype=torch.int64)).to(dev)  # [E]
        nd, ed = {}, {}
        for name in ndata:
            missing = [t for t in self._num_nodes if name not in self._ndata[t]]
            if missing:
                raise ValueError(f"ndata name {name!r} is missing on node types {missing}; every type must hold it")
            nd[name] = torch.cat([self._ndata[t][name] for t in self._num_nodes])
        for name in edata:
            missing = [r for r, g in graphs if name not in g.edata]
            if missing:
                raise ValueError(f"edata name {name!r} is missing on relations {missing}; every relation must hold it")
            ed[name] = torch.cat([g.edata[name] for _, g in graphs])
        g = Graph(src, dst, int(counts.sum()), ndata=nd, edata=ed, _validate=False)
        return g, node_type, edge_type

    # ------------------------------------------------------------ converters
    def to_dgl(self):
        """As a ``dgl.DGLGraph`` heterograph with the same types, edge order and data."""
        import dgl

        if self.is_block:
            raise ValueError("to_dgl converts a whole graph, got a block (num_dst_nodes given)")
        out = dgl.heterograph(self._edges(), num_nodes_dict=dict(self._num_nodes), device=self._device)
        for t, data in self._ndata.items():
            for k, v in data.items():
                out.nodes[t].data[k] = v
        for r, g in self._graphs.items():
            for k, v in g.edata.items():
                out.edges[r].data[k] = v
        return out

    @staticmethod
    def from_dgl(dgl_graph: Any) -> "HeteroGraph":
        """From a ``dgl.DGLGraph`` (heterogeneous or not), with its node and edge data (names kept)."""
        edges = {tuple(r): dgl_graph.edges(etype=r, order="eid") for r in dgl_graph.canonical_etypes}
        return HeteroGraph(
            {t: dgl_graph.num_nodes(t) for t in dgl_graph.ntypes},
            edges,
            ndata={t: dict(dgl_graph.nodes[t].data) for t in dgl_graph.ntypes},
            edata={tuple(r): dict(dgl_graph.edges[r].data) for r in dgl_graph.canonical_etypes},
        )

    def to_pyg(self):
        """As a ``torch_geometric.data.HeteroData`` (``num_nodes`` per type, ``edge_index`` per
        relation, data under the same names)."""
        from torch_geometric.data import HeteroData

        if self.is_block:
            raise ValueError("to_pyg converts a whole graph, got a block (num_dst_nodes given)")
        out = HeteroData()
        for t, n in self._num_nodes.items():
            out[t].num_nodes = n
            for k, v in self._ndata[t].items():
                out[t][k] = v
        for r, g in self._graphs.items():
            out[r].edge_index = g.edge_index
            for k, v in g.edata.items():
                out[r][k] = v
        return out

    @staticmethod
    def from_pyg(data: Any) -> "HeteroGraph":
        """From a ``torch_geometric.data.HeteroData``; every tensor attribute becomes data under its
        own name (``edge_index`` and ``num_nodes`` are the structure).

        Raises:
            ValueError: a relation without ``edge_index`` or a node type without a known count.
        """
        counts, ndata = {}, {}
        for t in data.node_types:
            store = data[t]
            if store.num_nodes is None:
                raise ValueError(f"node type {t!r} has no num_nodes and no tensor to infer it from; set data[{t!r}].num_nodes")
            counts[t] = int(store.num_nodes)
            ndata[t] = {k: v for k, v in store.items() if k != "num_nodes"}
        edges, edata = {}, {}
        for r in data.edge_types:
            store = data[r]
            if "edge_index" not in store:
                raise ValueError(f"relation {_rel_repr(r)} has no edge_index")
            ei = store["edge_index"]
            edges[tuple(r)] = (ei[0], ei[1])
            edata[tuple(r)] = {k: v for k, v in store.items() if k != "edge_index"}
        return HeteroGraph(counts, edges, ndata=ndata, edata=edata)


def _local_ids(nodes: Any, size: int, name: str, device: torch.device) -> tuple[Tensor, Tensor]:
    """Checked ids ``[K]`` and a ``[size]`` table mapping each id to its position (-1 elsewhere)."""
    if isinstance(nodes, (list, tuple)) and len(nodes) == 0:
        nodes = torch.zeros(0, dtype=torch.int64)  # torch.as_tensor([]) would be float32
    ids = torch.as_tensor(nodes, device=device)
    if ids.dtype == torch.bool:
        if ids.shape != (size,):
            raise ValueError(f"a boolean mask {name} must have shape [{size}], got {tuple(ids.shape)}")
        ids = ids.nonzero().view(-1)
    if ids.is_floating_point() or ids.is_complex() or ids.dim() != 1:
        raise TypeError(f"{name} must be 1-D integer ids or a bool mask, got dtype {ids.dtype} and shape {tuple(ids.shape)}")
    ids = ids.to(torch.int64)
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= size):
        raise IndexError(f"{name} must lie in [0, {size}), got ids in [{int(ids.min())}, {int(ids.max())}]")
    table = torch.full((size,), -1, dtype=torch.int64, device=device)
    pos = torch.arange(ids.numel(), device=device)
    table[ids] = pos
    if bool((table[ids] != pos).any()):
        raise ValueError(f"{name} must not contain duplicate ids")
    return ids, table
