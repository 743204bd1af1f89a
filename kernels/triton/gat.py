r"""Fused graph attention (GAT): scores, streaming softmax and aggregation in one pass.

For destination ``v``, head ``h`` and in-edge ``e = (u, v)``:

.. math::
    p_e = a^{src}_{u,h} + a^{dst}_{v,h},\quad s_e = \mathrm{LeakyReLU}(p_e),\quad
    \alpha_e = \exp(s_e - \mathrm{lse}_{v,h}),\quad
    out_{v,h} = \textstyle\sum_e \alpha_e\, d_e\, x_{u,h}

with ``d_e`` the dropout scale (``keep / (1 - P)`` from a counter-based Philox stream
keyed by ``(seed, e * H + h)``, so backward regenerates it: nothing is stored).
Forward keeps ``lse [R, H]`` and nothing per edge. Backward (FlashAttention's trick,
``sum_e alpha_e d_e <dout_v, x_u> = <dout_v, out_v>``):

.. math::
    \partial s_e = \alpha_e (d_e \langle dout_v, x_u\rangle - \langle dout_v, out_v\rangle),\quad
    \partial p_e = \partial s_e \cdot (1 \text{ if } p_e > 0 \text{ else slope})

``gat_backward_dst_kernel`` walks in-edges (CSR by destination) and writes
``dp [E, H]`` (the one per-edge tensor, O(E H) scalars) and ``da_dst``;
``gat_backward_src_kernel`` walks out-edges (the reversed graph's CSR) and writes
``dx`` (recomputing ``alpha_e d_e``) and ``da_src`` (summing ``dp``). No [E, H, F] tensor
exists at any point.

Non-finite scores follow ``edge_softmax``'s rule (a NaN or +inf score makes the row NaN per
head, an all -inf row gets weights 0), then the weighted sum is IEEE arithmetic.

Layouts: x [M, H, F] (source features), a_src [M, H], a_dst [R, H], out [R, H, F],
lse [R, H]; partials of split rows: part_m/part_l [P, H], part_acc [P, H, F].
"""
from __future__ import annotations

import triton
import triton.language as tl

from ._common import chunk_span, edge_ids, head_tile_program, softmax_lse, softmax_shift


@triton.jit
def _dropout_scale(seed, e, hh, H, P):
    # one uniform per (edge, head); int64 offsets select Philox's 64-bit counter path
    r = tl.rand(seed, e * H + hh)
    return tl.where(r >= P, 1.0 / (1.0 - P), 0.0)


@triton.jit
def _normalise(acc, l):
    # acc / l, as the reference's spmm with weights exp(s - lse): l == 0 (no in-edges, or only -inf
    # scores) leaves acc, a sum of 0 * x (0, or NaN for a non-finite x); a NaN l (a NaN or +inf
    # score) gives NaN
    return acc / tl.where((l > 0) | (l != l), l, 1.0)


