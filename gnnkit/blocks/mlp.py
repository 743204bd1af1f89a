"""Multi-layer perceptron, the default vertex function g and edge function f."""
from __future__ import annotations

from torch import Tensor, nn

from .activations import make_activation

__all__ = ["MLP"]

NORMS = (None, "batch", "layer")


def _check_positive(**sizes: int) -> None:
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")


def _check_dropout(p: float) -> None:
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout must lie in [0, 1), got {p}")


class MLP(nn.Module):
    r"""A stack of ``num_layers`` linear maps: Linear → norm → activation → dropout, last layer plain.

    .. math:: \mathrm{MLP}(x) = W_L\, \sigma(\ldots \sigma(W_1 x + b_1) \ldots) + b_L

    Acts on the last axis only, so it runs batched over all vertices ``[N, F]`` or all
    edges ``[E, F]`` at once (and over any leading axes). Use it directly as the
    ``transform`` of a :class:`~gnnkit.blocks.SourceTransform` edge function, or wrap it in
    :class:`~gnnkit.blocks.ConcatEdgeFn` / :class:`~gnnkit.blocks.ConcatVertexFn`.

    Args:
        in_features: ``F``.
        hidden_features: width of the hidden layers (unused when ``num_layers == 1``).
        out_features: ``F'``.
        num_layers: number of linear maps (depth), ``>= 1``.
        activation: name from :data:`~gnnkit.blocks.ACTIVATIONS` between layers.
        dropout: dropout after each hidden activation.
        norm: ``None | "batch" | "layer"`` after each hidden linear map.
        bias: learn biases.
        plain_last: leave the last layer without norm, activation and dropout (set False
            to apply them there too, e.g. for an encoder followed by more layers).

    Shape:
        x ``[..., F]`` → ``[..., F']`` (``norm="batch"`` needs ``[B, F]``).

    Raises:
        ValueError: non-positive sizes, an unknown activation or norm, dropout outside
            ``[0, 1)``, or (in ``forward``) an input whose last axis is not ``F``.
    """

    def __init__(
        self,
        in_features: int,
        hidden_features: int,
        out_features: int,
        num_layers: int = 2,
        activation: str = "relu",
        dropout: float = 0.0,
        norm: str | None = None,
        bias: bool = True,
        plain_last: bool = True,
    ):
        super().__init__()
        _check_positive(in_features=in_features, hidden_features=hidden_features, out_features=out_features,
                        num_layers=num_layers)
        _check_dropout(dropout)
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        make_activation(activation)  # validates the name
        self.in_features, self.hidden_features, self.out_features = in_features, hidden_features, out_features
        self.num_layers, self.activation, self.dropout, self.norm = num_layers, activation, dropout, norm
        self.plain_last = plain_last
        sizes = [in_features] + [hidden_features] * (num_layers - 1) + [out_features]
        layers: list[nn.Module] = []
        for i in range(num_layers):
            layers.append(nn.Linear(sizes[i], sizes[i + 1], bias=bias))
            if i < num_layers - 1 or not plain_last:
                if norm == "batch":
                    layers.append(nn.BatchNorm1d(sizes[i + 1]))
                elif norm == "layer":
                    layers.append(nn.LayerNorm(sizes[i + 1]))
                layers.append(make_activation(activation))
                if dropout > 0:
                    layers.append(nn.Dropout(dropout))
        self.layers = nn.Sequential(*layers)

    def reset_parameters(self) -> None:
        for m in self.layers:
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 1 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"MLP expects x of shape [..., F] with F = in_features = {self.in_features}, got {tuple(x.shape)}"
            )
        return self.layers(x)

    def extra_repr(self) -> str:
        return (f"{self.in_features}, {self.hidden_features}, {self.out_features}, num_layers={self.num_layers}, "
                f"activation={self.activation!r}, norm={self.norm!r}, dropout={self.dropout}")
