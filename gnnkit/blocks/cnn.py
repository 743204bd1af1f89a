"""Convolutional encoders for vertices whose features are signals ``[N, C, L]`` or images ``[N, C, H, W]``."""
from __future__ import annotations

from typing import Sequence

from torch import Tensor, nn

from .activations import make_activation
from .mlp import _check_dropout, _check_positive

__all__ = ["Conv1dEncoder", "Conv2dEncoder"]

POOLS = ("mean", "max")


class _ConvEncoder(nn.Module):
    dims: int = 0
    layout: str = ""

    def __init__(
        self,
        in_channels: int,
        channels: Sequence[int],
        out_features: int,
        kernel_size: int = 3,
        activation: str = "relu",
        norm: str | None = None,
        downsample: bool = True,
        pool: str = "mean",
        dropout: float = 0.0,
    ):
        super().__init__()
        channels = list(channels)
        _check_positive(in_channels=in_channels, out_features=out_features, kernel_size=kernel_size)
        if not channels:
            raise ValueError("channels must list at least one convolution width, got an empty sequence")
        for i, c in enumerate(channels):
            _check_positive(**{f"channels[{i}]": c})
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd so that 'same' padding keeps the size, got {kernel_size}")
        if norm not in (None, "batch"):
            raise ValueError(f"norm must be None or 'batch', got {norm!r}")
        if pool not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
        _check_dropout(dropout)
        make_activation(activation)
        conv = nn.Conv1d if self.dims == 1 else nn.Conv2d
        bn = nn.BatchNorm1d if self.dims == 1 else nn.BatchNorm2d
        mp = nn.MaxPool1d if self.dims == 1 else nn.MaxPool2d
        self.in_channels, self.channels, self.out_features = in_channels, channels, out_features
        self.kernel_size, self.activation, self.norm = kernel_size, activation, norm
        self.downsample, self.pool, self.dropout = downsample, pool, dropout
        layers: list[nn.Module] = []
        prev = in_channels
        for i, c in enumerate(channels):
            layers.append(conv(prev, c, kernel_size, padding=kernel_size // 2))
            if norm == "batch":
                layers.append(bn(c))
            layers.append(make_activation(activation))
            if downsample and i < len(channels) - 1:  # halve the size between blocks, not after the last
                layers.append(mp(2))
            prev = c
        self.convs = nn.Sequential(*layers)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Linear(prev, out_features)
        # every MaxPool(2) needs a size of at least 2 in front of it
        self.min_size = 2 ** (len(channels) - 1) if downsample else 1

    def reset_parameters(self) -> None:
        for m in self.modules():
            if m is not self and hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != self.dims + 2 or x.shape[1] != self.in_channels:
            hint = " (flat vertex features? reshape them to the signal/image layout first)" if x.dim() == 2 else ""
            raise ValueError(
                f"{type(self).__name__} expects x of shape {self.layout} with C = in_channels = {self.in_channels}, "
                f"got {tuple(x.shape)}{hint}"
            )
        spatial = tuple(x.shape[2:])
        if min(spatial) < self.min_size:
            raise ValueError(
                f"{type(self).__name__} halves the size {len(self.channels) - 1} times, so every spatial size must be "
                f">= {self.min_size}, got {spatial}; pass downsample=False or fewer channels"
            )
        h = self.convs(x)  # [N, C', *spatial']
        h = h.flatten(2)  # [N, C', L']
        h = h.mean(-1) if self.pool == "mean" else h.amax(-1)  # [N, C']: global pooling, any input size
        return self.head(self.drop(h))  # [N, F]

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, channels={self.channels}, out_features={self.out_features}, "
                f"kernel_size={self.kernel_size}, downsample={self.downsample}, pool={self.pool!r}")


class Conv1dEncoder(_ConvEncoder):
    r"""Encode a signal per vertex, ``[N, C, L] → [N, F]``: 1-D conv blocks, global pooling, a linear head.

    Each block is ``Conv1d(k, same padding) → (BatchNorm) → activation``, with a
    ``MaxPool1d(2)`` between blocks when ``downsample``. Global mean/max pooling over
    the length makes the encoder accept any length ``L``. All vertices are one batch.

    Args:
        in_channels: ``C``.
        channels: output width of each conv block, e.g. ``[16, 32]``.
        out_features: ``F``.
        kernel_size: odd kernel size.
        activation: name from :data:`gnnkit.blocks.ACTIVATIONS`.
        norm: ``None | "batch"``.
        downsample: halve the length between blocks.
        pool: ``"mean" | "max"`` global pooling.
        dropout: dropout before the head.

    Shape:
        x ``[N, C, L]`` → ``[N, F]``.

    Raises:
        ValueError: bad sizes or names; in ``forward`` an input that is not ``[N, C, L]``
            (e.g. flat ``[N, F]`` features) or too short for the downsampling.
    """

    dims = 1
    layout = "[N, C, L]"


class Conv2dEncoder(_ConvEncoder):
    r"""Encode an image per vertex (e.g. a pixel grid), ``[N, C, H, W] → [N, F]``.

    As :class:`Conv1dEncoder` with 2-D convolutions and pooling.

    Args:
        in_channels: ``C``.
        channels: output width of each conv block.
        out_features: ``F``.
        kernel_size: odd kernel size.
        activation: name from :data:`gnnkit.blocks.ACTIVATIONS`.
        norm: ``None | "batch"``.
        downsample: halve height and width between blocks.
        pool: ``"mean" | "max"`` global pooling.
        dropout: dropout before the head.

    Shape:
        x ``[N, C, H, W]`` → ``[N, F]``.

    Raises:
        ValueError: bad sizes or names; in ``forward`` an input that is not ``[N, C, H, W]``.
    """

    dims = 2
    layout = "[N, C, H, W]"
