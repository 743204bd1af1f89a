"""CSR spmm: ``out[v] = reduce_{j in row v} w[eid_j] * x[indices_j]`` over a feature tile.

Grid: one program per (chunk, feature tile), flattened with the feature tile fastest
so the tiles of one row run side by side and share its index loads in L2.

Layouts (D = H * F, the flattened feature width):
    indptr [R + 1], indices [nnz], eid [nnz] (edge id of each CSR entry; unused when
    HAS_EID is False: entry j is edge j), w [E, HW] with HW in {1, H}, x [M, D],
    out [R, D], arg [R, D] int64 (edge id of the max/min winner, -1 for an empty row),
    part [P, D] / part_arg [P, D]: the partials of split rows, in ACC precision.

Non-finite values (the rules of ``gnnkit.ops``): sum/mean are IEEE arithmetic; for max/min
a NaN message wins over every number, so the output is NaN whatever the edge order, and
``arg`` is the smallest edge id holding a NaN, as the reference gives; +inf/-inf are
ordinary extremes.
"""
from __future__ import annotations

import triton
import triton.language as tl

from ._common import edge_ids

_I64_MAX = tl.constexpr(9223372036854775807)  # "no edge" in an arg-min over edge ids


@triton.jit
def _max_nan(a, b):
    # IEEE maximum, NaN-propagating: tl.max reduces with maxNum, which drops a NaN
    return tl.maximum(a, b, propagate_nan=tl.PropagateNan.ALL)


@triton.jit
def _min_nan(a, b):
    return tl.minimum(a, b, propagate_nan=tl.PropagateNan.ALL)


@triton.jit
def _merge_extreme(acc, best, v, e, IS_MAX: tl.constexpr):
    """Merge candidates ``(v, e)`` (value, edge id) into the running ``(acc, best)`` of a max/min.

    A NaN beats every number; otherwise the larger (max) or smaller (min) value wins; a tie,
    NaN against NaN included, goes to the smaller edge id. ``best < 0`` marks "nothing yet".
    """
    v_nan = v != v
    acc_nan = acc != acc
    if IS_MAX:
        better = v > acc  # false when either side is NaN
    else:
        better = v < acc
    better = better | (v_nan & ~acc_nan)
    same = (v == acc) | (v_nan & acc_nan)
    upd = better | (same & (e < best)) | (best < 0)
    return tl.where(upd, v, acc), tl.where(upd, e, best)