@triton.jit
def gat_forward_kernel(
    indptr, indices, eid, x, a_src, a_dst, out, lse, part_m, part_l, part_acc,
    chunk_row, chunk_begin, chunk_slot,
    H, F, NFT, slope, P, seed,
    HAS_EID: tl.constexpr,
    DROPOUT: tl.constexpr,
    CHUNK: tl.constexpr,
    BLOCK_E: tl.constexpr,
    BLOCK_F: tl.constexpr,
    ACC: tl.constexpr,
):
    c, hh, ft = head_tile_program(H, NFT)
    row, begin, slot, end = chunk_span(chunk_row, chunk_begin, chunk_slot, indptr, c, CHUNK)
    offs_f = ft * BLOCK_F + tl.arange(0, BLOCK_F)
    fmask = offs_f < F
    D = H * F
    ad = tl.load(a_dst + row * H + hh).to(ACC)

    m = tl.max(tl.full([BLOCK_E], float("-inf"), dtype=ACC), axis=0)  # running max (a scalar)
    l = tl.sum(tl.zeros([BLOCK_E], dtype=ACC), axis=0)  # running sum of exp(s - m)
    acc = tl.zeros([BLOCK_F], dtype=ACC)  # running sum of exp(s - m) * d * x[u]
    for j0 in range(begin, end, BLOCK_E):
        pos = j0 + tl.arange(0, BLOCK_E).to(tl.int64)  # int64 in the interpreter too (it passes j0 as a Python int)
        emask = pos < end
        src = tl.load(indices + pos, mask=emask, other=0).to(tl.int64)
        pre = tl.load(a_src + src * H + hh, mask=emask, other=0.0).to(ACC) + ad
        s = tl.where(pre > 0, pre, pre * slope)
        s = tl.where(emask, s, float("-inf"))
        m_new = tl.maximum(m, tl.max(s, axis=0))  # -inf while every score so far is -inf
        m_safe = softmax_shift(m_new)
        scale = tl.exp(m - m_safe)
        p = tl.exp(s - m_safe)  # NaN for a NaN score (tl.max dropped it) or any score once m is +inf
        l = l * scale + tl.sum(p, axis=0)
        if DROPOUT:
            e = edge_ids(eid, pos, emask, HAS_EID)
            p = p * _dropout_scale(seed, e, hh, H, P)
        xv = tl.load(x + src[:, None] * D + hh * F + offs_f[None, :], mask=emask[:, None] & fmask[None, :],
                     other=0.0).to(ACC)
        acc = acc * scale + tl.sum(p[:, None] * xv, axis=0)
        m = m_new

    direct = slot < 0  # the row's only chunk writes the result, a chunk of a split row its partials
    pslot = tl.maximum(slot, 0)
    out_lim = tl.where(direct, F, 0)
    part_lim = tl.where(direct, 0, F)
    res = _normalise(acc, l)
    tl.store(out + row * D + hh * F + offs_f, res.to(out.dtype.element_ty), mask=offs_f < out_lim)
    tl.store(part_acc + pslot * D + hh * F + offs_f, acc, mask=offs_f < part_lim)
    first = ft == 0
    lse_v = softmax_lse(m, l)
    tl.store(lse + row * H + hh, lse_v.to(lse.dtype.element_ty), mask=first & direct)
    tl.store(part_m + pslot * H + hh, m, mask=first & (slot >= 0))
    tl.store(part_l + pslot * H + hh, l, mask=first & (slot >= 0))


@triton.jit
def lse_combine_kernel(
    part_m, part_l, part_acc, split_row, split_ptr, lse, out,
    H, F, NFT,
    HAS_ACC: tl.constexpr,
    BLOCK_F: tl.constexpr,
    ACC: tl.constexpr,
):
    """Merge the online-softmax partials ``(m, l[, acc])`` of split row ``split_row[s]``.

    ``lse = M + log(sum_k l_k exp(m_k - M))`` and, with HAS_ACC (fused attention),
    ``out = sum_k acc_k exp(m_k - M) / sum_k l_k exp(m_k - M)``. Grid: (split row, head,
    feature tile), with NFT = 1 when HAS_ACC is False.
    """
    s, hh, ft = head_tile_program(H, NFT)
    row = tl.load(split_row + s).to(tl.int64)
    p0 = tl.load(split_ptr + s).to(tl.int64)
    p1 = tl.load(split_ptr + s + 1).to(tl.int64)
    mx = tl.load(part_m + p0 * H + hh).to(ACC)
    for p in range(p0 + 1, p1):
        mx = tl.maximum(mx, tl.load(part_m + p * H + hh).to(ACC))
    m_safe = softmax_shift(mx)
    offs_f = ft * BLOCK_F + tl.arange(0, BLOCK_F)
    fmask = offs_f < F
    l = tl.sum(tl.zeros([BLOCK_F], dtype=ACC), axis=0)
    acc = tl.zeros([BLOCK_F], dtype=ACC)
    for p in range(p0, p1):
        wk = tl.exp(tl.load(part_m + p * H + hh).to(ACC) - m_safe)
        l += wk * tl.load(part_l + p * H + hh).to(ACC)
        if HAS_ACC:
            acc += wk * tl.load(part_acc + (p * H + hh) * F + offs_f, mask=fmask, other=0.0).to(ACC)
    lse_v = softmax_lse(mx, l)  # a NaN partial sum (a NaN or +inf score in its chunk) makes l NaN
    tl.store(lse + row * H + hh, lse_v.to(lse.dtype.element_ty), mask=ft == 0)
    if HAS_ACC:
        res = _normalise(acc, l)
        tl.store(out + (row * H + hh) * F + offs_f, res.to(out.dtype.element_ty), mask=fmask)


