r"""A rate RNN whose recurrent weights are the synapses of a sparse graph (a spatially embedded RNN).

.. math:: h_t = (1-\alpha)\, h_{t-1} + \alpha\, \phi\Big(\sum_{s \to v} w_{s \to v}\, h_{t-1, s} + (U x_t)_v + b_v\Big)

The recurrent sum is one :func:`gnnkit.ops.spmm` over the ``[E]`` synapse weights, so time and
memory per step are :math:`O(E \cdot B)`: pruning a synapse (removing the edge) makes every
later step cheaper. Inputs enter at chosen input neurons through ``U`` ``[n_in, F_in]``
(dense, but input-sized, not ``N x N``), and a linear readout reads chosen output neurons.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from .. import ops
from .._deprecated import deprecated_names
from ..blocks.activations import ACTIVATIONS, activation_fn
from ..graph import Graph
from ..nn.neurons import check_node_ids
from ._validate import check_graph, check_synapse_swap, check_int, check_positive, check_probability

__all__ = ["SpatialRNN"]


def _node_ids(value: Tensor | Sequence[int] | None, n: int, name: str) -> Tensor:
    return torch.arange(n) if value is None else check_node_ids(value, n, name)  # None: every neuron


class SpatialRNN(nn.Module):
    r"""Leaky rate RNN on a sparse synapse graph, with input and output neurons.

    .. math:: h_t = (1-\alpha) h_{t-1} + \alpha\, \phi(W h_{t-1} + U x_t + b), \qquad y_t = V h_t[\text{out}] + c

    Args:
        graph: recurrent synapses ``src -> dst`` over ``N`` neurons; duplicates add up,
            self-loops are allowed (autapses).
        in_features: ``F_in``, features per time step.
        out_features: ``F_out``, readout size.
        input_nodes: neurons that receive the input (default: all).
        output_nodes: neurons the readout sees (default: all).
        activation: a name from :data:`gnnkit.blocks.ACTIVATIONS` (default tanh).
        alpha: leak :math:`\alpha \in (0, 1]` (1: no memory beyond the synapses).
        gain: recurrent weights start :math:`\mathcal N(0, g^2/k_{in})` with :math:`k_{in}` the in-degree.
        weight: optional initial ``[E]`` synapse weights.

    Shape:
        xs ``[T, B, F_in]``, state ``[N, B]`` or None → ys ``[T, B, F_out]``, state ``[N, B]``;
        with ``return_states`` also ``[T, N, B]`` (all activations, for energy penalties and
        usage statistics).

    Raises:
        TypeError: a non-Graph. ValueError: a bipartite graph, bad node ids, activation,
            alpha, or input shapes.
    """

    def __init__(
        self,
        graph: Graph,
        in_features: int,
        out_features: int,
        *,
        input_nodes: Tensor | Sequence[int] | None = None,
        output_nodes: Tensor | Sequence[int] | None = None,
        activation: str = "tanh",
        alpha: float = 1.0,
        gain: float = 1.0,
        weight: Tensor | None = None,
    ) -> None:
        super().__init__()
        check_graph(graph)
        n = graph.num_nodes
        self.in_features = check_int(in_features, "in_features", minimum=1)
        self.out_features = check_int(out_features, "out_features", minimum=1)
        activation_fn(activation)  # raises ValueError naming the choices
        alpha = check_probability(alpha, "alpha")
        if alpha == 0:
            raise ValueError("alpha must lie in (0, 1] (alpha = 0 never updates the state), got 0")
        self.gain = check_positive(gain, "gain")
        self.activation, self.alpha, self.num_nodes = activation, alpha, n
        self.graph = graph
        self.register_buffer("input_nodes", _node_ids(input_nodes, n, "input_nodes").to(graph.device))
        self.register_buffer("output_nodes", _node_ids(output_nodes, n, "output_nodes").to(graph.device))
        self.weight = nn.Parameter(torch.empty(graph.num_edges, device=graph.device))
        self.input_weight = nn.Parameter(torch.empty(self.input_nodes.numel(), self.in_features, device=graph.device))
        self.bias = nn.Parameter(torch.empty(n, device=graph.device))
        self.readout = nn.Linear(self.output_nodes.numel(), self.out_features, device=graph.device)
        self.reset_parameters()
        if weight is not None:
            if not isinstance(weight, Tensor) or weight.shape != (graph.num_edges,) or not weight.is_floating_point():
                got = f"{weight.dtype} {tuple(weight.shape)}" if isinstance(weight, Tensor) else type(weight).__name__
                raise ValueError(f"weight must be a float tensor of shape [E] = [{graph.num_edges}], got {got}")
            with torch.no_grad():
                self.weight.copy_(weight)

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Synapses :math:`\\mathcal N(0, g^2/k_{in})`, inputs :math:`\\mathcal N(0, 1/F_{in})`, zero biases."""
        fan_in = torch.bincount(self.graph.dst, minlength=self.num_nodes).clamp(min=1).to(self.weight.dtype)
        self.weight.copy_(torch.randn_like(self.weight) * self.gain * fan_in.rsqrt()[self.graph.dst])
        self.input_weight.normal_(0.0, self.in_features**-0.5)
        self.bias.zero_()
        self.readout.reset_parameters()

    def replace_synapses(self, graph: Graph, weight: nn.Parameter) -> None:
        """Swap in a new synapse set (pruning, regrowth): ``graph`` over the same neurons, ``[E']`` weights."""
        check_synapse_swap(graph, weight, self.num_nodes)
        self.graph = graph
        self.weight = weight

    def initial_state(self, batch_size: int) -> Tensor:
        """Zero activity ``[N, B]``."""
        return self.weight.new_zeros(self.num_nodes, batch_size)

    def forward(self, xs: Tensor, state: Tensor | None = None, return_states: bool = False):
        """Run ``T`` steps. Returns ``(ys, state)`` or ``(ys, state, states)``; see the class docstring."""
        if not isinstance(xs, Tensor) or xs.dim() != 3 or xs.shape[-1] != self.in_features:
            got = tuple(xs.shape) if isinstance(xs, Tensor) else type(xs).__name__
            raise ValueError(f"xs must have shape [T, B, F_in] with F_in = {self.in_features}, got {got}")
        steps, batch = xs.shape[0], xs.shape[1]
        if state is None:
            state = self.initial_state(batch).to(xs.device)
        elif state.shape != (self.num_nodes, batch):
            raise ValueError(f"state must have shape [N, B] = [{self.num_nodes}, {batch}], got {tuple(state.shape)}")
        phi = activation_fn(self.activation)
        drive = torch.einsum("if,tbf->tib", self.input_weight, xs)  # [T, n_in, B]
        bias = self.bias.unsqueeze(1)  # [N, 1]
        ys, states = [], []
        h = state
        for t in range(steps):  # a loop over time steps; each is one sparse product
            z = ops.spmm(self.graph, h, self.weight) + bias  # [N, B]
            z = z.index_add(0, self.input_nodes, drive[t])
            h = phi(z) if self.alpha == 1.0 else (1 - self.alpha) * h + self.alpha * phi(z)
            ys.append(self.readout(h[self.output_nodes].t()))  # [B, F_out]
            if return_states:
                states.append(h)
        out = torch.stack(ys) if ys else xs.new_zeros(0, batch, self.out_features)
        if return_states:
            return out, h, (torch.stack(states) if states else xs.new_zeros(0, self.num_nodes, batch))
        return out, h

    def extra_repr(self) -> str:
        return (f"num_nodes={self.num_nodes}, num_synapses={self.graph.num_edges}, in_features={self.in_features}, "
                f"out_features={self.out_features}, inputs={self.input_nodes.numel()}, "
                f"outputs={self.output_nodes.numel()}, activation={self.activation!r}, alpha={self.alpha}")


# the old per-module table was a name -> function dict: serve that view of the one table
__getattr__ = deprecated_names(__name__, {
    "RNN_ACTIVATIONS": ("gnnkit.blocks.ACTIVATIONS or gnnkit.blocks.activation_fn", lambda: {k: activation_fn(k) for k in ACTIVATIONS}),
})
