r"""An edge function that applies a block to the source vertex, so GNNLayer can take its fused path.

Kept apart from :mod:`gnnkit.blocks.adapters` because it subclasses
:class:`gnnkit.nn.message_passing.SourceEdgeFn`: of all the blocks, only this module
imports :mod:`gnnkit.nn`, so :mod:`gnnkit.nn` modules can import the other blocks
without an import cycle.
"""
from __future__ import annotations

from torch import Tensor, nn

from ..nn.message_passing import SourceEdgeFn
from .adapters import _check_block

__all__ = ["SourceTransform"]


class SourceTransform(SourceEdgeFn):
    r"""Edge function :math:`m_e = (w_e)\, \mathrm{block}(x_u)`: a block applied to the source vertex.

    Because the message depends on the source only, :class:`~gnnkit.nn.GNNLayer` applies
    the block once per *vertex* and aggregates with one sparse product (its fused path),
    instead of once per edge. This is how a CNN or sequence encoder becomes an edge
    function on vertices whose features are images ``[N, C, H, W]`` or signals.

    Args:
        block: maps vertex features ``[N, ...]`` to ``[N, M]`` (or ``[N, H, M]``).
        use_edge_weight: scale each message by the layer's scalar edge data ``e [E]``.

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
