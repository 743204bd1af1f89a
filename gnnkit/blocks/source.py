r"""Edge functions linear in the source feature, which let :class:`~gnnkit.nn.GNNLayer` take its fused path.

:class:`SourceEdgeFn` is the protocol ``GNNLayer`` recognises (re-exported as
``gnnkit.nn.SourceEdgeFn``); :class:`SourceTransform` applies any block to the source
vertex. Both live here, below :mod:`gnnkit.nn`, because ``nn`` builds on the blocks and
the blocks never import ``nn``.
"""
from __future__ import annotations

from torch import Tensor, nn

from .adapters import _check_block

__all__ = ["SourceEdgeFn", "SourceTransform"]


class SourceEdgeFn(nn.Module):
    r"""An edge function linear in the source feature: :math:`m_e = w_e \, T(x_u)`.

    ``T`` is :meth:`transform` (identity or a linear map) and :math:`w_e` an optional
    scalar (or per-head) weight taken from the layer's ``edge_weight``. Because
    ``T`` acts on vertices, the aggregation of all messages is one sparse product
    :math:`\gamma(A\,T(X))` — :class:`GNNLayer` takes that fused path for these.
    """

    use_edge_weight: bool = False

    def transform(self, x: Tensor) -> Tensor:  # [N, F] -> [N, M]
        return x

    def edge_weight(self, edge_weight: Tensor | None) -> Tensor | None:
        """The weights the messages are scaled by: ``edge_weight`` if :attr:`use_edge_weight`, else None."""
        if not self.use_edge_weight:
            return None
        if edge_weight is None:
            raise ValueError(f"{type(self).__name__} uses edge weights, but the layer was called with edge_weight=None")
        return edge_weight

    def forward(self, x_src: Tensor, x_dst: Tensor, edge_weight: Tensor | None) -> Tensor:  # [E, M]
        m = self.transform(x_src)
        w = self.edge_weight(edge_weight)
        if w is None:
            return m
        if w.dim() == 1:
            return m * w.view(-1, *([1] * (m.dim() - 1)))  # [E] -> [E, 1(, 1)]
        if m.dim() == 2:  # no head axis: only a shared [E, 1] weight fits, as in ops.spmm
            if w.shape[1:] != (1,):
                raise ValueError(
                    f"edge weights for [E, M] messages must have shape [E] or [E, 1], got {tuple(w.shape)}; "
                    f"per-head weights [E, H] need [N, H, F] node features"
                )
            return m * w  # [E, M] * [E, 1]
        return m * w.unsqueeze(-1)  # [E, H, M] * [E, H or 1, 1]


class SourceTransform(SourceEdgeFn):
    r"""Edge function :math:`m_e = (w_e)\, \mathrm{block}(x_u)`: a block applied to the source vertex.

    Because the message depends on the source only, :class:`~gnnkit.nn.GNNLayer` applies
    the block once per *vertex* and aggregates with one sparse product (its fused path),
    instead of once per edge. This is how a CNN or sequence encoder becomes an edge
    function on vertices whose features are images ``[N, C, H, W]`` or signals.

    Args:
        block: maps vertex features ``[N, ...]`` to ``[N, M]`` (or ``[N, H, M]``).
        use_edge_weight: scale each message by the layer's scalar ``edge_weight [E]``.

    Shape:
        x ``[N, ...]`` → messages aggregated to ``[N, M]``.
    """

    def __init__(self, block: nn.Module, use_edge_weight: bool = False):
        super().__init__()
        _check_block(block)
        self.block = block
        self.use_edge_weight = use_edge_weight

    def transform(self, x: Tensor) -> Tensor:
        return self.block(x)

    def extra_repr(self) -> str:
        return f"use_edge_weight={self.use_edge_weight}"
