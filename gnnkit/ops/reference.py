"""Pure-PyTorch versions of every sparse op: the test oracle and the always-working fallback.

They work on the edge lists (``g.src``, ``g.dst``) with ``index_add_`` and
``scatter_reduce``, independent of the CSR layouts the kernels use. Shapes follow
the dispatch convention: node data ``[N, H, F]``, edge weights ``[E, Hw]`` with
``Hw`` in ``{1, H}``, edge scores ``[E, H]``. Max/min also return ``arg``: the edge id
that won each output element, ``-1`` for a vertex with no in-edges.

Non-finite values follow torch, and the compiled kernels follow the same rules: a NaN
message makes its destination's max/min NaN (``scatter_reduce``'s ``amax``/``amin``), and
``arg`` is then the smallest edge id holding a NaN; a NaN or ``+inf`` score makes its whole
softmax row NaN (``torch.softmax``); a row of only ``-inf`` scores gives zeros.

bfloat16 and float16 input is computed in float32 and the result rounded to the input's
dtype once (:func:`compute_dtype`): the oracle of the bfloat16 kernels, which accumulate in
float32 too.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from ..graph import CSR, Graph

_SCATTER = {"max": "amax", "min": "amin"}
_NARROW = (torch.bfloat16, torch.float16)


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype values of ``dtype`` are summed in: float32 for bfloat16/float16, else ``dtype`` itself."""
    return torch.float32 if dtype in _NARROW else dtype


def _narrow(out: Any, dtype: torch.dtype) -> Any:
    if isinstance(out, tuple):
        return tuple(_narrow(o, dtype) for o in out)
    if isinstance(out, Tensor) and out.is_floating_point():
        return out.to(dtype)
    return out  # None, or the int64 arg of max/min


def _in_float32(fn: Callable) -> Callable:
    """Run ``fn(g, main, *rest)`` in float32 when ``main`` is bfloat16/float16 (every float tensor
    argument widened, exactly) and round its float results back to ``main``'s dtype."""

    @functools.wraps(fn)
    def wrapper(g: Any, main: Tensor, *rest: Any) -> Any:
        if main.dtype not in _NARROW:
            return fn(g, main, *rest)
        wide = [t.float() if isinstance(t, Tensor) and t.is_floating_point() else t for t in rest]
        return _narrow(fn(g, main.float(), *wide), main.dtype)

    return wrapper


def _aggregate(index: Tensor, num_segments: int, vals: Tensor, reduce: str) -> tuple[Tensor, Tensor | None]:
    # vals: [E, H, F] already multiplied by edge weights
    e = vals.shape[0]
    out = vals.new_zeros((num_segments,) + tuple(vals.shape[1:]))
    idx = index.view(-1, 1, 1).expand_as(vals)
    if reduce in ("sum", "mean"):
        out.index_add_(0, index, vals)
        if reduce == "mean":
            cnt = torch.bincount(index, minlength=num_segments).clamp(min=1).to(vals.dtype)
            out = out / cnt.view(-1, 1, 1)
        return out, None
    out = out.scatter_reduce(0, idx, vals, reduce=_SCATTER[reduce], include_self=False)
    # the winning edge: the smallest edge id whose value equals the reduced value
    eids = torch.arange(e, device=vals.device).view(-1, 1, 1).expand_as(vals)
    won = out[index]  # [E, H, F]
    cand = torch.where((vals == won) | (vals.isnan() & won.isnan()), eids, torch.full_like(eids, e))
    arg = torch.full(out.shape, e, dtype=torch.int64, device=vals.device)
    arg = arg.scatter_reduce(0, idx, cand, reduce="amin", include_self=True)
    arg[arg == e] = -1
    return out, arg


@_in_float32
def spmm(g: Graph, x: Tensor, w: Tensor | None, reduce: str) -> tuple[Tensor, Tensor | None]:
    """``out[v] = reduce_{(u, v) in E} w_e * x[u]``; x ``[N, H, F]``, w ``[E, Hw]`` or None."""
    vals = x.index_select(0, g.src)  # [E, H, F]
    if w is not None:
        vals = vals * w.unsqueeze(-1)  # [E, Hw, 1] broadcasts over heads and features
    return _aggregate(g.dst, g.num_nodes, vals, reduce)


@_in_float32
def spmm_csr(csr: CSR, x: Tensor, w: Tensor | None, reduce: str) -> tuple[Tensor, Tensor | None]:
    """``out[v] = sum_{j in row v} w_j * x[indices_j]`` over a raw CSR (int64 or int32 ``indices``,
    ``w`` in CSR order ``[nnz, 1]``); only ``reduce="sum"``. Works through the entries in
    chunks of 2^22, so its extra memory stays bounded however large the matrix."""
    if reduce != "sum":
        raise ValueError(f"spmm_csr supports reduce='sum' only, got {reduce!r}")
    n, nnz = csr.indptr.numel() - 1, csr.indices.numel()
    out = x.new_zeros((n,) + tuple(x.shape[1:]))  # [N, H, F]
    step = 1 << 22
    for start in range(0, nnz, step):  # a loop over entry chunks (memory), not over edges
        pos = torch.arange(start, min(start + step, nnz), device=x.device)  # [C]
        rows = torch.searchsorted(csr.indptr, pos, right=True) - 1  # [C] row of each entry
        vals = x.index_select(0, csr.indices[start : start + step].long())  # [C, H, F]
        if w is not None:
            vals = vals * w[start : start + step].unsqueeze(-1)
        out.index_add_(0, rows, vals)
    return out, None


