r"""A sparse firing-rate network: :math:`\tau\, \dot r = -r + \phi(W r + I)`, Euler-stepped.

.. math:: r_{t+1} = r_t + \frac{\Delta t}{\tau}\big(-r_t + \phi(W r_t + I_t + b)\big)

:math:`W` is the synapse graph with one weight per edge (:math:`W_{dst,src} = w_e`, a
presynaptic rate reaching its postsynaptic neuron), applied as one :func:`gnnkit.ops.spmm`
per step over every trial at once: the state is ``[N, B]`` (neurons by trials), the layout
spmm takes without a transpose.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

from ... import ops
from ...blocks.activations import activation_fn
from ...graph import Graph
from .._validate import check_graph, check_synapse_swap, check_int, check_positive
from .state import check_input, check_state, init_weight

__all__ = ["RateNetwork", "rate_update"]


def rate_update(r: Tensor, current: Tensor, dt_over_tau: float, phi: Callable[[Tensor], Tensor]) -> Tensor:
    r"""One Euler step :math:`r + \frac{\Delta t}{\tau}(-r + \phi(\text{current}))` of any rate model.

    Shared by :class:`RateNetwork` and code that computes :math:`W r + I` its own way (the
    ``benchmarks/brain_scale.py`` int32 CSR at 10^9 synapses).

    Shape:
        r, current ``[N, B]`` → ``[N, B]``.
    """
    return r + dt_over_tau * (phi(current) - r)


class RateNetwork(nn.Module):
    r"""Firing-rate neurons on a sparse synapse graph; the synapse weights are an ``[E]`` Parameter.

    Args:
        graph: synapses ``src -> dst`` over ``N`` neurons (duplicates add up, autapses allowed).
        tau: time constant :math:`\tau > 0` (same unit as ``dt``).
        dt: Euler step :math:`\Delta t`, with :math:`0 < \Delta t \le \tau`.
        activation: a name from :data:`gnnkit.blocks.ACTIVATIONS` (default ``"relu"``).
        gain: weights start :math:`\mathcal N(0, g^2 / k_{in})`, :math:`k_{in}` the in-degree.
        weight: optional initial ``[E]`` weights.

    Shape:
        state ``[N, B]`` rates; input ``[N, B]`` (or ``[N, 1]``, broadcast over trials) → ``[N, B]``.

    Raises:
        TypeError: a non-Graph. ValueError: a bipartite graph, ``dt`` outside ``(0, tau]``,
            an unknown activation, weights of the wrong shape.
    """

    def __init__(
        self,
        graph: Graph,
        *,
        tau: float = 10.0,
        dt: float = 1.0,
        activation: str = "relu",
        gain: float = 1.0,
        weight: Tensor | None = None,
    ) -> None:
        super().__init__()
        check_graph(graph)
        self.tau, self.dt = check_positive(tau, "tau"), check_positive(dt, "dt")
        if self.dt > self.tau:
            raise ValueError(f"dt must be <= tau for a stable Euler step, got dt={self.dt} and tau={self.tau}")
        activation_fn(activation)  # raises ValueError naming the choices
        self.activation, self.gain = activation, check_positive(gain, "gain")
        self.graph, self.num_nodes = graph, graph.num_nodes
        self.weight = nn.Parameter(init_weight(graph, self.gain, weight))

    def replace_synapses(self, graph: Graph, weight: nn.Parameter) -> None:
        """Swap in a new synapse set over the same neurons (used by :func:`gnnkit.brain.rewire_`)."""
        check_synapse_swap(graph, weight, self.num_nodes)
        self.graph, self.weight = graph, weight

    def initial_state(self, trials: int) -> Tensor:
        """Zero rates ``[N, B]``."""
        check_int(trials, "trials", minimum=1)
        return self.weight.new_zeros(self.num_nodes, trials)

    def forward(self, state: Tensor, input: Tensor | None = None) -> Tensor:
        """One step: the next rates ``[N, B]`` from the rates ``state`` and the external ``input``."""
        check_state(state, self.num_nodes, "state")
        current = ops.spmm(self.graph, state, self.weight)  # [N, B] = W r
        if input is not None:
            current = current + check_input(input, state, "input")
        return rate_update(state, current, self.dt / self.tau, activation_fn(self.activation))

    def extra_repr(self) -> str:
        return (f"num_nodes={self.num_nodes}, num_synapses={self.graph.num_edges}, tau={self.tau}, dt={self.dt}, "
                f"activation={self.activation!r}")
