"""Activations applied in place inside a layer's own autograd node, with their gradient read from the output.

A fused layer (:mod:`._sage_block`, :mod:`._gat_checkpoint`) writes its output into a buffer it
owns, so the activation can run on that buffer in place (no second ``[N, F']`` tensor) and its
backward needs only the activated output ``y``: ReLU's derivative is ``y > 0`` and ELU's (alpha 1)
is ``1`` above 0 and ``e^z = y + 1`` below. Other activations are not fused (:data:`FUSED`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["FUSED", "activate_", "activation_grad"]

FUSED = ("relu", "elu")  # activations whose derivative the output alone determines


def activate_(z: Tensor, act: str | None) -> Tensor:
    """``act(z)`` in place (``act`` one of :data:`FUSED` or None); returns ``z``."""
    if act == "relu":
        return z.relu_()
    if act == "elu":
        return F.elu(z, inplace=True)
    return z


def activation_grad(dy: Tensor, y: Tensor | None, act: str | None, out: Tensor | None = None) -> Tensor:
    """``dy`` through the activation whose output was ``y``, written into ``out`` (returned).

    ``out`` has ``dy``'s shape, contiguous, in ``dy``'s dtype or a wider one (a bfloat16 ``dy``
    into a float32 buffer); ``y`` may be in another dtype (a reduced-precision stored output).
    Without ``out`` the result is a new tensor computed out of place, so that autograd can
    differentiate it (a double backward: ELU's derivative depends on ``y``).
    """
    if out is None:
        if act == "relu":
            return dy * (y > 0)
        if act == "elu":
            return dy * torch.where(y > 0, 1.0, y + 1)
        return dy
    if act == "relu":
        if dy.dtype == y.dtype == out.dtype:  # one pass, as ReLU's own backward
            return torch.ops.aten.threshold_backward.grad_input(dy, y, 0, grad_input=out)
        return out.copy_(dy).masked_fill_(y <= 0, 0)
    if act == "elu":
        return torch.mul(dy, torch.where(y > 0, 1.0, y.to(out.dtype) + 1), out=out)
    return out.copy_(dy)