@_in_float32
def segment_reduce(g: Graph, m: Tensor, reduce: str) -> tuple[Tensor, Tensor | None]:
    """``out[v] = reduce_{e into v} m[e]``; m ``[E, H, F]``."""
    return _aggregate(g.dst, g.num_nodes, m, reduce)


@_in_float32
def sddmm_dot(g: Graph, x_src: Tensor, x_dst: Tensor) -> Tensor:
    """``out[e, h] = <x_src[src_e, h], x_dst[dst_e, h]>``; inputs ``[N, H, F]``, out ``[E, H]``."""
    return (x_src.index_select(0, g.src) * x_dst.index_select(0, g.dst)).sum(-1)


def _row_max(g: Graph, score: Tensor) -> Tensor:
    """``[N, H]`` max of each destination's scores, the softmax shift: NaN or ``+inf`` kept (so the
    row becomes NaN, as in ``torch.softmax``), ``-inf`` (no in-edges or all masked) replaced by 0."""
    idx = g.dst.view(-1, 1).expand_as(score)
    mx = score.new_full((g.num_nodes, score.shape[1]), float("-inf"))
    mx = mx.scatter_reduce(0, idx, score, reduce="amax", include_self=True)  # amax propagates NaN
    return torch.where(mx == float("-inf"), torch.zeros_like(mx), mx)


@_in_float32
def segment_softmax(g: Graph, score: Tensor) -> Tensor:
    """Softmax of ``score [E, H]`` over the in-edges of each destination, max-shifted."""
    n, h = g.num_nodes, score.shape[1]
    ex = torch.exp(score - _row_max(g, score)[g.dst])  # [E, H]
    den = score.new_zeros((n, h)).index_add_(0, g.dst, ex)
    den = torch.where(den == 0, torch.ones_like(den), den)  # a NaN sum stays NaN
    return ex / den[g.dst]


@_in_float32
def segment_softmax_backward(g: Graph, y: Tensor, grad: Tensor) -> Tensor:
    """Vector-Jacobian product of :func:`segment_softmax`: ``y * (grad - sum_row(y * grad))``."""
    s = y.new_zeros((g.num_nodes, y.shape[1])).index_add_(0, g.dst, y * grad)
    return y * (grad - s[g.dst])


def _dropout_scale(shape: tuple[int, ...], dropout: float, seed: int, like: Tensor) -> Tensor | None:
    """``keep / (1 - dropout)`` from a generator seeded with ``seed``: the same mask every call."""
    if dropout == 0:
        return None
    gen = torch.Generator(device=like.device).manual_seed(seed)
    keep = torch.rand(shape, generator=gen, device=like.device) >= dropout
    return keep.to(like.dtype) / (1 - dropout)


@_in_float32
def gat_forward(g: Graph, x: Tensor, a_src: Tensor, a_dst: Tensor, negative_slope: float, dropout: float,
                seed: int) -> tuple[Tensor, Tensor]:
    """Graph attention: ``out[v] = sum_{e=(u,v)} alpha_e d_e x[u]``; also ``lse [N, H]``, the log of each
    softmax denominator (+inf for a vertex with no in-edges).

    ``alpha = softmax_v(LeakyReLU(a_src[u] + a_dst[v]))``; ``d`` is the dropout scale drawn from
    ``seed`` (the Triton kernel draws its own mask from Philox: same distribution, other values).
    x ``[num_src_nodes, H, F]``, a_src ``[num_src_nodes, H]``, a_dst ``[N, H]``.
    """
    score = F.leaky_relu(a_src.index_select(0, g.src) + a_dst.index_select(0, g.dst), negative_slope)  # [E, H]
    n, h = g.num_nodes, score.shape[1]
    mx = _row_max(g, score)  # [N, H]
    den = score.new_zeros((n, h)).index_add_(0, g.dst, torch.exp(score - mx[g.dst]))
    pos = (den > 0) | den.isnan()  # a NaN row keeps its NaN: lse NaN, alpha NaN
    lse = torch.where(pos, mx + torch.where(pos, den, torch.ones_like(den)).log(), torch.full_like(den, float("inf")))
    alpha = torch.exp(score - lse[g.dst])  # [E, H]
    scale = _dropout_scale(tuple(alpha.shape), dropout, seed, alpha)
    if scale is not None:
        alpha = alpha * scale
    out, _ = spmm(g, x, alpha, "sum")
    return out, lse


@_in_float32
def gat_backward(g: Graph, x: Tensor, a_src: Tensor, a_dst: Tensor, out: Tensor, lse: Tensor, dout: Tensor,
                 negative_slope: float, dropout: float, seed: int) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients of :func:`gat_forward`'s ``out`` for ``x``, ``a_src`` and ``a_dst``, by autograd through a
    recomputed forward (``out`` and ``lse`` are accepted for the kernels' signature and unused)."""
    leaves = [t.detach().requires_grad_(True) for t in (x, a_src, a_dst)]
    with torch.enable_grad():
        o, _ = gat_forward(g, *leaves, negative_slope, dropout, seed)
        grads = torch.autograd.grad(o, leaves, dout, allow_unused=True)
    return tuple(torch.zeros_like(t) if d is None else d for t, d in zip(leaves, grads))