@triton.jit
def gat_backward_dst_kernel(
    indptr, indices, eid, x, a_src, a_dst, out, lse, dout, dp, da_dst, part,
    chunk_row, chunk_begin, chunk_slot,
    H, F, slope, P, seed,
    HAS_EID: tl.constexpr,
    DROPOUT: tl.constexpr,
    CHUNK: tl.constexpr,
    BLOCK_E: tl.constexpr,
    BLOCK_F: tl.constexpr,
    ACC: tl.constexpr,
):
    """Per (chunk of in-edges, head): ``dp[e, h]`` for every edge and ``da_dst[v, h] = sum_e dp``.

    A split row writes its partial sum to ``part[slot, h]`` (merged by spmm_combine).
    """
    pid = tl.program_id(0).to(tl.int64)
    c = pid // H
    hh = pid % H
    row, begin, slot, end = chunk_span(chunk_row, chunk_begin, chunk_slot, indptr, c, CHUNK)
    D = H * F
    base = row * D + hh * F
    ad = tl.load(a_dst + row * H + hh).to(ACC)
    lse_v = tl.load(lse + row * H + hh).to(ACC)
    # <dout_v, out_v>: equals sum_e alpha_e d_e <dout_v, x_u>, the softmax backward's row term
    dvec = tl.zeros([BLOCK_F], dtype=ACC)
    for f0 in range(0, F, BLOCK_F):
        offs = f0 + tl.arange(0, BLOCK_F)
        fm = offs < F
        dvec += tl.load(dout + base + offs, mask=fm, other=0.0).to(ACC) * tl.load(out + base + offs, mask=fm, other=0.0).to(ACC)
    delta = tl.sum(dvec, axis=0)

    total = tl.zeros([BLOCK_E], dtype=ACC)
    for j0 in range(begin, end, BLOCK_E):
        pos = j0 + tl.arange(0, BLOCK_E).to(tl.int64)  # int64 in the interpreter too (it passes j0 as a Python int)
        emask = pos < end
        src = tl.load(indices + pos, mask=emask, other=0).to(tl.int64)
        e = edge_ids(eid, pos, emask, HAS_EID)
        pre = tl.load(a_src + src * H + hh, mask=emask, other=0.0).to(ACC) + ad
        s = tl.where(pre > 0, pre, pre * slope)
        alpha = tl.exp(s - lse_v)
        dot = tl.zeros([BLOCK_E], dtype=ACC)  # <dout_v, x_u> per edge
        for f0 in range(0, F, BLOCK_F):
            offs = f0 + tl.arange(0, BLOCK_F)
            fm = offs < F
            dv = tl.load(dout + base + offs, mask=fm, other=0.0).to(ACC)
            xv = tl.load(x + src[:, None] * D + hh * F + offs[None, :], mask=emask[:, None] & fm[None, :],
                         other=0.0).to(ACC)
            dot += tl.sum(xv * dv[None, :], axis=1)
        if DROPOUT:
            dot = dot * _dropout_scale(seed, e, hh, H, P)
        ds = alpha * (dot - delta)
        dpre = tl.where(pre > 0, ds, ds * slope)
        dpre = tl.where(emask, dpre, 0.0)
        tl.store(dp + e * H + hh, dpre.to(dp.dtype.element_ty), mask=emask)
        total += dpre
    tot = tl.sum(total, axis=0)
    tl.store(da_dst + row * H + hh, tot.to(da_dst.dtype.element_ty), mask=slot < 0)
    tl.store(part + tl.maximum(slot, 0) * H + hh, tot, mask=slot >= 0)


