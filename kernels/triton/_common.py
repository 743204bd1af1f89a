"""Device helpers shared by the kernels (inlined by Triton's compiler)."""
from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def edge_ids(eid, pos, emask, HAS_EID: tl.constexpr):
    """Edge ids of CSR positions ``pos``: ``eid[pos]``, or ``pos`` itself when the edges are CSR-sorted."""
    if HAS_EID:
        e = tl.load(eid + pos, mask=emask, other=0).to(tl.int64)
    else:
        e = pos
    return e


@triton.jit
def chunk_span(chunk_row, chunk_begin, chunk_slot, indptr, c, CHUNK: tl.constexpr):
    """``(row, begin, slot, end)`` of schedule chunk ``c``: CSR positions ``[begin, end)`` of ``row``."""
    row = tl.load(chunk_row + c).to(tl.int64)
    begin = tl.load(chunk_begin + c).to(tl.int64)
    slot = tl.load(chunk_slot + c).to(tl.int64)
    end = tl.minimum(begin + CHUNK, tl.load(indptr + row + 1).to(tl.int64))
    return row, begin, slot, end


@triton.jit
def head_tile_program(H, NFT):
    """``(unit, head, feature tile)`` of this program in a grid of ``units × H × NFT`` programs."""
    pid = tl.program_id(0).to(tl.int64)
    return pid // (H * NFT), (pid // NFT) % H, pid % NFT


@triton.jit
def softmax_shift(m):
    """The exponent shift for a running max ``m``: 0 where ``m`` is -inf (only -inf scores so far),
    so ``exp(s - shift)`` gives 0 there rather than ``exp(-inf + inf)``, a NaN."""
    return tl.where(m == float("-inf"), 0.0, m)


@triton.jit
def softmax_lse(m, l):
    """``lse = m + log(l)`` of an online softmax's running max ``m`` and sum ``l``.

    ``l == 0`` (no in-edges, or only -inf scores) gives +inf, so the weights come out 0. A NaN or
    +inf score makes ``l`` NaN (``exp(NaN)``, ``exp(inf - inf)``), whatever max the tiles kept,
    so ``lse`` is NaN and the whole row comes out NaN, as ``torch.softmax``.
    """
    pos = (l > 0) | (l != l)
    return tl.where(pos, m + tl.log(tl.where(pos, l, 1.0)), float("inf"))
