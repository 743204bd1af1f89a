"""Triton bindings of the sparse ops, with the signatures of :mod:`gnnkit.ops.reference`.

``_dispatch`` routes CUDA tensors here. This module owns the binding boundary of the
kernels in ``gnnkit_kernels.triton``: it makes inputs contiguous, casts edge weights
to the feature dtype, rejects dtypes the kernels cannot read, narrows indices to int32
when every index fits (half the index bytes; a graph with more than 2^31 - 1 edges
keeps int64 indices and offsets), builds and caches the per-graph work schedule, and
picks block sizes. The kernels themselves trust their input.

Outputs follow the reference: node data ``[N, H, F]``, edge weights ``[E, Hw]`` with
``Hw`` in ``{1, H}``, edge scores ``[E, H]``; max/min return the winning edge id per
output element (-1 for a vertex with no in-edges).

Besides the five dispatched ops this module has the fused attention
(:func:`gat_forward`, :func:`gat_backward`) and :func:`sddmm` (add/sub/mul), which the
table does not route yet (see docs/kernels.md for the wiring).

With ``TRITON_INTERPRET=1`` set before triton is first imported, the kernels run on CPU
tensors in Triton's interpreter; ``_dispatch.use_triton_for_cpu`` then routes the CPU
entries of the dispatch table to :data:`DISPATCHED`, so that the autograd Functions of
:mod:`gnnkit.ops` run on these kernels in tests.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import Tensor

import gnnkit_kernels.triton as _k
import triton.language as tl

from ..graph import CSR, Graph

__all__ = [
    "INTERPRETED",
    "spmm",
    "segment_reduce",
    "sddmm_dot",
    "sddmm",
    "segment_softmax",
    "segment_softmax_backward",
    "gat_forward",
    "gat_backward",
    "dropout_mask",
    "schedule",
    "tuning",
]

INTERPRETED: bool = _k.INTERPRETED
INT32_MAX = 2**31 - 1
GRID_MAX = 2**31 - 1  # CUDA's limit on gridDim.x
FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_REDUCE = {"sum": _k.SUM, "mean": _k.MEAN, "max": _k.MAX, "min": _k.MIN}
_SDDMM_OP = {"dot": _k.DOT, "add": _k.ADD, "sub": _k.SUB, "mul": _k.MUL}


# ------------------------------------------------------------------- tuning
@dataclass
class Tuning:
    """Launch parameters. Untuned defaults chosen from the arithmetic in docs/kernels.md.

    Attributes:
        chunk: most CSR entries one program handles; longer rows are split and their
            partials combined (load balancing for power-law in-degrees).
        block_e: edges per tile; ``None`` picks from the average degree (16 to 64).
        block_f: cap on features per tile; ``None`` means 128 (4-byte) / 64 (8-byte).
        index_dtype: force ``torch.int32`` or ``torch.int64`` indices; ``None`` uses int32
            whenever every index and offset fits.
        num_warps: warps per program on the GPU.
    """

    chunk: int = 512
    block_e: int | None = None
    block_f: int | None = None
    index_dtype: torch.dtype | None = None
    num_warps: int = 4


TUNING = Tuning()


@contextlib.contextmanager
def tuning(**changes) -> Iterator[Tuning]:
    """Temporarily change :data:`TUNING` (tests use a tiny ``chunk`` to split rows of small graphs)."""
    global TUNING
    saved = TUNING
    TUNING = dataclasses.replace(saved, **changes)
    try:
        yield TUNING
    finally:
        TUNING = saved


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _pow2(n: int) -> int:
    return 1 << max(0, (int(n) - 1).bit_length())


def _acc(dtype: torch.dtype):
    """Accumulator precision: float64 for float64 data, float32 otherwise."""
    return (tl.float64, torch.float64) if dtype == torch.float64 else (tl.float32, torch.float32)


def _block_f(width: int, dtype: torch.dtype) -> int:
    cap = TUNING.block_f or (128 if dtype.itemsize <= 4 else 64)
    return max(1, min(_pow2(cap), _pow2(width)))


def _block_e(avg_degree: float, block_f: int) -> int:
    if TUNING.block_e is not None:
        return _pow2(TUNING.block_e)
    be = min(64, max(16, _pow2(math.ceil(avg_degree))))
    while be > 16 and be * block_f > 4096:  # keep a tile within ~32 registers per thread at 4 warps
        be //= 2
    return be


def _grid(programs: int, what: str) -> tuple[int]:
    if programs > GRID_MAX:
        raise ValueError(
            f"{what} needs {programs} programs, more than CUDA's grid limit of {GRID_MAX}; "
            f"raise gnnkit.ops._triton.TUNING.chunk or block_f"
        )
    return (programs,)


# ----------------------------------------------------------------- schedule
@dataclass(frozen=True)
class Schedule:
    """A CSR in the kernels' index dtype plus the chunked work list over its rows.

    Row ``r`` with ``d`` entries becomes ``max(1, ceil(d / chunk))`` chunks. ``chunk_slot``
    is -1 for a row's only chunk (it writes the result) and otherwise the chunk's partial
    slot; the slots of split row ``split_row[s]`` are ``split_ptr[s]:split_ptr[s+1]``.
    """

    indptr: Tensor  # [R + 1]
    indices: Tensor  # [nnz]
    eid: Tensor | None  # [nnz] edge id per entry, None for the identity
    rows: Tensor  # [nnz] row of each entry (for the edge-parallel kernels)
    chunk_row: Tensor  # [C]
    chunk_begin: Tensor  # [C] first entry of each chunk
    chunk_slot: Tensor  # [C]
    split_row: Tensor  # [S]
    split_ptr: Tensor  # [S + 1]
    num_rows: int
    nnz: int
    num_chunks: int
    num_split: int
    num_slots: int
    chunk: int

    @property
    def avg_degree(self) -> float:
        return self.nnz / max(self.num_rows, 1)


def index_dtype(nnz: int, num_rows: int, num_cols: int) -> torch.dtype:
    """int32 when every index and offset of the schedule fits in it, else int64.

    The largest values stored are ``nnz`` (offsets and edge ids), ``num_rows + nnz``
    (chunk numbers) and ``num_cols - 1`` (column ids). Kernels always compute addresses in
    int64, so only the stored arrays depend on this choice.
    """
    fits = nnz + num_rows <= INT32_MAX and num_cols <= INT32_MAX
    forced = TUNING.index_dtype
    if forced is None:
        return torch.int32 if fits else torch.int64
    if forced not in (torch.int32, torch.int64):
        raise ValueError(f"index_dtype must be torch.int32 or torch.int64, got {forced}")
    if forced == torch.int32 and not fits:
        raise ValueError(
            f"int32 indices cannot address a graph with {nnz} edges, {num_rows} rows and {num_cols} columns "
            f"(limit {INT32_MAX}); use index_dtype=torch.int64"
        )
    return forced


def _build_schedule(csr: CSR, num_rows: int, num_cols: int, chunk: int) -> Schedule:
    indptr = csr.indptr
    dev = indptr.device
    nnz = csr.indices.numel()
    idt = index_dtype(nnz, num_rows, num_cols)
    deg = indptr.diff()  # [R]
    nch = ((deg + chunk - 1) // chunk).clamp(min=1)  # chunks per row; an empty row still writes its zeros
    cend = torch.cumsum(nch, 0)
    num_chunks = int(cend[-1]) if num_rows else 0  # the one host sync, cached with the schedule
    rows_ids = torch.arange(num_rows, device=dev)
    chunk_row = torch.repeat_interleave(rows_ids, nch, output_size=num_chunks)
    k = torch.arange(num_chunks, device=dev) - (cend - nch)[chunk_row]
    chunk_begin = indptr[:-1][chunk_row] + k * chunk
    split = nch > 1
    split_chunk = split[chunk_row]
    chunk_slot = torch.where(split_chunk, torch.cumsum(split_chunk, 0) - 1, -1)
    split_row = split.nonzero().view(-1)
    split_ptr = torch.zeros(split_row.numel() + 1, dtype=torch.int64, device=dev)
    torch.cumsum(nch[split_row], 0, out=split_ptr[1:])
    rows = torch.repeat_interleave(rows_ids, deg, output_size=nnz)
    return Schedule(
        indptr=indptr.to(idt).contiguous(),
        indices=csr.indices.to(idt).contiguous(),
        eid=None if csr.eid is None else csr.eid.to(idt).contiguous(),
        rows=rows.to(idt),
        chunk_row=chunk_row.to(idt),
        chunk_begin=chunk_begin.to(idt),
        chunk_slot=chunk_slot.to(idt),
        split_row=split_row.to(idt),
        split_ptr=split_ptr.to(idt),
        num_rows=num_rows,
        nnz=nnz,
        num_chunks=num_chunks,
        num_split=split_row.numel(),
        num_slots=int(split_ptr[-1]),
        chunk=chunk,
    )


def schedule(g: Graph) -> Schedule:
    """The schedule of ``g.csr_in()`` (rows = destinations), cached on the graph.

    The backward of a destination-side op uses ``schedule(g.reverse())``: the reversed
    graph is cached on ``g``, so both schedules live as long as the graph.
    """
    chunk = int(TUNING.chunk)
    if chunk < 1:
        raise ValueError(f"TUNING.chunk must be >= 1, got {chunk}")
    key = ("triton_schedule", chunk, TUNING.index_dtype)
    if key not in g._cache:
        g._cache[key] = _build_schedule(g.csr_in(), g.num_nodes, g.num_src_nodes, chunk)
    return g._cache[key]


# ------------------------------------------------------ the binding boundary
def _check_device(g: Graph, tensors: dict[str, Tensor]) -> None:
    dev = g.device
    if dev.type == "cpu" and not INTERPRETED:
        raise ValueError(
            "gnnkit's Triton kernels run on CUDA tensors, got CPU tensors; to run them on the CPU in "
            "Triton's interpreter, set TRITON_INTERPRET=1 before triton is first imported"
        )
    if dev.type not in ("cuda", "cpu"):
        raise ValueError(f"gnnkit's Triton kernels run on CUDA tensors, got device {dev}")
    for name, t in tensors.items():
        if t.device != dev:
            raise ValueError(f"{name} is on {t.device} but the graph is on {dev}; move one with .to(device)")


def _float(t: Tensor, name: str, dtype: torch.dtype | None = None) -> Tensor:
    """Contiguous, in ``dtype`` when given; other float types are cast, non-floats rejected."""
    if not isinstance(t, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if dtype is None and t.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float16, bfloat16, float32 or float64 for the Triton kernels, got {t.dtype}")
    if dtype is not None and t.dtype != dtype:
        if not t.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got {t.dtype}")
        t = t.to(dtype)
    return t.contiguous()


def _shape(t: Tensor, shape: tuple[int, ...], name: str) -> None:
    if tuple(t.shape) != shape:
        raise ValueError(f"{name} must have shape {list(shape)}, got {list(t.shape)}")


def _node3(x: Tensor, rows: int, name: str) -> Tensor:
    x = _float(x, name)
    if x.dim() != 3 or x.shape[0] != rows:
        raise ValueError(f"{name} must have shape [{rows}, H, F], got {list(x.shape)}")
    return x


# --------------------------------------------------------------------- spmm
def _spmm_schedule(sch: Schedule, x: Tensor, w: Tensor | None, reduce: str, gather_edge: bool) -> tuple[Tensor, Tensor | None]:
    r, (_, h, f) = sch.num_rows, x.shape
    d = h * f
    out = torch.empty((r, h, f), dtype=x.dtype, device=x.device)
    arg = torch.empty((r, h, f), dtype=torch.int64, device=x.device) if reduce in ("max", "min") else None
    if r == 0 or d == 0:
        return out, None if arg is None else arg.fill_(-1)
    acc_tl, acc_torch = _acc(x.dtype)
    bf = _block_f(d, x.dtype)
    nft = _cdiv(d, bf)
    be = _block_e(sch.avg_degree, bf)
    # unused buffers get a stand-in of the right dtype: the kernel's stores to them are masked off
    part = torch.empty((sch.num_slots, d), dtype=acc_torch, device=x.device) if sch.num_slots else out
    arg_or = out if arg is None else arg
    part_arg = torch.empty((sch.num_slots, d), dtype=torch.int64, device=x.device) if sch.num_slots and arg is not None else arg_or
    code = _REDUCE[reduce]
    _k.spmm_chunk_kernel[_grid(sch.num_chunks * nft, "spmm")](
        sch.indptr, sch.indices, sch.indices if sch.eid is None else sch.eid, x if w is None else w, x, out,
        arg_or, part, part_arg, sch.chunk_row, sch.chunk_begin, sch.chunk_slot,
        d, f, 1 if w is None else w.shape[1], nft,
        REDUCE=code, HAS_EID=sch.eid is not None, HAS_W=w is not None, GATHER_EDGE=gather_edge,
        CHUNK=sch.chunk, BLOCK_E=be, BLOCK_F=bf, ACC=acc_tl, num_warps=TUNING.num_warps,
    )
    if sch.num_split:
        _k.spmm_combine_kernel[_grid(sch.num_split * nft, "spmm combine")](
            sch.indptr, part, part_arg, sch.split_row, sch.split_ptr, out, arg_or,
            d, nft, REDUCE=code, BLOCK_F=bf, ACC=acc_tl, num_warps=TUNING.num_warps,
        )
    return out, arg


def spmm(g: Graph, x: Tensor, w: Tensor | None, reduce: str) -> tuple[Tensor, Tensor | None]:
    """``out[v] = reduce_{(u, v) in E} w_e * x[u]``; x ``[num_src_nodes, H, F]``, w ``[E, Hw]`` or None."""
    if reduce not in _REDUCE:
        raise ValueError(f"reduce must be one of {tuple(_REDUCE)}, got {reduce!r}")
    x = _node3(x, g.num_src_nodes, "x")
    if w is not None:
        w = _float(w, "edge weight", x.dtype)
        if w.dim() != 2 or w.shape[0] != g.num_edges or w.shape[1] not in (1, x.shape[1]):
            raise ValueError(f"edge weight must have shape [E={g.num_edges}, 1 or H={x.shape[1]}], got {list(w.shape)}")
    _check_device(g, {"x": x} if w is None else {"x": x, "edge weight": w})
    return _spmm_schedule(schedule(g), x, w, reduce, gather_edge=False)


def segment_reduce(g: Graph, m: Tensor, reduce: str) -> tuple[Tensor, Tensor | None]:
    """``out[v] = reduce_{e into v} m[e]``; m ``[E, H, F]``."""
    if reduce not in _REDUCE:
        raise ValueError(f"reduce must be one of {tuple(_REDUCE)}, got {reduce!r}")
    m = _node3(m, g.num_edges, "m")
    _check_device(g, {"m": m})
    return _spmm_schedule(schedule(g), m, None, reduce, gather_edge=True)


# -------------------------------------------------------------------- sddmm
def sddmm(g: Graph, x_src: Tensor, x_dst: Tensor, op: str) -> Tensor:
    """Per edge: ``op="dot"`` gives ``[E, H]`` dot products per head; ``"add" | "sub" | "mul"``
    give ``[E, H, F]`` elementwise ``x_src[src] (op) x_dst[dst]``."""
    if op not in _SDDMM_OP:
        raise ValueError(f"op must be one of {tuple(_SDDMM_OP)}, got {op!r}")
    x_src = _node3(x_src, g.num_src_nodes, "x_src")
    x_dst = _node3(_float(x_dst, "x_dst", x_src.dtype), g.num_nodes, "x_dst")
    if x_dst.shape[1:] != x_src.shape[1:]:
        raise ValueError(f"x_src and x_dst must have the same [H, F], got {list(x_src.shape)} and {list(x_dst.shape)}")
    _check_device(g, {"x_src": x_src, "x_dst": x_dst})
    _, h, f = x_src.shape
    shape = (g.num_edges, h) if op == "dot" else (g.num_edges, h, f)
    out = torch.empty(shape, dtype=x_src.dtype, device=x_src.device)
    if g.num_edges == 0 or out.numel() == 0:
        return out
    if f == 0:
        return out.zero_()
    sch = schedule(g)
    acc_tl, _ = _acc(x_src.dtype)
    bf = _block_f(f if op == "dot" else h * f, x_src.dtype)
    be = TUNING.block_e or min(256, max(16, 4096 // bf))
    be = _pow2(be)
    _k.sddmm_kernel[_grid(_cdiv(sch.nnz, be), "sddmm")](
        sch.rows, sch.indices, sch.indices if sch.eid is None else sch.eid, x_src, x_dst, out,
        sch.nnz, h, f, OP=_SDDMM_OP[op], HAS_EID=sch.eid is not None, BLOCK_E=be, BLOCK_F=bf, ACC=acc_tl,
        num_warps=TUNING.num_warps,
    )
    return out


def sddmm_dot(g: Graph, x_src: Tensor, x_dst: Tensor) -> Tensor:
    """``out[e, h] = <x_src[src_e, h], x_dst[dst_e, h]>``; inputs ``[N, H, F]``, out ``[E, H]``."""
    return sddmm(g, x_src, x_dst, "dot")


# ------------------------------------------------------------------ softmax
def _edge2(t: Tensor, g: Graph, name: str, dtype: torch.dtype | None = None) -> Tensor:
    t = _float(t, name, dtype)
    if t.dim() != 2 or t.shape[0] != g.num_edges:
        raise ValueError(f"{name} must have shape [E={g.num_edges}, H], got {list(t.shape)}")
    return t


def _row_stats(sch: Schedule, y: Tensor, grad: Tensor | None) -> Tensor:
    """Per row and head: logsumexp of ``y`` (grad None) or the sum of ``y * grad``; ``[R, H]`` in ACC precision."""
    h = y.shape[1]
    acc_tl, acc_torch = _acc(y.dtype)
    stat = torch.empty((sch.num_rows, h), dtype=acc_torch, device=y.device)
    bh = _pow2(h)
    be = TUNING.block_e or max(16, min(128, 2048 // bh))
    be = _pow2(be)
    pm = torch.empty((sch.num_slots, h), dtype=acc_torch, device=y.device) if sch.num_slots else stat
    pl = torch.empty((sch.num_slots, h), dtype=acc_torch, device=y.device) if sch.num_slots and grad is None else stat
    mode = 0 if grad is None else 1
    _k.softmax_stats_kernel[_grid(sch.num_chunks, "edge softmax")](
        sch.indptr, sch.indptr if sch.eid is None else sch.eid, y, y if grad is None else grad, stat, pm, pl,
        sch.chunk_row, sch.chunk_begin, sch.chunk_slot, h,
        MODE=mode, HAS_EID=sch.eid is not None, CHUNK=sch.chunk, BLOCK_E=be, BLOCK_H=bh, ACC=acc_tl,
        num_warps=TUNING.num_warps,
    )
    if sch.num_split and mode == 0:
        _k.lse_combine_kernel[_grid(sch.num_split * h, "edge softmax combine")](
            pm, pl, pm, sch.split_row, sch.split_ptr, stat, stat, h, 1, 1,
            HAS_ACC=False, BLOCK_F=1, ACC=acc_tl, num_warps=1,
        )
    elif sch.num_split:
        _k.spmm_combine_kernel[_grid(sch.num_split, "edge softmax combine")](
            sch.indptr, pm, pm, sch.split_row, sch.split_ptr, stat, stat, h, 1,
            REDUCE=_k.SUM, BLOCK_F=bh, ACC=acc_tl, num_warps=1,
        )
    return stat


def _apply(sch: Schedule, y: Tensor, grad: Tensor | None, stat: Tensor) -> Tensor:
    h = y.shape[1]
    out = torch.empty_like(y)
    bh = _pow2(h)
    be = _pow2(TUNING.block_e or max(16, min(256, 4096 // bh)))
    acc_tl, _ = _acc(y.dtype)
    _k.softmax_apply_kernel[_grid(_cdiv(sch.nnz, be), "edge softmax")](
        sch.rows, sch.rows if sch.eid is None else sch.eid, y, y if grad is None else grad, stat, out, sch.nnz, h,
        MODE=0 if grad is None else 1, HAS_EID=sch.eid is not None, BLOCK_E=be, BLOCK_H=bh, ACC=acc_tl,
        num_warps=TUNING.num_warps,
    )
    return out


def segment_softmax(g: Graph, score: Tensor) -> Tensor:
    """Softmax of ``score [E, H]`` over the in-edges of each destination, max-shifted."""
    score = _edge2(score, g, "score")
    _check_device(g, {"score": score})
    if g.num_edges == 0 or score.shape[1] == 0:
        return torch.empty_like(score)
    sch = schedule(g)
    return _apply(sch, score, None, _row_stats(sch, score, None))


def segment_softmax_backward(g: Graph, y: Tensor, grad: Tensor) -> Tensor:
    """Vector-Jacobian product of :func:`segment_softmax`: ``y * (grad - sum_row(y * grad))``."""
    y = _edge2(y, g, "y")
    grad = _edge2(grad, g, "grad", y.dtype)
    _shape(grad, tuple(y.shape), "grad")
    _check_device(g, {"y": y, "grad": grad})
    if g.num_edges == 0 or y.shape[1] == 0:
        return torch.empty_like(y)
    sch = schedule(g)
    return _apply(sch, y, grad, _row_stats(sch, y, grad))


# --------------------------------------------------------- fused attention
def _gat_inputs(g: Graph, x: Tensor, a_src: Tensor, a_dst: Tensor, negative_slope: float, dropout: float):
    x = _node3(x, g.num_src_nodes, "x")
    _, h, _ = x.shape
    a_src = _float(a_src, "a_src", x.dtype)
    a_dst = _float(a_dst, "a_dst", x.dtype)
    _shape(a_src, (g.num_src_nodes, h), "a_src")
    _shape(a_dst, (g.num_nodes, h), "a_dst")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
    if not math.isfinite(float(negative_slope)):
        raise ValueError(f"negative_slope must be finite, got {negative_slope}")
    _check_device(g, {"x": x, "a_src": a_src, "a_dst": a_dst})
    return x, a_src, a_dst


def gat_forward(
    g: Graph, x: Tensor, a_src: Tensor, a_dst: Tensor, negative_slope: float, dropout: float, seed: int
) -> tuple[Tensor, Tensor]:
    r"""Fused GAT aggregation: ``out[v, h] = sum_{e=(u,v)} softmax_v(LeakyReLU(a_src[u,h] + a_dst[v,h]))_e * d_e * x[u, h]``.

    Args:
        g: the graph (rows = destinations).
        x: ``[num_src_nodes, H, F]`` projected source features.
        a_src: ``[num_src_nodes, H]`` per-source score halves; a_dst: ``[N, H]``.
        negative_slope: LeakyReLU slope.
        dropout: probability of dropping an attention weight (0 disables); kept weights
            are scaled by ``1 / (1 - dropout)``.
        seed: Philox seed of the dropout mask (:func:`dropout_mask` shows it).

    Returns:
        ``(out [N, H, F], lse [N, H])``; ``lse`` (the log of each softmax denominator, in
        float32, float64 for float64 inputs) is all :func:`gat_backward` needs besides the inputs.
    """
    x, a_src, a_dst = _gat_inputs(g, x, a_src, a_dst, negative_slope, dropout)
    n, (_, h, f) = g.num_nodes, x.shape
    acc_tl, acc_torch = _acc(x.dtype)
    out = torch.empty((n, h, f), dtype=x.dtype, device=x.device)
    lse = torch.empty((n, h), dtype=acc_torch, device=x.device)
    if n == 0 or h == 0:
        return out, lse
    sch = schedule(g)
    bf = _block_f(max(f, 1), x.dtype)
    nft = max(1, _cdiv(f, bf))  # one tile even for F = 0: the programs of tile 0 write lse
    be = _block_e(sch.avg_degree, bf)
    slots = sch.num_slots
    pm = torch.empty((slots, h), dtype=acc_torch, device=x.device) if slots else lse
    pl = torch.empty((slots, h), dtype=acc_torch, device=x.device) if slots else lse
    pacc = torch.empty((slots, h, f), dtype=acc_torch, device=x.device) if slots else out
    _k.gat_forward_kernel[_grid(sch.num_chunks * h * nft, "gat forward")](
        sch.indptr, sch.indices, sch.indices if sch.eid is None else sch.eid, x, a_src, a_dst, out, lse, pm, pl, pacc,
        sch.chunk_row, sch.chunk_begin, sch.chunk_slot, h, f, nft, float(negative_slope), float(dropout), int(seed),
        HAS_EID=sch.eid is not None, DROPOUT=dropout > 0, CHUNK=sch.chunk, BLOCK_E=be, BLOCK_F=bf, ACC=acc_tl,
        num_warps=TUNING.num_warps,
    )
    if sch.num_split:
        _k.lse_combine_kernel[_grid(sch.num_split * h * nft, "gat forward combine")](
            pm, pl, pacc, sch.split_row, sch.split_ptr, lse, out, h, f, nft,
            HAS_ACC=True, BLOCK_F=bf, ACC=acc_tl, num_warps=TUNING.num_warps,
        )
    return out, lse


def gat_backward(
    g: Graph, x: Tensor, a_src: Tensor, a_dst: Tensor, out: Tensor, lse: Tensor, dout: Tensor,
    negative_slope: float, dropout: float, seed: int,
) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients of :func:`gat_forward`'s ``out`` with respect to ``x``, ``a_src`` and ``a_dst``.

    Two passes, no atomics: in-edges give ``dp [E, H]`` (the score gradients, the one
    per-edge tensor) and ``da_dst``; out-edges (the reversed graph's CSR) give ``dx`` and
    ``da_src``. ``out``, ``lse``, ``dropout`` and ``seed`` must be those of the forward call.

    Returns:
        ``(dx [num_src_nodes, H, F], da_src [num_src_nodes, H], da_dst [N, H])``.
    """
    x, a_src, a_dst = _gat_inputs(g, x, a_src, a_dst, negative_slope, dropout)
    n, ns, (_, h, f) = g.num_nodes, g.num_src_nodes, x.shape
    acc_tl, acc_torch = _acc(x.dtype)
    out = _float(out, "out", x.dtype)
    dout = _float(dout, "dout", x.dtype)
    lse = _float(lse, "lse", acc_torch)
    _shape(out, (n, h, f), "out")
    _shape(dout, (n, h, f), "dout")
    _shape(lse, (n, h), "lse")
    _check_device(g, {"out": out, "dout": dout, "lse": lse})
    dx = torch.zeros((ns, h, f), dtype=x.dtype, device=x.device)
    da_src = torch.zeros((ns, h), dtype=x.dtype, device=x.device)
    da_dst = torch.zeros((n, h), dtype=x.dtype, device=x.device)
    if g.num_edges == 0 or h == 0:
        return dx, da_src, da_dst
    slope, p, seed = float(negative_slope), float(dropout), int(seed)
    bf = _block_f(max(f, 1), x.dtype)
    common = dict(DROPOUT=p > 0, ACC=acc_tl, num_warps=TUNING.num_warps)

    # pass 1, in-edges: dp [E, H] and da_dst
    sin = schedule(g)
    dp = torch.empty((g.num_edges, h), dtype=acc_torch, device=x.device)
    part = torch.empty((sin.num_slots, h), dtype=acc_torch, device=x.device) if sin.num_slots else da_dst
    _k.gat_backward_dst_kernel[_grid(sin.num_chunks * h, "gat backward")](
        sin.indptr, sin.indices, sin.indices if sin.eid is None else sin.eid, x, a_src, a_dst, out, lse, dout, dp,
        da_dst, part, sin.chunk_row, sin.chunk_begin, sin.chunk_slot, h, f, slope, p, seed,
        HAS_EID=sin.eid is not None, CHUNK=sin.chunk, BLOCK_E=_block_e(sin.avg_degree, bf), BLOCK_F=bf, **common,
    )
    if sin.num_split:
        _k.spmm_combine_kernel[_grid(sin.num_split, "gat backward combine")](
            sin.indptr, part, part, sin.split_row, sin.split_ptr, da_dst, da_dst, h, 1,
            REDUCE=_k.SUM, BLOCK_F=_pow2(h), ACC=acc_tl, num_warps=1,
        )

    # pass 2, out-edges: dx and da_src
    sout = schedule(g.reverse())
    nft = max(1, _cdiv(f, bf))
    part_x = torch.empty((sout.num_slots, h, f), dtype=acc_torch, device=x.device) if sout.num_slots else dx
    part_a = torch.empty((sout.num_slots, h), dtype=acc_torch, device=x.device) if sout.num_slots else da_src
    _k.gat_backward_src_kernel[_grid(sout.num_chunks * h * nft, "gat backward")](
        sout.indptr, sout.indices, sout.indices if sout.eid is None else sout.eid, a_src, a_dst, lse, dout, dp,
        dx, da_src, part_x, part_a, sout.chunk_row, sout.chunk_begin, sout.chunk_slot, h, f, nft, slope, p, seed,
        HAS_EID=sout.eid is not None, CHUNK=sout.chunk, BLOCK_E=_block_e(sout.avg_degree, bf), BLOCK_F=bf, **common,
    )
    if sout.num_split:
        d = h * f
        bfd = _block_f(d, x.dtype) if d else 1
        nfd = _cdiv(d, bfd) if d else 0
        if nfd:
            _k.spmm_combine_kernel[_grid(sout.num_split * nfd, "gat backward combine")](
                sout.indptr, part_x, part_x, sout.split_row, sout.split_ptr, dx, dx, d, nfd,
                REDUCE=_k.SUM, BLOCK_F=bfd, ACC=acc_tl, num_warps=TUNING.num_warps,
            )
        _k.spmm_combine_kernel[_grid(sout.num_split, "gat backward combine")](
            sout.indptr, part_a, part_a, sout.split_row, sout.split_ptr, da_src, da_src, h, 1,
            REDUCE=_k.SUM, BLOCK_F=_pow2(h), ACC=acc_tl, num_warps=1,
        )
    return dx, da_src, da_dst


def dropout_mask(num_edges: int, heads: int, dropout: float, seed: int, device: torch.device | str, dtype: torch.dtype = torch.float32) -> Tensor:
    """``[E, H]`` scales the fused attention applies for ``(dropout, seed)``: 0 or ``1 / (1 - dropout)``.

    For tests and for ``return_attention``; the kernels never store it.
    """
    out = torch.empty((num_edges, heads), dtype=dtype, device=device)
    total = num_edges * heads
    if total:
        block = 1024
        _k.dropout_mask_kernel[_grid(_cdiv(total, block), "dropout mask")](out, num_edges, heads, float(dropout), int(seed), BLOCK=block)
    return out


# ---------------------------------------------------------------- test hook
DISPATCHED = {
    "spmm": spmm,
    "segment_reduce": segment_reduce,
    "sddmm_dot": sddmm_dot,
    "segment_softmax": segment_softmax,
    "segment_softmax_backward": segment_softmax_backward,
    "gat_forward": gat_forward,  # in the table once gnnkit.ops has gat_attention (docs/kernels.md, "Wiring")
    "gat_backward": gat_backward,
}