@triton.jit
def spmm_chunk_kernel(
    indptr, indices, eid, w, x, out, arg, part, part_arg,
    chunk_row, chunk_begin, chunk_slot,
    D, F, HW, NFT,
    REDUCE: tl.constexpr,  # 0 sum, 1 mean, 2 max, 3 min
    HAS_EID: tl.constexpr,
    HAS_W: tl.constexpr,
    GATHER_EDGE: tl.constexpr,  # read x[edge id] (segment_reduce of messages) instead of x[indices_j]
    CHUNK: tl.constexpr,
    BLOCK_E: tl.constexpr,
    BLOCK_F: tl.constexpr,
    ACC: tl.constexpr,
):
    pid = tl.program_id(0).to(tl.int64)
    c = pid // NFT
    ft = pid % NFT
    row = tl.load(chunk_row + c).to(tl.int64)
    begin = tl.load(chunk_begin + c).to(tl.int64)
    slot = tl.load(chunk_slot + c).to(tl.int64)
    row_begin = tl.load(indptr + row).to(tl.int64)
    row_end = tl.load(indptr + row + 1).to(tl.int64)
    end = tl.minimum(begin + CHUNK, row_end)

    offs_k = ft * BLOCK_F + tl.arange(0, BLOCK_F)  # [BLOCK_F] positions in the flattened [H * F] row
    kmask = offs_k < D
    w_col = tl.minimum(offs_k // F, HW - 1)  # the head of each feature, or 0 when one weight serves all heads

    if REDUCE < 2:
        acc = tl.zeros([BLOCK_F], dtype=ACC)
        for j0 in range(begin, end, BLOCK_E):
            pos = j0 + tl.arange(0, BLOCK_E).to(tl.int64)  # int64 in the interpreter too (it passes j0 as a Python int)
            emask = pos < end
            m2 = emask[:, None] & kmask[None, :]
            if HAS_W or GATHER_EDGE:  # a plain sum needs no edge ids
                e = edge_ids(eid, pos, emask, HAS_EID)
            if GATHER_EDGE:
                src = e
            else:
                src = tl.load(indices + pos, mask=emask, other=0).to(tl.int64)
            v = tl.load(x + src[:, None] * D + offs_k[None, :], mask=m2, other=0.0).to(ACC)  # [BLOCK_E, BLOCK_F]
            if HAS_W:
                v = v * tl.load(w + e[:, None] * HW + w_col[None, :], mask=m2, other=0.0).to(ACC)
            acc += tl.sum(v, axis=0)
        if REDUCE == 1:  # mean: a split row divides once its partials are combined
            deg = tl.maximum(row_end - row_begin, 1).to(ACC)
            acc = tl.where(slot < 0, acc / deg, acc)
        res = acc
    else:
        if REDUCE == 2:
            acc = tl.full([BLOCK_F], float("-inf"), dtype=ACC)
        else:
            acc = tl.full([BLOCK_F], float("inf"), dtype=ACC)
        best = tl.full([BLOCK_F], -1, dtype=tl.int64)
        for j0 in range(begin, end, BLOCK_E):
            pos = j0 + tl.arange(0, BLOCK_E).to(tl.int64)  # int64 in the interpreter too (it passes j0 as a Python int)
            emask = pos < end
            m2 = emask[:, None] & kmask[None, :]
            e = edge_ids(eid, pos, emask, HAS_EID)
            if GATHER_EDGE:
                src = e
            else:
                src = tl.load(indices + pos, mask=emask, other=0).to(tl.int64)
            v = tl.load(x + src[:, None] * D + offs_k[None, :], mask=m2, other=0.0).to(ACC)
            if HAS_W:
                v = v * tl.load(w + e[:, None] * HW + w_col[None, :], mask=m2, other=0.0).to(ACC)
            # one reduction per tile, as with tl.max, but NaN-propagating: a NaN is the tile's extreme
            if REDUCE == 2:
                v = tl.where(m2, v, float("-inf"))
                vt = tl.reduce(v, 0, _max_nan)
            else:
                v = tl.where(m2, v, float("inf"))
                vt = tl.reduce(v, 0, _min_nan)
            # the winner of the tile is the smallest edge id holding the extreme value (or a NaN)
            hit = tl.where((vt != vt)[None, :], v != v, v == vt[None, :])
            ecand = tl.where(emask, e, _I64_MAX)
            et = tl.min(tl.where(hit, ecand[:, None], _I64_MAX), axis=0)
            acc, best = _merge_extreme(acc, best, vt, et, REDUCE == 2)
        res = tl.where(best >= 0, acc, 0.0)  # an empty row aggregates to 0

    # the row's only chunk writes the result, a chunk of a split row its partial: each
    # store's mask is `offs_k < limit` with limit D for the target and 0 for the other
    out_lim = tl.where(slot < 0, D, 0)
    part_lim = tl.where(slot < 0, 0, D)
    pslot = tl.maximum(slot, 0)
    tl.store(out + row * D + offs_k, res.to(out.dtype.element_ty), mask=offs_k < out_lim)
    tl.store(part + pslot * D + offs_k, acc, mask=offs_k < part_lim)
    if REDUCE >= 2:
        tl.store(arg + row * D + offs_k, best, mask=offs_k < out_lim)
        tl.store(part_arg + pslot * D + offs_k, best, mask=offs_k < part_lim)


@triton.jit
def spmm_combine_kernel(
    indptr, part, part_arg, split_row, split_ptr, out, arg,
    D, NFT,
    REDUCE: tl.constexpr,
    BLOCK_F: tl.constexpr,
    ACC: tl.constexpr,
):
    """Merge the partials ``part[split_ptr[s]:split_ptr[s+1]]`` of split row ``split_row[s]``.

    Partials are visited in chunk order, so sums are reproducible, and a max/min merges them
    as a single pass merges tiles (a NaN wins; ties go to the smallest edge id). Also used as
    a plain segment sum of partials (REDUCE 0) by the fused attention kernels.
    """
    pid = tl.program_id(0).to(tl.int64)
    s = pid // NFT
    ft = pid % NFT
    row = tl.load(split_row + s).to(tl.int64)
    p0 = tl.load(split_ptr + s).to(tl.int64)
    p1 = tl.load(split_ptr + s + 1).to(tl.int64)
    offs_k = ft * BLOCK_F + tl.arange(0, BLOCK_F)
    kmask = offs_k < D
    if REDUCE < 2:
        acc = tl.zeros([BLOCK_F], dtype=ACC)
        for p in range(p0, p1):
            acc += tl.load(part + p * D + offs_k, mask=kmask, other=0.0).to(ACC)
        if REDUCE == 1:
            deg = tl.load(indptr + row + 1).to(tl.int64) - tl.load(indptr + row).to(tl.int64)
            acc = acc / tl.maximum(deg, 1).to(ACC)
        tl.store(out + row * D + offs_k, acc.to(out.dtype.element_ty), mask=kmask)
    else:
        acc = tl.load(part + p0 * D + offs_k, mask=kmask, other=0.0).to(ACC)
        best = tl.load(part_arg + p0 * D + offs_k, mask=kmask, other=0)
        for p in range(p0 + 1, p1):
            v = tl.load(part + p * D + offs_k, mask=kmask, other=0.0).to(ACC)
            a = tl.load(part_arg + p * D + offs_k, mask=kmask, other=0)
            acc, best = _merge_extreme(acc, best, v, a, REDUCE == 2)
        tl.store(out + row * D + offs_k, acc.to(out.dtype.element_ty), mask=kmask)
        tl.store(arg + row * D + offs_k, best, mask=kmask)
