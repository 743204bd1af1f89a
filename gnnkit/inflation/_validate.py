"""Argument checks shared by the inflation modules."""
from __future__ import annotations

import numpy as np
from torch import Tensor

from ..graph import Graph


def _check_int(value, name: str, minimum: int, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int{' or None' if allow_none else ''}, got {type(value).__name__} ({value!r})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def _check_graph(g, name: str = "g") -> None:
    if not isinstance(g, Graph):
        raise TypeError(f"{name} must be a gnnkit.Graph, got {type(g).__name__}")
    if g.is_bipartite:
        raise ValueError(
            f"{name} is bipartite (num_src_nodes={g.num_src_nodes}, num_nodes={g.num_nodes}); "
            f"inflation needs one vertex set"
        )


def _check_edge_weight(w: Tensor | None, g: Graph) -> None:
    if w is None:
        return
    if not isinstance(w, Tensor) or not w.is_floating_point():
        raise TypeError(f"edge_weight must be a float tensor, got {type(w).__name__ if not isinstance(w, Tensor) else w.dtype}")
    if w.shape != (g.num_edges,):
        raise ValueError(f"edge_weight must have shape [E={g.num_edges}], got {tuple(w.shape)}")
