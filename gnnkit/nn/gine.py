"""GIN with edge features (Hu et al. 2020, https://arxiv.org/abs/1905.12265)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import ops
from ..graph import Graph
from ._bipartite import NodeInput, split_input
from ._edge import edge_features
from .gin import GINConv

__all__ = ["GINEConv"]


def _nn_in_features(module: nn.Module) -> int:
    """The input size of the vertex MLP, read from it (or its first layer) as PyG's ``GINEConv`` does."""
    first = module[0] if isinstance(module, nn.Sequential) and len(module) > 0 else module
    size = getattr(first, "in_features", None)
    if not isinstance(size, int):
        raise ValueError(
            f"GINEConv(edge_dim=...) reads the node feature size F from nn, but nn's first layer "
            f"({type(first).__name__}) has no int in_features; make it an nn.Linear"
        )
    return size


class GINEConv(GINConv):
    r"""GIN with edge features: :math:`x'_v = \mathrm{nn}\big((1 + \epsilon) x_v + \sum_{u \to v} \mathrm{ReLU}(x_u + W_e e_{uv} + b_e)\big)`.

    Matches PyG's ``GINEConv``: with ``edge_dim`` the edge features pass through
    ``lin_edge`` (``nn.Linear(edge_dim, F)`` with bias, PyG's ``lin``) to the node feature size;
    without it they must already have ``F`` columns.

    The ReLU sits between the edge term and the sum, so the messages cannot be folded
    into one sparse product as :class:`GINConv`'s are: this layer materialises one ``[E, F]``
    message tensor (``gather`` + add + ReLU + ``segment_reduce``), the unavoidable per-edge
    cost of the formula, memory ``E F`` on top of the ``[E, D]`` input.

    Args:
        nn: the vertex MLP ``[N, F] -> [N, F']``.
        eps: initial :math:`\epsilon`. train_eps: learn it.
        edge_dim: ``D``, to project the edge features to ``F`` first; ``None`` when they
            already have ``F`` columns. ``F`` is read from ``nn`` (an ``nn.Linear``, or an
            ``nn.Sequential`` starting with one).
        reduce: ``"sum"`` (PyG's ``"add"``) or ``"mean" | "max" | "min"``.

    Shape:
        x ``[N, F]``, edge_weight ``[E, D]`` (``[E]`` when ``D = 1``) → ``[N, F']``; on a
        bipartite block the destinations are the first ``num_nodes`` rows of x; a pair
        ``(x_src, x_dst)`` gives the two vertex sets apart. A vertex without in-edges
        gets :math:`\mathrm{nn}((1 + \epsilon) x_v)`.

    Raises:
        ValueError: an unknown ``reduce``, ``edge_dim < 1``, or with ``edge_dim`` an ``nn``
            whose input size cannot be read.
    """

    def __init__(self, nn: torch.nn.Module, eps: float = 0.0, train_eps: bool = False, edge_dim: int | None = None,
                 reduce: str = "sum"):
        super().__init__(nn, eps=eps, train_eps=train_eps, reduce=reduce)
        if edge_dim is not None and edge_dim < 1:
            raise ValueError(f"edge_dim must be None or >= 1, got {edge_dim}")
        self.edge_dim = edge_dim
        if edge_dim is not None:
            self.lin_edge = torch.nn.Linear(edge_dim, _nn_in_features(nn))
        else:  # registered as None so that state dicts and repr say the features go in unprojected
            self.register_module("lin_edge", None)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.lin_edge is not None:
            self.lin_edge.reset_parameters()

    def forward(self, g: Graph, x: NodeInput, edge_weight: Tensor | None = None) -> Tensor:
        """Apply the layer.

        Args:
            g: the graph. x: node features, or a pair ``(x_src, x_dst)``.
            edge_weight: the edge features ``[E, D]`` in ``g``'s edge order (required).

        Raises:
            ValueError: ``edge_weight`` missing or not of shape ``[E, edge_dim]`` (``[E, F]``
                without ``edge_dim``).
        """
        x_src, x_dst, _ = split_input(g, x)  # [S, F], [N, F]
        if edge_weight is None:
            raise ValueError("GINEConv needs edge features: pass edge_weight [E, D]; for none use GINConv")
        if self.lin_edge is not None:
            e = self.lin_edge(edge_features(g.num_edges, edge_weight, self.edge_dim, "edge_dim"))  # [E, F]
        else:
            e = edge_features(g.num_edges, edge_weight, x_src.shape[-1], "F",
                              "; without edge_dim the edge features need the node feature size F, "
                              "or construct GINEConv with edge_dim=D")  # [E, F]
        m = F.relu(ops.gather(g, x_src, "src") + e)  # [E, F]: the per-edge messages the ReLU forces
        return self.nn((1 + self.eps) * x_dst + ops.segment_reduce(g, m, self.reduce))  # [N, F']

    def extra_repr(self) -> str:
        edge = "" if self.edge_dim is None else f", edge_dim={self.edge_dim}"
        return f"{super().extra_repr()}{edge}"
