"""A GAT layer that keeps only its input, output and ``[N, H]`` softmax statistics for backward.

The memory-saving path of ``GNN(model="gat", checkpoint=True)``. ``torch.utils.checkpoint`` recomputes
the layer in backward but then holds all of its autograd temporaries at once: the dropped-out input
and its mask, the projection ``[N, H F']``, the per-head output, and per edge the scores, their
LeakyReLU, the softmax, the attention dropout mask and the dropped-out weights (``[E, H]`` each).
This hand-written checkpoint of

.. math:: y_v = \\mathrm{act}\\Big(\\big\\Vert_h \\sum_{u \\to v} d^h_{uv} \\alpha^h_{uv} W^h \\mathrm{drop}(x)_u + b\\Big),
    \\quad \\alpha^h_{uv} = \\exp\\big(\\mathrm{LeakyReLU}(a^h_{s,u} + a^h_{d,v}) - \\mathrm{lse}^h_v\\big)

(``‖`` a concatenation or a mean over heads) keeps the input ``x`` in its storage dtype, the output
(for the activation's derivative), the per-destination log-sum-exp of the scores ``lse [N, H]``, and
two integer seeds: every dropout mask (on ``x``, drawn row block by row block with
:func:`~gnnkit.nn._gcn_checkpoint.mask_scale`, and on the attention weights, drawn edge block by edge
block) is drawn again in backward. Both passes work one head at a time, so the per-vertex temporaries
are ``[N, F']`` and the per-edge ones ``[E]``, never ``[N, H F']`` or ``[E, H]``; the input's dropout is
redrawn for every head instead of keeping a dropped-out copy.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import ops
from ..graph import Graph
from ._activation import FUSED, activate_, activation_grad
from ._gcn_checkpoint import block_rows, dropout_block, dropout_grad, mask_scale

__all__ = ["gat_layer_checkpointed"]


def _project(x: Tensor, p: float, seed: int, dtype: torch.dtype, weights: list[Tensor]) -> list[Tensor]:
    """``dropout(x) @ w.t()`` for each ``w [K, F]``, made a row block at a time (one mask draw for all)."""
    n, step = x.shape[0], block_rows(x)
    outs = [torch.empty(n, w.shape[0], dtype=dtype, device=x.device) for w in weights]  # [N, K] each
    for a in range(0, n, step):
        xb = dropout_block(x, a, p, seed, dtype)  # [B, F]
        for w, out in zip(weights, outs):
            torch.mm(xb, w.t(), out=out[a : a + step])
    return outs


def _project_grad(x: Tensor, p: float, seed: int, pairs: list[tuple[Tensor, Tensor, Tensor]],
                  acc: Tensor | None, dx: Tensor | None) -> None:
    """Backward of :func:`_project` for ``(dout [N, K], w [K, F], dw [K, F])`` pairs, a row block at a time.

    Adds ``dout^T dropout(x)`` to each ``dw``. With ``dx`` it writes the input gradient
    ``(acc + Σ dout w) * mask`` into ``dx`` (``acc`` may be None); with only ``acc`` it adds ``Σ dout w``
    to ``acc`` (the heads before the last one, whose input gradients are summed before the mask).
    """
    n, step, dtype = x.shape[0], block_rows(x), pairs[0][1].dtype
    for a in range(0, n, step):
        xb = dropout_block(x, a, p, seed, dtype)  # [B, F]
        gx = None if acc is None or dx is None else acc[a : a + step]  # [B, F]
        for dout, w, dw in pairs:
            db = dout[a : a + step]  # [B, K]
            dw.addmm_(db.t(), xb)
            if dx is not None:
                gx = db @ w if gx is None else gx.addmm(db, w)
            elif acc is not None:
                acc[a : a + step].addmm_(db, w)
        if dx is not None:
            dx[a : a + step] = dropout_grad(gx, x, a, p, seed)


def _edge_dropout_(w: Tensor, p: float, seed: int) -> Tensor:
    """``w [E]`` times the attention dropout's keep / (1 - p), in place, drawn edge block by edge block from ``seed``.

    The same call scales a gradient by the same mask, which is dropout's backward.
    """
    if p == 0.0:
        return w
    for a in range(0, w.shape[0], block_rows(w)):
        w[a : a + block_rows(w)] *= mask_scale(w, a, p, seed, w.dtype)
    return w


def _scores(g: Graph, a: Tensor, k: int, heads: int) -> Tensor:
    """Head ``k``'s edge scores before the LeakyReLU, ``[E]``: ``a_src[src] + a_dst[dst]``."""
    return ops.sddmm(g, a[:, k].contiguous(), a[:, heads + k].contiguous(), op="add")  # [E]


