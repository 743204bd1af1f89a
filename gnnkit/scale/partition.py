r"""Vertex partitioning: METIS, random and contiguous, with halos and global↔local id maps.

Pure functions, no communication. A partition assigns every vertex to one part; every
edge belongs to the part that owns its *destination* (so a part holds all in-edges of
its vertices and a layer's aggregation at an owned vertex needs no remote edge). The
sources of those edges that another part owns are the part's *halo*: before each layer a
partition-parallel run fetches their features (:mod:`gnnkit.scale.distributed`).

Each :class:`Part` carries a local bipartite :class:`~gnnkit.Graph` in DGL's block
convention: destinations ``0..num_owned-1`` are the owned vertices, sources are the owned
vertices followed by the halo vertices, so ``x_local = cat([x[owned], x[halo]])`` and
``layer(part.graph, x_local)`` gives the owned rows of ``layer(g, x)``. The local graph
carries ``g``'s data: ``srcdata`` the rows of the owned then halo vertices (so
``part.graph.srcdata["x"]`` is that ``x_local``), ``ndata`` the owned rows, ``edata``
the rows of its edges.

Example::

    parts = partition(g, 4, method="metis")
    print(parts.summary())            # sizes, edge cut, halo sizes, balance
    p = parts[0]
    y0 = conv(p.graph, x[p.local_to_global])  # == conv(g, x)[p.owned]

METIS (Karypis & Kumar 1998, https://doi.org/10.1137/S1064827595287997) runs on the
symmetrised graph without self-loops and duplicate edges, through ``pymetis``
(``method="metis"``) or DGL's bundled copy (``method="dgl-metis"``). ``"fennel"`` and ``"ldg"``
stream the vertices once in bounded memory (:mod:`gnnkit.scale.streaming`) and refine the
boundary; :mod:`gnnkit.scale.part_files` writes a partition of a graph too large for METIS
part by part.
"""
from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import torch
from torch import Tensor

from ..graph import Graph
from ..graph.idkeys import combined_key
from .streaming import stream_partition

__all__ = ["METHODS", "CSR_METHODS", "Part", "Partitioning", "partition", "partition_assignment", "csr_assignment",
           "from_assignment"]

METHODS = ("metis", "dgl-metis", "fennel", "ldg", "random", "contiguous")
CSR_METHODS = ("fennel", "ldg", "random", "contiguous")  # need only a CSR by destination (no Graph, no symmetrising)


