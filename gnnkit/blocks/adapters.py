r"""Thin adapters that turn a block into an edge function f or a vertex function g of :class:`~gnnkit.nn.GNNLayer`.

``GNNLayer`` calls ``edge_fn(x_src [E, F], x_dst [E, F], edge_weight [E, D] | None) -> [E, M]`` and
``vertex_fn(x [N, F], h [N, M]) -> [N, F']``; a block maps one tensor to one tensor. The
adapters only concatenate, encode or unpack, so the block still runs once, batched over
all edges or all vertices. The fused-path edge function
:class:`~gnnkit.blocks.SourceTransform` lives in :mod:`gnnkit.blocks.source` with its base
:class:`~gnnkit.blocks.source.SourceEdgeFn`.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .recurrent import RecurrentCell

__all__ = ["ConcatEdgeFn", "ConcatVertexFn", "RecurrentVertexFn"]


def _check_block(block: nn.Module, name: str = "block") -> None:
    if not callable(block):
        raise TypeError(f"{name} must be an nn.Module or callable, got {type(block).__name__}")


class ConcatEdgeFn(nn.Module):
    r"""Edge function :math:`m_e = \mathrm{block}([x_u \,\|\, x_v \,\|\, w_{uv}])` over all edges at once.

    Args:
        block: any module on the last axis, e.g. an :class:`~gnnkit.blocks.MLP` with
            ``in_features = F (+ F if use_dst) (+ D if use_edge)``.
        use_dst: include the destination feature :math:`x_v`.
        use_edge: include the layer's ``edge_weight`` :math:`w_{uv}` (``[E]`` is read as ``[E, 1]``).

    Shape:
        x_src, x_dst ``[E, F]``, edge_weight ``[E]``/``[E, D]`` → ``[E, M]``.

    Raises:
        ValueError: (in ``forward``) ``use_edge`` but the layer was called without edge data.
    """

    def __init__(self, block: nn.Module, use_dst: bool = True, use_edge: bool = False):
        super().__init__()
        _check_block(block)
        self.block, self.use_dst, self.use_edge = block, use_dst, use_edge

    def forward(self, x_src: Tensor, x_dst: Tensor, edge_weight: Tensor | None) -> Tensor:
        parts = [x_src]
        if self.use_dst:
            parts.append(x_dst)
        if self.use_edge:
            if edge_weight is None:
                raise ValueError("ConcatEdgeFn(use_edge=True) needs edge data: call the layer as layer(g, x, edge_weight)")
            parts.append(edge_weight.unsqueeze(-1) if edge_weight.dim() == 1 else edge_weight)
        return self.block(torch.cat(parts, dim=-1))  # [E, M]

    def extra_repr(self) -> str:
        return f"use_dst={self.use_dst}, use_edge={self.use_edge}"


class ConcatVertexFn(nn.Module):
    r"""Vertex function :math:`x'_v = \mathrm{block}([\mathrm{enc}(x_v) \,\|\, h_v])`.

    Args:
        block: a module on the last axis (e.g. :class:`~gnnkit.blocks.MLP` with
            ``in_features = F_enc + M``).
        x_encoder: optional encoder applied to the vertex features first, e.g. a
            :class:`~gnnkit.blocks.Conv2dEncoder` when each vertex holds an image; ``None``
            uses ``x`` as it is.

    Shape:
        x ``[N, F]`` (or what ``x_encoder`` takes), h ``[N, M]`` → ``[N, F']``.
    """

    def __init__(self, block: nn.Module, x_encoder: nn.Module | None = None):
        super().__init__()
        _check_block(block)
        if x_encoder is not None:
            _check_block(x_encoder, "x_encoder")
        self.block, self.x_encoder = block, x_encoder

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        if self.x_encoder is not None:
            x = self.x_encoder(x)  # [N, F_enc]
        return self.block(torch.cat([x, h], dim=-1))


class RecurrentVertexFn(nn.Module):
    r"""Vertex function that advances a recurrent cell: the aggregate is the input, the vertex feature the state.

    .. math:: x'_v = \mathrm{pack}\big(\mathrm{cell}(h_v,\ \mathrm{unpack}(x_v))\big)

    With a :class:`~gnnkit.blocks.GRUCell` this is the GRU update of gated graph networks
    (Li et al. 2016) and of MPNN (Gilmer et al. 2017): ``x' = GRU(input=h, state=x)``.
    With an :class:`~gnnkit.blocks.LSTMCell` or :class:`~gnnkit.blocks.LRU` the vertex
    features carry the packed state (``[h ‖ c]`` or ``[Re ‖ Im]``); read it with
    ``cell.unpack_state``.

    Args:
        cell: a :class:`~gnnkit.blocks.RecurrentCell` whose ``in_features`` is the
            aggregate size ``M``.

    Shape:
        x ``[N, S]`` (``S = cell.state_features``), h ``[N, M]`` → ``[N, S]``.
    """

    def __init__(self, cell: RecurrentCell):
        super().__init__()
        if not isinstance(cell, RecurrentCell):
            raise TypeError(f"cell must be a gnnkit.blocks.RecurrentCell (GRUCell, LSTMCell, LRU), got {type(cell).__name__}")
        self.cell = cell

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        _, state = self.cell(h, self.cell.unpack_state(x))
        return self.cell.pack_state(state)
