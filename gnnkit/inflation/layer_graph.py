"""The graph one layer runs on: extra edges and, for one layer only, extra (hub) vertices."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..graph import Graph

__all__ = ["LayerGraph"]


@dataclass(frozen=True, eq=False)
class LayerGraph:
    """The graph one layer runs on: possibly extra edges, possibly extra (hub) vertices.

    Vertices ``0 .. num_nodes-1`` are the original ones; ``num_nodes ..
    num_nodes+num_hubs-1`` are hubs that exist for this layer only.

    Args:
        graph: the layer's graph over ``num_nodes + num_hubs`` vertices.
        edge_weight: ``[E]`` weights (``None``: all ones).
        num_hubs: added vertices.
        hub_of: ``[num_nodes]`` hub index of each original vertex (hubs only).
        hub_init: ``"mean"`` (a hub starts as the mean of its members) or ``"zero"``.
        readout: ``"drop"`` (hub outputs are discarded) or ``"pool"`` (each vertex adds
            its hub's output to its own).
        hops: ``[E]`` hop distance each edge shortcuts (1 for original edges, 0 for
            self-loops, -1 for hub edges), when known.
    """

    graph: Graph
    edge_weight: Tensor | None = None
    num_hubs: int = 0
    hub_of: Tensor | None = None
    hub_init: str = "mean"
    readout: str = "pool"
    hops: Tensor | None = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def num_nodes(self) -> int:
        """Original vertices (the graph's vertices minus the hubs)."""
        return self.graph.num_nodes - self.num_hubs

    def add_hub_states(self, x: Tensor) -> Tensor:
        """Append one row per hub to the vertex states.

        Shape:
            x ``[N, F]`` → ``[N + num_hubs, F]`` (``x`` itself when there are no hubs).
        """
        if self.num_hubs == 0:
            return x
        if x.shape[0] != self.num_nodes:
            raise ValueError(f"x must have num_nodes={self.num_nodes} rows, got {tuple(x.shape)}")
        if self.hub_init == "zero":
            hubs = x.new_zeros((self.num_hubs,) + tuple(x.shape[1:]))
        else:
            size = self._cache.get("hub_size")
            if size is None:
                size = self._cache["hub_size"] = torch.bincount(self.hub_of, minlength=self.num_hubs).clamp(min=1)
            hubs = x.new_zeros((self.num_hubs,) + tuple(x.shape[1:])).index_add_(0, self.hub_of, x)  # [H, F]
            hubs = hubs / size.to(x.dtype).view(-1, *([1] * (x.dim() - 1)))
        return torch.cat([x, hubs])  # [N + H, F]

    def remove_hub_states(self, y: Tensor) -> Tensor:
        """Drop the hub rows (``readout="drop"``) or add each hub's row to its members (``"pool"``).

        Shape:
            y ``[N + num_hubs, F]`` → ``[N, F]``.
        """
        if self.num_hubs == 0:
            return y
        n = self.num_nodes
        if self.readout == "drop":
            return y[:n]
        return y[:n] + y[n:].index_select(0, self.hub_of)  # [N, F]

    def stats(self, base: Graph | None = None) -> dict:
        """Edge and vertex counts, and the edges added relative to ``base``."""
        out = {"num_nodes": self.graph.num_nodes, "num_edges": self.graph.num_edges, "num_hubs": self.num_hubs}
        if base is not None:
            out["added_edges"] = self.graph.num_edges - base.num_edges
        return out