@dataclass(frozen=True, eq=False)
class Part:
    """One part of a :class:`Partitioning`: owned vertices, halo, the local graph, the id maps.

    Attributes:
        part_id: index of this part.
        owned: ``[N_own]`` global ids of the vertices this part owns, ascending.
        halo: ``[N_halo]`` global ids of the in-neighbours of owned vertices that other
            parts own, sorted by (owning part, global id): the vertices owned by part
            ``q`` form one contiguous slice, which is what a halo exchange receives.
        halo_owner: ``[N_halo]`` the part that owns each halo vertex (non-decreasing).
        graph: the local graph. Destinations are the owned vertices (local ids
            ``0..N_own-1``), sources the owned then the halo vertices (local ids
            ``0..N_own+N_halo-1``); edge ``j`` is global edge ``edge_ids[j]``. Bipartite
            unless the halo is empty. Its ``srcdata``/``ndata``/``edata`` hold the partitioned
            graph's rows of ``local_to_global``/``owned``/``edge_ids``.
        edge_ids: ``[E_own]`` global ids of the edges this part owns (those whose
            destination it owns), in the local graph's edge order: sorted by
            destination, ascending global id within a destination.

    Edge cases: a part of a graph with no edges has ``E_own = 0`` and an empty halo;
    self-loops stay local; duplicate edges are kept, each owned once.
    """

    part_id: int
    owned: Tensor
    halo: Tensor
    halo_owner: Tensor
    graph: Graph
    edge_ids: Tensor
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def num_owned(self) -> int:
        return self.owned.numel()

    @property
    def num_halo(self) -> int:
        return self.halo.numel()

    @property
    def num_edges(self) -> int:
        return self.edge_ids.numel()

    @property
    def local_to_global(self) -> Tensor:
        """``[N_own + N_halo]`` the global id of each local (source-side) vertex."""
        if "l2g" not in self._cache:
            self._cache["l2g"] = torch.cat([self.owned, self.halo])
        return self._cache["l2g"]

    def global_to_local(self, ids: Tensor) -> Tensor:
        """Local ids of global vertex ids; ``-1`` for a vertex that is neither owned nor halo.

        Args:
            ids: ``[K]`` global vertex ids.

        Returns:
            ``[K]`` int64 local ids in ``[0, N_own + N_halo)`` or ``-1``.
        """
        if "sorted" not in self._cache:
            l2g = self.local_to_global
            order = torch.argsort(l2g)
            self._cache["sorted"] = (l2g[order], order)
        keys, order = self._cache["sorted"]
        ids = torch.as_tensor(ids, dtype=torch.int64)
        if keys.numel() == 0:
            return torch.full_like(ids, -1)
        pos = torch.searchsorted(keys, ids).clamp(max=keys.numel() - 1)  # [K]
        return torch.where(keys[pos] == ids, order[pos], torch.full_like(ids, -1))

    def inner(self) -> tuple[Graph, Tensor]:
        """The subgraph induced by the owned vertices (edges between two owned vertices).

        This is a Cluster-GCN batch (Chiang et al. 2019): halo edges dropped.

        Returns:
            ``(graph, edge_ids)``: a graph over ``N_own`` vertices in local ids (with the owned
            rows of ``ndata`` and its edges' ``edata``), and the global id of each of its edges.
        """
        keep = (self.graph.src < self.num_owned).nonzero().view(-1)  # [E_inner]
        g = Graph(self.graph.src[keep], self.graph.dst[keep], self.num_owned, ndata=self.graph.ndata,
                  edata=self.graph.edata.select(keep), _validate=False)
        return g, self.edge_ids[keep]

    def state_dict(self) -> dict:
        """Tensors, ints and dicts of tensors only, loadable with ``torch.load(weights_only=True)``."""
        return {"part_id": self.part_id, "owned": self.owned, "halo": self.halo, "halo_owner": self.halo_owner,
                "src": self.graph.src, "dst": self.graph.dst, "edge_ids": self.edge_ids,
                "srcdata": dict(self.graph.srcdata), "edata": dict(self.graph.edata)}

    @staticmethod
    def from_state_dict(state: dict) -> "Part":
        """Inverse of :meth:`state_dict` (the local graph is validated again; data are optional)."""
        owned, halo = state["owned"], state["halo"]
        g = Graph.block(state["src"], state["dst"], owned.numel(), owned.numel() + halo.numel(),
                        srcdata=state.get("srcdata"), edata=state.get("edata"))
        return Part(int(state["part_id"]), owned, halo, state["halo_owner"], g, state["edge_ids"])

    def __repr__(self) -> str:
        return f"Part({self.part_id}, owned={self.num_owned}, halo={self.num_halo}, edges={self.num_edges})"


