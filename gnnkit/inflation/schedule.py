"""Layer index → graph transform (:class:`Identity`, :class:`Shortcuts`, :class:`Hubs`), each result built once."""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Sequence, Union

from ..graph import Graph
from ..graph.multiview import MultiViewGraph
from ._validate import _check_graph, _check_int
from .hubs import CLUSTER_METHODS, HUB_INITS, READOUTS, hub_graph
from .layer_graph import LayerGraph
from .shortcuts import SHORTCUT_SCORES, shortcut_edges

__all__ = ["GraphTransform", "Identity", "Shortcuts", "Hubs", "InflationSchedule"]


class GraphTransform:
    """A per-layer graph transform: ``transform(g) -> LayerGraph``.

    Subclasses are frozen dataclasses, so equal settings compare (and cache) equal.
    """

    def __call__(self, g: Graph | MultiViewGraph) -> LayerGraph | MultiViewGraph:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass(frozen=True)
class Identity(GraphTransform):
    """The layer runs on the graph as given."""

    def __call__(self, g: Graph | MultiViewGraph) -> LayerGraph | MultiViewGraph:
        if isinstance(g, MultiViewGraph):
            return g
        _check_graph(g)
        return LayerGraph(g)


@dataclass(frozen=True)
class Shortcuts(GraphTransform):
    """Shortcut edges within ``k`` hops; the fields are :func:`shortcut_edges`'s arguments."""

    k: int
    max_per_node: int | None = None
    max_edges: int | None = None
    score: str = "paths"
    decay: float = 0.5
    min_hops: int = 2
    keep_original: bool = True
    self_loops: bool = False
    beam: int | None = None
    ppr_alpha: float = 0.15

    def __post_init__(self) -> None:  # fail at schedule construction, not at the first forward
        _check_int(self.k, "k", 1)
        _check_int(self.max_per_node, "max_per_node", 0, allow_none=True)
        _check_int(self.max_edges, "max_edges", 0, allow_none=True)
        _check_int(self.beam, "beam", 1, allow_none=True)
        _check_int(self.min_hops, "min_hops", 2)
        if self.score not in SHORTCUT_SCORES:
            raise ValueError(f"score must be one of {SHORTCUT_SCORES}, got {self.score!r}")
        if not 0.0 < self.decay <= 1.0:
            raise ValueError(f"decay must lie in (0, 1], got {self.decay}")
        if not 0.0 < self.ppr_alpha < 1.0:
            raise ValueError(f"ppr_alpha must lie in (0, 1), got {self.ppr_alpha}")

    def __call__(self, g: Graph | MultiViewGraph) -> LayerGraph | MultiViewGraph:
        return shortcut_edges(g, self.k, self.max_per_node, self.max_edges, self.score, self.decay, self.min_hops,
                              self.keep_original, self.self_loops, self.beam, self.ppr_alpha)


@dataclass(frozen=True)
class Hubs(GraphTransform):
    """One hub vertex per cluster (:func:`hub_graph`); the fields are its arguments."""

    num_clusters: int
    method: str = "auto"
    hub_weight: float = 1.0
    connect_hubs: bool = True
    hub_init: str = "mean"
    readout: str = "pool"
    seed: int = 0

    def __post_init__(self) -> None:
        _check_int(self.num_clusters, "num_clusters", 1)
        if self.method not in CLUSTER_METHODS:
            raise ValueError(f"method must be one of {CLUSTER_METHODS}, got {self.method!r}")
        if self.hub_init not in HUB_INITS:
            raise ValueError(f"hub_init must be one of {HUB_INITS}, got {self.hub_init!r}")
        if self.readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {self.readout!r}")

    def __call__(self, g: Graph | MultiViewGraph) -> LayerGraph:
        if isinstance(g, MultiViewGraph):
            raise TypeError("Hubs works on a Graph; for a MultiViewGraph inflate its union() or use Shortcuts per view")
        return hub_graph(g, num_clusters=self.num_clusters, method=self.method, hub_weight=self.hub_weight,
                         connect_hubs=self.connect_hubs, hub_init=self.hub_init, readout=self.readout, seed=self.seed)


