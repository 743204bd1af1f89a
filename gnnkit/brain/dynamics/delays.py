r"""Synaptic delays in whole steps: one sparse product over a buffer of past spikes.

A synapse ``e = (u -> v)`` with delay :math:`d_e` steps delivers at step :math:`t` the spike
that ``u`` emitted at step :math:`t - d_e`. The spikes of the last :math:`D + 1` steps are
kept as a buffer ``[D + 1, N, B]`` (slot ``k`` holds step :math:`t - k`); flattened to
``[(D + 1) N, B]`` it is the source side of a bipartite graph whose edge ``e`` reads row
:math:`d_e N + u`. Every delay group is then served by the same single
:func:`gnnkit.ops.spmm` call per step, with the synapse weights in their original order:
no loop over edges, neurons or delay groups. Advancing the buffer is a shift (a copy of
``D N B`` values, less than the ``E B`` of the product whenever :math:`D` is below the mean
in-degree) rather than an in-place ring write, so autograd sees every step's spikes.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ...graph import Graph

__all__ = ["as_delays", "delay_graph"]


def as_delays(delays: int | Tensor, num_edges: int) -> Tensor:
    """``[E]`` int64 delays (in steps, >= 0) from an int or a per-synapse tensor.

    Raises:
        TypeError: a float or bool delay. ValueError: a negative delay or a tensor not of shape ``[E]``.
    """
    if isinstance(delays, bool) or not isinstance(delays, (int, Tensor)):
        raise TypeError(f"delays must be an int or an integer tensor of shape [E], got {type(delays).__name__}")
    if isinstance(delays, int):
        if delays < 0:
            raise ValueError(f"delays must be >= 0 steps, got {delays}")
        return torch.full((num_edges,), delays, dtype=torch.int64)
    if delays.is_floating_point() or delays.is_complex() or delays.dtype == torch.bool:
        raise TypeError(f"delays must hold whole steps (an integer dtype), got {delays.dtype}")
    if delays.shape != (num_edges,):
        raise ValueError(f"delays must have shape [E] = [{num_edges}] (one per synapse), got {tuple(delays.shape)}")
    if delays.numel() and int(delays.min()) < 0:
        raise ValueError(f"delays must be >= 0 steps, got a minimum of {int(delays.min())}")
    return delays.detach().to(torch.int64)


def delay_graph(graph: Graph, delays: Tensor, max_delay: int | None = None) -> tuple[Graph, int]:
    """The bipartite graph that reads a ``[(D + 1) N, B]`` spike buffer, and ``D``.

    Args:
        graph: synapses ``src -> dst`` over ``N`` neurons.
        delays: ``[E]`` int64 delays from :func:`as_delays`.
        max_delay: ``D``, the buffer depth (default: the largest delay; a network keeps its
            depth when its synapses are replaced).

    Returns:
        ``(g, D)``: with ``D = 0`` the graph itself; otherwise edge ``e`` of ``g`` runs from
        buffer row ``delays[e] * N + src[e]`` to ``dst[e]`` (same edge order as ``graph``).
    """
    if max_delay is None:
        max_delay = int(delays.max()) if delays.numel() else 0
    if max_delay == 0:
        return graph, 0
    n = graph.num_nodes
    src = delays.to(graph.device) * n + graph.src  # [E] row of the flattened buffer
    return Graph(src, graph.dst, n, num_src_nodes=(max_delay + 1) * n, _validate=False), max_delay
