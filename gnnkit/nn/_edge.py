"""Checks of a layer's ``edge_weight`` argument: a scalar weight per edge, or a feature vector per edge."""
from __future__ import annotations

from torch import Tensor

__all__ = ["scalar_edge_weight", "edge_features"]


def _shape(value: object) -> object:
    return tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__


def scalar_edge_weight(num_edges: int, edge_weight: object) -> Tensor:
    """``edge_weight`` checked to be one number per edge (``num_edges`` of them).

    Shape:
        edge_weight ``[E]`` → ``[E]``.

    Raises:
        ValueError: not a tensor of shape ``[E]``.
    """
    if not isinstance(edge_weight, Tensor) or edge_weight.shape != (num_edges,):
        raise ValueError(f"edge_weight must have shape [E={num_edges}], got {_shape(edge_weight)}")
    return edge_weight


def edge_features(num_edges: int, edge_weight: object, dim: int, dim_name: str, hint: str = "") -> Tensor:
    """``edge_weight`` as ``[E, D]`` edge features, ``D = dim``; a vector ``[E]`` is read as ``D = 1``.

    Args:
        num_edges: ``E``, the rows expected (one per edge, in the graph's edge order).
        edge_weight: the features. dim: the expected ``D``. dim_name: what sets ``D``,
            named in the error (``"edge_dim"``, or the node feature size). hint: appended
            to the error message (how to fix it).

    Shape:
        edge_weight ``[E, D]`` or ``[E]`` → ``[E, D]``.

    Raises:
        ValueError: not a tensor of shape ``[E, dim]`` (or ``[E]`` when ``dim = 1``).
    """
    e = edge_weight.unsqueeze(-1) if isinstance(edge_weight, Tensor) and edge_weight.dim() == 1 else edge_weight
    if not isinstance(e, Tensor) or e.shape != (num_edges, dim):
        raise ValueError(f"edge_weight must have shape [E={num_edges}, {dim_name}={dim}], got {_shape(edge_weight)}{hint}")
    return e  # [E, D]
