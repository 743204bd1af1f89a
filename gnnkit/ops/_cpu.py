"""ctypes bindings of the compiled CPU kernels, with the same signatures as ``reference``.

Inputs reaching here are validated, contiguous, float32/float64 and on the CPU
(``_dispatch`` only routes such calls here).
"""
from __future__ import annotations

import ctypes
import math
import mmap

import torch
from torch import Tensor

from ..graph import CSR, Graph

_REDUCE = {"sum": 0, "mean": 1, "max": 2, "min": 3}
_SUFFIX = {torch.float32: "f32", torch.float64: "f64"}
_lib: ctypes.CDLL | None = None


def bind(lib: ctypes.CDLL) -> None:
    global _lib
    _lib = lib


def _p(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def _fn(name: str, dtype: torch.dtype):
    return getattr(_lib, f"gk_{name}_{_SUFFIX[dtype]}")


def _threads() -> int:
    return torch.get_num_threads()


_HUGE_MIN_BYTES = 8 << 20


def empty(shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
    """An uninitialised CPU tensor; large ones are backed by transparent huge pages.

    glibc serves every allocation over 32 MB with a fresh mmap, so each kernel output
    is page-faulted in 4 KB at a time: 15-20 ms for a [169k, 128] float32 output, a
    third of the whole spmm. Asking for 2 MB pages (``MADV_HUGEPAGE``) cuts that to
    3-8 ms (measured on the benchmark machine). Where the kernel has no THP the
    mapping behaves like ordinary memory. The tensor owns the mapping; it is unmapped
    when the tensor is freed.
    """
    nbytes = math.prod(shape) * torch.empty((), dtype=dtype).element_size()
    if nbytes < _HUGE_MIN_BYTES or not hasattr(mmap, "MADV_HUGEPAGE"):
        return torch.empty(shape, dtype=dtype)
    buf = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    buf.madvise(mmap.MADV_HUGEPAGE)
    return torch.frombuffer(buf, dtype=dtype, count=math.prod(shape)).view(shape)


def spmm_csr(csr: CSR, x: Tensor, w: Tensor | None, reduce: str) -> tuple[Tensor, Tensor | None]:
    """Aggregate ``x [M, H, F]`` over CSR rows; ``arg`` holds CSR positions."""
    n = csr.indptr.numel() - 1
    _, h, f = x.shape
    out = empty((n, h, f), x.dtype)
    arg = torch.empty((n, h, f), dtype=torch.int64) if reduce in ("max", "min") else None
    hw = 0 if w is None else w.shape[1]
    _fn("spmm", x.dtype)(
        _p(csr.indptr), _p(csr.indices), _p(csr.eid), _p(w), hw, _p(x), _p(out), _p(arg),
        n, h, f, _REDUCE[reduce], _threads(),
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
        _p(csr.indptr), _p(csr.indices), _p(csr.eid), _p(x_dst), _p(x_src), _p(out), n, h, f, _threads()
    )
    return out


def segment_softmax(g: Graph, score: Tensor) -> Tensor:
    csr = g.csr_in()
    out = empty(tuple(score.shape), score.dtype)
    _fn("segment_softmax", score.dtype)(
        _p(csr.indptr), _p(csr.eid), _p(score), _p(out), g.num_nodes, score.shape[1], _threads()
    )
    return out


def segment_softmax_backward(g: Graph, y: Tensor, grad: Tensor) -> Tensor:
    csr = g.csr_in()
    out = empty(tuple(y.shape), y.dtype)
    _fn("segment_softmax_backward", y.dtype)(
        _p(csr.indptr), _p(csr.eid), _p(y), _p(grad), _p(out), g.num_nodes, y.shape[1], _threads()
    )
    return out
