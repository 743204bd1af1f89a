"""A GCN layer that keeps only its input for backward: the memory-saving path of ``GNN(checkpoint=True)``.

``torch.utils.checkpoint`` recomputes a layer in backward but then holds all of its autograd
temporaries at once (the dropped-out copy, the dropout mask, the projection, the activation's
output and their gradients, each ``[N, F]`` in float32). This hand-written checkpoint of
``act(Â dropout(x) W^T + b)`` keeps the input ``x`` (in its storage dtype, e.g. bfloat16), the
output (for the ReLU's sign) and an integer seed from which every dropout mask is drawn again,
row block by row block, so the dropped-out ``x`` and the mask never exist as ``[N, F]`` tensors.
The row blocks bound temporaries, they are not a loop over vertices.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..ops import NormalizedAdjacency, spmm_adjacency

__all__ = ["gcn_layer_checkpointed", "block_rows", "dropout_block", "dropout_grad", "mask_scale"]

COLUMN_BLOCKS = 4  # backward recomputes Â dropout(x) in this many column blocks: a quarter of it alive at once
BLOCK_ELEMENTS = 1 << 20  # ~4 MB float32 per temporary: cache-sized, and the Python loop stays short


def block_rows(x: Tensor) -> int:
    """Rows per block of ``x`` (a function of its shape only, so forward and backward cut the same blocks)."""
    return max(1, BLOCK_ELEMENTS // max(1, x[0].numel() if x.shape[0] else 1))


def mask_scale(x: Tensor, start: int, p: float, seed: int, dtype: torch.dtype) -> Tensor:
    """``keep / (1 - p)`` for rows ``start:start + block_rows(x)`` of ``x``, drawn from ``(seed, start)``.

    The same arguments give the same mask, which is what lets backward draw it again.
    """
    rows = min(block_rows(x), x.shape[0] - start)
    gen = torch.Generator(device=x.device).manual_seed((seed * 1_000_003 + start) % (1 << 63))
    keep = torch.rand((rows,) + tuple(x.shape[1:]), generator=gen, device=x.device, dtype=dtype) >= p  # [B, F]
    return keep.to(dtype).mul_(1.0 / (1.0 - p))


def dropout_block(x: Tensor, start: int, p: float, seed: int, dtype: torch.dtype) -> Tensor:
    """Rows ``start:start + block_rows(x)`` of ``dropout(x)`` in ``dtype``, with :func:`mask_scale`'s mask."""
    rows = x[start : start + block_rows(x)].to(dtype)  # [B, F] (a copy when x is stored in lower precision)
    return rows if p == 0.0 else rows * mask_scale(x, start, p, seed, dtype)


def _dropped(x: Tensor, p: float, seed: int, dtype: torch.dtype, c0: int = 0, c1: int | None = None) -> Tensor:
    """Columns ``c0:c1`` of ``dropout(x)`` (all by default), made a row block at a time."""
    c1 = x.shape[1] if c1 is None else min(c1, x.shape[1])
    out = torch.empty((x.shape[0], c1 - c0), dtype=dtype, device=x.device)  # [N, c1 - c0]
    for a in range(0, x.shape[0], block_rows(x)):
        out[a : a + block_rows(x)] = dropout_block(x, a, p, seed, dtype)[:, c0:c1]
    return out


