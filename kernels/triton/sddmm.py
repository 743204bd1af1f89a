"""SDDMM: one value per edge from its source and destination rows, edge-parallel.

Grid: one program per ``BLOCK_E`` consecutive CSR entries. Walking the entries in CSR
order (not edge order) keeps the destination rows ``b[rows_j]`` in cache, and equal
blocks balance a power-law graph with no per-row schedule.

Layouts (D = H * F): rows [nnz] (destination of each CSR entry), indices [nnz]
(source), eid [nnz] or unused, a [M, D] (read at the source), b [R, D] (read at the
destination); out [E, H] for OP 0 (dot per head), [E, D] for OP 1-3 (add, sub, mul).
"""
from __future__ import annotations

import triton
import triton.language as tl

from ._common import edge_ids


@triton.jit
def sddmm_kernel(
    rows, indices, eid, a, b, out,
    nnz, H, F,
    OP: tl.constexpr,  # 0 dot, 1 add, 2 sub, 3 mul
    HAS_EID: tl.constexpr,
    BLOCK_E: tl.constexpr,
    BLOCK_F: tl.constexpr,
    ACC: tl.constexpr,
):
    pid = tl.program_id(0).to(tl.int64)
    pos = pid * BLOCK_E + tl.arange(0, BLOCK_E)
    emask = pos < nnz
    r = tl.load(rows + pos, mask=emask, other=0).to(tl.int64)
    c = tl.load(indices + pos, mask=emask, other=0).to(tl.int64)
    e = edge_ids(eid, pos, emask, HAS_EID)
    D = H * F
    if OP == 0:
        for hh in range(0, H):
            acc = tl.zeros([BLOCK_E], dtype=ACC)
            for f0 in range(0, F, BLOCK_F):
                offs = f0 + tl.arange(0, BLOCK_F)
                m2 = emask[:, None] & (offs < F)[None, :]
                col = hh * F + offs
                xa = tl.load(a + c[:, None] * D + col[None, :], mask=m2, other=0.0).to(ACC)
                xb = tl.load(b + r[:, None] * D + col[None, :], mask=m2, other=0.0).to(ACC)
                acc += tl.sum(xa * xb, axis=1)
            tl.store(out + e * H + hh, acc.to(out.dtype.element_ty), mask=emask)
    else:
        for k0 in range(0, D, BLOCK_F):
            offs = k0 + tl.arange(0, BLOCK_F)
            m2 = emask[:, None] & (offs < D)[None, :]
            xa = tl.load(a + c[:, None] * D + offs[None, :], mask=m2, other=0.0).to(ACC)
            xb = tl.load(b + r[:, None] * D + offs[None, :], mask=m2, other=0.0).to(ACC)
            if OP == 1:
                res = xa + xb
            elif OP == 2:
                res = xa - xb
            else:
                res = xa * xb
            tl.store(out + e[:, None] * D + offs[None, :], res.to(out.dtype.element_ty), mask=m2)
