"""Dense projections for the layers: ``Σ_i x_i W_iᵀ + b`` in one autograd node.

``F.linear(x, W, b)`` on a large ``[N, F]`` input costs more than its GEMM on the CPU:
``addmm`` first copies the broadcast bias into a freshly ``malloc``-ed output (glibc maps
every block over 32 MB anew, so the copy also page-faults the whole output in 4 KB at a
time), and ``W_l·agg + W_r·x`` as two ``F.linear`` calls allocates twice. Here the output
(and, in backward, every input gradient) is one buffer from :func:`gnnkit.ops.empty`
(2 MB pages on the CPU), the first GEMM writes it with ``beta = 0``, the others accumulate
into it in place and the bias is added last. The gradients are the textbook ones
(``dx_i = dy W_i``, ``dW_i = dyᵀ x_i``, ``db = Σ_rows dy``), so this is exactly
``sum(F.linear(x_i, W_i)) + b`` (tested against that, and with gradcheck). An activation whose
derivative its output gives (:mod:`._activation`) runs in place on the output buffer, and its
backward writes the masked gradient into one more such buffer, instead of the two fresh tensors a
ReLU after the node would allocate.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..blocks.activations import activation_fn
from ..ops import empty
from ._activation import FUSED, activate_, activation_grad

__all__ = ["multi_linear"]


class _MultiLinear(torch.autograd.Function):
    @staticmethod
    def forward(act, bias, *xw):
        xs, ws = xw[0::2], xw[1::2]
        out = empty((xs[0].shape[0], ws[0].shape[0]), xs[0].dtype, xs[0].device)
        torch.mm(xs[0], ws[0].t(), out=out)
        for x, w in zip(xs[1:], ws[1:]):
            out.addmm_(x, w.t())
        if bias is not None:
            out.add_(bias)
        return activate_(out, act)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:  # a separate setup_context lets torch.func transform it
        act, bias, *xw = inputs
        ctx.save_for_backward(*xw, None if act is None else output)  # the activation's derivative reads its output
        ctx.has_bias, ctx.act = bias is not None, act

    @staticmethod
    def backward(ctx, grad):
        *xw, y = ctx.saved_tensors
        if ctx.act is None:
            grad = grad.contiguous()
        elif torch.is_grad_enabled():  # create_graph: out of place, so the double backward sees the product
            grad = activation_grad(grad, y, ctx.act)
        else:  # the gradient before the activation, in a buffer of ours (grad may be shared)
            grad = activation_grad(grad, y, ctx.act, empty(tuple(grad.shape), grad.dtype, grad.device))
        grads = []
        for i in range(0, len(xw), 2):
            x, w = xw[i], xw[i + 1]
            gx = None
            if ctx.needs_input_grad[2 + i]:
                # under create_graph (double backward) the product must be recorded, which out= forbids
                out = None if torch.is_grad_enabled() else empty((grad.shape[0], w.shape[1]), grad.dtype, grad.device)
                gx = torch.mm(grad, w, out=out)
            gw = torch.mm(grad.t(), x) if ctx.needs_input_grad[3 + i] else None
            grads += [gx, gw]
        gb = grad.sum(0) if ctx.has_bias and ctx.needs_input_grad[1] else None
        return (None, gb, *grads)


def multi_linear(xs: list[Tensor] | tuple[Tensor, ...], weights: list[Tensor] | tuple[Tensor, ...], bias: Tensor | None = None,
                 act: str | None = None) -> Tensor:
    r""":math:`\mathrm{act}(\sum_i x_i W_i^\top + b)` for ``x_i [N, F_i]``, ``W_i [F_out, F_i]``, ``b [F_out]``;
    ``act`` None or one of :data:`._activation.FUSED`."""
    if act is not None and act not in FUSED:
        raise ValueError(f"act must be None or one of {FUSED}, got {act!r}")
    if len(xs) != len(weights) or not xs:
        raise ValueError(f"xs and weights must be non-empty and of equal length, got {len(xs)} and {len(weights)}")
    n = xs[0].shape[0]
    for i, (x, w) in enumerate(zip(xs, weights)):
        if x.dim() != 2 or w.dim() != 2 or x.shape[1] != w.shape[1] or x.shape[0] != n or w.shape[0] != weights[0].shape[0]:
            raise ValueError(f"xs[{i}] {tuple(x.shape)} and weights[{i}] {tuple(w.shape)} do not form [N, F] @ [F_out, F]ᵀ with N={n}, F_out={weights[0].shape[0]}")
    device = xs[0].device.type
    if torch.compiler.is_compiling():
        # the compiler plans its own buffers, and the huge-page pool behind ops.empty is Python with a
        # lock that dynamo cannot trace: the plain sum of products
        out = xs[0] @ weights[0].t()  # [N, F_out]
        for x, w in zip(xs[1:], weights[1:]):
            out = out + x @ w.t()
        out = out if bias is None else out + bias.to(out.dtype)  # a float32 bias would promote bfloat16 out
        return out if act is None else activation_fn(act)(out)
    if torch.is_autocast_enabled(device):
        # autocast casts only the ops on its list (matmul, not mm with out=): cast as it would for a
        # matmul (float32 operands to its dtype, differentiably) and run the node with it off, so the
        # reduced-precision product keeps the same buffers and in-place bias and activation
        dtype = torch.get_autocast_dtype(device)
        cast = [t if t is None or t.dtype != torch.float32 else t.to(dtype) for t in (bias, *xs, *weights)]
        bias, xs, weights = cast[0], cast[1 : 1 + len(xs)], cast[1 + len(xs) :]
        with torch.autocast(device, enabled=False):
            return multi_linear(xs, weights, bias, act)
    args = []
    for x, w in zip(xs, weights):
        args += [x.contiguous(), w]
    return _MultiLinear.apply(act, bias, *args)
