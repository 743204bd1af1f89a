"""Edge softmax over the in-edges of each destination, and its backward.

Forward, two passes over the ``[E, H]`` scores:
    1. ``softmax_stats_kernel`` (one program per chunk, all heads at once): an online
       max / sum-of-exponentials, stored as ``lse[v, h] = m + log(l)`` for a row's only
       chunk, or as the partials ``(m, l)`` of a split row (merged by ``lse_combine_kernel``);
    2. ``softmax_apply_kernel`` (edge-parallel): ``y[e, h] = exp(s[e, h] - lse[dst_e, h])``.
Backward, the same two passes with MODE 1: ``S[v, h] = sum_row y * g``, then
``dscore = y * (g - S[dst])``.

``lse`` is +inf for a row whose scores are all -inf, so its weights come out 0 (as the
reference's guarded denominator gives). A NaN or +inf score makes the running sum NaN,
so ``lse`` and the whole row (per head) are NaN, as ``torch.softmax``.
"""
from __future__ import annotations

import triton
import triton.language as tl

from ._common import chunk_span, edge_ids, softmax_lse, softmax_shift


@triton.jit
def softmax_stats_kernel(
    indptr, eid, y, grad, stat, part_m, part_l,
    chunk_row, chunk_begin, chunk_slot,
    H,
    MODE: tl.constexpr,  # 0: stat = logsumexp of y (the scores); 1: stat = sum of y * grad
    HAS_EID: tl.constexpr,
    CHUNK: tl.constexpr,
    BLOCK_E: tl.constexpr,
    BLOCK_H: tl.constexpr,
    ACC: tl.constexpr,
):
    c = tl.program_id(0).to(tl.int64)
    row, begin, slot, end = chunk_span(chunk_row, chunk_begin, chunk_slot, indptr, c, CHUNK)
    hh = tl.arange(0, BLOCK_H)
    hmask = hh < H
    out_lim = tl.where(slot < 0, H, 0)  # store masks: the result for a row's only chunk, else partials
    part_lim = tl.where(slot < 0, 0, H)
    pslot = tl.maximum(slot, 0)
    if MODE == 0:
        m = tl.full([BLOCK_H], float("-inf"), dtype=ACC)
        l = tl.zeros([BLOCK_H], dtype=ACC)
        for j0 in range(begin, end, BLOCK_E):
            pos = j0 + tl.arange(0, BLOCK_E).to(tl.int64)  # int64 in the interpreter too (it passes j0 as a Python int)
            emask = pos < end
            e = edge_ids(eid, pos, emask, HAS_EID)
            m2 = emask[:, None] & hmask[None, :]
            s = tl.load(y + e[:, None] * H + hh[None, :], mask=m2, other=float("-inf")).to(ACC)
            # tl.max drops a NaN score, but exp(NaN - m) makes l NaN, and softmax_lse keeps it
            m_new = tl.maximum(m, tl.max(s, axis=0))
            m_safe = softmax_shift(m_new)
            l = l * tl.exp(m - m_safe) + tl.sum(tl.exp(s - m_safe[None, :]), axis=0)
            m = m_new
        lse = softmax_lse(m, l)
        tl.store(stat + row * H + hh, lse.to(stat.dtype.element_ty), mask=hh < out_lim)
        tl.store(part_m + pslot * H + hh, m, mask=hh < part_lim)
        tl.store(part_l + pslot * H + hh, l, mask=hh < part_lim)
    else:
        acc = tl.zeros([BLOCK_H], dtype=ACC)
        for j0 in range(begin, end, BLOCK_E):
            pos = j0 + tl.arange(0, BLOCK_E).to(tl.int64)  # int64 in the interpreter too (it passes j0 as a Python int)
            emask = pos < end
            e = edge_ids(eid, pos, emask, HAS_EID)
            m2 = emask[:, None] & hmask[None, :]
            yv = tl.load(y + e[:, None] * H + hh[None, :], mask=m2, other=0.0).to(ACC)
            gv = tl.load(grad + e[:, None] * H + hh[None, :], mask=m2, other=0.0).to(ACC)
            acc += tl.sum(yv * gv, axis=0)
        tl.store(stat + row * H + hh, acc.to(stat.dtype.element_ty), mask=hh < out_lim)
        tl.store(part_m + pslot * H + hh, acc, mask=hh < part_lim)


@triton.jit
def softmax_apply_kernel(
    rows, eid, y, grad, stat, out,
    nnz, H,
    MODE: tl.constexpr,  # 0: out = exp(y - stat[row]); 1: out = y * (grad - stat[row])
    HAS_EID: tl.constexpr,
    BLOCK_E: tl.constexpr,
    BLOCK_H: tl.constexpr,
    ACC: tl.constexpr,
):
    pid = tl.program_id(0).to(tl.int64)
    pos = pid * BLOCK_E + tl.arange(0, BLOCK_E)
    emask = pos < nnz
    r = tl.load(rows + pos, mask=emask, other=0).to(tl.int64)
    e = edge_ids(eid, pos, emask, HAS_EID)
    hh = tl.arange(0, BLOCK_H)
    m2 = emask[:, None] & (hh < H)[None, :]
    idx = e[:, None] * H + hh[None, :]
    yv = tl.load(y + idx, mask=m2, other=0.0).to(ACC)
    st = tl.load(stat + r[:, None] * H + hh[None, :], mask=m2, other=0.0).to(ACC)
    if MODE == 0:
        res = tl.exp(yv - st)
    else:
        res = yv * (tl.load(grad + idx, mask=m2, other=0.0).to(ACC) - st)
    tl.store(out + idx, res.to(out.dtype.element_ty), mask=m2)
