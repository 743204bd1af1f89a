r"""Leaky integrate-and-fire neurons on a sparse synapse graph, with delta or exponential synapses.

.. math::
    \tau_m \dot v = -(v - v_{rest}) + R\,(I_{syn} + I_b), \qquad
    \tau_s \dot I_{syn} = -I_{syn} \;(\text{exponential synapses})

Each step follows Brian2's schedule (``groups``, ``thresholds``, ``synapses``, ``resets``)
with its exact Euler arithmetic, so a float64 run reproduces Brian2 spike for spike:

1. refractoriness: a neuron that spiked at step :math:`t_s` is refractory while
   :math:`t - t_s < n_{ref}` (Brian2's ``timestep(t - lastspike) >= timestep(refractory)``);
2. state update (Euler, old values on the right): :math:`v \leftarrow v + \frac{\Delta t}{\tau_m}
   \big((v_{rest} + R (I_{syn} + I_b)) - v\big)` for non-refractory neurons (``unless
   refractory``), :math:`I_{syn} \leftarrow I_{syn} + \frac{\Delta t}{\tau_s}(-I_{syn})`;
3. threshold: :math:`s = H(v - \vartheta)` (strict ``v > v_th``) for non-refractory neurons,
   with a surrogate gradient (:class:`~gnnkit.brain.dynamics.Surrogate`);
4. synaptic propagation: every synapse delivers :math:`w_e` times its presynaptic spike of
   :math:`d_e` steps ago (one :func:`gnnkit.ops.spmm` over the delay buffer, see
   :mod:`~gnnkit.brain.dynamics.delays`), plus the external ``input``, into :math:`v` (delta
   synapses, Brian2 ``on_pre='v_post += w'``) or :math:`I_{syn}` (exponential,
   ``I_post += w``). A refractory neuron's :math:`v` ignores delta input (Brian2 writes a
   variable marked ``unless refractory`` only where ``not_refractory``); its exponential
   current keeps integrating input;
5. reset: :math:`v \leftarrow v (1 - s) + v_{reset}\, s`, exact in the forward pass and
   differentiable through :math:`s`.

A spike at step :math:`t` with delay 0 therefore reaches its target after the target's
threshold test of step :math:`t` and can make it fire at :math:`t + 1` at the earliest.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from ... import ops
from ...graph import Graph
from .._validate import check_graph, check_synapse_swap, check_int, check_positive, check_real
from .delays import as_delays, delay_graph
from .state import check_input, check_state, init_weight
from .surrogate import Surrogate

__all__ = ["LIFState", "LIFNetwork"]


class LIFState(NamedTuple):
    """The state of a :class:`LIFNetwork`, passed into and returned by each step (a tuple of tensors)."""

    v: Tensor
    """``[N, B]`` membrane potentials."""
    i: Tensor
    """``[N, B]`` synaptic currents (exponential synapses; zeros with delta synapses)."""
    refractory: Tensor
    """``[N, B]`` int64 steps of refractoriness left (0: free to integrate and fire)."""
    history: Tensor
    """``[D, N, B]`` spikes of the last ``D`` steps (slot ``k`` is ``k + 1`` steps ago), ``D`` the longest delay."""


class LIFNetwork(nn.Module):
    r"""Leaky integrate-and-fire neurons whose synapses are the edges of a graph, weights an ``[E]`` Parameter.

    Args:
        graph: synapses ``src -> dst`` over ``N`` neurons (duplicates add up, autapses allowed).
        tau_m: membrane time constant :math:`\tau_m > 0` (unit of ``dt``).
        dt: Euler step :math:`\Delta t > 0`.
        tau_s: synaptic time constant of exponential synapses; None: delta synapses (a spike
            jumps :math:`v` by :math:`w_e`).
        v_rest, v_reset, v_th: resting, reset and threshold potentials.
        resistance: :math:`R`. bias_current: :math:`I_b`, a number or ``[N]`` per neuron.
        refractory: absolute refractory period :math:`n_{ref} \ge 0` in whole steps (Brian2's
            ``refractory=n_ref*dt``; 0 and 1 both let a neuron integrate on the next step).
        delays: synaptic delay in whole steps, an int for all synapses or ``[E]`` integers.
        surrogate: the spike function's surrogate gradient.
        gain, weight: weights start :math:`\mathcal N(0, g^2/k_{in})` or copy ``weight`` ``[E]``.

    Shape:
        :class:`LIFState` fields ``[N, B]`` (and ``[D, N, B]``); ``input`` ``[N, B]`` or ``[N, 1]``
        → ``(state, spikes [N, B])``.

    Raises:
        TypeError: a non-Graph, non-number parameters, float delays. ValueError: a bipartite
            graph, non-positive time constants, negative refractory period or delays, shapes.

    Note:
        :func:`gnnkit.brain.rewire_` (pruning, regrowth) keeps the delays only when they are
        uniform; a network with per-synapse delays raises there (re-create it with the
        survivors' delays instead).
    """

    def __init__(
        self,
        graph: Graph,
        *,
        tau_m: float = 20.0,
        dt: float = 1.0,
        tau_s: float | None = None,
        v_rest: float = 0.0,
        v_reset: float = 0.0,
        v_th: float = 1.0,
        resistance: float = 1.0,
        bias_current: float | Tensor = 0.0,
        refractory: int = 0,
        delays: int | Tensor = 0,
        surrogate: Surrogate | None = None,
        gain: float = 1.0,
        weight: Tensor | None = None,
    ) -> None:
        super().__init__()
        check_graph(graph)
        self.tau_m, self.dt = check_positive(tau_m, "tau_m"), check_positive(dt, "dt")
        self.tau_s = None if tau_s is None else check_positive(tau_s, "tau_s")
        self.v_rest, self.v_reset = check_real(v_rest, "v_rest"), check_real(v_reset, "v_reset")
        self.v_th, self.resistance = check_real(v_th, "v_th"), check_real(resistance, "resistance")
        self.refractory = check_int(refractory, "refractory", minimum=0)
        self.surrogate = Surrogate() if surrogate is None else surrogate
        if not isinstance(self.surrogate, Surrogate):
            raise TypeError(f"surrogate must be a gnnkit.brain.dynamics.Surrogate, got {type(self.surrogate).__name__}")
        self.graph, self.num_nodes = graph, graph.num_nodes
        self.register_buffer("delays", as_delays(delays, graph.num_edges).to(graph.device))
        self._delayed, self.max_delay = delay_graph(graph, self.delays)
        self.weight = nn.Parameter(init_weight(graph, check_positive(gain, "gain"), weight))
        # the bias takes the weights' dtype: a float32 copy of 0.3 would differ from Brian2's float64 0.3
        if isinstance(bias_current, Tensor):
            if bias_current.shape != (self.num_nodes,) or not bias_current.is_floating_point():
                raise ValueError(f"bias_current must be a number or a float tensor of shape [N] = [{self.num_nodes}], "
                                 f"got {bias_current.dtype} {tuple(bias_current.shape)}")
            bias = bias_current.detach().reshape(-1, 1).to(self.weight)  # [N, 1]
        else:
            bias = self.weight.new_full((self.num_nodes, 1), check_real(bias_current, "bias_current"))
        self.register_buffer("bias_current", bias)

    def replace_synapses(self, graph: Graph, weight: nn.Parameter) -> None:
        """Swap in a new synapse set over the same neurons (used by :func:`gnnkit.brain.rewire_`).

        Raises:
            ValueError: other neurons, a weight of the wrong shape, or per-synapse delays
                (which edge kept which delay is not known here).
        """
        check_synapse_swap(graph, weight, self.num_nodes)
        if self.delays.numel() and bool((self.delays != self.delays[0]).any()):
            raise ValueError("replace_synapses needs uniform delays; this network has per-synapse delays, so "
                             "build a new LIFNetwork with the surviving synapses' delays")
        delay = int(self.delays[0]) if self.delays.numel() else self.max_delay
        self.graph, self.weight = graph, weight
        self.delays = torch.full((graph.num_edges,), delay, dtype=torch.int64, device=graph.device)
        self._delayed, _ = delay_graph(graph, self.delays, self.max_delay)  # same buffer depth: states stay valid

    def initial_state(self, trials: int, v: float | None = None) -> LIFState:
        """Membranes at ``v`` (default ``v_rest``), no current, no refractoriness, no past spikes."""
        check_int(trials, "trials", minimum=1)
        n, w = self.num_nodes, self.weight
        v0 = w.new_full((n, trials), self.v_rest if v is None else check_real(v, "v"))
        return LIFState(v0, w.new_zeros(n, trials), torch.zeros(n, trials, dtype=torch.int64, device=w.device),
                        w.new_zeros(self.max_delay, n, trials))

    def _check_state(self, state: LIFState) -> None:
        if not isinstance(state, LIFState):
            raise TypeError(f"state must be a LIFState (see initial_state), got {type(state).__name__}")
        v = check_state(state.v, self.num_nodes, "state.v")
        if state.i.shape != v.shape or state.refractory.shape != v.shape:
            raise ValueError(f"state.i and state.refractory must have the shape of state.v {tuple(v.shape)}, got "
                             f"{tuple(state.i.shape)} and {tuple(state.refractory.shape)}")
        if state.history.shape != (self.max_delay,) + tuple(v.shape):
            raise ValueError(f"state.history must have shape [D, N, B] = {[self.max_delay, *v.shape]} "
                             f"(D the longest delay), got {tuple(state.history.shape)}")

    def forward(self, state: LIFState, input: Tensor | None = None) -> tuple[LIFState, Tensor]:
        """One step; ``input`` ``[N, B]`` arrives like synaptic input (step 4). Returns ``(state, spikes)``."""
        self._check_state(state)
        v, i, refractory, history = state
        refractory = (refractory - 1).clamp_min(0)  # [N, B] steps left, counted down before integrating
        free = refractory == 0  # [N, B] Brian2's not_refractory
        integrated = (self.dt / self.tau_m) * ((self.v_rest + self.resistance * (i + self.bias_current)) - v) + v
        v = torch.where(free, integrated, v)
        if self.tau_s is not None:
            i = (self.dt / self.tau_s) * (-i) + i
        spikes = self.surrogate(v - self.v_th) * free  # [N, B]
        buffer = torch.cat([spikes.unsqueeze(0), history]) if self.max_delay else spikes  # [D + 1, N, B]
        arriving = ops.spmm(self._delayed, buffer.reshape(-1, v.shape[1]), self.weight)  # [N, B]
        if input is not None:
            arriving = arriving + check_input(input, v, "input")
        if self.tau_s is None:
            v = torch.where(free, v + arriving, v)  # lost while refractory; a spiking neuron is reset anyway
        else:
            i = i + arriving
        v = v * (1 - spikes) + self.v_reset * spikes  # exact reset forward, differentiable through spikes
        refractory = torch.where(spikes > 0, self.refractory, refractory)
        return LIFState(v, i, refractory, buffer[: self.max_delay] if self.max_delay else history), spikes

    def extra_repr(self) -> str:
        synapse = "delta" if self.tau_s is None else f"exponential(tau_s={self.tau_s})"
        return (f"num_nodes={self.num_nodes}, num_synapses={self.graph.num_edges}, tau_m={self.tau_m}, dt={self.dt}, "
                f"synapses={synapse}, refractory={self.refractory}, max_delay={self.max_delay}, "
                f"surrogate={self.surrogate.kind!r}")
