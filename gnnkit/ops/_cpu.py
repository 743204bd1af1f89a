"""ctypes bindings of the compiled CPU kernels, with the same signatures as ``reference``.

Inputs reaching here are validated, contiguous, float32/float64/bfloat16 and on the CPU
(``_dispatch`` only routes such calls here). bfloat16 kernels read and write bfloat16 and
accumulate in float32; their ``spmm`` takes bfloat16 or float32 edge weights.

The buffer pool (:class:`_BufferPool`) is off by default. Its rule is size-independent: with
``GNNKIT_BUFFER_POOL_MB=N`` every freed huge-page buffer (any size from 8 MB up) is kept for
reuse while the kept bytes stay within ``N`` MB. The earlier rule (only buffers of at least
64 MB, at most 96 MB in all) held exactly the arxiv benchmark's 87 MB ``[169k, 128]`` output
and nothing at other sizes. Measured with ``python benchmarks/buffer_pool.py --sizes 10000
100000 300000 --pools 0 96 4096 --rounds 2 --steps 3 --threads 1`` (2-layer GCN training step,
2026-12-03, on the shared 2-core machine, load average 2-7), median step time (min-max over rounds):

=========  ======================  ======================  ======================
vertices   pool off                96 MB                   4096 MB
=========  ======================  ======================  ======================
10,000     0.170 s (0.121-0.219)   0.166 s (0.102-0.230)   0.106 s (0.049-0.163)
100,000    1.254 s (0.763-1.746)   1.023 s (0.978-1.068)   1.048 s (0.965-1.132)
300,000    4.216 s (3.066-5.366)   4.114 s (4.032-4.196)   3.213 s (2.317-4.109)
=========  ======================  ======================  ======================

Every pooled range overlaps the pool-off range, and the pool raised peak RSS by 10-45 MB at
every size: no general gain was measured, so the pool stays off unless a user turns it on
(rerun the script on an idle machine, and at 10^6 vertices, before changing the default).

``GNNKIT_BUFFER_POOL_MB=auto`` bounds the pool by use instead of a size: the bytes it owns (kept
plus in use) never exceed the most that was ever in use at once, so it adds nothing to the
high-water mark of these buffers; sizes are rounded up (at most 6.25 %) so that the slightly
varying buffers of sampled batches share mappings, and a miss evicts kept mappings to stay
within the bound. On the products-size sampled SAGE loop it gave 172 and 183 ms per batch against
202 and 189 ms without a pool, at the same peak RSS (3.14-3.16 vs 3.16-3.17 GB; two alternating
pairs of processes, 20 batches each, 2026-12-04); arxiv-size full-graph steps were 0-4 % faster
at the same peak RSS. It stays opt-in: pooled memory is not available to other allocations, and
the capacity benchmark shows it (``python benchmarks/capacity.py --engines gnnkit-saving gnnkit
--models gcn gat --sizes 100000 200000 400000``, off vs auto): the checkpointed GAT's peak at 800k
vertices rose from 2.60 to 2.97 GB (largest graph in 20 GB 7.69M -> 6.53M vertices), the
checkpointed GCN's from 1.85 to 1.89 GB, while the plain layers stayed within 2 %.
"""
from __future__ import annotations

import ctypes
import math
import mmap
import os
import threading

import torch
from torch import Tensor

from ..graph import CSR, Graph

_REDUCE = {"sum": 0, "mean": 1, "max": 2, "min": 3}
_SUFFIX = {torch.float32: "f32", torch.float64: "f64", torch.bfloat16: "bf16"}
_lib: ctypes.CDLL | None = None


def bind(lib: ctypes.CDLL) -> None:
    global _lib
    _lib = lib


