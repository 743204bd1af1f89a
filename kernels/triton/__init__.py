"""Triton GPU kernels for gnnkit (installed as ``gnnkit_kernels.triton``).

Flat signatures on raw tensors (``indptr, indices, eid, w, x, out`` plus the work
schedule's ``chunk_row, chunk_begin, chunk_slot``); no autograd, no defaults, no
validation. ``gnnkit.ops._triton`` builds the schedules, picks the block sizes and
launches these. docs/kernels.md gives the bytes, the floor and the design of each.

Row-parallel kernels run one program per *chunk*: a row of the CSR is cut into pieces
of at most ``CHUNK`` entries, so a vertex with 10^5 in-edges is spread over many
programs instead of holding one streaming multiprocessor while the rest idle. A chunk
that is its row's only chunk writes the result; the chunks of a split row write
partials to a small buffer (slot ``chunk_slot``), and a combine kernel merges them in
chunk order. Nothing uses atomics: results are bitwise reproducible.

``INTERPRETED`` is True when triton was imported with ``TRITON_INTERPRET=1``; the
kernels then run on CPU tensors in Triton's interpreter (the test suite uses this).
The mode is fixed per process when triton is first imported.
"""
from __future__ import annotations

import triton
from triton.runtime.interpreter import InterpretedFunction

from .gat import (
    dropout_mask_kernel,
    gat_backward_dst_kernel,
    gat_backward_src_kernel,
    gat_forward_kernel,
    lse_combine_kernel,
)
from .sddmm import sddmm_kernel
from .softmax import softmax_apply_kernel, softmax_stats_kernel
from .spmm import spmm_chunk_kernel, spmm_combine_kernel

INTERPRETED: bool = isinstance(spmm_chunk_kernel, InterpretedFunction)

# reduce codes shared by the kernels' REDUCE constexpr
SUM, MEAN, MAX, MIN = 0, 1, 2, 3
# sddmm OP codes
DOT, ADD, SUB, MUL = 0, 1, 2, 3

__all__ = [
    "INTERPRETED",
    "triton",
    "spmm_chunk_kernel",
    "spmm_combine_kernel",
    "sddmm_kernel",
    "softmax_stats_kernel",
    "softmax_apply_kernel",
    "gat_forward_kernel",
    "lse_combine_kernel",
    "gat_backward_dst_kernel",
    "gat_backward_src_kernel",
    "dropout_mask_kernel",
    "SUM", "MEAN", "MAX", "MIN", "DOT", "ADD", "SUB", "MUL",
]