Transform = Union[GraphTransform, None]


class InflationSchedule:
    """Layer index → graph transform, with every transformed graph built once and cached.

    Args:
        transforms: one transform per layer (``None`` means :class:`Identity`). Layers
            with equal transforms share one cached graph.

    Example:
        ``InflationSchedule.from_hops([1, 2, 4, 8], max_per_node=16)`` grows the hop
        range with depth; ``InflationSchedule([None, Hubs(32), Hubs(32), None])``
        inflates only the middle layers.

    Raises:
        TypeError: an entry that is not a :class:`GraphTransform` or ``None``.
        ValueError: an empty schedule.
    """

    def __init__(self, transforms: Sequence[Transform]) -> None:
        transforms = list(transforms)
        if not transforms:
            raise ValueError("transforms must hold one transform per layer, got an empty sequence")
        for i, t in enumerate(transforms):
            if t is not None and not isinstance(t, GraphTransform):
                raise TypeError(f"transforms[{i}] must be a GraphTransform (Identity, Shortcuts, Hubs) or None, "
                                f"got {type(t).__name__}")
        self.transforms: tuple[GraphTransform, ...] = tuple(Identity() if t is None else t for t in transforms)
        # graph -> {transform: result}; weak keys so a schedule does not keep dead graphs alive
        self._cache: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()

    @staticmethod
    def plain(num_layers: int) -> "InflationSchedule":
        """``num_layers`` layers on the unchanged graph."""
        _check_int(num_layers, "num_layers", 1)
        return InflationSchedule([None] * num_layers)

    @staticmethod
    def from_hops(hops: Sequence[int], **shortcut_kwargs) -> "InflationSchedule":
        """Layer ``i`` gets :class:`Shortcuts` ``(k=hops[i], **shortcut_kwargs)`` (``k = 1``: the plain graph)."""
        out = []
        for i, k in enumerate(hops):
            _check_int(k, f"hops[{i}]", 1)
            out.append(None if k == 1 else Shortcuts(int(k), **shortcut_kwargs))
        return InflationSchedule(out)

    def __len__(self) -> int:
        return len(self.transforms)

    def __getitem__(self, layer: int) -> GraphTransform:
        return self.transforms[layer]

    def __repr__(self) -> str:
        return f"InflationSchedule({list(self.transforms)})"

    def check_depth(self, num_layers: int) -> None:
        """Raise unless the schedule covers ``num_layers`` layers."""
        if len(self) < num_layers:
            raise ValueError(
                f"schedule has {len(self)} transforms but the model has num_layers={num_layers}; "
                f"give one transform (or None) per layer"
            )

    def graph(self, layer: int, g: Graph | MultiViewGraph) -> LayerGraph | MultiViewGraph:
        """The graph layer ``layer`` runs on (built on first use, then cached).

        Raises:
            IndexError: ``layer`` outside ``[0, len(schedule))``.
        """
        if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < len(self):
            raise IndexError(f"layer must be an int in [0, {len(self)}), got {layer!r}")
        t = self.transforms[layer]
        if isinstance(t, Identity):  # nothing to build; caching it would pin g in the weak cache
            return t(g)
        per_graph = self._cache.get(g)
        if per_graph is None:
            per_graph = self._cache[g] = {}
        if t not in per_graph:
            per_graph[t] = t(g)
        return per_graph[t]

    def stats(self, g: Graph, num_layers: int | None = None) -> list[dict]:
        """Per layer: the transform, vertices, edges, hubs and edges added to ``g``."""
        out = []
        for i in range(len(self) if num_layers is None else num_layers):
            lg = self.graph(i, g)
            out.append({"layer": i, "transform": repr(self.transforms[i]), **lg.stats(g)})
        return out
