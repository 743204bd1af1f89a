r"""Link decoders: a score (logit) for each vertex pair from its two embeddings.

Every decoder maps ``(h_src [K, F], h_dst [K, F])`` to ``[K]`` logits; apply ``sigmoid``
for probabilities, or train with ``binary_cross_entropy_with_logits``.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..blocks.mlp import MLP

__all__ = ["DotProduct", "Bilinear", "MLPDecoder"]


def _check_pair(h_src: Tensor, h_dst: Tensor, features: int | None = None) -> None:
    if h_src.shape != h_dst.shape or h_src.dim() != 2:
        raise ValueError(f"h_src and h_dst must both be [K, F], got shapes {tuple(h_src.shape)} and {tuple(h_dst.shape)}")
    if features is not None and h_src.shape[1] != features:
        raise ValueError(f"h_src and h_dst must have F={features} columns, got {h_src.shape[1]}")


class DotProduct(nn.Module):
    r"""Inner-product decoder :math:`s_{uv} = h_u^\top h_v` (GAE, Kipf & Welling 2016).

    Shape:
        h_src, h_dst ``[K, F]`` → ``[K]``.

    Raises:
        ValueError: mismatched or non-2-D inputs.
    """

    def forward(self, h_src: Tensor, h_dst: Tensor) -> Tensor:
        _check_pair(h_src, h_dst)
        return (h_src * h_dst).sum(-1)  # [K]


class Bilinear(nn.Module):
    r"""Bilinear decoder :math:`s_{uv} = h_u^\top W h_v` (DistMult's full-matrix form; RESCAL).

    ``W`` starts at the identity, so an untrained decoder is :class:`DotProduct`.

    Args:
        features: ``F``.

    Shape:
        h_src, h_dst ``[K, F]`` → ``[K]``.

    Raises:
        ValueError: ``features < 1``; inputs without ``F`` columns.
    """

    def __init__(self, features: int) -> None:
        super().__init__()
        if isinstance(features, bool) or not isinstance(features, int) or features < 1:
            raise ValueError(f"features must be an int >= 1, got {features!r}")
        self.features = features
        self.weight = nn.Parameter(torch.empty(features, features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.weight.copy_(torch.eye(self.features))

    def forward(self, h_src: Tensor, h_dst: Tensor) -> Tensor:
        _check_pair(h_src, h_dst, self.features)
        return ((h_src @ self.weight) * h_dst).sum(-1)  # [K]

    def extra_repr(self) -> str:
        return f"features={self.features}"


class MLPDecoder(nn.Module):
    r"""An MLP on the pair: :math:`s_{uv} = \mathrm{MLP}(h_u \odot h_v)` or :math:`\mathrm{MLP}([h_u \| h_v])`.

    The Hadamard product (the OGB link baselines' choice) is symmetric in ``u, v``;
    the concatenation is not, and suits directed links.

    Args:
        features: ``F``. hidden_features: width of the hidden layers.
        num_layers: linear maps (``>= 1``). combine: ``"hadamard" | "concat"``.
        dropout: dropout after each hidden activation.

    Shape:
        h_src, h_dst ``[K, F]`` → ``[K]``.

    Raises:
        ValueError: an unknown ``combine``, bad sizes (from :class:`~gnnkit.blocks.MLP`);
            inputs without ``F`` columns.
    """

    COMBINES = ("hadamard", "concat")

    def __init__(self, features: int, hidden_features: int = 64, num_layers: int = 2, combine: str = "hadamard",
                 dropout: float = 0.0) -> None:
        super().__init__()
        if combine not in self.COMBINES:
            raise ValueError(f"combine must be one of {self.COMBINES}, got {combine!r}")
        self.features, self.combine = features, combine
        self.mlp = MLP(features * (2 if combine == "concat" else 1), hidden_features, 1, num_layers=num_layers,
                       dropout=dropout)

    def reset_parameters(self) -> None:
        self.mlp.reset_parameters()

    def forward(self, h_src: Tensor, h_dst: Tensor) -> Tensor:
        _check_pair(h_src, h_dst, self.features)
        h = h_src * h_dst if self.combine == "hadamard" else torch.cat([h_src, h_dst], -1)  # [K, F] or [K, 2F]
        return self.mlp(h).squeeze(-1)  # [K]

    def extra_repr(self) -> str:
        return f"features={self.features}, combine={self.combine!r}"
