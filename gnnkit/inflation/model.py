"""A layer stack whose layer ``i`` runs on ``schedule.graph(i, g)``."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ..blocks.activations import activation_fn
from ..graph import Graph
from ..nn import GCNConv, SAGEConv
from ._validate import _check_int
from .schedule import InflationSchedule

__all__ = ["InflatedGNN"]


_CONVS = ("sage", "gcn")


class InflatedGNN(nn.Module):
    """A layer stack whose layer ``i`` runs on ``schedule.graph(i, g)``.

    encoder (Linear + activation) → ``num_layers`` × [dropout → inflate → conv →
    deflate → activation (→ + residual)] → dropout → decoder (Linear). "Inflate"
    appends hub rows (:meth:`LayerGraph.add_hub_states`) and "deflate" drops or pools
    them back, so hub state lives for one layer only.

    Args:
        in_features, hidden_features, out_features: sizes.
        num_layers: conv layers (``>= 1``); the schedule must cover them.
        schedule: the :class:`InflationSchedule`.
        conv: ``"sage"`` (:class:`SAGEConv`: weighted mean of neighbours plus a root term) or ``"gcn"``
            (:class:`GCNConv`: self-loops and symmetric normalisation of the weights).
        dropout: on every conv's input and the decoder's.
        residual: add each conv's output to its input.
        activation: a name from :data:`gnnkit.blocks.ACTIVATIONS`.

    Shape:
        x ``[N, in_features]`` → ``[N, out_features]``.

    Raises:
        ValueError: a schedule shorter than ``num_layers``, bad sizes, unknown conv/activation.
    """

    def __init__(self, in_features: int, hidden_features: int, out_features: int, num_layers: int,
                 schedule: InflationSchedule, conv: str = "sage", dropout: float = 0.0, residual: bool = True,
                 activation: str = "relu") -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("hidden_features", hidden_features),
                            ("out_features", out_features), ("num_layers", num_layers)):
            _check_int(value, name, 1)
        if not isinstance(schedule, InflationSchedule):
            raise TypeError(f"schedule must be an InflationSchedule, got {type(schedule).__name__}")
        schedule.check_depth(num_layers)
        if conv not in _CONVS:
            raise ValueError(f"conv must be one of {_CONVS}, got {conv!r}")
        activation_fn(activation)  # raises ValueError naming the choices
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        self.schedule, self.num_layers, self.conv_type = schedule, num_layers, conv
        self.dropout, self.residual, self.activation = dropout, residual, activation
        self.encoder = nn.Linear(in_features, hidden_features)
        make = (lambda: SAGEConv(hidden_features, hidden_features)) if conv == "sage" else (lambda: GCNConv(hidden_features, hidden_features))
        self.convs = nn.ModuleList([make() for _ in range(num_layers)])
        self.decoder = nn.Linear(hidden_features, out_features)

    def reset_parameters(self) -> None:
        for m in self.modules():
            if m is not self and hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def forward(self, g: Graph, x: Tensor) -> Tensor:
        act = activation_fn(self.activation)
        h = act(self.encoder(x))  # [N, D]
        for i, conv in enumerate(self.convs):
            lg = self.schedule.graph(i, g)
            hin = lg.add_hub_states(F.dropout(h, self.dropout, self.training))  # [N + H, D]
            w = None if lg.edge_weight is None else lg.edge_weight.to(hin.dtype)  # no copy when dtypes agree
            y = act(lg.remove_hub_states(conv(lg.graph, hin, w)))  # [N, D]
            h = h + y if self.residual else y
        return self.decoder(F.dropout(h, self.dropout, self.training))

    def extra_repr(self) -> str:
        return f"num_layers={self.num_layers}, conv={self.conv_type!r}, residual={self.residual}, schedule={self.schedule!r}"
