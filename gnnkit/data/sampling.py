r"""Mini-batch training: neighbour sampling, Cluster-GCN batches and a multi-process loader.

:class:`NeighborSampler` draws, for a batch of seed vertices, ``L`` bipartite blocks
(GraphSAGE, Hamilton et al. 2017, https://arxiv.org/abs/1706.02216): block ``L-1`` has
the seeds as destinations and up to ``fanouts[L-1]`` sampled in-neighbours of each as
sources; block ``l`` has block ``l+1``'s sources as destinations. Every block follows
DGL's block convention, which :class:`~gnnkit.nn.SAGEConv` and ``GATConv`` read: the
first ``num_nodes`` sources *are* the destinations. So a model runs as

.. code-block:: python

    batch = sampler.sample(seeds)
    h = batch.input_data["x"]                      # [S_0, F]: g.ndata["x"][batch.input_nodes]
    for block, layer in zip(batch.blocks, layers):
        h = layer(block, h)                        # [S_0, F] -> [S_1 = block.num_nodes, F']
    # h: [B, F'] for batch.seeds

Because each block's sources start with its destinations, the vertex ids of every
layer are prefixes of one array: block ``l``'s sources are
``input_nodes[:blocks[l].num_src_nodes]``, its destinations
``input_nodes[:blocks[l].num_nodes]``, and the seeds ``input_nodes[:B]``.

Data of the sampled graph travel with the batch: ``g.ndata`` is gathered once per batch,
for ``input_nodes``, and every block's ``srcdata``/``dstdata`` are prefix views of those
rows; block ``l``'s ``edata`` holds rows ``edge_ids[l]`` of ``g.edata``. A graph without
data costs nothing extra.

:class:`ClusterGCNSampler` (Chiang et al. 2019, https://arxiv.org/abs/1905.07953) turns
a vertex partition into batches: the subgraph induced by a few random parts.
:class:`DataLoader` runs either sampler in ``torch.utils.data`` worker processes; every
batch draws from its own generator seeded by ``(seed, epoch, batch index)``, so the
batches do not depend on the number of workers.

Sampling runs in the compiled CPU kernels (``kernels/cpu/gnnkit_cpu.cpp``, section "Neighbour
sampling": Floyd's draw per destination, threads over chunks of destinations, a first-occurrence
relabelling) when they build, else vectorised over the CSR with numpy (one warning): no Python
loop visits a vertex or an edge on either path. With ``num_workers=0`` the :class:`DataLoader`
samples in a prefetch thread while the caller trains.
"""
from __future__ import annotations

import math
import os
import queue
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from ..ops import _cpu  # the huge-page allocator and its pool (the feature gathers' buffers)
from ..graph import Graph
from ..graph.frame import DataDict
from . import _native_sampling as _native

__all__ = ["MiniBatch", "NeighborSampler", "ClusterBatch", "ClusterGCNSampler", "DataLoader", "batch_generator"]

_BACKENDS = ("auto", "native", "numpy")  # NeighborSampler's implementations


# ---------------------------------------------------------------------- helpers
def _as_numpy_index(value: Any, name: str, keep_int32: bool = False) -> np.ndarray:
    """A 1-D int64 numpy view of ids given as a tensor, an array or a sequence (int32 kept as is with ``keep_int32``)."""
    if isinstance(value, Tensor):
        if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
            raise TypeError(f"{name} must hold integer vertex ids, got dtype {value.dtype}")
        arr = value.detach().cpu().numpy()
    else:
        arr = np.asarray(value)
        if arr.size == 0 and arr.dtype.kind == "f":  # np.asarray([]) is float64
            arr = arr.astype(np.int64)
        if arr.dtype.kind not in "iu":
            raise TypeError(f"{name} must hold integer vertex ids, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(arr.shape)}")
    if keep_int32 and arr.dtype == np.int32:
        return np.ascontiguousarray(arr)
    return np.ascontiguousarray(arr, dtype=np.int64)


def _check_range(ids: np.ndarray, size: int, name: str, size_name: str) -> None:
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= size):
        raise IndexError(f"{name} must lie in [0, {size_name}={size}), got ids in [{int(ids.min())}, {int(ids.max())}]")


def _ranges(starts: np.ndarray, counts: np.ndarray, total: int | None = None) -> np.ndarray:
    """Concatenation of ``arange(s, s + c)`` for every ``(s, c)``, without a Python loop.

    Shape: starts, counts ``[R]`` → ``[sum(counts)]``.
    """
    if total is None:
        total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    first = np.cumsum(counts) - counts  # [R] output offset of each range
    # position p of range r holds starts[r] + (p - first[r])
    return np.repeat(starts - first, counts) + np.arange(total, dtype=np.int64)


def batch_generator(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator a :class:`DataLoader` batch samples with: a function of its position only.

    Worker processes therefore reproduce the single-process batches exactly.
    """
    return np.random.default_rng(np.random.SeedSequence([int(seed) % 2**64, int(epoch) % 2**64, 1, int(index)]))


def _shuffle_generator(seed: int, epoch: int) -> np.random.Generator:
    """The generator of an epoch's item order (a stream apart from every batch's)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed) % 2**64, int(epoch) % 2**64, 0]))


