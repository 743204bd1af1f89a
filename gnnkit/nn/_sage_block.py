r"""GraphSAGE (sum/mean) on a sampled block or a whole graph as one autograd node: :math:`x'_v = W_r x_v + W_l \gamma_{u \to v}(x_u) + b`.

On a block (DGL's convention: the first ``num_nodes`` sources are the destinations) the
root term reads ``x[:num_nodes]``, a prefix of the input. Composed from autograd pieces
(``x[:N]`` then ``spmm``), the backward of that slice allocates a zero ``[S, F]`` gradient,
copies ``dx_dst`` into it, and autograd then adds it to the ``[S, F]`` gradient of the
sparse product: two extra full-size passes and two fresh ``[S, F]`` buffers per layer
(each page-faulted anew: glibc maps every block over 32 MB afresh). Here the input gradient
is one buffer: :math:`A^\top` of the aggregate's gradient, with ``dx_dst`` accumulated into
its first ``num_nodes`` rows in place by the GEMM (``addmm_``). Every large intermediate is an
``ops.empty`` buffer (2 MB pages), the projections write their outputs with ``beta = 0`` and
accumulate in place, and the mean's ``1 / deg`` scales the ``[N, F]`` gradient in place. An
activation whose derivative its output gives (ReLU, ELU: :mod:`._activation`) runs in place on the
output buffer, and its backward writes the masked gradient into one more such buffer: composed
from autograd pieces, a ReLU after the layer adds two fresh ``[N, F']`` tensors per batch (its
output and its input gradient, both served by glibc's fresh 4 KB-page maps above 32 MB).

The maths are exactly :class:`~gnnkit.nn.SAGEConv`'s composition (tested against it in float64,
gradients included): the order of aggregation and projection follows the same rule (project first
when that shrinks the features, :math:`\gamma(A X) W = \gamma(A X W)` for linear γ). A double
backward (``create_graph=True``) recomputes the composed form and differentiates it, so
higher derivatives stay available.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .. import ops
from ..blocks.activations import activation_fn
from ..graph import Graph
from ._activation import FUSED, activate_, activation_grad

__all__ = ["sage_block", "sage_block_applies"]


def sage_block_applies(g: Graph, x: Tensor) -> bool:
    """Whether :func:`sage_block` runs this call: eager float32/float64 mode, on a block or a whole graph.

    A whole graph is the case ``num_src_nodes == num_nodes`` (the root term reads all of ``x``):
    there the node saves a projecting-first layer's ``split``/``cat`` of the two projections and
    the two out-of-place sums of bias and root term. Measured on the arxiv-size SAGE step: 2-5 %
    faster in 4 of 5 alternating pairs of processes, while ``benchmarks/core.py``'s 3-round medians
    (0.561 s before, 0.569 s after, same peak RSS) show no difference beyond the machine's noise.

    Under ``torch.compile``, autocast or a ``torch.func`` transform the composed form runs (the
    compiler plans its own buffers; autocast casts only the ops on its list; functorch cannot
    see through the in-place accumulation).
    """
    return (x.dim() == 2 and x.dtype in (torch.float32, torch.float64)
            and not torch.compiler.is_compiling() and not torch.is_autocast_enabled(x.device.type)
            and not torch._C._are_functorch_transforms_active())


def _composed(g: Graph, x: Tensor, w_l: Tensor, w_r: Tensor, b: Tensor | None, reduce: str, act: str | None) -> Tensor:
    """The same layer from differentiable pieces (the double-backward path)."""
    n = g.num_nodes
    if w_l.shape[0] < w_l.shape[1]:  # project first
        out = ops.spmm(g, x @ w_l.t(), reduce=reduce) + x[:n] @ w_r.t()
    else:
        out = ops.spmm(g, x, reduce=reduce) @ w_l.t() + x[:n] @ w_r.t()
    out = out if b is None else out + b
    return out if act is None else activation_fn(act)(out)


class _SAGEBlock(torch.autograd.Function):
    # The backward keeps no Graph: a block carries its batch's gathered features (srcdata), and a
    # Graph held on ctx outlives the backward (until the output is freed), so the next batch's gather
    # could not reuse those pages. It saves tensors instead (freed by the backward, as torch's own):
    # the block's ids, its in-degrees and its CSR by source (the transpose the input gradient runs on).
    @staticmethod
    def forward(ctx, x: Tensor, w_l: Tensor, w_r: Tensor, b: Tensor | None, g: Graph, reduce: str,
                act: str | None) -> Tensor:
        n, f_out = g.num_nodes, w_l.shape[0]
        project_first = f_out < w_l.shape[1]
        out = ops.empty((n, f_out), x.dtype, x.device)  # [N, F']
        torch.mm(x[:n], w_r.t(), out=out)  # the root term; x[:n] is a contiguous prefix (no copy)
        if project_first:
            y = ops.empty((x.shape[0], f_out), x.dtype, x.device)  # [S, F']
            torch.mm(x, w_l.t(), out=y)
            out.add_(ops.spmm(g, y, reduce=reduce))
            agg = None
        else:
            agg = ops.spmm(g, x, reduce=reduce)  # [N, F]
            out.addmm_(agg, w_l.t())
        if b is not None:
            out.add_(b)
        activate_(out, act)
        # the transpose is needed for the input gradient, and with project-first for W_l's too
        need_t = ctx.needs_input_grad[0] or (project_first and ctx.needs_input_grad[1])
        t = g.csr_out() if need_t else None
        ctx.n, ctx.reduce, ctx.project_first, ctx.act = n, reduce, project_first, act
        ctx.save_for_backward(x, w_l, w_r, b, agg, g.src, g.dst, g.in_degrees(),
                              None if t is None else t.indptr, None if t is None else t.indices,
                              None if act is None else out)  # the activation's derivative reads its output
        return out

    @staticmethod
    def backward(ctx, dout: Tensor):
        x, w_l, w_r, b, agg, src, dst, deg, t_indptr, t_indices, y = ctx.saved_tensors
        n, reduce, act = ctx.n, ctx.reduce, ctx.act
        need_x, need_wl, need_wr, need_b = ctx.needs_input_grad[:4]
        if torch.is_grad_enabled():  # create_graph: differentiate the composed form so the result is differentiable
            g = Graph.block(src, dst, n, x.shape[0], _validate=False)
            inputs = [t for t, need in zip((x, w_l, w_r, b), (need_x, need_wl, need_wr, need_b)) if need]
            with torch.enable_grad():
                grads = iter(torch.autograd.grad(_composed(g, x, w_l, w_r, b, reduce, act), inputs, dout,
                                                 create_graph=True))
            return tuple(next(grads) if need else None for need in (need_x, need_wl, need_wr, need_b)) + (None,) * 3
        if act is None:
            dout = dout.contiguous()
        else:  # the gradient before the activation, in a buffer of ours (dout may be shared)
            dout = activation_grad(dout, y, act, ops.empty(tuple(dout.shape), dout.dtype, dout.device))  # [N, F']
        x_dst = x[:n]  # [N, F]
        dx = dw_l = None
        dw_r = dout.t() @ x_dst if need_wr else None  # [F', F]
        db = dout.sum(0) if need_b else None
        # γ(A)ᵀ: the mean scales row v by 1 / max(deg v, 1) (0 in-edges aggregate to 0 anyway)
        inv_deg = deg.clamp(min=1).to(dout.dtype).reciprocal_().unsqueeze(1) if reduce == "mean" else None  # [N, 1]
        if ctx.project_first:
            # out = γ(A (x W_lᵀ)) + x_dst W_rᵀ: the source-side gradient dY = γ(A)ᵀ dout, [S, F']
            if need_x or need_wl:
                dy = ops.spmm_csr(t_indptr, t_indices, dout if inv_deg is None else dout * inv_deg, check=False)
            dw_l = dy.t() @ x if need_wl else None
            if need_x:
                dx = ops.empty(x.shape, x.dtype, x.device)  # [S, F]
                torch.mm(dy, w_l, out=dx)
        else:
            dw_l = dout.t() @ agg if need_wl else None
            if need_x:
                dagg = ops.empty(agg.shape, agg.dtype, agg.device)  # [N, F]
                torch.mm(dout, w_l, out=dagg)
                if inv_deg is not None:
                    dagg.mul_(inv_deg)
                dx = ops.spmm_csr(t_indptr, t_indices, dagg, check=False)  # [S, F]: a fresh buffer, ours to write
        if need_x:
            dx[:n].addmm_(dout, w_r)  # the root term's gradient, in place in the destination rows
        return dx, dw_l, dw_r, db, None, None, None


def sage_block(g: Graph, x: Tensor, w_l: Tensor, w_r: Tensor, b: Tensor | None = None, reduce: str = "mean",
               act: str | None = None) -> Tensor:
    r""":math:`\mathrm{act}(W_r x_v + W_l \gamma_{u \to v}(x_u) + b)` on a block, as one autograd node.

    Args:
        g: a bipartite block whose first ``num_nodes`` sources are its destinations, or a whole graph.
        x: source features (the destinations' are ``x[:num_nodes]``).
        w_l: weight of the aggregate. w_r: weight of the root. b: bias or None.
        reduce: ``"sum"`` or ``"mean"``.
        act: None, or an activation of :data:`._activation.FUSED` applied in place.

    Returns:
        ``[N, F']`` for the ``num_nodes`` destinations.

    Shape:
        x ``[num_src_nodes, F]``, w_l and w_r ``[F', F]``, b ``[F']`` → ``[num_nodes, F']``.

    Raises:
        ValueError: ``reduce`` other than sum/mean, ``act`` not fused, or shapes that do not line up.
    """
    if reduce not in ("sum", "mean"):
        raise ValueError(f"reduce must be 'sum' or 'mean' (a linear aggregation), got {reduce!r}")
    if act is not None and act not in FUSED:
        raise ValueError(f"act must be None or one of {FUSED}, got {act!r}")
    if x.dim() != 2 or x.shape[0] != g.num_src_nodes or w_l.shape != w_r.shape or w_l.shape[1] != x.shape[1]:
        raise ValueError(f"x must be [num_src_nodes={g.num_src_nodes}, F] and w_l, w_r [F', F]; got x "
                         f"{tuple(x.shape)}, w_l {tuple(w_l.shape)}, w_r {tuple(w_r.shape)}")
    return _SAGEBlock.apply(x.contiguous(), w_l, w_r, b, g, reduce, act)
