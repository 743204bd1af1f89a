r"""Lifecycle rules: start over-connected, prune synapses over a "lifetime" of training, optionally regrow.

The brain overproduces synapses early and prunes them through development. Navlakha,
Barth & Bar-Joseph (2015, *PLoS Comput. Biol.* 11:e1004347) measured the pruning rate in
mouse somatosensory cortex, found it *decreasing* over time, and showed in simulations that
decreasing-rate pruning builds more efficient and robust networks than constant or
increasing rates that end at the same density.

Pieces:

- :class:`PruningSchedule` — how many synapses survive each stage (constant, increasing or
  decreasing rate; every schedule reaches exactly the same final count);
- :func:`synapse_scores` — what survives: weight magnitude, usage (activity), co-activation,
  wiring length, random, or a weighted combination of their ranks;
- :func:`select_survivors` / :func:`prune_graph` — remove the lowest-scoring synapses from
  the sparse structure (a new :class:`~gnnkit.Graph`, weights re-indexed): pruned synapses
  are gone, so memory and time per step fall with density;
- :func:`regrow` — new synapses, near in space (exponential distance rule) or uniform;
- :func:`rewire_` — apply survivors and new synapses to a module *and* its optimizer state;
- :class:`UsageTracker` — running activity statistics for the usage criteria;
- :class:`Lifecycle` — one call per stage that does all of the above.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
import torch
from torch import Tensor, nn

from .. import ops
from ..graph import Graph
from ..graph.idkeys import combined_key
from ._validate import (
    as_edge_tensor,
    as_positions,
    check_fraction,
    check_graph,
    check_int,
    check_positive,
    check_probability,
    check_real,
)

__all__ = [
    "SCHEDULES",
    "CRITERIA",
    "PruningSchedule",
    "UsageTracker",
    "synapse_scores",
    "select_survivors",
    "prune_fraction",
    "prune_graph",
    "regrow",
    "rewire_",
    "Lifecycle",
    "PruneReport",
]

SCHEDULES = ("constant", "increasing", "decreasing")
CRITERIA = ("magnitude", "usage", "coactivation", "wiring", "random")


# ---------------------------------------------------------------- schedules
@dataclass(frozen=True)
class PruningSchedule:
    r"""How many synapses survive each of ``num_stages`` pruning stages.

    Stage ``t`` (``0 <= t < T``) removes :math:`r_t` synapses, :math:`r_t \propto` a rate
    profile, with :math:`\sum_t r_t = E_0 - \operatorname{round}(\text{final\_keep} \cdot E_0)`:

    - ``"constant"``: :math:`1, 1, \dots, 1`;
    - ``"increasing"``: :math:`1, 2, \dots, T` (linear, few early, many late);
    - ``"decreasing"``: :math:`T, T-1, \dots, 1` (many early, few late; Navlakha et al. 2015).

    Counts are exact integers from rounding the cumulative sums, so every schedule ends at
    the same number of synapses.

    Args:
        kind: one of :data:`SCHEDULES`.
        num_stages: ``T >= 1``.
        final_keep: fraction of the initial synapses left after the last stage, in (0, 1].

    Raises:
        ValueError: an unknown ``kind``, ``num_stages < 1``, ``final_keep`` outside (0, 1].
    """

    kind: str
    num_stages: int
    final_keep: float

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise ValueError(f"kind must be one of {SCHEDULES}, got {self.kind!r}")
        check_int(self.num_stages, "num_stages", minimum=1)
        keep = check_probability(self.final_keep, "final_keep")
        if keep == 0:
            raise ValueError("final_keep must lie in (0, 1] (the fraction of synapses that survive), got 0")

    def rate_profile(self) -> np.ndarray:
        """``[T]`` relative number of removals per stage."""
        t = np.arange(1, self.num_stages + 1, dtype=np.float64)
        return {"constant": np.ones_like(t), "increasing": t, "decreasing": t[::-1].copy()}[self.kind]

    def targets(self, initial_edges: int) -> list[int]:
        """Synapses left after each stage, ``[T]`` ints ending at ``round(final_keep * E0)``."""
        e0 = check_int(initial_edges, "initial_edges", minimum=0)
        final = int(round(self.final_keep * e0))
        if e0 and final == 0:
            raise ValueError(
                f"final_keep={self.final_keep} of initial_edges={e0} rounds to 0 synapses; every stage must remove a "
                f"fraction in [0, 1), so keep at least one synapse (final_keep >= {0.5 / e0:.3g})"
            )
        total = e0 - final
        cum = np.cumsum(self.rate_profile())
        removed = np.rint(total * cum / cum[-1]).astype(np.int64)
        return [int(e0 - r) for r in removed]

    def removals(self, initial_edges: int) -> list[int]:
        """Synapses removed at each stage."""
        before = [int(initial_edges)] + self.targets(initial_edges)[:-1]
        return [b - a for b, a in zip(before, self.targets(initial_edges))]

    def fractions(self, initial_edges: int) -> list[float]:
        """Fraction of the *current* synapses each stage removes (the prune fraction, in [0, 1))."""
        before = [int(initial_edges)] + self.targets(initial_edges)[:-1]
        return [r / b if b else 0.0 for r, b in zip(self.removals(initial_edges), before)]


# ---------------------------------------------------------------- usage
class UsageTracker:
    r"""Running activity statistics of the neurons and synapses, for usage-based pruning.

    Keeps exponential moving averages (``momentum`` per :meth:`update`) of

    - :math:`\bar a_v = \mathbb E|a_v|`, each neuron's mean absolute activity, ``[N]``;
    - :math:`\bar c_e = \mathbb E[a_{src}\, a_{dst}]`, each synapse's co-activation, ``[E]``,
      computed with one :func:`gnnkit.ops.sddmm` per update (never per edge in Python).

    A synapse's *usage* is :math:`|w_e|\, \bar a_{src}`, the mean magnitude of the current
    it carries; its *co-activation* score is :math:`|\bar c_e|` (Hebbian). Synapses created
    by regrowth start at 0.
    """

    def __init__(self, num_nodes: int, num_edges: int, momentum: float = 0.9) -> None:
        self.num_nodes = check_int(num_nodes, "num_nodes", minimum=0)
        self.momentum = check_probability(momentum, "momentum")
        self.node_activity = torch.zeros(self.num_nodes, dtype=torch.float64)
        self.coactivation = torch.zeros(check_int(num_edges, "num_edges", minimum=0), dtype=torch.float64)
        self.updates = 0

    @torch.no_grad()
    def update(self, graph: Graph, states: Tensor) -> None:
        """Fold in activations ``[..., N, B]`` (e.g. ``[T, N, B]``) of the network on ``graph``."""
        check_graph(graph)
        if not isinstance(states, Tensor) or states.dim() < 2 or states.shape[-2] != self.num_nodes:
            got = tuple(states.shape) if isinstance(states, Tensor) else type(states).__name__
            raise ValueError(f"states must have shape [..., N, B] with N = {self.num_nodes}, got {got}")
        if graph.num_edges != self.coactivation.numel():
            raise ValueError(f"graph has {graph.num_edges} synapses but the tracker {self.coactivation.numel()}; "
                             f"call reindex() after rewiring")
        a = states.detach().movedim(-2, 0).reshape(self.num_nodes, -1).double().cpu()  # [N, S] samples as columns
        samples = max(a.shape[1], 1)
        node = a.abs().mean(1)
        co = ops.sddmm(graph.to("cpu"), a, a) / samples if graph.num_edges else a.new_zeros(0)  # [E]
        m = 0.0 if self.updates == 0 else self.momentum
        self.node_activity.mul_(m).add_(node, alpha=1 - m)
        self.coactivation.mul_(m).add_(co, alpha=1 - m)
        self.updates += 1

    def usage(self, graph: Graph, weight: Tensor) -> Tensor:
        """``[E]`` :math:`|w_e|\\, \\bar a_{src}`."""
        w = as_edge_tensor(weight, graph.num_edges, "weight").detach().double().cpu()
        return w.abs() * self.node_activity[graph.src.cpu()]

    def reindex(self, keep: Tensor, num_added: int = 0) -> None:
        """Follow a rewiring: keep the statistics of ``keep`` (ids), append zeros for new synapses."""
        keep = torch.as_tensor(keep, dtype=torch.int64).cpu()
        self.coactivation = torch.cat([self.coactivation[keep], self.coactivation.new_zeros(int(num_added))])

    def state_dict(self) -> dict:
        """Plain tensors and numbers (loadable with ``torch.load(weights_only=True)``)."""
        return {"node_activity": self.node_activity.clone(), "coactivation": self.coactivation.clone(),
                "updates": self.updates, "momentum": self.momentum}

    def load_state_dict(self, state: Mapping) -> None:
        self.node_activity = state["node_activity"].clone()
        self.coactivation = state["coactivation"].clone()
        self.updates = int(state["updates"])
        self.momentum = float(state["momentum"])


# ---------------------------------------------------------------- scoring
def _rank01(x: Tensor) -> Tensor:
    """Ranks scaled to [0, 1] (ties broken by edge id), so criteria with different units can be mixed."""
    n = x.numel()
    if n <= 1:
        return torch.zeros(n, dtype=torch.float64)
    order = torch.argsort(x.double(), stable=True)
    rank = torch.empty(n, dtype=torch.float64)
    rank[order] = torch.arange(n, dtype=torch.float64)
    return rank / (n - 1)


def synapse_scores(
    criterion: str | Mapping[str, float],
    graph: Graph,
    weight: Tensor,
    *,
    lengths: Tensor | None = None,
    tracker: UsageTracker | None = None,
    seed: int = 0,
) -> Tensor:
    r"""How much each synapse deserves to survive (higher: kept longer).

    Criteria (:data:`CRITERIA`):

    - ``"magnitude"``: :math:`|w_e|`;
    - ``"usage"``: :math:`|w_e|\,\mathbb E|a_{src}|` (needs ``tracker``);
    - ``"coactivation"``: :math:`|\mathbb E[a_{src} a_{dst}]|` (needs ``tracker``);
    - ``"wiring"``: :math:`-d_e`, short synapses survive (needs ``lengths``);
    - ``"random"``: uniform noise (a control).

    A mapping ``{criterion: weight}`` combines criteria by the weighted mean of their ranks
    scaled to [0, 1], e.g. ``{"magnitude": 1, "wiring": 0.5}``.

    Returns:
        ``[E]`` float64 scores on the CPU.

    Raises:
        ValueError: an unknown criterion, a missing ``tracker``/``lengths``, non-positive
            combination weights, shapes that do not match the graph.
    """
    check_graph(graph)
    e = graph.num_edges
    w = as_edge_tensor(weight, e, "weight").detach().double().cpu()
    mix = {criterion: 1.0} if isinstance(criterion, str) else dict(criterion)
    if not mix:
        raise ValueError("criterion must name at least one criterion")
    for name, alpha in mix.items():
        if name not in CRITERIA:
            raise ValueError(f"criterion must be one of {CRITERIA} or a mapping of them to weights, got {name!r}")
        if check_real(alpha, f"criterion[{name!r}]") <= 0:
            raise ValueError(f"criterion weights must be > 0, got {name!r}: {alpha}")

    def one(name: str) -> Tensor:
        if name == "magnitude":
            return w.abs()
        if name in ("usage", "coactivation"):
            if tracker is None:
                raise ValueError(f"criterion {name!r} needs a UsageTracker (tracker=...) fed with the network's activity")
            return tracker.usage(graph, w) if name == "usage" else tracker.coactivation.abs().clone()
        if name == "wiring":
            if lengths is None:
                raise ValueError("criterion 'wiring' needs the synapse lengths (lengths=...)")
            return -as_edge_tensor(lengths, e, "lengths").detach().double().cpu()
        gen = torch.Generator().manual_seed(int(seed))
        return torch.rand(e, generator=gen, dtype=torch.float64)

    if len(mix) == 1:
        return one(next(iter(mix)))
    total = sum(mix.values())
    return sum(alpha * _rank01(one(name)) for name, alpha in mix.items()) / total


def select_survivors(scores: Tensor, num_remove: int) -> Tensor:
    """Ids of the synapses that survive removing the ``num_remove`` lowest scores, ascending.

    Ties are broken by edge id (the lower id goes first), so the result is deterministic.

    Raises:
        ValueError: ``num_remove`` outside ``[0, E]``, non-finite scores.
    """
    if not isinstance(scores, Tensor) or scores.dim() != 1:
        raise ValueError("scores must be a 1-D tensor [E]")
    e = scores.numel()
    num_remove = check_int(num_remove, "num_remove", minimum=0, maximum=e)
    if e and not bool(torch.isfinite(scores).all()):
        raise ValueError("scores must be finite")
    order = torch.argsort(scores.detach().cpu().double(), stable=True)
    return torch.sort(order[num_remove:]).values


def prune_graph(graph: Graph, keep: Tensor) -> Graph:
    """The graph with only the synapses ``keep`` (ascending ids), in their original relative order."""
    check_graph(graph)
    keep = torch.as_tensor(keep, dtype=torch.int64).to(graph.device)
    return Graph(graph.src[keep], graph.dst[keep], graph.num_nodes, _validate=False)


def regrow(
    graph: Graph,
    num_new: int,
    *,
    positions: Tensor | None = None,
    decay: float | None = None,
    allowed: Callable[[Tensor, Tensor], Tensor] | None = None,
    neighbours: int = 32,
    max_rounds: int = 50,
    seed: int = 0,
) -> tuple[Tensor, Tensor]:
    r"""New synapses that do not exist yet: near in space, or uniform.

    With ``positions`` and ``decay``: a source is drawn uniformly, then a target among its
    ``neighbours`` nearest neurons (``scipy.spatial.cKDTree``) with probability
    :math:`\propto e^{-d/\lambda}`, the exponential distance rule of the initial wiring.
    Otherwise the target is uniform. Self-loops, existing synapses, repeats and pairs
    rejected by ``allowed(src, dst) -> bool mask`` are redrawn in vectorised rounds; after
    ``max_rounds`` fewer than ``num_new`` may come back (a nearly complete graph).

    Returns:
        ``(src, dst)`` int64 of at most ``num_new`` new synapses.
    """
    check_graph(graph)
    num_new = check_int(num_new, "num_new", minimum=0)
    n = graph.num_nodes
    rng = np.random.default_rng(seed)
    empty = torch.zeros(0, dtype=torch.int64)
    if num_new == 0 or n < 2:
        return empty, empty
    tree = None
    if positions is not None or decay is not None:
        if positions is None or decay is None:
            raise ValueError("regrow by distance needs both positions and decay")
        from scipy.spatial import cKDTree

        pos = as_positions(positions, n).numpy().astype(np.float64)
        decay = check_positive(decay, "decay")
        tree = cKDTree(pos)
        k = min(check_int(neighbours, "neighbours", minimum=1) + 1, n)
    existing = np.unique(combined_key((graph.src.cpu().numpy(), graph.dst.cpu().numpy()), (n, n), "grow_synapses"))
    found = np.zeros(0, dtype=np.int64)
    for _ in range(max_rounds):  # vectorised rounds of candidate draws
        need = num_new - found.size
        if need <= 0:
            break
        m = 2 * need + 16
        s = rng.integers(0, n, m)
        if tree is None:
            d = rng.integers(0, n, m)
        else:
            dist, idx = tree.query(pos[s], k=k)  # [m, k], the first is usually the source itself
            w = np.exp(-np.asarray(dist).reshape(m, -1) / decay)
            idx = np.asarray(idx).reshape(m, -1)
            cum = np.cumsum(w, 1)
            pick = (cum < rng.random(m)[:, None] * cum[:, -1:]).sum(1)
            d = idx[np.arange(m), np.minimum(pick, idx.shape[1] - 1)]
        key = combined_key((s.astype(np.int64), d), (n, n), "grow_synapses")
        ok = s != d
        ok &= ~np.isin(key, existing) & ~np.isin(key, found)
        if allowed is not None:
            ok &= np.asarray(allowed(torch.from_numpy(s), torch.from_numpy(d)), dtype=bool)
        key = key[ok]
        _, first = np.unique(key, return_index=True)
        key = key[np.sort(first)][:need]
        found = np.concatenate([found, key])
    return torch.from_numpy(found // n), torch.from_numpy(found % n)


def _remap_state(value: object, keep: Tensor, num_old: int, num_added: int) -> object:
    if isinstance(value, Tensor) and value.dim() >= 1 and value.shape[0] == num_old:
        kept = value[keep.to(value.device)]
        return torch.cat([kept, value.new_zeros((num_added,) + tuple(value.shape[1:]))])
    return value


@torch.no_grad()
def rewire_(
    module: nn.Module,
    keep: Tensor,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    new_src: Tensor | None = None,
    new_dst: Tensor | None = None,
    new_weight: Tensor | float = 0.0,
) -> Graph:
    """Keep the synapses ``keep`` of ``module``, append new ones, and follow in the optimizer — in place.

    ``module`` must hold its synapses as ``module.graph`` (a Graph) and ``module.weight``
    (an ``[E]`` Parameter); a ``replace_synapses(graph, weight)`` method is used when present
    (:class:`~gnnkit.brain.network.SpatialRNN`). The weight becomes a new Parameter
    ``[w[keep], new_weight]``; every per-synapse optimizer state (Adam moments, momentum)
    is re-indexed the same way, new synapses starting from zero state, and the parameter
    is swapped in the optimizer's param group. Pruned synapses are gone from the graph, the
    weight, the gradient and the optimizer.

    Returns:
        The new graph (edges: survivors in their order, then the new ones).
    """
    graph, old = module.graph, module.weight
    check_graph(graph)
    keep = torch.as_tensor(keep, dtype=torch.int64).cpu()
    e = graph.num_edges
    if keep.numel() and (int(keep.min()) < 0 or int(keep.max()) >= e):
        raise ValueError(f"keep must hold synapse ids in [0, {e}), got ids in [{int(keep.min())}, {int(keep.max())}]")
    if torch.unique(keep).numel() != keep.numel():
        raise ValueError("keep must not repeat a synapse id")
    src = torch.zeros(0, dtype=torch.int64) if new_src is None else torch.as_tensor(new_src, dtype=torch.int64).cpu()
    dst = torch.zeros(0, dtype=torch.int64) if new_dst is None else torch.as_tensor(new_dst, dtype=torch.int64).cpu()
    if src.shape != dst.shape:
        raise ValueError(f"new_src and new_dst must have the same length, got {src.numel()} and {dst.numel()}")
    added = src.numel()
    dev = graph.device
    new_graph = Graph(torch.cat([graph.src[keep.to(dev)], src.to(dev)]), torch.cat([graph.dst[keep.to(dev)], dst.to(dev)]),
                      graph.num_nodes)
    nw = old.new_full((added,), float(new_weight)) if not isinstance(new_weight, Tensor) else new_weight.to(old)
    if nw.shape != (added,):
        raise ValueError(f"new_weight must be a number or a tensor of shape [{added}], got {tuple(nw.shape)}")
    param = nn.Parameter(torch.cat([old.detach()[keep.to(old.device)], nw]), requires_grad=old.requires_grad)
    if hasattr(module, "replace_synapses"):
        module.replace_synapses(new_graph, param)
    else:
        module.graph = new_graph
        module.weight = param
    if optimizer is not None:
        for group in optimizer.param_groups:
            group["params"] = [param if p is old else p for p in group["params"]]
        if old in optimizer.state:
            state = optimizer.state.pop(old)
            optimizer.state[param] = {k: _remap_state(v, keep, e, added) for k, v in state.items()}
    return new_graph


# ---------------------------------------------------------------- orchestration
@dataclass(frozen=True)
class PruneReport:
    """What one lifecycle stage did."""

    stage: int
    edges_before: int
    removed: int
    added: int
    edges_after: int

    @property
    def fraction_removed(self) -> float:
        return self.removed / self.edges_before if self.edges_before else 0.0


class Lifecycle:
    r"""Prune (and optionally regrow) a module's synapses once per stage, following a schedule.

    At stage ``t`` the module is cut from its current count to ``schedule.targets(E0)[t]``
    synapses. With regrowth, ``round(regrow_fraction * r_t)`` extra synapses are removed and
    the same number of new ones (weight 0, so the function is unchanged until they learn)
    are added by :func:`regrow`; the count after the stage still meets the schedule.
    Randomness (``"random"`` criterion, regrowth) is seeded by ``(seed, stage)``, so a run
    resumed from a checkpoint makes the same choices as one that never stopped.

    Args:
        schedule: the :class:`PruningSchedule`.
        initial_edges: ``E0``, the synapse count before the first stage.
        criterion: a criterion name or a ``{name: weight}`` mix (see :func:`synapse_scores`).
        positions: ``[N, D]`` neuron positions (for ``"wiring"`` and distance regrowth).
        regrow_fraction: extra turnover per stage relative to the removals, in [0, 1].
        regrow_decay: length constant of distance-dependent regrowth (needs ``positions``);
            None: uniform regrowth.
        allowed: optional ``(src, dst) -> mask`` filter for regrown synapses.
        seed: base seed.

    Raises:
        ValueError: bad schedule/criterion/fractions, ``regrow_decay`` without positions.
    """

    def __init__(
        self,
        schedule: PruningSchedule,
        initial_edges: int,
        criterion: str | Mapping[str, float] = "magnitude",
        *,
        positions: Tensor | None = None,
        regrow_fraction: float = 0.0,
        regrow_decay: float | None = None,
        allowed: Callable[[Tensor, Tensor], Tensor] | None = None,
        seed: int = 0,
    ) -> None:
        if not isinstance(schedule, PruningSchedule):
            raise TypeError(f"schedule must be a PruningSchedule, got {type(schedule).__name__}")
        self.schedule = schedule
        self.initial_edges = check_int(initial_edges, "initial_edges", minimum=0)
        names = [criterion] if isinstance(criterion, str) else list(criterion)
        for name in names:
            if name not in CRITERIA:
                raise ValueError(f"criterion must be one of {CRITERIA} or a mapping of them to weights, got {name!r}")
        self.criterion = criterion
        self.positions = None if positions is None else as_positions(positions, None)
        self.regrow_fraction = check_probability(regrow_fraction, "regrow_fraction")
        if regrow_decay is not None:
            regrow_decay = check_positive(regrow_decay, "regrow_decay")
            if self.positions is None:
                raise ValueError("regrow_decay needs positions (regrowth by distance)")
        if "wiring" in names and self.positions is None:
            raise ValueError("criterion 'wiring' needs positions")
        self.regrow_decay, self.allowed, self.seed = regrow_decay, allowed, int(seed)
        self.targets = schedule.targets(self.initial_edges)

    def step(
        self,
        stage: int,
        module: nn.Module,
        *,
        optimizer: torch.optim.Optimizer | None = None,
        tracker: UsageTracker | None = None,
    ) -> PruneReport:
        """Prune ``module`` (in place, with its optimizer and tracker) at the end of ``stage``."""
        stage = check_int(stage, "stage", minimum=0, maximum=self.schedule.num_stages - 1)
        graph = module.graph
        before = graph.num_edges
        target = self.targets[stage]
        if target > before:
            raise ValueError(f"stage {stage} targets {target} synapses but the module has only {before}; "
                             f"was initial_edges={self.initial_edges} right?")
        turnover = int(round(self.regrow_fraction * (before - target)))
        lengths = None
        if self.positions is not None:
            from .topology import edge_lengths

            lengths = edge_lengths(graph, self.positions)
        scores = synapse_scores(self.criterion, graph, module.weight, lengths=lengths, tracker=tracker,
                                seed=self.seed * 1_000_003 + stage)
        keep = select_survivors(scores, before - target + turnover)
        src = dst = None
        if turnover:
            survivors = prune_graph(graph, keep)
            src, dst = regrow(survivors, turnover, positions=self.positions if self.regrow_decay else None,
                              decay=self.regrow_decay, allowed=self.allowed, seed=self.seed * 1_000_003 + stage + 7)
            # a removed synapse may come back: regrow() only avoids current survivors
        rewire_(module, keep, optimizer=optimizer, new_src=src, new_dst=dst)
        added = 0 if src is None else src.numel()
        if tracker is not None:
            tracker.reindex(keep, added)
        return PruneReport(stage, before, before - keep.numel(), added, module.graph.num_edges)


def prune_fraction(graph: Graph, scores: Tensor, fraction: float) -> Tensor:
    """Survivor ids after removing ``round(fraction * E)`` lowest-scoring synapses.

    Raises:
        ValueError: ``fraction`` outside [0, 1), scores of the wrong shape.
    """
    check_graph(graph)
    fraction = check_fraction(fraction, "fraction")
    scores = as_edge_tensor(scores, graph.num_edges, "scores")
    return select_survivors(scores, int(math.floor(fraction * graph.num_edges + 0.5)))