@dataclass(frozen=True, eq=False)
class Partitioning:
    """The result of :func:`partition`: the parts plus whole-graph statistics.

    Indexing, ``len`` and iteration go over the parts.

    Attributes:
        parts: one :class:`Part` per part.
        assignment: ``[N]`` the part of each vertex.
        method: the method that produced ``assignment``.
        edge_cut: directed edges of ``g`` whose endpoints lie in different parts (each
            is a remote in-edge; METIS' own count is of undirected edges of the
            symmetrised graph).
        halo_sizes: ``[P]`` halo vertices per part.
        part_sizes: ``[P]`` owned vertices per part. part_edges: ``[P]`` owned edges.
        permutation: ``[N]`` a vertex numbering that makes parts contiguous:
            ``permutation[new] = old``, parts in order, ascending old id within a part;
            ``None`` when ``reorder=False``. See :meth:`reorder`.
        part_offsets: ``[P + 1]``: part ``p`` is ``permutation[part_offsets[p]:part_offsets[p+1]]``.
    """

    parts: list[Part]
    assignment: Tensor
    method: str
    edge_cut: int
    halo_sizes: Tensor
    part_sizes: Tensor
    part_edges: Tensor
    permutation: Tensor | None
    part_offsets: Tensor

    @property
    def num_parts(self) -> int:
        return len(self.parts)

    def __len__(self) -> int:
        return len(self.parts)

    def __getitem__(self, i: int) -> Part:
        return self.parts[i]

    def __iter__(self) -> Iterator[Part]:
        return iter(self.parts)

    @property
    def inverse_permutation(self) -> Tensor:
        """``[N]`` old id → new id (requires ``reorder=True``)."""
        if self.permutation is None:
            raise ValueError("this partitioning was made with reorder=False; pass reorder=True to get a permutation")
        inv = torch.empty_like(self.permutation)
        inv[self.permutation] = torch.arange(self.permutation.numel())
        return inv

    def reorder(self, g: Graph, x: Tensor | None = None):
        """Renumber ``g`` (and rows of ``x``) so each part's vertices are contiguous.

        New vertex ``i`` is old vertex ``permutation[i]``; edge order is kept. Aggregating
        over a part then reads one contiguous block of features, mostly.

        Returns:
            The renumbered graph (``ndata`` rows permuted, ``edata`` as it was), or
            ``(graph, x[permutation])`` when ``x`` is given.
        """
        inv = self.inverse_permutation
        if g.num_nodes != inv.numel() or g.is_bipartite:
            raise ValueError(f"g must be the partitioned graph with num_nodes={inv.numel()}, got {g}")
        inv, perm = inv.to(g.device), self.permutation.to(g.device)
        out = Graph(inv[g.src], inv[g.dst], g.num_nodes, ndata=g.ndata.select(perm), edata=g.edata, _validate=False)
        return out if x is None else (out, x[self.permutation])

    def summary(self) -> str:
        """A one-paragraph report: sizes, balance, edge cut and halo sizes."""
        n, e = int(self.part_sizes.sum()), int(self.part_edges.sum())
        balance = float(self.part_sizes.max()) * self.num_parts / max(n, 1)
        lines = [
            f"{self.num_parts} parts by {self.method}: {n} vertices, {e} edges, "
            f"edge cut {self.edge_cut} ({100.0 * self.edge_cut / max(e, 1):.1f}% of edges), "
            f"balance {balance:.3f} (max part / mean)",
        ]
        for p in self.parts:
            lines.append(f"  part {p.part_id}: {p.num_owned} owned, {p.num_halo} halo, {p.num_edges} edges")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"Partitioning(num_parts={self.num_parts}, method={self.method!r}, edge_cut={self.edge_cut}, "
                f"halo_sizes={self.halo_sizes.tolist() if self.num_parts <= 16 else '...'})")


# ------------------------------------------------------------------ checks
def _check_args(g: Graph, num_parts: int, method: str, seed: int, balance_edges: bool) -> None:
    if not isinstance(g, Graph):
        raise TypeError(f"g must be a gnnkit.Graph, got {type(g).__name__}")
    if g.is_bipartite:
        raise ValueError(f"g must have one vertex set to be partitioned, got a bipartite graph {g}")
    if isinstance(num_parts, bool) or not isinstance(num_parts, (int, np.integer)):
        raise TypeError(f"num_parts must be an int, got {type(num_parts).__name__} ({num_parts!r})")
    if not 1 <= num_parts <= g.num_nodes:
        raise ValueError(
            f"num_parts must lie in [1, num_nodes={g.num_nodes}] so that no part is empty, got {num_parts}"
        )
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} ({seed!r})")
    if balance_edges and method not in ("metis", "contiguous"):
        raise ValueError(f"balance_edges=True needs method 'metis' or 'contiguous', got method={method!r}")


