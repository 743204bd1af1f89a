"""Neural dynamics on sparse synapse graphs: rate and leaky integrate-and-fire networks.

- :mod:`~gnnkit.brain.dynamics.rate` — :class:`RateNetwork`, :math:`\\tau \\dot r = -r + \\phi(W r + I)`;
- :mod:`~gnnkit.brain.dynamics.lif` — :class:`LIFNetwork` with delta or exponential synapses,
  refractoriness and delays in whole steps, matching Brian2's Euler updates spike for spike;
- :mod:`~gnnkit.brain.dynamics.surrogate` — :class:`Surrogate` spike functions (fast sigmoid,
  arctan) so the ``[E]`` synapse weights train by backpropagation through time;
- :mod:`~gnnkit.brain.dynamics.delays` — the delay buffer as one bipartite sparse product;
- :mod:`~gnnkit.brain.dynamics.simulation` — :func:`simulate`, ``T`` steps with recording.

State is a tensor argument and return value (``[N, B]``: neurons by trials); the synapse
weights are the model's ``weight`` Parameter over ``model.graph``, so
:class:`~gnnkit.brain.Lifecycle` pruning and :mod:`~gnnkit.brain.costs` apply unchanged.
"""
from .delays import as_delays, delay_graph
from .lif import LIFNetwork, LIFState
from .rate import RateNetwork, rate_update
from .simulation import RECORDABLE, simulate
from .surrogate import SURROGATES, Surrogate

__all__ = [
    "SURROGATES", "Surrogate",
    "RateNetwork", "rate_update",
    "LIFNetwork", "LIFState",
    "as_delays", "delay_graph",
    "RECORDABLE", "simulate",
]