class _GATLayer(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, w_att: Tensor, bias: Tensor | None, g: Graph, heads: int, concat: bool,
                negative_slope: float, p: float, p_att: float, seed: int, att_seed: int, act: str | None,
                out_dtype: torch.dtype) -> Tensor:  # type: ignore[override]
        dtype, n, fo = weight.dtype, g.num_nodes, weight.shape[0] // heads
        w_heads = weight.view(heads, fo, -1)  # [H, F', F]
        h, a = _project(x, p, seed, dtype, [w_heads[0], w_att])  # [N, F'], [N, 2H]: a_src | a_dst
        lse = torch.empty(n, heads, dtype=dtype, device=x.device)  # [N, H]
        y = torch.empty(n, heads * fo if concat else fo, dtype=out_dtype, device=x.device)
        acc = None  # [N, F']: the sum over heads (concat=False)
        for k in range(heads):
            if k > 0:
                h = _project(x, p, seed, dtype, [w_heads[k]])[0]  # [N, F']
            s = F.leaky_relu(_scores(g, a, k, heads), negative_slope, inplace=True)  # [E]
            mx = ops.segment_reduce(g, s, "max")  # [N]: 0 for a vertex without in-edges
            lse[:, k] = ops.segment_reduce(g, torch.exp(s - mx[g.dst]), "sum").log_().add_(mx)  # [N]
            # alpha from lse, as backward recomputes it, so the two passes use the same weights
            alpha = _edge_dropout_(s.sub_(lse[:, k][g.dst]).exp_(), p_att, att_seed + k)  # [E]
            out = ops.spmm(g, h, alpha)  # [N, F']
            del h, s, alpha
            if concat:
                if bias is not None:
                    out += bias[k * fo : (k + 1) * fo]
                y[:, k * fo : (k + 1) * fo] = activate_(out, act)
            else:
                acc = out if acc is None else acc.add_(out)
        if not concat:
            z = acc.div_(heads)
            if bias is not None:
                z += bias
            y.copy_(activate_(z, act))
        ctx.g, ctx.heads, ctx.concat, ctx.negative_slope = g, heads, concat, negative_slope
        ctx.p, ctx.p_att, ctx.seed, ctx.att_seed, ctx.act = p, p_att, seed, att_seed, act
        ctx.save_for_backward(x, weight, w_att, bias, lse, None if act is None else y)
        return y

    @staticmethod
    def backward(ctx, dy: Tensor):  # type: ignore[override]
        x, weight, w_att, bias, lse, y = ctx.saved_tensors
        g, heads, concat, p, seed = ctx.g, ctx.heads, ctx.concat, ctx.p, ctx.seed
        dtype, fo = weight.dtype, weight.shape[0] // heads
        need_x = ctx.needs_input_grad[0]
        rev = g.reverse()
        w_heads = weight.view(heads, fo, -1)  # [H, F', F]
        dw = torch.zeros_like(weight)
        dw_heads = dw.view(heads, fo, -1)  # [H, F', F]
        dw_att = torch.zeros_like(w_att)  # [2H, F]
        da = torch.empty(g.num_nodes, 2 * heads, dtype=dtype, device=x.device)  # [N, 2H]: d a_src | d a_dst
        db = None if bias is None else torch.zeros_like(bias)
        dmean = None
        if not concat:  # every head's output gradient is dL/dz / H
            dmean = activation_grad(dy, y, ctx.act, torch.empty(dy.shape, dtype=dtype, device=dy.device))  # [N, F']
            if db is not None:
                db += dmean.sum(0)
            dmean /= heads
        acc = torch.zeros(x.shape, dtype=dtype, device=x.device) if need_x and heads > 1 else None  # [N, F]
        a = None
        for k in range(heads):
            if k == 0:
                h, a = _project(x, p, seed, dtype, [w_heads[0], w_att])  # [N, F'], [N, 2H]
            else:
                h = _project(x, p, seed, dtype, [w_heads[k]])[0]
            if concat:
                cols = slice(k * fo, (k + 1) * fo)
                dout = activation_grad(dy[:, cols], None if y is None else y[:, cols], ctx.act,
                                      torch.empty((dy.shape[0], fo), dtype=dtype, device=dy.device))  # [N, F']
                if db is not None:
                    db[cols] += dout.sum(0)
            else:
                dout = dmean
            s = _scores(g, a, k, heads)  # [E]
            pos = s > 0  # [E] bool: the LeakyReLU's branch (its output's sign says it only for a slope >= 0)
            alpha = F.leaky_relu(s, ctx.negative_slope, inplace=True).sub_(lse[:, k][g.dst]).exp_()  # [E]
            alpha_d = _edge_dropout_(alpha.clone(), ctx.p_att, ctx.att_seed + k)  # [E]
            d_alpha = ops.sddmm(g, h, dout)  # [E]: <dout[dst], h[src]>, the gradient of alpha_d
            del h
            dh = ops.spmm(rev, dout, alpha_d)  # [N, F']: the transposed aggregation
            del dout, alpha_d
            t = _edge_dropout_(d_alpha, ctx.p_att, ctx.att_seed + k).mul_(alpha)  # [E]: alpha * d alpha
            # softmax backward: ds = alpha (d alpha - sum over the destination's in-edges of alpha d alpha)
            ds = t.sub_(alpha.mul_(ops.segment_reduce(g, t)[g.dst]))  # [E]
            ds = torch.where(pos, ds, ds * ctx.negative_slope)  # the LeakyReLU
            da[:, k] = ops.segment_reduce(rev, ds)  # [N]: sum over each source's out-edges
            da[:, heads + k] = ops.segment_reduce(g, ds)  # [N]: over each destination's in-edges
            del ds, t, alpha
            if k < heads - 1:
                _project_grad(x, p, seed, [(dh, w_heads[k], dw_heads[k])], acc, None)
                del dh
        # the last head and the attention vectors share one more pass over the input, which writes dx
        dx = torch.empty_like(x) if need_x else None
        _project_grad(x, p, seed, [(dh, w_heads[heads - 1], dw_heads[heads - 1]), (da, w_att, dw_att)], acc, dx)
        return dx, dw, dw_att, db, None, None, None, None, None, None, None, None, None, None


