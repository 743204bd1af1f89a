"""The two sides of a layer's input: ``x`` on one vertex set, or ``(x_src, x_dst)`` on a bipartite relation."""
from __future__ import annotations

from typing import Tuple, Union

from torch import Tensor

from .. import ops
from ..graph import Graph

__all__ = ["NodeInput", "split_input"]

NodeInput = Union[Tensor, Tuple[Tensor, Tensor]]


def autocast_split(g: Graph, x_src: Tensor, x_dst: Tensor, pair: bool) -> tuple[Tensor, Tensor]:
    """``split_input``'s tensors as the sparse ops take them under autocast (:func:`gnnkit.ops.autocast_input`):
    a layer whose input feeds several products casts it once, and a single tensor's destination
    rows stay a view of its cast sources rather than a second cast."""
    if pair:
        return ops.autocast_input(x_src), ops.autocast_input(x_dst)
    xs = ops.autocast_input(x_src)
    return xs, (xs[: g.num_nodes] if g.is_bipartite else xs)


def split_input(g: Graph, x: NodeInput) -> tuple[Tensor, Tensor, bool]:
    """``(x_src, x_dst, is_pair)`` of a layer input.

    A single tensor holds the sources; its destination rows are the tensor itself, or on a
    bipartite block its first ``num_nodes`` rows (DGL's block convention). A pair
    ``(x_src, x_dst)`` gives the two vertex sets separately, as a relation between two node
    types of a :class:`~gnnkit.graph.HeteroGraph` needs (DGL / PyG take the same pair).

    Shape:
        x ``[num_src_nodes, F]``, or x_src ``[num_src_nodes, F]`` and x_dst ``[num_nodes, F]``.

    Raises:
        TypeError: ``x`` is neither a tensor nor a pair of tensors, or holds integer, bool or
            complex values (the layers project it with a float weight).
        ValueError: a pair whose row counts do not match ``g``.
    """
    if isinstance(x, Tensor):
        ops.check_float(x, "x")
        return x, (x[: g.num_nodes] if g.is_bipartite else x), False
    if not (isinstance(x, (tuple, list)) and len(x) == 2 and all(isinstance(t, Tensor) for t in x)):
        raise TypeError(f"x must be a tensor or a pair (x_src, x_dst) of tensors, got {type(x).__name__}")
    x_src, x_dst = x
    ops.check_float(x_src, "x_src")
    ops.check_float(x_dst, "x_dst")
    for name, t, rows, what in (("x_src", x_src, g.num_src_nodes, "num_src_nodes"), ("x_dst", x_dst, g.num_nodes, "num_nodes")):
        if t.dim() == 0 or t.shape[0] != rows:
            raise ValueError(f"{name} must have {what}={rows} rows, got shape {tuple(t.shape)}")
    return x_src, x_dst, True
