r"""Graph-level classification and regression: convolutions, a per-graph readout and a linear head.

The default is the GIN of Xu et al. 2019 ("How Powerful are Graph Neural Networks?",
https://arxiv.org/abs/1810.00826): each layer is a :class:`~gnnkit.nn.GINConv` whose vertex
function is a 2-layer MLP with batch norm, followed by batch norm and ReLU; every layer's
vertex features (the input included) are read out per graph and mapped to the classes by
their own linear head, and the heads' outputs are summed ("jumping knowledge"):

.. math:: \hat y_b = \sum_{l=0}^{L} W_l\, \mathrm{dropout}\Big(\bigoplus_{v \in V_b} h_v^{(l)}\Big) + c_l
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..blocks.mlp import MLP, _check_dropout, _check_positive
from ..graph import Graph
from ..nn import AttentionReadout, GCNConv, GINConv, SAGEConv, readout
from ..nn.readout import READOUTS

__all__ = ["GraphClassifier", "GRAPH_CONVS", "GRAPH_READOUTS"]

GRAPH_CONVS = ("gin", "gcn", "sage")
GRAPH_READOUTS = READOUTS + ("attention",)


class GraphClassifier(nn.Module):
    r"""Convolutions → per-graph readout → linear head: one output row per graph of a batch.

    Args:
        in_features: vertex feature size ``F``.
        num_classes: output width: the classes (logits for cross-entropy) or, for
            regression, the number of targets (train with MSE).
        hidden_features: width of every convolution.
        num_layers: number of convolutions (>= 1).
        conv: ``"gin"`` (GINConv, :math:`\epsilon = 0` as GIN-0, MLP Linear → BatchNorm →
            ReLU → Linear), ``"gcn"`` or ``"sage"`` (mean); each is followed by BatchNorm
            and ReLU.
        readout: ``"sum" | "mean" | "max"`` (:func:`gnnkit.nn.readout`) or ``"attention"``
            (:class:`gnnkit.nn.AttentionReadout` with a linear gate, one per readout).
        dropout: on each read-out vector before its head.
        jumping_knowledge: read out the input and every layer and sum the heads (Xu et
            al.); ``False`` reads out the last layer only.

    Shape:
        g: a batched graph of ``B`` graphs (:meth:`Graph.batch`; an unbatched graph is
        ``B = 1``), x ``[N, F]`` → ``[B, num_classes]``. A graph without vertices reads
        out 0, so its output is the sum of the heads' biases.

    Raises:
        ValueError: an unknown ``conv``/``readout``, a size or depth below 1, dropout
            outside ``[0, 1)``, or (in ``forward``) x not ``[N, in_features]``.
    """

    def __init__(self, in_features: int, num_classes: int, *, hidden_features: int = 64, num_layers: int = 5,
                 conv: str = "gin", readout: str = "sum", dropout: float = 0.5, jumping_knowledge: bool = True):
        super().__init__()
        _check_positive(in_features=in_features, num_classes=num_classes, hidden_features=hidden_features,
                        num_layers=num_layers)
        _check_dropout(dropout)
        if conv not in GRAPH_CONVS:
            raise ValueError(f"conv must be one of {GRAPH_CONVS}, got {conv!r}")
        if readout not in GRAPH_READOUTS:
            raise ValueError(f"readout must be one of {GRAPH_READOUTS}, got {readout!r}")
        self.in_features, self.num_classes, self.hidden_features = in_features, num_classes, hidden_features
        self.num_layers, self.conv, self.readout, self.dropout = num_layers, conv, readout, dropout
        self.jumping_knowledge = jumping_knowledge
        sizes = [in_features] + [hidden_features] * num_layers
        self.convs = nn.ModuleList(self._make_conv(sizes[i], sizes[i + 1]) for i in range(num_layers))
        self.norms = nn.ModuleList(nn.BatchNorm1d(hidden_features) for _ in range(num_layers))
        # one readout and head per read-out representation: h^0..h^L with jumping knowledge, h^L alone without
        read = sizes if jumping_knowledge else sizes[-1:]
        self.pools = nn.ModuleList(AttentionReadout(nn.Linear(f, 1)) for f in read) if readout == "attention" else None
        self.heads = nn.ModuleList(nn.Linear(f, num_classes) for f in read)

    def _make_conv(self, fin: int, fout: int) -> nn.Module:
        if self.conv == "gin":
            return GINConv(MLP(fin, fout, fout, num_layers=2, norm="batch"), eps=0.0, train_eps=False)
        if self.conv == "gcn":
            return GCNConv(fin, fout)
        return SAGEConv(fin, fout, reduce="mean")

    def reset_parameters(self) -> None:
        for m in self.modules():
            if m is not self and hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def forward(self, g: Graph, x: Tensor) -> Tensor:
        """Logits (or regression outputs) ``[B, num_classes]`` of the graphs of batch ``g``."""
        if not isinstance(x, Tensor) or x.dim() != 2 or x.shape != (g.num_nodes, self.in_features):
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x must have shape [N, F] = [{g.num_nodes}, {self.in_features}] (num_nodes, "
                             f"in_features), got {shape}")
        hs = [x]
        for conv, norm in zip(self.convs, self.norms):
            hs.append(F.relu(norm(conv(g, hs[-1]))))  # [N, hidden]
        if not self.jumping_knowledge:
            hs = hs[-1:]
        if self.pools is not None:  # attention: each representation has its own gate
            return sum(head(F.dropout(pool(g, h), p=self.dropout, training=self.training))
                       for h, pool, head in zip(hs, self.pools, self.heads))  # [B, num_classes]
        # sum/mean/max act per column, so one readout of the concatenated layers equals one per layer, and
        # the sum of the heads is one linear map of the concatenation: 1 sparse op and 1 matmul instead of
        # L + 1 of each (the per-layer readouts and heads took a third of an epoch on 10-30-vertex graphs)
        pooled = readout(g, torch.cat(hs, 1), self.readout)  # [B, sum of widths]
        pooled = F.dropout(pooled, p=self.dropout, training=self.training)
        weight = torch.cat([head.weight for head in self.heads], 1)  # [num_classes, sum of widths]
        bias = torch.stack([head.bias for head in self.heads]).sum(0)  # [num_classes]
        return F.linear(pooled, weight, bias)  # [B, num_classes]

    def extra_repr(self) -> str:
        return (f"{self.in_features}, {self.num_classes}, hidden_features={self.hidden_features}, "
                f"num_layers={self.num_layers}, conv={self.conv!r}, readout={self.readout!r}, dropout={self.dropout}, "
                f"jumping_knowledge={self.jumping_knowledge}")
