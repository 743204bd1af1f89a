r"""Connectome import: measured wiring diagrams with named neurons and several synapse types.

A :class:`Connectome` holds one :class:`~gnnkit.graph.multiview.MultiViewGraph` whose views are the
synapse types (e.g. ``"chemical"`` and ``"electrical"`` for the *C. elegans* connectome),
each with its weights (synapse counts, strengths), plus neuron names, optional
positions and optional per-neuron data (``node_data``: cell types, original ids, ...).
Loaders read dense or scipy-sparse adjacency matrices, CSV and JSON edge lists
and networkx graphs; writers produce the same CSV/JSON (and a neurons table). Real
connectomes: :func:`gnnkit.brain.load_celegans` (the *C. elegans* datasets shipped by
``cect``) and :func:`gnnkit.brain.read_connectome_csv` (neuPrint/FlyWire-style tables).

Matrix convention: ``A[pre, post]`` (rows are presynaptic), as ``Graph.to_scipy``. Every
loader stores a type's synapses in one canonical order, sorted by (post, pre) (parallel
synapses keep their input order), so the same connectome read from any source is ``equal``.
Zeros in a matrix are "no synapse". Synapse types listed in ``undirected`` (gap junctions
conduct both ways) get every synapse in both directions; where both directions are given,
the larger weight is kept.
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from ..graph import Graph
from ..graph.idkeys import combined_key
from ..graph.multiview import NODE_TYPE, MultiViewGraph
from ._validate import as_positions
from .topology import SpatialGraph

__all__ = ["Connectome"]

_DEFAULT_TYPE = "chemical"
_REDUCES = ("sum", "mean", "max", "min")


def _check_names(names: Sequence[Any], n: int, what: str) -> tuple[str, ...]:
    if isinstance(names, (str, bytes)):
        raise TypeError("names must be a sequence of neuron names, got a single string")
    names = tuple(str(x) for x in names)
    if len(names) != n:
        raise ValueError(f"names must give one name per neuron: {what} has {n} neurons, got {len(names)} names")
    if len(set(names)) != n:
        seen, dup = set(), None
        for x in names:  # only on the failure path
            if x in seen:
                dup = x
                break
            seen.add(x)
        raise ValueError(f"names must be unique, got {dup!r} twice")
    return names


_RESERVED_KEYS = ("name", "position", "x", "y", "z")  # columns/fields the writers use themselves


def _check_node_data(node_data: Any, n: int) -> dict[str, Tensor | tuple[str, ...]]:
    """``{key: [N, ...] tensor | N strings}``, one row per neuron; numeric arrays become tensors."""
    if node_data is None:
        return {}
    if not isinstance(node_data, Mapping):
        raise TypeError(f"node_data must be a mapping {{key: per-neuron values}}, got {type(node_data).__name__}")
    out: dict[str, Tensor | tuple[str, ...]] = {}
    for key, value in node_data.items():  # a handful of keys
        if not isinstance(key, str):
            raise TypeError(f"node_data keys must be strings, got {key!r} ({type(key).__name__})")
        if key in _RESERVED_KEYS:
            raise ValueError(f"node_data key {key!r} is reserved (the writers use {_RESERVED_KEYS}); rename it")
        if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            value = torch.from_numpy(value)
        if isinstance(value, Tensor):
            if value.dim() == 0 or value.shape[0] != n:
                raise ValueError(f"node_data[{key!r}] must have one row per neuron ({n}), got shape {list(value.shape)}")
            out[key] = value
            continue
        if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
            raise TypeError(f"node_data[{key!r}] must be a tensor or a sequence of N strings, got {type(value).__name__}")
        labels = tuple(str(x) for x in value)
        if len(labels) != n:
            raise ValueError(f"node_data[{key!r}] must give one value per neuron ({n}), got {len(labels)}")
        out[key] = labels
    return out


def _select_rows(value: Tensor | tuple[str, ...], ids: np.ndarray) -> Tensor | tuple[str, ...]:
    if isinstance(value, Tensor):
        return value[torch.from_numpy(ids).to(value.device)]
    return tuple(np.asarray(value, dtype=object)[ids].tolist())


def _positions_for(positions: Any, names: tuple[str, ...]) -> Tensor | None:
    """``[N, D]`` positions from an array aligned with ``names`` or a ``{name: coords}`` mapping."""
    if positions is None:
        return None
    if isinstance(positions, Mapping):
        missing = [x for x in names if x not in positions]
        if missing:
            raise ValueError(f"positions has no entry for neuron {missing[0]!r} ({len(missing)} missing)")
        extra = set(positions) - set(names)
        if extra:
            raise ValueError(f"positions names unknown neuron {sorted(map(str, extra))[0]!r}")
        positions = np.asarray([positions[x] for x in names], dtype=np.float64)
    return as_positions(positions, len(names))


def _as_matrix(a: Any, name: str):
    """A dense numpy array or scipy sparse matrix → scipy COO, checked square and finite."""
    import scipy.sparse as sp

    if isinstance(a, Tensor):
        a = a.detach().cpu().numpy()
    if sp.issparse(a):
        m = a.tocoo()
    else:
        try:
            arr = np.asarray(a, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be a numeric matrix, got {type(a).__name__}") from exc
        if arr.ndim != 2:
            raise ValueError(f"{name} must be a 2-D [N, N] matrix, got {arr.ndim} dimensions (shape {list(arr.shape)})")
        m = sp.coo_matrix(arr)
    if m.shape[0] != m.shape[1]:
        raise ValueError(f"{name} must be square [N, N] (rows: presynaptic, columns: postsynaptic neurons), got shape "
                         f"{list(m.shape)}")
    data = np.asarray(m.data, dtype=np.float64)
    if data.size and not np.isfinite(data).all():
        raise ValueError(f"{name} must be finite, found NaN or inf")
    keep = data != 0
    return m.row[keep].astype(np.int64), m.col[keep].astype(np.int64), data[keep], int(m.shape[0])


def _index_of(labels: np.ndarray, names: tuple[str, ...], what: str) -> np.ndarray:
    """Vectorised lookup of neuron names (sorted search, no Python loop over synapses)."""
    table = np.asarray(names, dtype=object).astype(str)
    order = np.argsort(table)
    sorted_names = table[order]
    pos = np.searchsorted(sorted_names, labels)
    pos = np.minimum(pos, len(sorted_names) - 1) if len(sorted_names) else pos
    ok = (sorted_names[pos] == labels) if len(sorted_names) else np.zeros(labels.shape, dtype=bool)
    if not ok.all():
        bad = str(labels[~ok][0])
        raise ValueError(f"{what} names neuron {bad!r}, which is not among the {len(names)} names given")
    return order[pos]


@dataclass(frozen=True, eq=False)
class Connectome:
    """Named neurons, synapse types as views, optional positions and per-neuron data.

    Args:
        views: a :class:`~gnnkit.graph.multiview.MultiViewGraph`, one view per synapse type.
        names: one unique name per neuron; neuron ``i`` is ``names[i]``.
        positions: optional ``[N, D]`` finite coordinates.
        node_data: optional ``{key: values}`` with one row per neuron: a ``[N, ...]`` tensor
            (numbers, e.g. original ids) or ``N`` strings (categories, e.g. a cell type).
            :meth:`subgraph`, the JSON and CSV writers and :meth:`to_networkx` carry it;
            :meth:`codes` turns a string key into integer labels. The keys ``name``,
            ``position``, ``x``, ``y`` and ``z`` are reserved for the writers.

    Raises:
        TypeError: ``views`` is not a MultiViewGraph, node data that is neither a tensor nor
            strings. ValueError: names that do not match the neuron count or repeat, bad
            positions, node data without one row per neuron or under a reserved key.
    """

    views: MultiViewGraph
    names: tuple[str, ...]
    positions: Tensor | None = None
    node_data: Mapping[str, Tensor | tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.views, MultiViewGraph):
            raise TypeError(f"views must be a gnnkit MultiViewGraph, got {type(self.views).__name__}")
        object.__setattr__(self, "names", _check_names(self.names, self.views.num_nodes, "the connectome"))
        if self.positions is not None:
            object.__setattr__(self, "positions", as_positions(self.positions, self.views.num_nodes))
        object.__setattr__(self, "node_data", _check_node_data(self.node_data, self.views.num_nodes))

    # ------------------------------------------------------------- access
    @property
    def num_nodes(self) -> int:
        return self.views.num_nodes

    @property
    def num_edges(self) -> int:
        return self.views.num_edges

    @property
    def synapse_types(self) -> tuple[str, ...]:
        return self.views.names

    def index(self, names: str | Sequence[str]) -> Tensor:
        """Neuron ids of ``names`` (int64; a scalar tensor for one name).

        Raises:
            ValueError: an unknown name.
        """
        single = isinstance(names, str)
        labels = np.asarray([names] if single else list(names), dtype=object).astype(str)
        ids = torch.from_numpy(_index_of(labels, self.names, "index()").astype(np.int64))
        return ids[0] if single else ids

    def graph(self, synapse_type: str | None = None) -> Graph:
        """One synapse type's graph, or the union of all types (parallel edges kept) for None."""
        return self.views.union() if synapse_type is None else self.views.view(synapse_type)

    def weight(self, synapse_type: str | None = None) -> Tensor | None:
        """``[E]`` weights of one type (or of the union, in ``union()`` order); None if unweighted."""
        return self.views.union_edge_weight() if synapse_type is None else self.views.edge_weight(synapse_type)

    def spatial(self, synapse_type: str | None = None) -> SpatialGraph:
        """The type's graph with the neuron positions, for wiring lengths and metrics.

        Raises:
            ValueError: the connectome has no positions.
        """
        if self.positions is None:
            raise ValueError("this connectome has no positions; pass positions=... when loading it")
        return SpatialGraph(self.graph(synapse_type), self.positions)

    def codes(self, key: str) -> tuple[Tensor, tuple[str, ...]]:
        """Integer labels of a string ``node_data`` key, e.g. a cell type as a class target.

        Returns:
            ``(codes [N] int64, levels)`` with ``levels[codes[i]]`` the value of neuron ``i``;
            ``levels`` sorted.

        Raises:
            ValueError: an unknown key. TypeError: a key that holds a tensor.
        """
        if key not in self.node_data:
            raise ValueError(f"key must be one of the node_data keys {sorted(self.node_data)}, got {key!r}")
        value = self.node_data[key]
        if isinstance(value, Tensor):
            raise TypeError(f"node_data[{key!r}] is a tensor already; codes() is for string data")
        levels, inv = np.unique(np.asarray(value, dtype=object).astype(str), return_inverse=True)
        return torch.from_numpy(inv.astype(np.int64)), tuple(levels.tolist())

    def subgraph(self, neurons: str | Sequence[str] | Sequence[int] | Tensor | np.ndarray) -> "Connectome":
        """The connectome induced by ``neurons`` (names, ids or a ``[N]`` bool mask), in the given order.

        Every view keeps its synapses between the kept neurons with their weights; names,
        positions and ``node_data`` keep the kept neurons' rows.

        Raises:
            ValueError: an unknown name, duplicate neurons, a mask of the wrong length.
            IndexError: ids outside ``[0, N)``.
        """
        if isinstance(neurons, str) or (isinstance(neurons, Sequence) and len(neurons) and isinstance(neurons[0], str)):
            ids = self.index([neurons] if isinstance(neurons, str) else neurons)
        elif isinstance(neurons, Tensor):
            ids = neurons
        else:
            ids = torch.as_tensor(np.asarray(neurons))
        if ids.numel() == 0 and ids.is_floating_point():  # an empty list: no neurons
            ids = ids.to(torch.int64)
        if ids.dtype == torch.bool:
            if ids.shape != (self.num_nodes,):
                raise ValueError(f"a neurons mask must have shape [N] = [{self.num_nodes}], got {list(ids.shape)}")
            ids = ids.nonzero().view(-1)
        sub, node_ids, _ = self.views.subgraph(ids.to(torch.int64))
        keep = node_ids[NODE_TYPE].cpu().numpy()
        positions = None if self.positions is None else self.positions[torch.from_numpy(keep)]
        return Connectome(sub, tuple(np.asarray(self.names, dtype=object)[keep].tolist()), positions,
                          {k: _select_rows(v, keep) for k, v in self.node_data.items()})

    def equal(self, other: "Connectome") -> bool:
        """Same views (names, order, graphs, weights), neuron names, positions and node data."""
        if not isinstance(other, Connectome) or other.names != self.names or not self.views.equal(other.views):
            return False
        if (self.positions is None) != (other.positions is None) or (
                self.positions is not None and not torch.equal(self.positions, other.positions)):
            return False
        if set(self.node_data) != set(other.node_data):
            return False
        for k, a in self.node_data.items():
            b = other.node_data[k]
            if isinstance(a, Tensor) != isinstance(b, Tensor):
                return False
            if isinstance(a, Tensor) and not (a.dtype == b.dtype and torch.equal(a, b.to(a.device))):
                return False
            if not isinstance(a, Tensor) and a != b:
                return False
        return True

    def __repr__(self) -> str:
        per = ", ".join(f"{t}={self.views.view(t).num_edges}" for t in self.synapse_types)
        pos = "" if self.positions is None else f", dim={self.positions.shape[1]}"
        data = f", node_data={sorted(self.node_data)}" if self.node_data else ""
        return f"Connectome(num_nodes={self.num_nodes}, synapses=[{per}]{pos}{data})"

    # ------------------------------------------------------------- builders
    @staticmethod
    def from_edges(
        pre: Sequence[Any] | np.ndarray | Tensor,
        post: Sequence[Any] | np.ndarray | Tensor,
        *,
        weight: Sequence[float] | np.ndarray | Tensor | None = None,
        synapse_type: Sequence[str] | np.ndarray | Tensor | str | None = None,
        names: Sequence[str] | None = None,
        positions: Any = None,
        types: Sequence[str] | None = None,
        undirected: Sequence[str] = (),
        reduce: str | None = None,
        node_data: Mapping[str, Any] | None = None,
    ) -> "Connectome":
        """From an edge list of neuron names (or integer ids when ``names`` is given and the lists are ints).

        Args:
            pre, post: ``[E]`` presynaptic and postsynaptic neuron names (or ids into ``names``).
            weight: optional ``[E]`` finite weights (default 1).
            synapse_type: ``[E]`` type per synapse, or one type for all (default ``"chemical"``),
                or ``[E]`` integer indices into ``types`` (no string per synapse: the form
                for millions of synapses).
            names: the neuron names (sets ``N`` and the order, and may include neurons without
                synapses); default: the sorted set of names in ``pre`` and ``post``.
            positions: ``[N, D]`` aligned with ``names``, or ``{name: coords}``.
            types: the view order; default: order of first appearance.
            undirected: types whose synapses act both ways (e.g. ``("electrical",)``).
            reduce: ``None`` keeps parallel synapses (same pre, post and type) as separate
                edges; ``"sum"``, ``"max"``, ``"min"`` or ``"mean"`` merges them into one edge
                (e.g. ``"sum"`` of per-region synapse counts). Undirected types always merge
                the two directions with ``"max"``.
            node_data: per-neuron data aligned with ``names`` (see :class:`Connectome`).

        Raises:
            ValueError: lengths that differ, unknown neurons or types, type indices outside
                ``[0, len(types))``, non-finite weights, bad positions, an unknown ``reduce``.
        """
        if reduce is not None and reduce not in _REDUCES:
            raise ValueError(f"reduce must be None or one of {_REDUCES}, got {reduce!r}")
        pre_arr = np.asarray(pre.cpu().numpy() if isinstance(pre, Tensor) else pre)
        post_arr = np.asarray(post.cpu().numpy() if isinstance(post, Tensor) else post)
        if pre_arr.ndim != 1 or post_arr.shape != pre_arr.shape:
            raise ValueError(f"pre and post must be 1-D and of equal length, got shapes {list(pre_arr.shape)} and "
                             f"{list(post_arr.shape)}")
        e = pre_arr.size
        integer_ids = names is not None and e > 0 and np.issubdtype(pre_arr.dtype, np.integer) and \
            np.issubdtype(post_arr.dtype, np.integer)
        if names is None:
            labels = np.concatenate([pre_arr.astype(str), post_arr.astype(str)])
            names = tuple(np.unique(labels).tolist())
        names = _check_names(names, len(names), "the name list")
        n = len(names)
        if integer_ids:
            src, dst = pre_arr.astype(np.int64), post_arr.astype(np.int64)
            for what, ids in (("pre", src), ("post", dst)):
                if ids.size and (ids.min() < 0 or ids.max() >= n):
                    raise ValueError(f"{what} holds neuron id {int(ids.max() if ids.max() >= n else ids.min())}; ids must "
                                     f"lie in [0, {n}) (the names given)")
        else:
            src = _index_of(pre_arr.astype(str), names, "pre")
            dst = _index_of(post_arr.astype(str), names, "post")
        if weight is None:
            w = np.ones(e)
        else:
            w = np.asarray(weight.detach().cpu().numpy() if isinstance(weight, Tensor) else weight, dtype=np.float64)
            if w.shape != (e,):
                raise ValueError(f"weight must have one value per synapse ({e}), got shape {list(w.shape)}")
            if not np.isfinite(w).all():
                raise ValueError("weight must be finite, found NaN or inf")
        kind_arr = synapse_type.cpu().numpy() if isinstance(synapse_type, Tensor) else synapse_type
        if kind_arr is not None and not isinstance(kind_arr, str) and np.asarray(kind_arr).dtype.kind in "iu":
            code = np.asarray(kind_arr).astype(np.int64)
            if code.shape != (e,):
                raise ValueError(f"synapse_type must have one entry per synapse ({e}), got shape {list(code.shape)}")
            if types is None:
                raise ValueError("integer synapse_type indices need types=[...] (the name of each index)")
            types = list(types)
            if code.size and (code.min() < 0 or code.max() >= len(types)):
                raise ValueError(f"synapse_type holds type index {int(code.min() if code.min() < 0 else code.max())}; "
                                 f"indices must lie in [0, {len(types)}) (the types given)")
        else:
            if kind_arr is None or isinstance(kind_arr, str):
                kind = np.full(e, kind_arr or _DEFAULT_TYPE, dtype=object).astype(str)
            else:
                kind = np.asarray(kind_arr, dtype=object).astype(str)
                if kind.shape != (e,):
                    raise ValueError(f"synapse_type must have one entry per synapse ({e}), got shape {list(kind.shape)}")
            uniq, first, code = np.unique(kind, return_index=True, return_inverse=True)
            if types is None:
                types = [str(t) for t in uniq[np.argsort(first)]] or [str(kind_arr or _DEFAULT_TYPE)]
            types = list(types)
            unknown = set(uniq.tolist()) - set(types)
            if unknown:
                raise ValueError(f"synapse_type holds {sorted(unknown)[0]!r}, which is not in types {types}")
            code = np.asarray([types.index(str(t)) for t in uniq], dtype=np.int64)[code.reshape(-1)] if e else \
                np.zeros(0, dtype=np.int64)  # one lookup per distinct type, then vectorised
        if len(set(types)) != len(types):
            raise ValueError(f"types must be distinct, got {types}")
        for t in undirected:
            if t not in types:
                raise ValueError(f"undirected names synapse type {t!r}, which is not among {types}")
        views, weights = {}, {}
        # one pass splits the synapses by type; 16-bit codes let numpy's stable sort be a radix sort
        order = np.argsort(code.astype(np.int16) if len(types) < 2**15 else code, kind="stable")
        bounds = np.searchsorted(code[order], np.arange(len(types) + 1))
        for ti, t in enumerate(types):  # a loop over synapse types (a handful)
            sel = order[bounds[ti]:bounds[ti + 1]]
            if reduce is None and t not in undirected:  # coalesce below sorts the merged types itself
                sel = sel[np.argsort(combined_key((dst[sel], src[sel]), (n, n), "connectome"), kind="stable")]  # (post, pre)
            g = Graph(torch.from_numpy(src[sel]), torch.from_numpy(dst[sel]), n)
            wt = torch.from_numpy(w[sel]).float()
            if t in undirected:  # both directions; the larger weight where both were given
                g = Graph(torch.cat([g.src, g.dst]), torch.cat([g.dst, g.src]), n)
                g, wt = g.coalesce(torch.cat([wt, wt]), reduce="max")
            elif reduce is not None:  # coalesce keeps the (post, pre) order
                g, wt = g.coalesce(torch.from_numpy(w[sel]), reduce=reduce)
                wt = wt.float()  # merged in float64 so large counts add up exactly
            views[t], weights[t] = g, wt
        return Connectome(MultiViewGraph(views, weights), names, _positions_for(positions, names),
                          node_data if node_data is not None else {})

    @staticmethod
    def from_adjacency(
        adjacency: Any,
        *,
        names: Sequence[str] | None = None,
        positions: Any = None,
        undirected: Sequence[str] = (),
        node_data: Mapping[str, Any] | None = None,
    ) -> "Connectome":
        """From dense (numpy/torch) or scipy-sparse ``[N, N]`` matrices ``A[pre, post]``.

        Args:
            adjacency: one matrix (type ``"chemical"``) or ``{type: matrix}``; nonzero entries
                are synapses with that weight.
            names: one name per neuron (default ``"0", "1", ...``).
            positions: ``[N, D]`` or ``{name: coords}``.
            undirected: types whose synapses act both ways.
            node_data: per-neuron data aligned with the matrix rows (see :class:`Connectome`).

        Raises:
            ValueError: a matrix that is not square or not finite, matrices of different
                sizes, names that do not match the matrix size.
        """
        mats = dict(adjacency) if isinstance(adjacency, Mapping) else {_DEFAULT_TYPE: adjacency}
        if not mats:
            raise ValueError("adjacency must hold at least one matrix")
        parts, n = [], None
        for t, a in mats.items():
            label = f"adjacency[{t!r}]" if isinstance(adjacency, Mapping) else "adjacency"
            r, c, v, size = _as_matrix(a, label)
            if n is not None and size != n:
                raise ValueError(f"all adjacency matrices must be [N, N] with one N, got {n} and {size} ({label})")
            n = size
            parts.append((t, r, c, v))
        names = tuple(str(i) for i in range(n)) if names is None else _check_names(names, n, f"the {n}x{n} matrix")
        return Connectome.from_edges(
            np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts]),
            weight=np.concatenate([p[3] for p in parts]),
            synapse_type=np.concatenate([np.full(p[1].size, p[0], dtype=object) for p in parts]).astype(str),
            names=names, positions=positions, types=list(mats), undirected=undirected, node_data=node_data,
        )

    @staticmethod
    def from_networkx(
        nx_graph: Any,
        *,
        type_attr: str = "type",
        weight_attr: str = "weight",
        pos_attr: str = "pos",
        name_attr: str = "name",
        undirected: Sequence[str] | None = None,
        node_keys: Sequence[str] = (),
    ) -> "Connectome":
        """From a networkx graph: nodes become named neurons, edge attribute ``type_attr`` the view.

        Neuron names are the node attribute ``name_attr`` when every node has one, else the
        nodes themselves (as strings). An undirected networkx graph makes every synapse type
        undirected (unless ``undirected`` says otherwise). Positions come from the node
        attribute ``pos_attr`` when every node has it. Each node attribute named in
        ``node_keys`` becomes ``node_data``: strings stay strings, numbers become a tensor.

        Raises:
            ValueError: a ``node_keys`` attribute missing on a node.
        """
        nodes = list(nx_graph.nodes)
        given = [nx_graph.nodes[v].get(name_attr) for v in nodes]
        names = tuple(str(x) for x in given) if nodes and all(x is not None for x in given) else tuple(str(v) for v in nodes)
        index = {v: i for i, v in enumerate(nodes)}
        edges = list(nx_graph.edges(data=True))  # conversion from a Python graph object
        pre = np.asarray([index[u] for u, _, _ in edges], dtype=np.int64)
        post = np.asarray([index[v] for _, v, _ in edges], dtype=np.int64)
        w = np.asarray([float(d.get(weight_attr, 1.0)) for _, _, d in edges])
        kind = np.asarray([str(d.get(type_attr, _DEFAULT_TYPE)) for _, _, d in edges], dtype=object).astype(str)
        if undirected is None:
            undirected = tuple(np.unique(kind).tolist()) if not nx_graph.is_directed() else ()
        attrs = [nx_graph.nodes[v].get(pos_attr) for v in nodes]
        positions = np.asarray(attrs, dtype=np.float64) if nodes and all(a is not None for a in attrs) else None
        node_data = {}
        for key in node_keys:  # a handful of attributes
            missing = [v for v in nodes if key not in nx_graph.nodes[v]]
            if missing:
                raise ValueError(f"node_keys names attribute {key!r}, which node {missing[0]!r} does not have")
            values = [nx_graph.nodes[v][key] for v in nodes]
            node_data[key] = values if all(isinstance(x, str) for x in values) else torch.tensor(values)
        return Connectome.from_edges(pre, post, weight=w, synapse_type=kind if kind.size else None, names=names,
                                     positions=positions, undirected=undirected, node_data=node_data)

    # ------------------------------------------------------------- files
    @staticmethod
    def read_csv(
        path: str | os.PathLike,
        *,
        pre: str = "pre",
        post: str = "post",
        weight: str | None = "weight",
        synapse_type: str | None = "type",
        delimiter: str = ",",
        names: Sequence[str] | None = None,
        positions: Any = None,
        undirected: Sequence[str] = (),
    ) -> "Connectome":
        """From a CSV edge list with a header row; ``weight``/``type`` columns are optional.

        Raises:
            ValueError: a missing ``pre``/``post`` column, non-numeric weights, and everything
                :meth:`from_edges` checks.
        """
        with open(path, newline="") as fh:
            reader = csv.reader(fh, delimiter=delimiter)
            header = next(reader, None)
            if header is None:
                raise ValueError(f"{os.fspath(path)} is empty; expected a header row with {pre!r} and {post!r}")
            rows = np.asarray(list(reader), dtype=object)  # parsing is I/O bound; columns are then vectorised
        header = [h.strip() for h in header]
        for col in (pre, post):
            if col not in header:
                raise ValueError(f"{os.fspath(path)} has no column {col!r}; its columns are {header}")
        rows = rows.reshape(-1, len(header)) if rows.size else np.zeros((0, len(header)), dtype=object)
        column = {h: rows[:, i].astype(str) for i, h in enumerate(header)}
        w = None
        if weight is not None and weight in column:
            try:
                w = column[weight].astype(np.float64)
            except ValueError as exc:
                raise ValueError(f"column {weight!r} of {os.fspath(path)} must hold numbers: {exc}") from exc
        kind = column[synapse_type] if synapse_type is not None and synapse_type in column else None
        return Connectome.from_edges(column[pre], column[post], weight=w, synapse_type=kind, names=names,
                                     positions=positions, undirected=undirected)

    def write_csv(self, path: str | os.PathLike, delimiter: str = ",", *,
                  neurons_path: str | os.PathLike | None = None) -> None:
        """Write ``pre, post, weight, type`` rows (names, not ids), and optionally a neurons table.

        Args:
            path: the synapse table.
            delimiter: the field separator of both tables.
            neurons_path: if given, also write one row per neuron: ``name``, the position
                columns (``x, y, z`` for ``D <= 3``, else ``x0 .. x{D-1}``) and one column per
                1-D ``node_data`` key. :func:`gnnkit.brain.read_connectome_csv` with
                ``layout="gnnkit"`` reads both tables back (undirected types as their two
                directions, which give the same graphs).

        Raises:
            ValueError: ``node_data`` with more than one value per neuron (no CSV column for it).
        """
        if neurons_path is not None:
            self._write_neurons_csv(neurons_path, delimiter)
        with open(path, "w", newline="") as fh:
            out = csv.writer(fh, delimiter=delimiter)
            out.writerow(["pre", "post", "weight", "type"])
            for rows in self._edge_rows():
                out.writerows(rows)

    def _write_neurons_csv(self, path: str | os.PathLike, delimiter: str) -> None:
        cols: dict[str, list] = {"name": list(self.names)}
        if self.positions is not None:
            d = self.positions.shape[1]
            labels = ["x", "y", "z"][:d] if d <= 3 else [f"x{i}" for i in range(d)]
            for i, label in enumerate(labels):
                cols[label] = self.positions[:, i].tolist()
        for k, v in self.node_data.items():
            if isinstance(v, Tensor) and v.dim() != 1:
                raise ValueError(f"node_data[{k!r}] has shape {list(v.shape)}; a CSV column holds one value per "
                                 f"neuron (use write_json for it)")
            cols[k] = v.tolist() if isinstance(v, Tensor) else list(v)
        with open(path, "w", newline="") as fh:
            out = csv.writer(fh, delimiter=delimiter)
            out.writerow(list(cols))
            out.writerows(zip(*cols.values()))

    def _edge_rows(self):
        names = np.asarray(self.names, dtype=object)
        for t in self.synapse_types:
            g, w = self.views.view(t), self.views.edge_weight(t)
            wv = np.ones(g.num_edges) if w is None else w.detach().cpu().double().numpy()
            yield zip(names[g.src.cpu().numpy()], names[g.dst.cpu().numpy()], wv.tolist(), [t] * g.num_edges)

    @staticmethod
    def read_json(path: str | os.PathLike) -> "Connectome":
        """From ``{"neurons": [...], "synapses": [...], "undirected": [...]}`` (see :meth:`write_json`).

        ``neurons`` lists names or ``{"name": ..., "position": [...], <key>: value}`` objects;
        each synapse is ``{"pre", "post", "weight"?, "type"?}``. The keys listed in the
        optional top-level ``"node_data": {key: dtype}`` (``"str"`` or a torch dtype name such
        as ``"int64"``) become ``node_data``.

        Raises:
            ValueError: a missing ``neurons``/``synapses`` key, malformed entries, a node-data
                key missing on a neuron or an unknown dtype.
        """
        with open(path) as fh:
            data = json.load(fh)
        if not isinstance(data, dict) or "neurons" not in data or "synapses" not in data:
            raise ValueError(f"{os.fspath(path)} must be a JSON object with 'neurons' and 'synapses' lists")
        neurons, synapses = data["neurons"], data["synapses"]
        names = [x["name"] if isinstance(x, dict) else x for x in neurons]
        pos = [x.get("position") for x in neurons if isinstance(x, dict)]
        positions = np.asarray(pos, dtype=np.float64) if pos and len(pos) == len(names) and all(p is not None for p in pos) else None
        node_data = {}
        for key, dtype in dict(data.get("node_data") or {}).items():  # a handful of keys
            try:
                values = [x[key] for x in neurons]
            except (KeyError, TypeError) as exc:
                raise ValueError(f"node_data key {key!r} of {os.fspath(path)} is missing on a neuron") from exc
            if dtype == "str":
                node_data[key] = values
            elif isinstance(getattr(torch, str(dtype), None), torch.dtype):
                node_data[key] = torch.tensor(values, dtype=getattr(torch, dtype))
            else:
                raise ValueError(f"node_data[{key!r}] of {os.fspath(path)} has dtype {dtype!r}; expected 'str' or a "
                                 f"torch dtype name such as 'int64'")
        try:
            pre = [s["pre"] for s in synapses]
            post = [s["post"] for s in synapses]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"every synapse in {os.fspath(path)} needs 'pre' and 'post'") from exc
        w = np.asarray([float(s.get("weight", 1.0)) for s in synapses])
        kind = [str(s.get("type", _DEFAULT_TYPE)) for s in synapses]
        return Connectome.from_edges(np.asarray(pre, dtype=object).astype(str), np.asarray(post, dtype=object).astype(str),
                                     weight=w, synapse_type=kind or None, names=names, positions=positions,
                                     types=data.get("types"), undirected=data.get("undirected", ()), node_data=node_data)

    def write_json(self, path: str | os.PathLike) -> None:
        """Write neurons (with positions and node data) and synapses as JSON readable by :meth:`read_json`.

        Undirected types are written with both directions; reading them back as directed
        gives the same graphs.
        """
        pos = None if self.positions is None else self.positions.tolist()
        columns = {k: (v.tolist() if isinstance(v, Tensor) else list(v)) for k, v in self.node_data.items()}
        neurons = []
        for i, x in enumerate(self.names):  # writing a file: one object per neuron
            item = {"name": x, "position": pos[i]} if pos is not None else {"name": x}
            item.update({k: col[i] for k, col in columns.items()})
            neurons.append(item)
        synapses = [{"pre": a, "post": b, "weight": w, "type": t} for rows in self._edge_rows() for a, b, w, t in rows]
        dtypes = {k: str(v.dtype).replace("torch.", "") if isinstance(v, Tensor) else "str" for k, v in self.node_data.items()}
        with open(path, "w") as fh:
            json.dump({"neurons": neurons, "synapses": synapses, "types": list(self.synapse_types), "node_data": dtypes}, fh)

    def to_networkx(self):
        """A ``networkx.MultiDiGraph`` with node attributes ``name``/``pos`` and the ``node_data`` keys,
        and edge attributes ``type``/``weight``."""
        import networkx as nx

        out = nx.MultiDiGraph()
        columns = {k: (v.tolist() if isinstance(v, Tensor) else list(v)) for k, v in self.node_data.items()}
        for i, x in enumerate(self.names):
            attrs = {"name": x}
            if self.positions is not None:
                attrs["pos"] = tuple(self.positions[i].tolist())
            attrs.update({k: col[i] for k, col in columns.items()})
            out.add_node(i, **attrs)
        for t in self.synapse_types:
            g, w = self.views.view(t), self.views.edge_weight(t)
            wv = np.ones(g.num_edges) if w is None else w.detach().cpu().double().numpy()
            out.add_edges_from((int(a), int(b), {"type": t, "weight": float(c)})
                               for a, b, c in zip(g.src.tolist(), g.dst.tolist(), wv.tolist()))
        return out
