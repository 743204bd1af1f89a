"""The native path of :class:`~gnnkit.data.sampling.NeighborSampler`: ctypes calls into the CPU kernels.

The sampling functions live in ``kernels/cpu/gnnkit_cpu.cpp`` (section "Neighbour sampling") and are
built and loaded by the sparse ops' loader (:func:`gnnkit.ops._dispatch.cpu_library`: compiled once
with the user's C++ compiler into the cache directory; ``GNNKIT_DISABLE_KERNELS=1`` turns it off). When that fails (no compiler, a failed
build), :func:`library` returns ``None`` after one warning and the sampler keeps its numpy path.

Every call here trusts its input: the sampler validated the ids. ctypes releases the GIL for the
duration of a foreign call, so a prefetch thread samples while the main thread trains.
"""
from __future__ import annotations

import ctypes
import threading
import warnings

import numpy as np

__all__ = ["library", "supports", "sample_layer", "relabel", "threads_for"]

_lock = threading.Lock()
_state: list[ctypes.CDLL | None] = []  # [the library or None] once loading was tried

# A call starts its threads afresh (std::thread, ~100-150 us each to start and join, see
# gnnkit/ops/_cpu.py); drawing one sampled edge costs ~20-50 ns of random memory
# reads, so an extra thread pays off from about 2^14 edges.
_EDGES_PER_THREAD = 1 << 14


def library() -> ctypes.CDLL | None:
    """The compiled kernel library, or ``None`` (with one warning per process) when it cannot be built or loaded."""
    if _state:
        return _state[0]
    with _lock:
        if not _state:
            from ..ops._dispatch import _disabled, cpu_library  # the one loader of the compiled kernels

            lib, why = cpu_library()
            if lib is not None and not hasattr(lib, "gk_relabel"):  # a kernels package older than the sampler
                lib, why = None, "the compiled kernels have no sampling functions (gnnkit_kernels is older than gnnkit)"
            if lib is None and not _disabled():  # an explicit opt-out is not a failure worth a warning
                warnings.warn(f"gnnkit: native neighbour sampling unavailable ({why}); NeighborSampler uses its numpy "
                              f"path (same distribution, slower)", RuntimeWarning, stacklevel=3)
            _state.append(lib)
    return _state[0]


def threads_for(edges: int, num_threads: int) -> int:
    """Threads for a call handling ``edges`` sampled edges: at most ``num_threads``, at least one."""
    return max(1, min(num_threads, edges // _EDGES_PER_THREAD))


def _ptr(a: np.ndarray, dtype: type = np.int64) -> int:
    # the one check this module makes: a pointer of the wrong element type or a strided view would
    # make the C code read out of bounds (a segfault), so it is a TypeError here instead
    if a.dtype != dtype or not a.flags.c_contiguous:
        raise TypeError(f"native sampling needs C-contiguous {np.dtype(dtype).name} arrays, got {a.dtype} "
                        f"(contiguous={a.flags.c_contiguous})")
    return a.ctypes.data


def supports(lib: ctypes.CDLL, indices_dtype: np.dtype) -> bool:
    """Whether ``lib`` samples a CSR whose ``indices`` have this dtype (int64; int32 since the kernels have
    ``gk_sample_layer_i32``). ``indptr`` is int64 in both cases."""
    if indices_dtype == np.int64:
        return True
    return indices_dtype == np.int32 and hasattr(lib, "gk_sample_layer_i32")


def sample_layer(lib: ctypes.CDLL, indptr: np.ndarray, indices: np.ndarray, dst: np.ndarray, fanout: int,
                 replace: bool, key: int, num_threads: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One layer's sampled in-edges of ``dst``, grouped by destination.

    Destination chunk ``c`` draws from a generator keyed by ``(key, c)``, so the result is the
    same for every ``num_threads``.

    ``indptr`` is int64; ``indices`` int64 or int32 (read in place, sources come back int64);
    the draws depend on ``indptr`` only, so both index types give the same result.

    Shape: dst ``[D]`` → (CSR positions ``[E']``, source ids ``[E']``, local destination ids ``[E']``).
    """
    d = dst.size
    offsets = np.empty(d + 1, dtype=np.int64)
    total = lib.gk_sample_counts(_ptr(indptr), _ptr(dst), d, fanout, int(replace), _ptr(offsets))
    pos = np.empty(total, dtype=np.int64)
    src = np.empty(total, dtype=np.int64)
    dst_local = np.empty(total, dtype=np.int64)
    # int32 indices (a memory-mapped OnDiskGraph) are read in place by their own entry point
    fn, index_type = (lib.gk_sample_layer_i32, np.int32) if indices.dtype == np.int32 else (lib.gk_sample_layer, np.int64)
    fn(_ptr(indptr), _ptr(indices, index_type), _ptr(dst), d, _ptr(offsets), fanout, int(replace), key,
       _ptr(pos), _ptr(src), _ptr(dst_local), threads_for(total, num_threads))
    return pos, src, dst_local


def relabel(lib: ctypes.CDLL, table: np.ndarray, dst: np.ndarray, src: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local ids of ``src`` with ``dst`` first; new vertices numbered by first occurrence.

    ``table`` is the ``[N]`` int32 id table, all ``-1`` before and after. One thread: the kernel's
    comment says why.

    Shape: dst ``[D]``, src ``[E']`` → (local ids ``[E']``, layer source ids ``[S]`` with ``[:D] == dst``).
    """
    e = src.size
    local = np.empty(e, dtype=np.int64)
    nodes = np.empty(dst.size + e, dtype=np.int64)
    s = lib.gk_relabel(_ptr(table, np.int32), _ptr(dst), dst.size, _ptr(src), e, _ptr(local), _ptr(nodes))
    return local, nodes[:s]
