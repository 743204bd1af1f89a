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