def _rng(generator: np.random.Generator | int | None, default: np.random.Generator) -> np.random.Generator:
    if generator is None:
        return default
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return np.random.default_rng(int(generator))
    raise TypeError(f"generator must be a numpy Generator, an int seed or None, got {type(generator).__name__}")


def _check_vertex_tables_fit(num_nodes: int) -> None:
    """Raise before allocating the ``[N + 1]`` int64 CSR row pointer and ``[N]`` int32 table
    when they cannot fit in memory, rather than failing inside the allocator.

    Raises:
        ValueError: ``12 * num_nodes`` bytes exceed the machine's physical memory.
    """
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # no sysconf (not POSIX): let the allocator decide
        return
    need = 12 * (num_nodes + 1)
    if need > physical:
        raise ValueError(
            f"g has num_nodes={num_nodes}: sampling needs {need / 2**30:.1f} GiB of per-vertex tables (CSR row "
            f"pointer and relabelling table) but the machine has {physical / 2**30:.1f} GiB; relabel the graph to "
            f"the vertices its edges use, e.g. g.subgraph(torch.unique(torch.cat([g.src, g.dst])))"
        )


class _IdMap:
    """A ``[N]`` int32 global-to-local id table, all ``-1`` between uses.

    Relabelling a batch touches only the entries of its own vertices (and resets them),
    so it costs O(batch) rather than the O(N log N) of a sort-based ``unique``. The
    table is allocated lazily in each process and each thread (a forked loader worker and
    a :class:`DataLoader` prefetch thread get their own, so they never share a table in use).
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._local = threading.local()

    def table(self) -> np.ndarray:
        loc = self._local
        if getattr(loc, "pid", -1) != os.getpid():
            loc.table = np.full(self.size, -1, dtype=np.int32)
            loc.pid = os.getpid()
        return loc.table

    def __getstate__(self) -> dict:  # never ship a table to another process
        return {"size": self.size}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["size"])


class _GatherBuffers:
    """The allocator of a sampler's feature gathers: 2 MB pages whose mappings are reused between batches.

    A fresh ``[S_0, F]`` output is faulted in and zero-filled by the kernel before the gather
    writes it: gathering 521k rows of 100 float32 (a products-size ``[15, 10, 5]`` batch) took
    about 210 ms of CPU into a fresh buffer and 85-100 ms into a reused one (one thread,
    ``torch.index_select``, 2026-12-03). Sizes vary a little per batch, so the pool rounds them up
    (at most 6.25%, ``gnnkit.ops._cpu._BufferPool.size_for``) to share mappings. A mapping
    returns to the pool only when the last tensor viewing it is freed, so a batch the caller
    still holds is never overwritten. The pool keeps as many freed bytes as were once live at
    the same time (``peak_live_bytes``): a prefetch thread ``prefetch_factor`` batches ahead
    holds ``prefetch_factor + 2`` gathers at once (the caller's, the queued ones, the one being
    sampled), and keeping only one freed mapping made it fault in a fresh buffer for nearly every
    batch (the link benchmark's gather: 9.1 CPU-ms per step instead of 1.8). The freed mappings
    kept therefore never exceed the most gather memory that was in use at once. Each process builds
    its own pool (a forked loader worker never shares one).
    """

    def __init__(self) -> None:
        self._pool: Any = None
        self._pid = -1

    def empty(self, shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
        if self._pid != os.getpid():
            self._pool, self._pid = _cpu._BufferPool(0, round_up=True), os.getpid()
        pool = self._pool
        out = _cpu.empty(shape, dtype, pool)
        with pool.lock:  # counted once the new buffer is live, so the batch being sampled is included
            pool.cap = max(pool.cap, pool.peak_live_bytes)
        return out

    def __getstate__(self) -> dict:  # never ship a pool to another process
        return {}

    def __setstate__(self, state: dict) -> None:
        self.__init__()


# --------------------------------------------------------------- neighbour sampling
@dataclass
class MiniBatch:
    """One sampled mini-batch.

    Attributes:
        seeds: ``[B]`` global ids of the output vertices (the last block's destinations).
        input_nodes: ``[S_0]`` global ids of the first block's sources; starts with the
            destinations of every later block (so with ``seeds``).
        blocks: ``L`` bipartite graphs, input side first. ``blocks[l].src``/``dst`` are
            local ids into ``input_nodes[:num_src_nodes]`` / ``input_nodes[:num_nodes]``;
            edges are grouped by destination.
        edge_ids: ``L`` tensors ``[E_l]``: the id in the sampled graph of each block edge
            (``blocks[l].edata`` already holds those rows of the graph's ``edata``).

    Block ``l``'s ``srcdata``/``dstdata`` hold the sampled graph's ``ndata`` rows of its
    source/destination vertices; :attr:`input_data` and :attr:`seed_data` name the ends.
    """

    seeds: Tensor
    input_nodes: Tensor
    blocks: list[Graph]
    edge_ids: list[Tensor]

    @property
    def batch_size(self) -> int:
        return int(self.seeds.numel())

    @property
    def input_data(self) -> DataDict:
        """The graph's ``ndata`` rows of ``input_nodes`` (``blocks[0].srcdata``): the model's input."""
        return self.blocks[0].srcdata

    @property
    def seed_data(self) -> DataDict:
        """The graph's ``ndata`` rows of ``seeds`` (``blocks[-1].dstdata``), e.g. the labels ``"y"``."""
        return self.blocks[-1].dstdata

    def src_nodes(self, layer: int) -> Tensor:
        """Global ids of block ``layer``'s sources."""
        return self.input_nodes[: self.blocks[layer].num_src_nodes]

    def dst_nodes(self, layer: int) -> Tensor:
        """Global ids of block ``layer``'s destinations."""
        return self.input_nodes[: self.blocks[layer].num_nodes]

    def to(self, device: torch.device | str) -> "MiniBatch":
        """The batch with every tensor and block (data included) on ``device`` (sampling itself runs on the CPU)."""
        return MiniBatch(seeds=self.seeds.to(device), input_nodes=self.input_nodes.to(device),
                         blocks=[b.to(device) for b in self.blocks], edge_ids=[e.to(device) for e in self.edge_ids])


def _check_fanouts(fanouts: Any) -> list[int]:
    if isinstance(fanouts, (int, np.integer)) or not isinstance(fanouts, Sequence):
        raise TypeError(f"fanouts must be a sequence of ints, one per layer (e.g. [15, 10]), got {fanouts!r}")
    if len(fanouts) == 0:
        raise ValueError("fanouts must name at least one layer, got an empty sequence")
    out = []
    for i, k in enumerate(fanouts):
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise TypeError(f"fanouts[{i}] must be an int, got {type(k).__name__} ({k!r})")
        if k < 1 and k != -1:
            raise ValueError(f"fanouts[{i}] must be >= 1, or -1 for all in-neighbours, got {int(k)}")
        out.append(int(k))
    return out


def _floyd(deg: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` distinct uniform offsets in ``[0, deg[r])`` per row: Floyd's algorithm, vectorised over rows.

    Step ``i`` (``j = deg - k + i``) draws ``t`` uniform in ``[0, j]`` and keeps ``t`` unless
    it was drawn already, else ``j``; every ``k``-subset is equally likely (Bentley & Floyd,
    CACM 1987). The loop runs over the ``k`` positions, each step over all rows at once.

    Shape: deg ``[R]`` (every entry > k) → ``[k, R]`` int64 (position-major: each step
    compares whole contiguous rows).
    """
    rows = deg.size
    picks = np.empty((k, rows), dtype=np.int64)
    u = rng.random((k, rows))  # [k, R]; a double has 53 bits, so floor(u * (j + 1)) <= j for j < 2**52
    j = deg - k  # [R]
    taken = np.empty(rows, dtype=bool)
    hit = np.empty(rows, dtype=bool)
    for i in range(k):
        t = picks[i]
        np.multiply(u[i], j + 1, out=u[i])
        t[:] = u[i]  # floor: uniform in [0, j]
        if i:
            np.equal(picks[0], t, out=taken)
            for c in range(1, i):
                np.equal(picks[c], t, out=hit)
                taken |= hit
            np.copyto(t, j, where=taken)
        j += 1
    return picks


class NeighborSampler:
    r"""Uniform neighbour sampling with per-layer fan-outs, producing bipartite blocks.

    For each destination vertex ``v`` of layer ``l`` the block keeps
    ``min(fanouts[l], in_degree(v))`` distinct in-edges of ``v`` drawn uniformly without
    replacement (all of them for ``-1``), as DGL's ``NeighborSampler(replace=False)``.
    With ``replace=True`` exactly ``fanouts[l]`` in-edges are drawn with replacement
    (none for a vertex without in-edges). Duplicate edges of the graph are distinct
    edges here: a vertex joined twice to ``v`` can be drawn twice.

    Args:
        g: the graph to sample from (square). Only its ``csr_in()`` and its ``ndata``/``edata``
            mappings are kept (the mappings themselves: data added to ``g`` later is sampled too).
        fanouts: ``L`` in-neighbours per destination, ``fanouts[l]`` for block ``l``
            (input side first, as DGL); ``-1`` takes every in-neighbour.
        replace: draw with replacement.
        seed: seed of the generator used when :meth:`sample` gets none.
        backend: ``"native"`` (the compiled C++ sampler, threads over destination chunks),
            ``"numpy"`` (vectorised numpy, one thread) or ``"auto"`` (native when the kernels
            build, else numpy after one warning). Both draw from the same distribution; their
            batches differ bit-wise for one seed (each consumes the generator its own way).
        num_threads: threads of the native sampler (default ``torch.get_num_threads()``). A
            batch is identical for every thread count: each chunk of 256 destinations draws from
            a generator keyed by the batch's generator and the chunk's index.

    Raises:
        TypeError: ``g`` not a Graph, non-int fan-outs.
        RuntimeError: ``backend="native"`` and the kernels cannot be built or loaded.
        ValueError: an unknown ``backend``, ``num_threads < 1``, a fan-out ``< 1`` other than ``-1``,
            no fan-outs, a bipartite ``g``, or a graph whose ``12 N`` bytes of per-vertex tables
            exceed this machine's memory (ids up to ``2**40`` on few edges): relabel it to its
            used vertices first.

    Memory: the CSR (``8 (N + 1) + 8 E`` bytes, ``+ 8 E`` for ``eid`` when the graph's
    edges are not sorted by destination) plus a ``4 N`` byte relabelling table per process
    and per sampling thread (a :class:`DataLoader` prefetch thread has its own).
    """

    def __init__(self, g: Graph, fanouts: Sequence[int], replace: bool = False, seed: int | None = 0, *,
                 backend: str = "auto", num_threads: int | None = None) -> None:
        if not isinstance(g, Graph):
            raise TypeError(f"g must be a gnnkit.Graph, got {type(g).__name__}; use NeighborSampler.from_csr for raw arrays")
        if g.is_bipartite:
            raise ValueError(f"g must have one vertex set to sample from, got a bipartite graph {g}")
        if g.device.type != "cpu":
            raise ValueError(f"g must be on the CPU (sampling runs there), got {g.device}; sample from g.to('cpu') "
                             f"and move each batch with batch.to(device)")
        _check_vertex_tables_fit(g.num_nodes)
        csr = g.csr_in()
        eid = None if csr.eid is None else csr.eid.numpy()
        self._init(csr.indptr.numpy(), csr.indices.numpy(), eid, g.num_nodes, fanouts, replace, seed, g.ndata, g.edata,
                   backend, num_threads)

    @classmethod
    def from_csr(cls, indptr: Any, indices: Any, fanouts: Sequence[int], eid: Any | None = None, replace: bool = False,
                 seed: int | None = 0, *, ndata: Mapping[str, Any] | None = None,
                 edata: Mapping[str, Any] | None = None, backend: str = "auto",
                 num_threads: int | None = None, check: bool = True) -> "NeighborSampler":
        """A sampler over a CSR by destination: row ``v`` of ``(indptr, indices)`` lists the in-neighbours of ``v``.

        Skips building a :class:`Graph` (whose ``src``/``dst`` cost ``16 E`` bytes) for a graph
        that only ever gets sampled. ``eid`` maps CSR positions to edge ids (default: the position).
        C-contiguous int64 numpy arrays, and int32 ``indices``, are used as they are, read-only
        memory maps included (``np.load(path, mmap_mode="r")``): nothing is copied, and the native
        sampler reads int32 ``indices`` in place. Other integer types are copied to int64.
        ``ndata``/``edata`` are the vertex/edge data the batches carry (as a graph's; edge rows by
        edge id).

        With ``check=False`` the caller vouches for the CSR: the ``O(N + E)`` scans (``indptr``
        non-decreasing, every index in ``[0, N)``) are skipped, only the ``O(1)`` checks of
        shape, dtype and end points remain. Use it for arrays already checked, such as a layout
        written by ``gnnkit convert`` (:meth:`gnnkit.data.OnDiskGraph.sampler`), where the scan
        would read the whole file; an index out of range then makes the native sampler read
        outside the array.

        Shape:
            indptr ``[N + 1]``, indices ``[E]``, eid ``[E]`` or None; ndata values
            ``[N, ...]``, edata values ``[E, ...]`` (CPU tensors or arrays).

        Raises:
            ValueError: ``indptr`` not starting at 0 or not ending at ``E``; with ``check=True``
                also ``indptr`` decreasing and ``indices`` outside ``[0, N)``; data of the wrong
                length or not on the CPU.
            TypeError: non-integer arrays.
        """
        ip = _as_numpy_index(indptr, "indptr")
        ind = _as_numpy_index(indices, "indices", keep_int32=True)
        if ip.size < 1 or ip[0] != 0 or ip[-1] != ind.size or (check and ip.size > 1 and bool((ip[1:] < ip[:-1]).any())):
            raise ValueError(
                f"indptr must be non-decreasing from 0 to len(indices)={ind.size}, got indptr[0]={ip[:1].tolist()} "
                f"and indptr[-1]={ip[-1:].tolist()}"
            )
        n = ip.size - 1
        if check:
            _check_range(ind, n, "indices", "num_nodes")
        e = None if eid is None else _as_numpy_index(eid, "eid")
        if e is not None and e.size != ind.size:
            raise ValueError(f"eid must have one entry per CSR entry ({ind.size}), got {e.size}")
        self = cls.__new__(cls)
        cpu = torch.device("cpu")
        self._init(ip, ind, e, n, fanouts, replace, seed, DataDict(n, "ndata", "num_nodes", cpu, ndata),
                   DataDict(ind.size, "edata", "num_edges", cpu, edata), backend, num_threads)
        return self

    def _init(self, indptr: np.ndarray, indices: np.ndarray, eid: np.ndarray | None, num_nodes: int,
              fanouts: Sequence[int], replace: bool, seed: int | None, ndata: DataDict, edata: DataDict,
              backend: str = "auto", num_threads: int | None = None) -> None:
        if backend not in _BACKENDS:
            raise ValueError(f"backend must be one of {_BACKENDS}, got {backend!r}")
        if num_threads is not None and (isinstance(num_threads, bool) or not isinstance(num_threads, (int, np.integer))
                                        or num_threads < 1):
            raise ValueError(f"num_threads must be an int >= 1 or None (torch's thread count), got {num_threads!r}")
        self.fanouts = _check_fanouts(fanouts)
        self.backend = backend
        self.num_threads = None if num_threads is None else int(num_threads)
        if backend == "native" and _native.library() is None:
            raise RuntimeError("backend='native' needs the compiled CPU kernels, which could not be built or loaded "
                               "(see the warning above); use backend='auto' or 'numpy'")
        self.replace = bool(replace)
        self.num_nodes = int(num_nodes)
        # views of the graph's memory (a forked worker shares the pages)
        self._indptr, self._indices, self._eid = indptr, indices, eid
        self._ids = _IdMap(self.num_nodes)
        self._gather_buffers = _GatherBuffers()
        self._default_rng = np.random.default_rng(seed)
        self._ndata, self._edata = ndata, edata

    @property
    def num_layers(self) -> int:
        return len(self.fanouts)

    def __repr__(self) -> str:
        return (f"NeighborSampler(num_nodes={self.num_nodes}, num_edges={self._indices.size}, fanouts={self.fanouts}, "
                f"replace={self.replace})")

    def _native_library(self) -> Any:
        """The kernel library when this sampler runs natively, else ``None``."""
        if self.backend == "numpy" or self._indptr.dtype != np.int64:
            return None
        lib = _native.library()
        # int32 indices need gk_sample_layer_i32; a kernels build older than it samples such a CSR in numpy
        return lib if lib is not None and _native.supports(lib, self._indices.dtype) else None

    # ----------------------------------------------------------------- one layer
    def _sample_positions(self, dst: np.ndarray, fanout: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """CSR positions of the sampled in-edges of ``dst``, grouped by destination.

        Shape: dst ``[D]`` → (positions ``[E']``, counts ``[D]``).
        """
        start = self._indptr[dst]  # [D]
        deg = self._indptr[dst + 1] - start  # [D]
        if fanout == -1:
            return _ranges(start, deg), deg
        if self.replace:
            counts = np.where(deg > 0, fanout, 0)
            has = np.flatnonzero(deg)
            u = rng.random((has.size, fanout))  # [D', k]
            pos = start[has, None] + (u * deg[has, None]).astype(np.int64)  # [D', k]
            return pos.reshape(-1), counts
        counts = np.minimum(deg, fanout)  # [D]
        big = deg > fanout
        if not big.any():
            return _ranges(start, deg), counts
        total = int(counts.sum())
        out_first = np.cumsum(counts) - counts  # [D] output offset of each destination
        pos = np.empty(total, dtype=np.int64)
        small = np.flatnonzero(~big)
        # destinations with at most `fanout` in-edges keep them all
        pos[_ranges(out_first[small], counts[small])] = _ranges(start[small], deg[small])
        b = np.flatnonzero(big)
        picks = _floyd(deg[b], fanout, rng)  # [k, D_big]
        picks += start[b]
        slots = out_first[b] + np.arange(fanout)[:, None]  # [k, D_big]
        pos[slots.reshape(-1)] = picks.reshape(-1)
        return pos, counts

    def _relabel(self, dst: np.ndarray, src: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Local ids of ``src`` with ``dst`` first (block convention), and the layer's source ids.

        Returns ``(src_local [E'], src_nodes [S])`` where ``src_nodes[:D] == dst``.
        """
        table = self._ids.table()
        table[dst] = np.arange(dst.size, dtype=np.int32)
        local = table[src].astype(np.int64)  # [E'], -1 for a vertex not seen yet
        fresh_at = np.flatnonzero(local < 0)  # [E''] positions of unseen sources
        fresh = src[fresh_at]  # with repeats
        # one representative per new vertex: whichever write to table[v] landed
        order = np.arange(fresh.size, dtype=np.int32)
        table[fresh] = order
        rep = table[fresh]  # [E''] the representative of each position's vertex
        is_rep = rep == order
        new = np.compress(is_rep, fresh)  # [S - D] distinct new vertices (compress: 2x a boolean index)
        new_id = np.cumsum(is_rep, dtype=np.int32)  # 1 + rank of each representative
        new_id += dst.size - 1
        local[fresh_at] = new_id[rep]
        table[dst] = -1  # leave the table clean for the next batch
        table[new] = -1
        return local, np.concatenate([dst, new])

    # ------------------------------------------------------------------- batches
    def sample(self, seeds: Any, generator: np.random.Generator | int | None = None) -> MiniBatch:
        """Sample the blocks of one mini-batch.

        Args:
            seeds: ``[B]`` distinct vertex ids (tensor, array or sequence).
            generator: a numpy ``Generator`` or an int seed; default the sampler's own
                generator (seeded at construction), so successive calls differ.

        Returns:
            A :class:`MiniBatch`.

        Raises:
            TypeError: non-integer seeds. IndexError: a seed outside ``[0, num_nodes)``.
            ValueError: repeated seeds, or seeds not 1-D.
        """
        rng = _rng(generator, self._default_rng)
        seeds_np = _as_numpy_index(seeds, "seeds")
        _check_range(seeds_np, self.num_nodes, "seeds", "num_nodes")
        table = self._ids.table()
        table[seeds_np] = np.arange(seeds_np.size, dtype=np.int32)
        distinct = bool((table[seeds_np] == np.arange(seeds_np.size, dtype=np.int32)).all())
        table[seeds_np] = -1
        if not distinct:
            raise ValueError("seeds must be distinct vertex ids; drop repeats with seeds.unique()")
        layers: list[tuple[Tensor, Tensor, int, int]] = []  # (src, dst, num_dst, num_src), seed side first
        edge_ids: list[Tensor] = []
        dst = seeds_np
        lib = self._native_library()
        if lib is not None:  # one key per layer from the batch's generator; chunks of destinations derive theirs
            keys = rng.integers(0, 2**64, size=len(self.fanouts), dtype=np.uint64)
            threads = self.num_threads or torch.get_num_threads()
        for layer, fanout in enumerate(reversed(self.fanouts)):
            if lib is not None:
                pos, src, dst_local = _native.sample_layer(lib, self._indptr, self._indices, dst, fanout, self.replace,
                                                           int(keys[layer]), threads)
                if dst.size + src.size >= 2**31:
                    raise ValueError(f"a layer of {src.size} sampled edges exceeds the int32 relabelling table; "
                                     f"use a smaller batch_size or smaller fanouts")
                src_local, nodes = _native.relabel(lib, table, dst, src)
            else:
                pos, counts = self._sample_positions(dst, fanout, rng)
                src_local, nodes = self._relabel(dst, self._indices[pos])
                dst_local = np.repeat(np.arange(dst.size, dtype=np.int64), counts)
            layers.append((torch.from_numpy(src_local), torch.from_numpy(dst_local), int(dst.size), int(nodes.size)))
            edge_ids.append(torch.from_numpy(pos if self._eid is None else self._eid[pos]))
            dst = nodes
        layers.reverse()
        edge_ids.reverse()
        input_nodes = torch.from_numpy(dst)
        # one gather per batch: every block's vertex ids are a prefix of input_nodes
        # into 2 MB pages: faulting a fresh [S_0, F] buffer in 4 KB pages costs as much as the copy
        # (85k x 128 float32 rows: 24-40 ms instead of 41-76 ms on the 2-core machine); mappings of
        # freed batches are reused (_GatherBuffers)
        inputs = self._ndata.select(input_nodes, empty=self._gather_buffers.empty) if self._ndata else {}  # [S_0, ...]
        blocks = [
            Graph.block(s, d, nd, ns, srcdata={k: v[:ns] for k, v in inputs.items()},
                        edata=self._edata.select(eids) if self._edata else None, _validate=False)
            for (s, d, nd, ns), eids in zip(layers, edge_ids)
        ]
        return MiniBatch(seeds=torch.from_numpy(seeds_np), input_nodes=input_nodes, blocks=blocks, edge_ids=edge_ids)


# --------------------------------------------------------------------- Cluster-GCN
@dataclass
class ClusterBatch:
    """The subgraph induced by a few parts.

    Attributes:
        graph: ``[n]`` vertices, the edges of ``g`` with both ends in the parts (square,
            so every layer applies, GCN normalisation included); its ``ndata``/``edata``
            hold ``g``'s rows of ``node_ids``/``edge_ids``.
        node_ids: ``[n]`` global id of each local vertex (parts in the order drawn).
        edge_ids: ``[e]`` id in ``g`` of each local edge.
        parts: the part ids.
    """

    graph: Graph
    node_ids: Tensor
    edge_ids: Tensor
    parts: Tensor


class ClusterGCNSampler:
    r"""Cluster-GCN batches: the induced subgraph of a union of vertex parts.

    Edges between parts of one batch are kept; edges to other parts are dropped (the
    approximation Cluster-GCN trades for memory ``O(batch)`` per step). Parts come from
    :func:`gnnkit.partition.partition_assignment` (the ``assignment`` of
    :func:`gnnkit.partition.partition`) unless an ``assignment`` is given. Shuffle the
    part ids with :class:`DataLoader` (``items=range(num_parts)``, ``batch_size`` = parts
    per batch) for Cluster-GCN's stochastic multiple partitions.

    Args:
        g: the graph (square); batches carry its ``ndata``/``edata`` (the mappings are kept).
        num_parts: number of parts to cut ``g`` into.
        method: partition method passed to ``gnnkit.partition.partition``
            (``"metis" | "random" | "contiguous"``).
        assignment: ``[N]`` part id per vertex in ``[0, num_parts)``; skips partitioning.
        seed: partitioning seed.

    Raises:
        ValueError: ``num_parts < 1`` or ``> num_nodes``, a bad assignment.
    """

    def __init__(self, g: Graph, num_parts: int, method: str = "metis", assignment: Any | None = None, seed: int = 0) -> None:
        if not isinstance(g, Graph):
            raise TypeError(f"g must be a gnnkit.Graph, got {type(g).__name__}")
        if g.is_bipartite:
            raise ValueError(f"g must have one vertex set, got a bipartite graph {g}")
        if g.device.type != "cpu":
            raise ValueError(f"g must be on the CPU (batches are cut there), got {g.device}; pass g.to('cpu')")
        if isinstance(num_parts, bool) or not isinstance(num_parts, (int, np.integer)):
            raise TypeError(f"num_parts must be an int, got {type(num_parts).__name__}")
        if not 1 <= num_parts <= max(g.num_nodes, 1):
            raise ValueError(f"num_parts must lie in [1, num_nodes={g.num_nodes}], got {num_parts}")
        if assignment is None:
            # == partition(g, ...).assignment, without building every part's halo
            from ..scale.partition import partition_assignment  # the partitioner owns the methods and their checks

            assignment = partition_assignment(g, int(num_parts), method=method, seed=seed)
        assign = _as_numpy_index(assignment, "assignment")
        if assign.size != g.num_nodes:
            raise ValueError(f"assignment must have one part id per vertex ({g.num_nodes}), got {assign.size}")
        _check_range(assign, int(num_parts), "assignment", "num_parts")
        self.num_parts = int(num_parts)
        self.num_nodes = g.num_nodes
        order = np.argsort(assign, kind="stable")  # vertices grouped by part
        self._part_ptr = np.zeros(self.num_parts + 1, dtype=np.int64)
        np.cumsum(np.bincount(assign, minlength=self.num_parts), out=self._part_ptr[1:])
        self._part_nodes = order
        csr = g.csr_in()
        self._indptr, self._indices = csr.indptr.numpy(), csr.indices.numpy()
        self._eid = None if csr.eid is None else csr.eid.numpy()
        self._ids = _IdMap(g.num_nodes)
        self._ndata, self._edata = g.ndata, g.edata

    def part_sizes(self) -> Tensor:
        """``[num_parts]`` vertices per part (a part may be empty)."""
        return torch.from_numpy(np.diff(self._part_ptr))

    def sample(self, parts: Any, generator: np.random.Generator | int | None = None) -> ClusterBatch:
        """The subgraph induced by ``parts`` (``generator`` is unused: a cluster batch is deterministic).

        Raises:
            IndexError: a part id outside ``[0, num_parts)``. ValueError: repeated parts.
        """
        p = _as_numpy_index(parts, "parts")
        _check_range(p, self.num_parts, "parts", "num_parts")
        if np.unique(p).size != p.size:
            raise ValueError(f"parts must be distinct, got {p.tolist()}")
        nodes = self._part_nodes[_ranges(self._part_ptr[p], np.diff(self._part_ptr)[p])]  # [n]
        start = self._indptr[nodes]
        deg = self._indptr[nodes + 1] - start
        pos = _ranges(start, deg)  # in-edges of the batch's vertices, grouped by destination
        table = self._ids.table()
        table[nodes] = np.arange(nodes.size, dtype=np.int32)
        src_local = table[self._indices[pos]]
        table[nodes] = -1
        keep = src_local >= 0  # the source lies in the batch too
        dst_local = np.repeat(np.arange(nodes.size, dtype=np.int64), deg)[keep]
        eids = torch.from_numpy(pos[keep] if self._eid is None else self._eid[pos[keep]])
        node_ids = torch.from_numpy(nodes)
        sub = Graph(torch.from_numpy(src_local[keep].astype(np.int64)), torch.from_numpy(dst_local), int(nodes.size),
                    ndata=self._ndata.select(node_ids), edata=self._edata.select(eids), _validate=False)
        return ClusterBatch(graph=sub, node_ids=node_ids, edge_ids=eids, parts=torch.from_numpy(p))


# ----------------------------------------------------------------------- loader
class _BatchKeys(torch.utils.data.Sampler):
    """Yields ``(epoch, index, items)`` for one epoch; built in the main process."""

    def __init__(self, loader: "DataLoader", epoch: int, start: int) -> None:
        self.loader, self.epoch, self.start = loader, epoch, start

    def __iter__(self) -> Iterator[tuple[int, int, np.ndarray]]:
        items = self.loader.items
        if self.loader.shuffle:
            order = _shuffle_generator(self.loader.seed, self.epoch).permutation(items.size)
            items = items[order]
        bs = self.loader.batch_size
        for b in range(self.start, len(self.loader)):
            yield self.epoch, b, items[b * bs : (b + 1) * bs]

    def __len__(self) -> int:
        return len(self.loader) - self.start


class _Keys(torch.utils.data.Dataset):
    def __getitem__(self, key: tuple[int, int, np.ndarray]) -> tuple[int, int, np.ndarray]:
        return key


class SampleCollator:
    """The loader's picklable ``collate_fn``: samples one batch from its key, in the worker.

    Args:
        sampler: anything with ``sample(items, generator)`` (a :class:`NeighborSampler`,
            a :class:`ClusterGCNSampler`).
        seed: base seed; batch ``b`` of epoch ``e`` uses :func:`batch_generator` ``(seed, e, b)``.
    """

    def __init__(self, sampler: Any, seed: int) -> None:
        self.sampler, self.seed = sampler, seed

    def __call__(self, key: tuple[int, int, np.ndarray]) -> Any:
        epoch, index, items = key
        return self.sampler.sample(items, batch_generator(self.seed, epoch, index))


_END = object()  # the prefetch queue's end-of-epoch marker


def _prefetched(batches: Iterator[Any], depth: int) -> Iterator[Any]:
    """``batches``, produced by a background thread that stays at most ``depth`` batches ahead.

    The sampler's native calls, numpy and torch's feature gather release the GIL, so batch
    ``k + 1`` is sampled while the caller trains on batch ``k``. The order is ``batches``'
    order, so the sequence is the one without prefetching. An exception in the thread is
    raised here, at the batch where it happened; leaving the loop early (``break``, an
    exception or ``KeyboardInterrupt`` in the caller) stops the thread and joins it.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: tuple[Any, BaseException | None]) -> bool:
        while not stop.is_set():  # a bounded wait, so a stop request is seen while the queue is full
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not put((batch, None)):
                    return
        except BaseException as exc:  # handed to the consumer, which raises it
            put((_END, exc))
            return
        put((_END, None))

    thread = threading.Thread(target=produce, name="gnnkit-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            batch, exc = q.get()
            if batch is _END:
                if exc is not None:
                    raise exc
                return
            yield batch
    finally:
        stop.set()
        thread.join()


class DataLoader:
    r"""Mini-batches of a sampler, optionally in worker processes (``torch.utils.data.DataLoader``).

    Items (seed vertices for a :class:`NeighborSampler`, part ids for a
    :class:`ClusterGCNSampler`) are shuffled per epoch and cut into batches in the main
    process; each worker samples whole batches. Batch ``b`` of epoch ``e`` is a function of
    ``(seed, e, b)`` alone, so ``num_workers=2`` yields exactly the batches of
    ``num_workers=0``, and a resumed run (:meth:`epoch_batches` with ``start``) continues the
    same sequence. Workers are forked, so they share the graph's pages with the parent
    rather than copying them. With ``num_workers=0`` a prefetch thread samples (and gathers
    the features of) the next ``prefetch_factor`` batches while the caller trains on the
    current one; the batches are the same as without it.

    Args:
        sampler: has ``sample(items, generator) -> batch``.
        items: ``[M]`` ids to batch (seed vertices, or part ids).
        batch_size: items per batch (``>= 1``).
        shuffle: reshuffle the items every epoch.
        drop_last: drop a last, smaller batch.
        num_workers: worker processes (0: sample in this process).
        seed: base seed of the shuffles and of every batch's generator.
        prefetch_factor: batches each worker, or the prefetch thread, keeps ready (``>= 1``).
        prefetch_thread: with ``num_workers=0``, sample in a background thread (``False``:
            sample in the caller's thread when it asks for the batch).

    Raises:
        ValueError: ``batch_size < 1``, ``num_workers < 0``, ``prefetch_factor < 1``, empty items.
        TypeError: a sampler without ``sample``.
    """

    def __init__(self, sampler: Any, items: Any, batch_size: int, shuffle: bool = True, drop_last: bool = False,
                 num_workers: int = 0, seed: int = 0, prefetch_factor: int = 2, prefetch_thread: bool = True) -> None:
        if not callable(getattr(sampler, "sample", None)):
            raise TypeError(f"sampler must have a sample(items, generator) method, got {type(sampler).__name__}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise TypeError(f"batch_size must be an int, got {type(batch_size).__name__}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if isinstance(num_workers, bool) or not isinstance(num_workers, (int, np.integer)) or num_workers < 0:
            raise ValueError(f"num_workers must be an int >= 0, got {num_workers!r}")
        if isinstance(prefetch_factor, bool) or not isinstance(prefetch_factor, (int, np.integer)) or prefetch_factor < 1:
            raise ValueError(f"prefetch_factor must be an int >= 1, got {prefetch_factor!r}")
        self.items = _as_numpy_index(items, "items")
        if self.items.size == 0:
            raise ValueError("items must not be empty: there is nothing to batch")
        self.sampler, self.batch_size, self.shuffle, self.drop_last = sampler, int(batch_size), bool(shuffle), bool(drop_last)
        self.num_workers, self.seed, self.prefetch_factor = int(num_workers), int(seed), int(prefetch_factor)
        self.prefetch_thread = bool(prefetch_thread)
        self.epoch = 0

    def __len__(self) -> int:
        n, bs = self.items.size, self.batch_size
        return n // bs if self.drop_last else math.ceil(n / bs)

    def set_epoch(self, epoch: int) -> None:
        """The epoch the next ``iter()`` runs (it then advances by one)."""
        self.epoch = int(epoch)

    def epoch_batches(self, epoch: int, start: int = 0) -> Iterator[Any]:
        """Batches ``start, start + 1, …`` of ``epoch`` (``start > 0`` resumes a checkpointed epoch)."""
        if not 0 <= start <= len(self):
            raise ValueError(f"start must lie in [0, {len(self)}] (batches per epoch), got {start}")
        keys = _BatchKeys(self, epoch, start)
        collate: Callable = SampleCollator(self.sampler, self.seed)
        if self.num_workers == 0:
            batches = map(collate, iter(keys))
            return _prefetched(batches, self.prefetch_factor) if self.prefetch_thread else batches
        ctx = "fork" if "fork" in torch.multiprocessing.get_all_start_methods() else None
        loader = torch.utils.data.DataLoader(
            _Keys(), batch_size=None, sampler=keys, collate_fn=collate, num_workers=self.num_workers,
            prefetch_factor=self.prefetch_factor, multiprocessing_context=ctx,
        )
        return iter(loader)

    def __iter__(self) -> Iterator[Any]:
        epoch = self.epoch
        self.epoch += 1
        return self.epoch_batches(epoch)