# --------------------------------------------------------------- assignment
def _symmetric_csr(g: Graph) -> tuple[np.ndarray, np.ndarray]:
    """CSR (``xadj [N+1]``, ``adjncy``) of the symmetrised graph, no self-loops or duplicates."""
    n = g.num_nodes
    s, d = g.src.cpu().numpy(), g.dst.cpu().numpy()
    keep = s != d
    s, d = s[keep], d[keep]
    # both directions; sorted unique keys are CSR by row (combined_key raises rather than overflow past ~3e9 vertices)
    key = np.concatenate([combined_key((s, d), (n, n), "partition"), combined_key((d, s), (n, n), "partition")])
    del s, d, keep
    key = np.unique(key)
    xadj = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(key // n, minlength=n), out=xadj[1:])
    return xadj, key % n


def _edge_weights_per_vertex(g: Graph) -> np.ndarray:
    """``1 + in-degree``: a part's work is its vertices plus its owned (in-)edges."""
    return 1 + np.bincount(g.dst.cpu().numpy(), minlength=g.num_nodes).astype(np.int64)


def _pymetis(g: Graph, num_parts: int, seed: int, balance_edges: bool = False) -> np.ndarray:
    try:
        import pymetis
    except ImportError as exc:
        raise ImportError("method='metis' needs pymetis (pip install 'gnnkit[metis]'); or use method='random'") from exc
    xadj, adjncy = _symmetric_csr(g)
    opts = pymetis.Options(seed=seed)
    vw = _edge_weights_per_vertex(g) if balance_edges else None
    if hasattr(pymetis, "CSRAdjacency"):  # pymetis >= 2025.2; the xadj/adjncy keywords are deprecated there
        _, parts = pymetis.part_graph(num_parts, adjacency=pymetis.CSRAdjacency(xadj, adjncy), vweights=vw, options=opts)
    else:
        _, parts = pymetis.part_graph(num_parts, xadj=xadj, adjncy=adjncy, vweights=vw, options=opts)
    return np.asarray(parts, dtype=np.int64)


def _dgl_metis(g: Graph, num_parts: int) -> np.ndarray:
    try:
        import dgl
    except ImportError as exc:
        raise ImportError("method='dgl-metis' needs dgl (pip install 'gnnkit[dgl]'); or use method='metis'") from exc
    # dgl 1.1.3's METIS corrupts the heap (free(): invalid next size) on duplicate edges,
    # so it gets the same symmetric, loop-free, duplicate-free graph as pymetis
    xadj, adjncy = _symmetric_csr(g)
    rows = np.repeat(np.arange(g.num_nodes, dtype=np.int64), np.diff(xadj))
    dg = dgl.graph((torch.from_numpy(rows), torch.from_numpy(adjncy)), num_nodes=g.num_nodes, idtype=torch.int64)
    with contextlib.redirect_stdout(io.StringIO()):  # DGL prints timings and memory on stdout
        parts = dgl.metis_partition_assignment(dg, num_parts)
    return parts.numpy().astype(np.int64)


def _fill_empty_parts(assignment: np.ndarray, num_parts: int, what: str = "METIS") -> np.ndarray:
    """Give each empty part one vertex taken from the then-largest part (highest id first).

    METIS may leave parts empty (for a clique split in ``N - 1`` parts it puts every
    vertex in one part), and so may an edge-balanced contiguous split when one vertex
    holds more than ``1/P`` of the edges; an empty part would be a rank with nothing to do.
    """
    counts = np.bincount(assignment, minlength=num_parts)
    empty = np.flatnonzero(counts == 0)
    if empty.size == 0:
        return assignment
    warnings.warn(
        f"{what} left {empty.size} empty part(s) of {num_parts}; each got one vertex moved from the "
        f"largest part. Use fewer parts or method='random' for an exactly balanced split.",
        stacklevel=3,
    )
    assignment = assignment.copy()
    for p in empty:
        big = int(np.argmax(counts))
        v = int(np.flatnonzero(assignment == big)[-1])
        assignment[v] = p
        counts[big] -= 1
        counts[p] += 1
    return assignment


def partition_assignment(g: Graph, num_parts: int, method: str = "metis", seed: int = 0,
                         balance_edges: bool = False) -> Tensor:
    """The part of each vertex; every part non-empty.

    Args:
        g: the graph (edge direction is ignored by METIS). Disconnected graphs and
            isolated vertices are fine.
        num_parts: number of parts ``P``, in ``[1, num_nodes]``.
        method: ``"metis"`` (pymetis: balanced vertex counts, minimal edge cut),
            ``"dgl-metis"`` (DGL's METIS, same objective), ``"random"`` (a seeded
            shuffle dealt round-robin: sizes differ by at most one, edge cut about
            ``(1 - 1/P) E``), ``"fennel"``/``"ldg"`` (one streaming pass over a breadth-first
            order plus boundary refinement, parts at most 3% above ``N / P``; memory
            ``O(N)`` beyond the CSR, see :func:`gnnkit.scale.streaming.stream_partition`),
            ``"contiguous"`` (ids ``[kN/P, (k+1)N/P)``: cheap, and good
            when ids already follow locality, e.g. after a BFS or space-filling order).
        seed: seed for ``"metis"`` and ``"random"``.
        balance_edges: balance ``1 + in-degree`` per part (a part's vertices plus the
            edges it owns) instead of vertex counts; ``"metis"`` (as vertex weights) and
            ``"contiguous"`` (cut at equal prefix sums) only. On power-law graphs a
            vertex-balanced split can leave one part with most of the edges.

    Returns:
        ``[N]`` int64 in ``[0, P)``.

    Raises:
        TypeError: ``g`` is not a Graph, non-int ``num_parts``/``seed``.
        ValueError: ``num_parts`` outside ``[1, num_nodes]``, unknown ``method``, bipartite ``g``,
            ``balance_edges`` with another method.
        ImportError: ``"metis"`` without pymetis, ``"dgl-metis"`` without dgl.

    Warns:
        UserWarning: a part came out empty; one vertex is moved into it.
    """
    _check_args(g, num_parts, method, seed, balance_edges)
    n = g.num_nodes
    if num_parts == 1:
        return torch.zeros(n, dtype=torch.int64)
    if method == "contiguous" and balance_edges:
        w = _edge_weights_per_vertex(g)
        mid = np.cumsum(w) - w / 2  # the middle of each vertex's weight interval
        parts = np.minimum((mid * num_parts / w.sum()).astype(np.int64), num_parts - 1)
        return torch.from_numpy(_fill_empty_parts(parts, num_parts, "the edge-balanced contiguous split"))
    if method in CSR_METHODS:
        if method in ("fennel", "ldg"):
            csr = g.csr_in()
            indptr, indices = csr.indptr.cpu().numpy(), csr.indices.cpu().numpy()
        else:  # these read no edges: an empty CSR over the N vertices spares building one
            indptr, indices = np.zeros(n + 1, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return torch.from_numpy(csr_assignment(indptr, indices, num_parts, method, seed=int(seed)))
    parts = _pymetis(g, num_parts, int(seed), balance_edges) if method == "metis" else _dgl_metis(g, num_parts)
    return torch.from_numpy(_fill_empty_parts(parts, num_parts))


def csr_assignment(indptr: np.ndarray, indices: np.ndarray, num_parts: int, method: str = "fennel",
                   seed: int = 0) -> np.ndarray:
    """The part of each vertex of a CSR graph for the methods that need no :class:`Graph`; every part non-empty.

    The same assignment as :func:`partition_assignment` on a graph whose ``csr_in()`` is
    ``(indptr, indices)``, with the same method and seed. Made for graphs that do not fit in
    memory as a :class:`Graph` (``16 E`` bytes of ``src``/``dst``), such as a memory-mapped
    :class:`gnnkit.data.OnDiskGraph`: ``"fennel"``/``"ldg"`` stream the rows in chunks
    (:func:`gnnkit.scale.streaming.stream_partition`), ``"random"``/``"contiguous"`` read only ``N``.

    Args:
        indptr: ``[N + 1]`` int64 row offsets, row ``v`` listing the in-neighbours of ``v``
            (a read-only memory map works; nothing is copied).
        indices: ``[E]`` int32 or int64 in-neighbour ids (likewise).
        num_parts: ``P`` in ``[1, N]``.
        method: one of ``CSR_METHODS``: ``"fennel"``, ``"ldg"``, ``"random"``, ``"contiguous"``.
        seed: seed of the stream order (``fennel``/``ldg`` use the breadth-first order, which
            ignores it) and of ``"random"``.

    Returns:
        ``[N]`` int64 in ``[0, P)``.

    Raises:
        TypeError: non-int ``num_parts`` or ``seed``.
        ValueError: ``method`` not in ``CSR_METHODS`` (METIS needs the whole symmetrised graph in
            memory), ``num_parts`` outside ``[1, N]``, malformed CSR arrays.

    Memory: ``O(N)`` beyond the CSR, plus one chunk of rows.
    """
    if method not in CSR_METHODS:
        raise ValueError(f"method must be one of {CSR_METHODS} to partition a CSR without building a graph, "
                         f"got {method!r}; METIS needs the graph in memory (partition_assignment)")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} ({seed!r})")
    if method in ("fennel", "ldg"):
        parts = stream_partition(indptr, indices, num_parts, method, seed=int(seed))  # checks the CSR and num_parts
        return _fill_empty_parts(parts, num_parts, method)
    n = int(np.shape(indptr)[0]) - 1
    if isinstance(num_parts, bool) or not isinstance(num_parts, (int, np.integer)):
        raise TypeError(f"num_parts must be an int, got {type(num_parts).__name__} ({num_parts!r})")
    if not 1 <= num_parts <= n:
        raise ValueError(f"num_parts must lie in [1, num_nodes={n}] so that no part is empty, got {num_parts}")
    if method == "contiguous":
        return (torch.arange(n, dtype=torch.int64) * num_parts // n).numpy()
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed)))
    out = torch.empty(n, dtype=torch.int64)
    out[perm] = torch.arange(n) % num_parts
    return out.numpy()