class _GCNLayer(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, adj: NormalizedAdjacency, p: float, seed: int,
                relu: bool, out_dtype: torch.dtype) -> Tensor:  # type: ignore[override]
        dtype, n, step = weight.dtype, x.shape[0], block_rows(x)
        lin_first = weight.shape[0] <= weight.shape[1]  # project first when it narrows: the product moves less
        if lin_first:
            xw = torch.empty(n, weight.shape[0], dtype=dtype, device=x.device)  # [N, F']
            for a in range(0, n, step):
                torch.mm(dropout_block(x, a, p, seed, dtype), weight.t(), out=xw[a : a + step])
            z = spmm_adjacency(adj, xw)  # [N, F']
            del xw
            if bias is not None:
                z += bias
            if relu:
                z.relu_()
            y = z.to(out_dtype)
        else:
            # q = Â dropout(x) filled a column block at a time, then the output a row block at a time, so
            # no whole [N, F'] float32 copy exists beside the (maybe bfloat16) output
            q = torch.empty(x.shape, dtype=dtype, device=x.device)  # [N, F]
            width = x.shape[1]
            cols = max(1, -(-width // COLUMN_BLOCKS))
            for c in range(0, width, cols):
                q[:, c : c + cols] = spmm_adjacency(adj, _dropped(x, p, seed, dtype, c, c + cols))
            y = torch.empty(n, weight.shape[0], dtype=out_dtype, device=x.device)  # [N, F']
            for a in range(0, n, step):
                zb = q[a : a + step] @ weight.t() if bias is None else torch.addmm(bias, q[a : a + step], weight.t())
                y[a : a + step] = zb.relu_() if relu else zb
            del q
        ctx.adj, ctx.p, ctx.seed, ctx.relu, ctx.lin_first = adj, p, seed, relu, lin_first
        ctx.save_for_backward(x, weight, bias, y if relu else None)
        return y

    @staticmethod
    def backward(ctx, dy: Tensor):  # type: ignore[override]
        x, weight, bias, y = ctx.saved_tensors
        adj, p, seed = ctx.adj, ctx.p, ctx.seed
        dtype, n, step = weight.dtype, x.shape[0], block_rows(x)
        need_x = ctx.needs_input_grad[0]

        def dz_block(a: int) -> Tensor:  # rows a:a+step of dL/dz, the ReLU's sign taken from the kept output
            d = dy[a : a + step].to(dtype, copy=True)  # [B, F']
            return d.masked_fill_(y[a : a + step] <= 0, 0) if ctx.relu else d

        dx = torch.empty_like(x) if need_x else None
        dw = torch.zeros_like(weight)
        db = None if bias is None else torch.zeros_like(bias)
        if ctx.lin_first:  # z = Â (drop(x) W^T) + b: dZ goes back through Â^T first, at the narrow width F'
            dz = torch.empty(dy.shape, dtype=dtype, device=dy.device)  # [N, F']
            for a in range(0, n, step):
                dz[a : a + step] = dz_block(a)
            if db is not None:
                db = dz.sum(0)
            dxw = spmm_adjacency(adj.transposed(), dz)  # [N, F']: Â^T dZ
            del dz
            for a in range(0, n, step):
                block = dropout_block(x, a, p, seed, dtype)  # [B, F]
                dw.addmm_(dxw[a : a + step].t(), block)
                if need_x:
                    dx[a : a + step] = dropout_grad(dxw[a : a + step] @ weight, x, a, p, seed)
            return dx, dw, db, None, None, None, None, None
        # z = (Â drop(x)) W^T + b: recompute q = Â drop(x) a column block at a time (a quarter of its
        # [N, F] at once), and dW[:, cols] = Σ_row blocks dZ_b^T q_b[:, cols] without a whole dZ
        dq = torch.empty(x.shape, dtype=dtype, device=x.device) if need_x else None  # [N, F]
        width = x.shape[1]
        cols = max(1, -(-width // COLUMN_BLOCKS))
        for c in range(0, width, cols):
            q = spmm_adjacency(adj, _dropped(x, p, seed, dtype, c, c + cols))  # [N, cols]
            for a in range(0, n, step):
                d = dz_block(a)
                dw[:, c : c + cols].addmm_(d.t(), q[a : a + step])
                if c == 0:  # the bias and input gradients need dZ once
                    if db is not None:
                        db += d.sum(0)
                    if need_x:
                        torch.mm(d, weight, out=dq[a : a + step])
            del q
        if need_x:
            dd = spmm_adjacency(adj.transposed(), dq)  # [N, F]
            del dq
            for a in range(0, n, step):
                dx[a : a + step] = dropout_grad(dd[a : a + step], x, a, p, seed)
        return dx, dw, db, None, None, None, None, None


def dropout_grad(g: Tensor, x: Tensor, start: int, p: float, seed: int) -> Tensor:
    """The gradient through dropout for rows ``start:``: ``g`` times the same mask and scale."""
    return g if p == 0.0 else g * mask_scale(x, start, p, seed, g.dtype)


def gcn_layer_checkpointed(adj: NormalizedAdjacency, x: Tensor, weight: Tensor, bias: Tensor | None, p: float,
                           seed: int, relu: bool, out_dtype: torch.dtype) -> Tensor:
    r""":math:`\mathrm{act}(\hat A\, \mathrm{dropout}(X) W^\top + b)`, keeping only ``x``, the output and a seed for backward.

    Args:
        adj: the layer's matrix. x: ``[N, F]`` input in its storage dtype (upcast to ``weight``'s
            dtype a row block at a time). weight: ``[F', F]``. bias: ``[F']`` or None.
        p: dropout rate on ``x`` (0 for none). seed: the dropout masks' seed (one per layer and step).
        relu: apply a ReLU. out_dtype: the output's dtype (the next layer's storage dtype).

    Returns:
        ``[N, F']`` in ``out_dtype``.
    """
    return _GCNLayer.apply(x, weight, bias, adj, p, seed, relu, out_dtype)