def _p(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def _fn(name: str, dtype: torch.dtype):
    return getattr(_lib, f"gk_{name}_{_SUFFIX[dtype]}")


# A kernel call starts its worker threads afresh (std::thread, about 100-150 us each to start and
# join on this class of machine), so an extra thread only pays off when it gets at least that much
# work: about 2^17 edge-feature updates (~50 ns per 64-float row gather, memory-bound). Below that
# the call runs on the calling thread: a 640-vertex, 2,000-edge spmm took 306 us on 2 threads and
# 28 us on one. The rule depends only on the work of the call, not on any benchmark's size.
_WORK_PER_THREAD = 1 << 17


def _threads(work: int) -> int:
    """Threads for a kernel call doing ``work`` edge-feature updates: torch's count, capped by the work."""
    return max(1, min(torch.get_num_threads(), work // _WORK_PER_THREAD))


_HUGE_MIN_BYTES = 8 << 20


def _pool_cap() -> int | None:
    text = os.environ.get("GNNKIT_BUFFER_POOL_MB", "0")  # off by default: see the module docstring
    if text.strip().lower() == "auto":
        return None
    try:
        mb = int(text)
    except ValueError:
        raise ValueError("GNNKIT_BUFFER_POOL_MB must be an integer number of MB (0 disables the pool) or 'auto', "
                         f"got {text!r}") from None
    if mb < 0:
        raise ValueError(f"GNNKIT_BUFFER_POOL_MB must be >= 0, got {mb}")
    return mb << 20


class _BufferPool:
    """Freed huge-page mappings kept for reuse, keyed by exact size, at most ``cap`` bytes in all.

    A training step allocates the same large intermediates every step; reusing a mapping
    skips the kernel's page faults and zero-fill (about 10 ms for an 87 MB spmm output).
    A tensor's storage holds a wrapper object over the mapping; when the storage dies the
    wrapper's ``__del__`` hands the mapping back here, so a pooled mapping is never in use.
    Any size is kept while the total stays within ``cap``; a mapping beyond it is unmapped.
    ``live_bytes`` counts the bytes of the mappings in use (wrapped and not yet given back) and
    ``peak_live_bytes`` its maximum, for a caller that sizes ``cap`` by what was once in use at once.
    """

    def __init__(self, cap: int | None, round_up: bool = False) -> None:
        # cap None: bounded by use (the bytes kept plus those in use never exceed peak_live_bytes)
        self.cap, self.bytes, self.round_up = cap, 0, round_up
        self.live_bytes = self.peak_live_bytes = 0
        self.free: dict[int, list[mmap.mmap]] = {}
        self.lock = threading.RLock()  # re-entrant: a garbage collection inside a locked section may free a pooled tensor
        self.wrappers: dict[int, type] = {}

    def size_for(self, nbytes: int) -> int:
        """The mapping size serving ``nbytes``: exact, or with ``round_up`` the next multiple of 1/16 of
        ``nbytes``' power of two (at most 6.25% more), so requests that vary a little from one batch to
        the next (a sampled batch's rows) share a size and reuse each other's freed mappings."""
        if not self.round_up:
            return nbytes
        step = 1 << max(0, nbytes.bit_length() - 5)  # 2^(k-4) for nbytes in [2^k, 2^(k+1))
        return -(-nbytes // step) * step

    def take(self, nbytes: int) -> mmap.mmap | None:
        with self.lock:
            maps = self.free.get(nbytes)
            if not maps:
                return None
            self.bytes -= nbytes
            return maps.pop()

    def give_back(self, nbytes: int, mm: mmap.mmap) -> None:
        with self.lock:
            self.live_bytes -= nbytes
            room = self.peak_live_bytes - self.live_bytes if self.cap is None else self.cap
            if self.bytes + nbytes <= room:
                self.free.setdefault(nbytes, []).append(mm)
                self.bytes += nbytes
        # otherwise the last reference goes and the mapping is unmapped

    def make_room(self, nbytes: int) -> None:
        """Before a fresh mapping of ``nbytes`` (a miss): with ``cap`` None, unmap kept mappings (largest
        first) until kept plus in use plus ``nbytes`` fits under the peak in use, or under the new peak
        this mapping makes."""
        if self.cap is not None:
            return
        with self.lock:
            bound = max(self.peak_live_bytes, self.live_bytes + nbytes)
            for size in sorted(self.free, reverse=True):
                maps = self.free[size]
                while maps and self.bytes + self.live_bytes + nbytes > bound:
                    maps.pop()  # the last reference: unmapped
                    self.bytes -= size
            self.free = {k: v for k, v in self.free.items() if v}

    def clear(self) -> None:
        with self.lock:
            self.free.clear()
            self.bytes = 0

    def wrap(self, mm: mmap.mmap, nbytes: int):
        """A buffer object over ``mm`` whose destruction returns ``mm`` to the pool."""
        cls = self.wrappers.get(nbytes)
        if cls is None:
            pool = self

            def __del__(self, _n=nbytes):
                pool.give_back(_n, self._mapping)

            cls = type(f"_PooledBuffer{nbytes}", (ctypes.c_char * nbytes,), {"__del__": __del__})
            self.wrappers[nbytes] = cls
        w = cls.from_buffer(mm)
        w._mapping = mm
        with self.lock:
            self.live_bytes += nbytes
            self.peak_live_bytes = max(self.peak_live_bytes, self.live_bytes)
        return w


_CAP = _pool_cap()
POOL = _BufferPool(_CAP, round_up=_CAP is None)  # auto (None): sizes rounded up, see the module docstring


def empty(shape: tuple[int, ...], dtype: torch.dtype, pool: _BufferPool | None = None) -> Tensor:
    """An uninitialised CPU tensor; large ones are backed by transparent huge pages.

    glibc serves every allocation over 32 MB with a fresh mmap, so each kernel output
    is page-faulted in 4 KB at a time: 15-20 ms for a [169k, 128] float32 output, a
    third of the whole spmm. Asking for 2 MB pages (``MADV_HUGEPAGE``) cuts that to
    3-8 ms (measured on the benchmark machine), and reusing a freed mapping of the same
    size from :data:`POOL` removes it (``GNNKIT_BUFFER_POOL_MB`` caps the freed bytes kept;
    the default 0 disables the pool, see the module docstring). ``pool`` names another pool (the
    neighbour sampler keeps its own for its feature gathers). Where the kernel has no THP the mapping
    behaves like ordinary memory.
    """
    pool = POOL if pool is None else pool
    numel = math.prod(shape)
    nbytes = numel * dtype.itemsize
    if nbytes < _HUGE_MIN_BYTES or not hasattr(mmap, "MADV_HUGEPAGE"):
        return torch.empty(shape, dtype=dtype)
    size = pool.size_for(nbytes)
    mm = pool.take(size)
    if mm is None:
        pool.make_room(size)
        mm = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        mm.madvise(mmap.MADV_HUGEPAGE)
    return torch.frombuffer(pool.wrap(mm, size), dtype=dtype, count=numel).view(shape)


def spmm_csr(csr: CSR, x: Tensor, w: Tensor | None, reduce: str) -> tuple[Tensor, Tensor | None]:
    """Aggregate ``x [M, H, F]`` over CSR rows (int64 or int32 ``indices``); ``arg`` holds CSR positions."""
    n = csr.indptr.numel() - 1
    _, h, f = x.shape
    out = empty((n, h, f), x.dtype)
    arg = torch.empty((n, h, f), dtype=torch.int64) if reduce in ("max", "min") else None
    hw = 0 if w is None else w.shape[1]
    name = "spmm_i32" if csr.indices.dtype == torch.int32 else "spmm"
    fn = _fn(name, x.dtype)
    if w is not None and w.dtype != x.dtype:  # bfloat16 x with the float32 weights autocast keeps (gcn_norm)
        fn = getattr(_lib, f"gk_{name}_bf16_wf32")
    fn(
        _p(csr.indptr), _p(csr.indices), _p(csr.eid), _p(w), hw, _p(x), _p(out), _p(arg),
        n, h, f, _REDUCE[reduce], _threads(csr.indices.numel() * h * f),
    )
    return out, arg


def _arg_to_eid(csr: CSR, arg: Tensor | None) -> Tensor | None:
    if arg is None or csr.eid is None:
        return arg
    return torch.where(arg >= 0, csr.eid[arg.clamp(min=0)], arg)


def spmm(g: Graph, x: Tensor, w: Tensor | None, reduce: str) -> tuple[Tensor, Tensor | None]:
    csr = g.csr_in()
    out, arg = spmm_csr(csr, x, w, reduce)
    return out, _arg_to_eid(csr, arg)


def segment_reduce(g: Graph, m: Tensor, reduce: str) -> tuple[Tensor, Tensor | None]:
    csr = g.csr_in()
    if csr.eid is None:  # edges already in row order: entry j is edge j
        eids = torch.arange(g.num_edges)
    else:
        eids = csr.eid
    out, arg = spmm_csr(CSR(csr.indptr, eids, None), m, None, reduce)
    return out, _arg_to_eid(csr, arg)


def sddmm_dot(g: Graph, x_src: Tensor, x_dst: Tensor) -> Tensor:
    csr = g.csr_in()
    n, h, f = x_dst.shape
    out = empty((g.num_edges, h), x_dst.dtype)
    _fn("sddmm_dot", x_dst.dtype)(
        _p(csr.indptr), _p(csr.indices), _p(csr.eid), _p(x_dst), _p(x_src), _p(out), n, h, f,
        _threads(csr.indices.numel() * h * f),
    )
    return out


def segment_softmax(g: Graph, score: Tensor) -> Tensor:
    csr = g.csr_in()
    out = empty(tuple(score.shape), score.dtype)
    _fn("segment_softmax", score.dtype)(
        _p(csr.indptr), _p(csr.eid), _p(score), _p(out), g.num_nodes, score.shape[1], _threads(score.numel())
    )
    return out


def segment_softmax_backward(g: Graph, y: Tensor, grad: Tensor) -> Tensor:
    csr = g.csr_in()
    out = empty(tuple(y.shape), y.dtype)
    _fn("segment_softmax_backward", y.dtype)(
        _p(csr.indptr), _p(csr.eid), _p(y), _p(grad), _p(out), g.num_nodes, y.shape[1], _threads(y.numel())
    )
    return out