# -------------------------------------------------------------------- parts
def from_assignment(g: Graph, assignment: Tensor, num_parts: int | None = None, method: str = "given",
                    reorder: bool = True) -> Partitioning:
    """Build the parts, halos and id maps for a given vertex → part assignment.

    Cost: a few sorts of ``E`` and ``N`` int64 values; memory about ``5 E`` int64 at peak.

    Args:
        g: the graph; each part's local graph carries its rows of ``g.ndata``/``g.edata``
            (moved to the CPU).
        assignment: ``[N]`` part of each vertex, in ``[0, num_parts)``.
        num_parts: ``P`` (default ``max + 1``); every part must own a vertex.
        method: recorded on the result.
        reorder: compute :attr:`Partitioning.permutation`.

    Raises:
        ValueError: wrong shape or out-of-range assignment, or an empty part.
    """
    if not isinstance(g, Graph):
        raise TypeError(f"g must be a gnnkit.Graph, got {type(g).__name__}")
    if g.is_bipartite:
        raise ValueError(f"g must have one vertex set to be partitioned, got a bipartite graph {g}")
    n = g.num_nodes
    a = torch.as_tensor(assignment).to(torch.int64).cpu()
    if a.shape != (n,):
        raise ValueError(f"assignment must have shape [num_nodes={n}], got {tuple(a.shape)}")
    if num_parts is None:
        num_parts = int(a.max()) + 1 if n else 0
    if n and (int(a.min()) < 0 or int(a.max()) >= num_parts):
        raise ValueError(f"assignment must lie in [0, num_parts={num_parts}), got values in [{int(a.min())}, {int(a.max())}]")
    sizes = torch.bincount(a, minlength=num_parts)
    if num_parts < 1 or bool((sizes == 0).any()):
        empty = (sizes == 0).nonzero().view(-1).tolist()
        raise ValueError(f"every part must own at least one vertex, but parts {empty} of {num_parts} are empty")

    src, dst = g.src.cpu(), g.dst.cpu()
    perm = torch.argsort(a, stable=True)  # [N] new -> old: parts contiguous, ascending ids inside
    offsets = torch.zeros(num_parts + 1, dtype=torch.int64)
    torch.cumsum(sizes, 0, out=offsets[1:])
    inv = torch.empty(n, dtype=torch.int64)
    inv[perm] = torch.arange(n)  # old -> new
    local_owned = inv - offsets[a]  # [N] position of each vertex inside its part

    edge_part = a[dst]  # [E] an edge belongs to its destination's part
    edge_order = torch.argsort(edge_part, stable=True)  # [E] grouped by part, ascending ids inside
    part_edges = torch.bincount(edge_part, minlength=num_parts)
    edge_cut = int((a[src] != edge_part).sum())
    del edge_part

    parts, halo_sizes = [], []
    for p, eids in enumerate(torch.split(edge_order, part_edges.tolist())):
        owned = perm[offsets[p]:offsets[p + 1]]
        s, d = src[eids], dst[eids]  # [E_p]
        remote = a[s] != p
        new_s = inv[s[remote]]  # [R] new ids sort by (owner, old id)
        halo_new, halo_pos = torch.unique(new_s, sorted=True, return_inverse=True)
        halo = perm[halo_new]  # [H]
        local_s = local_owned[s]  # owned sources: their slot in the part
        local_s[remote] = owned.numel() + halo_pos  # halo sources follow the owned ones
        local_d = local_owned[d]
        if local_d.numel() and not bool((local_d[1:] >= local_d[:-1]).all()):
            # sorted by destination, csr_in() needs no edge permutation (saves an [E] argsort and array)
            order = torch.argsort(local_d, stable=True)
            local_s, local_d, eids = local_s[order], local_d[order], eids[order]
        l2g = torch.cat([owned, halo])  # [N_own + N_halo]
        srcdata = {k: v.cpu() for k, v in g.ndata.select(l2g.to(g.device)).items()}  # one gather per part
        edata = {k: v.cpu() for k, v in g.edata.select(eids.to(g.device)).items()}
        local_g = Graph.block(local_s, local_d, owned.numel(), l2g.numel(), srcdata=srcdata, edata=edata,
                              _validate=False)
        part = Part(p, owned, halo, a[halo], local_g, eids)
        part._cache["l2g"] = l2g
        parts.append(part)
        halo_sizes.append(halo.numel())
    return Partitioning(
        parts=parts, assignment=a, method=method, edge_cut=edge_cut,
        halo_sizes=torch.tensor(halo_sizes, dtype=torch.int64), part_sizes=sizes, part_edges=part_edges,
        permutation=perm if reorder else None, part_offsets=offsets,
    )