def gat_layer_checkpointed(g: Graph, x: Tensor, weight: Tensor, w_att: Tensor, bias: Tensor | None, heads: int,
                           concat: bool, negative_slope: float, p: float, p_att: float, seed: int, att_seed: int,
                           act: str | None, out_dtype: torch.dtype) -> Tensor:
    r"""One GAT layer on ``dropout(x)``, keeping only ``x``, the output, ``[N, H]`` statistics and seeds for backward.

    The maths of :class:`~gnnkit.nn.GATConv` without edge features on a graph that already has its
    self-loops, after :class:`~gnnkit.GNN`'s dropout on the input, followed by an activation.

    Args:
        g: the graph the attention runs on (with its self-loops; not bipartite).
        x: ``[N, F]`` input in its storage dtype (upcast to ``weight``'s dtype a row block at a time).
        weight: ``[H F', F]`` the projection. w_att: ``[2H, F]`` the attention vectors folded into it
            (:meth:`GATConv.attention_projection`): ``a_src = x w_att[:H]^T``, ``a_dst = x w_att[H:]^T``.
        bias: ``[H F']`` (concat) or ``[F']``, or None. heads: ``H``. concat: concatenate or average heads.
        negative_slope: the LeakyReLU's. p: dropout rate on ``x``. p_att: on the attention weights.
        seed: the input dropout's seed; att_seed: the attention dropout's (head ``k`` draws from
            ``att_seed + k``); one of each per layer and step.
        act: ``None``, ``"relu"`` or ``"elu"`` after the bias. out_dtype: the output's dtype.

    Returns:
        ``[N, H F']`` (concat) or ``[N, F']`` in ``out_dtype``. A vertex without in-edges gets
        ``act(bias)``.
    """
    if act is not None and act not in FUSED:
        raise ValueError(f"act must be None or one of {FUSED}, got {act!r}")
    return _GATLayer.apply(x, weight, w_att, bias, g, heads, concat, float(negative_slope), float(p), float(p_att),
                           seed, att_seed, act, out_dtype)