@triton.jit
def gat_backward_src_kernel(
    indptr, indices, eid, a_src, a_dst, lse, dout, dp, dx, da_src, part_x, part_a,
    chunk_row, chunk_begin, chunk_slot,
    H, F, NFT, slope, P, seed,
    HAS_EID: tl.constexpr,
    DROPOUT: tl.constexpr,
    CHUNK: tl.constexpr,
    BLOCK_E: tl.constexpr,
    BLOCK_F: tl.constexpr,
    ACC: tl.constexpr,
):
    """Per (chunk of out-edges of source u, head, feature tile): ``dx[u, h] = sum_e alpha_e d_e dout[v, h]``
    and ``da_src[u, h] = sum_e dp[e, h]``. Here ``indptr/indices/eid`` are the CSR by source
    (``indices`` holds destinations).
    """
    c, hh, ft = head_tile_program(H, NFT)
    row, begin, slot, end = chunk_span(chunk_row, chunk_begin, chunk_slot, indptr, c, CHUNK)
    offs_f = ft * BLOCK_F + tl.arange(0, BLOCK_F)
    fmask = offs_f < F
    D = H * F
    asrc = tl.load(a_src + row * H + hh).to(ACC)
    acc = tl.zeros([BLOCK_F], dtype=ACC)
    dsum = tl.zeros([BLOCK_E], dtype=ACC)
    for j0 in range(begin, end, BLOCK_E):
        pos = j0 + tl.arange(0, BLOCK_E).to(tl.int64)  # int64 in the interpreter too (it passes j0 as a Python int)
        emask = pos < end
        dst = tl.load(indices + pos, mask=emask, other=0).to(tl.int64)
        e = edge_ids(eid, pos, emask, HAS_EID)
        pre = asrc + tl.load(a_dst + dst * H + hh, mask=emask, other=0.0).to(ACC)
        s = tl.where(pre > 0, pre, pre * slope)
        lse_v = tl.load(lse + dst * H + hh, mask=emask, other=0.0).to(ACC)
        p = tl.where(emask, tl.exp(s - lse_v), 0.0)
        if DROPOUT:
            p = p * _dropout_scale(seed, e, hh, H, P)
        dv = tl.load(dout + dst[:, None] * D + hh * F + offs_f[None, :], mask=emask[:, None] & fmask[None, :],
                     other=0.0).to(ACC)
        acc += tl.sum(p[:, None] * dv, axis=0)
        dsum += tl.load(dp + e * H + hh, mask=emask, other=0.0).to(ACC)
    direct = slot < 0
    pslot = tl.maximum(slot, 0)
    tl.store(dx + row * D + hh * F + offs_f, acc.to(dx.dtype.element_ty), mask=offs_f < tl.where(direct, F, 0))
    tl.store(part_x + pslot * D + hh * F + offs_f, acc, mask=offs_f < tl.where(direct, 0, F))
    tot = tl.sum(dsum, axis=0)
    first = ft == 0
    tl.store(da_src + row * H + hh, tot.to(da_src.dtype.element_ty), mask=first & direct)
    tl.store(part_a + pslot * H + hh, tot, mask=first & (slot >= 0))


@triton.jit
def dropout_mask_kernel(out, E, H, P, seed, BLOCK: tl.constexpr):
    """``out[e, h]`` = the dropout scale the attention kernels apply to edge e, head h."""
    pid = tl.program_id(0).to(tl.int64)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < E * H
    e = offs // H
    hh = offs % H
    tl.store(out + offs, _dropout_scale(seed, e, hh, H, P).to(out.dtype.element_ty), mask=mask)