def partition(g: Graph, num_parts: int, method: str = "metis", seed: int = 0, reorder: bool = True,
              balance_edges: bool = False) -> Partitioning:
    """Split ``g``'s vertices into ``num_parts`` parts; each edge goes to its destination's part.

    Args:
        g: the graph, on any device (parts are built on the CPU). Disconnected graphs,
            isolated vertices, self-loops and duplicate edges are fine.
        num_parts: ``P`` in ``[1, num_nodes]``.
        method: ``"metis" | "dgl-metis" | "fennel" | "ldg" | "random" | "contiguous"``; see :func:`partition_assignment`.
        seed: seed for METIS and random.
        reorder: also compute a part-contiguous vertex numbering (:attr:`Partitioning.permutation`).
        balance_edges: balance vertices plus owned edges per part, not vertices
            (``"metis"`` and ``"contiguous"``); what partition-parallel training wants on
            skewed degree distributions.

    Returns:
        A :class:`Partitioning`: ``parts[p]`` is a :class:`Part`; ``edge_cut``,
        ``halo_sizes``, ``summary()``.

    Raises:
        TypeError: ``g`` is not a Graph; non-int ``num_parts`` or ``seed``.
        ValueError: ``num_parts < 1`` or ``> num_nodes``, unknown ``method``, bipartite ``g``,
            ``balance_edges`` with another method.
        ImportError: METIS without its package.

    Warns:
        UserWarning: a part came out empty (one vertex is moved into it).
    """
    assignment = partition_assignment(g, num_parts, method, seed, balance_edges)
    return from_assignment(g, assignment, num_parts, method=method, reorder=reorder)
