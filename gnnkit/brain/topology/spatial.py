"""The generators' result: a sparse synapse graph with neuron positions and group labels."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ...graph import Graph
from .._validate import as_positions, check_graph

__all__ = ["SpatialGraph", "edge_lengths"]


@dataclass(frozen=True, eq=False)
class SpatialGraph:
    """A synapse graph whose neurons have positions in space.

    Args:
        graph: synapses ``src -> dst`` over ``N`` neurons (one vertex set).
        positions: ``[N, D]`` finite coordinates (float32, CPU).
        groups: optional ``[N]`` int64 group of each neuron (module, layer, population).
        group_names: optional names of the groups, ``group_names[g]`` for label ``g``.

    Raises:
        TypeError: a non-Graph ``graph``. ValueError: a bipartite graph, positions that
            are not ``[N, D]`` or not finite, groups of the wrong length.
    """

    graph: Graph
    positions: Tensor
    groups: Tensor | None = None
    group_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        check_graph(self.graph, "graph")
        object.__setattr__(self, "positions", as_positions(self.positions, self.graph.num_nodes))
        if self.groups is not None:
            groups = torch.as_tensor(self.groups)
            if groups.shape != (self.graph.num_nodes,) or groups.is_floating_point():
                raise ValueError(
                    f"groups must be an integer tensor of shape [N] = [{self.graph.num_nodes}], got "
                    f"{groups.dtype} {tuple(groups.shape)}"
                )
            object.__setattr__(self, "groups", groups.to(torch.int64))
        if self.group_names is not None:
            object.__setattr__(self, "group_names", tuple(str(n) for n in self.group_names))

    @property
    def num_nodes(self) -> int:
        return self.graph.num_nodes

    @property
    def num_edges(self) -> int:
        return self.graph.num_edges

    @property
    def dim(self) -> int:
        """Number of spatial coordinates ``D``."""
        return self.positions.shape[1]

    def edge_lengths(self) -> Tensor:
        """``[E]`` Euclidean length of every synapse (float32), in the graph's edge order."""
        return edge_lengths(self.graph, self.positions)

    def with_graph(self, graph: Graph) -> "SpatialGraph":
        """The same neurons (positions, groups) with another synapse set, e.g. after pruning."""
        if not isinstance(graph, Graph) or graph.num_nodes != self.num_nodes:
            got = graph.num_nodes if isinstance(graph, Graph) else type(graph).__name__
            raise ValueError(f"graph must be a Graph over the same {self.num_nodes} neurons, got {got}")
        return SpatialGraph(graph, self.positions, self.groups, self.group_names)

    def __repr__(self) -> str:
        groups = "" if self.groups is None else f", groups={int(self.groups.max()) + 1 if self.num_nodes else 0}"
        return f"SpatialGraph(num_nodes={self.num_nodes}, num_edges={self.num_edges}, dim={self.dim}{groups})"


def edge_lengths(graph: Graph, positions: Tensor) -> Tensor:
    r"""Euclidean length :math:`d_e = \lVert x_{src} - x_{dst} \rVert` of every edge.

    Args:
        graph: the synapses.
        positions: ``[N, D]`` finite neuron coordinates.

    Returns:
        ``[E]`` float32 on the graph's device, in the graph's edge order.

    Raises:
        ValueError: positions of the wrong shape or not finite.
    """
    check_graph(graph)
    pos = as_positions(positions, graph.num_nodes).to(graph.device)
    if graph.num_edges == 0:
        return pos.new_zeros(0)
    return (pos.index_select(0, graph.src) - pos.index_select(0, graph.dst)).norm(dim=1)  # [E]
