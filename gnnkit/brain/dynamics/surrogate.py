r"""Surrogate gradients: a Heaviside spike forward, a smooth derivative backward.

A spike :math:`s = H(x)` of the distance :math:`x = v - \vartheta` above threshold has zero
derivative almost everywhere, so nothing upstream of it can learn. A surrogate keeps the
exact step forward and uses the derivative :math:`\sigma'(x)` of a smooth function backward
(Zenke & Ganguli 2018, *Neural Computation* 30:1514, https://doi.org/10.1162/neco_a_01086;
the same two shapes as snnTorch's ``fast_sigmoid`` and ``atan``):

- ``"fast_sigmoid"`` (SuperSpike): :math:`\sigma'(x) = 1 / (1 + \beta |x|)^2`,
  primitive :math:`x / (1 + \beta |x|)`;
- ``"arctan"``: :math:`\sigma'(x) = \tfrac{\beta}{2} / \big(1 + (\tfrac{\pi}{2} \beta x)^2\big)`,
  primitive :math:`\tfrac12 + \tfrac1\pi \arctan(\tfrac{\pi}{2} \beta x)`.

:meth:`Surrogate.primitive` is the smooth function whose derivative the backward uses; tests
run ``gradcheck`` on a step built with it (the "smooth twin") to check the backward.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .._validate import check_positive

__all__ = ["SURROGATES", "Surrogate"]

SURROGATES = ("fast_sigmoid", "arctan")


@dataclass(frozen=True)
class Surrogate:
    r"""A spike nonlinearity with a surrogate gradient.

    Args:
        kind: one of :data:`SURROGATES`.
        slope: :math:`\beta > 0`, the sharpness (snnTorch's default 25 for
            ``fast_sigmoid``, 2 for ``arctan``).

    Raises:
        ValueError: an unknown ``kind`` or a non-positive ``slope``.
    """

    kind: str = "fast_sigmoid"
    slope: float = 25.0

    def __post_init__(self) -> None:
        if self.kind not in SURROGATES:
            raise ValueError(f"kind must be one of {SURROGATES}, got {self.kind!r}")
        object.__setattr__(self, "slope", check_positive(self.slope, "slope"))

    def __call__(self, x: Tensor) -> Tensor:
        """Spikes :math:`H(x)` (1 where ``x > 0``, else 0) whose gradient is :meth:`derivative`."""
        return _Spike.apply(x, self)

    def derivative(self, x: Tensor) -> Tensor:
        r"""The surrogate :math:`\sigma'(x)`, elementwise."""
        if self.kind == "fast_sigmoid":
            return (1.0 + self.slope * x.abs()).pow(-2)
        return (self.slope / 2) / (1.0 + (math.pi / 2 * self.slope * x).pow(2))

    def primitive(self, x: Tensor) -> Tensor:
        r"""The smooth :math:`\sigma(x)` with :math:`\frac{d\sigma}{dx} =` :meth:`derivative`."""
        if self.kind == "fast_sigmoid":
            return x / (1.0 + self.slope * x.abs())
        return 0.5 + torch.atan(math.pi / 2 * self.slope * x) / math.pi


class _Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, surrogate: Surrogate) -> Tensor:
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        return (x > 0).to(x.dtype)  # strict: a membrane exactly at threshold does not fire (Brian2's ``v > v_th``)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        (x,) = ctx.saved_tensors
        return grad * ctx.surrogate.derivative(x), None
