"""Graph isomorphism network convolution (Xu et al. 2019, https://arxiv.org/abs/1810.00826)."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .. import ops
from .._deprecated import renamed_keyword
from ..graph import Graph
from ._bipartite import NodeInput, autocast_split, split_input
from ._edge import scalar_edge_weight

__all__ = ["GINConv"]


class GINConv(nn.Module):
    r"""GIN: :math:`x'_v = \mathrm{nn}\big((1 + \epsilon) x_v + \sum_{u \to v} w_{uv} x_u\big)`.

    The neighbour term is one ``spmm`` (weighted when ``edge_weight`` is given, else
    :math:`w_{uv} = 1`): no per-edge message tensor. For ``[E, D]`` edge features see
    :class:`~gnnkit.nn.GINEConv`.

    Args:
        nn: the vertex MLP ``[N, F] -> [N, F']``.
        eps: initial :math:`\epsilon`. train_eps: learn it.
        reduce: ``"sum"`` (the injective choice) or ``"mean" | "max" | "min"``.
        aggr: deprecated name of ``reduce``.

    Shape:
        x ``[N, F]``, edge_weight ``[E]`` or None → ``[N, F']``; on a bipartite block the
        destinations are the first ``num_nodes`` rows of x; a pair ``(x_src, x_dst)`` gives
        the two vertex sets apart.

    Raises:
        ValueError: an unknown ``reduce``; in ``forward`` an ``edge_weight`` not of shape ``[E]``.
    """

    def __init__(self, nn: nn.Module, eps: float = 0.0, train_eps: bool = False, reduce: str = "sum", *,
                 aggr: str | None = None):
        super().__init__()
        reduce = renamed_keyword("GINConv", "aggr", "reduce", aggr, reduce, "sum")
        if reduce not in ops.REDUCES:
            raise ValueError(f"reduce must be one of {ops.REDUCES}, got {reduce!r}")
        self.nn, self.reduce, self.initial_eps = nn, reduce, eps
        if train_eps:
            self.eps = torch.nn.Parameter(torch.tensor(float(eps)))
        else:
            self.register_buffer("eps", torch.tensor(float(eps)))

    def reset_parameters(self) -> None:
        self.eps.data.fill_(self.initial_eps)
        for m in self.nn.modules():  # includes self.nn itself, which may be a bare nn.Linear
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def forward(self, g: Graph, x: NodeInput, edge_weight: Tensor | None = None) -> Tensor:
        """Apply the layer; ``edge_weight [E]`` scales each neighbour before ``reduce`` (``w x_u``)."""
        x_src, x_dst, pair = split_input(g, x)  # [S, F], [N, F]
        if self.reduce in ("sum", "mean"):  # cast once under autocast (max/min: see ops.spmm)
            x_src, x_dst = autocast_split(g, x_src, x_dst, pair)
        w = None if edge_weight is None else scalar_edge_weight(g.num_edges, edge_weight).to(x_src.dtype)  # [E]
        h = ops.spmm(g, x_src, w, reduce=self.reduce)  # [N, F]
        if self._fixed_zero_eps():  # GIN-0: (1 + 0) x is x, bit for bit; saves a multiply forward and backward
            return self.nn(x_dst + h)
        return self.nn((1 + self.eps) * x_dst + h)

    def _fixed_zero_eps(self) -> bool:
        """Whether eps is a CPU buffer holding 0 (GIN-0). Read on every call (about 1 us for a CPU
        scalar, no cache that ``eps.data.fill_`` could leave stale); a CUDA buffer or a learned eps
        keeps the general formula, so no call waits for the device; so does ``torch.compile``
        (no data-dependent branch in the trace)."""
        eps = self.eps
        if eps.requires_grad or eps.device.type != "cpu" or torch.compiler.is_compiling():
            return False
        return float(eps) == 0.0

    def extra_repr(self) -> str:
        return f"reduce={self.reduce!r}"
