r"""Wiring costs and energy constraints as differentiable loss terms.

A training loop adds them to the task loss::

    loss = task_loss + beta * wiring_cost(net.weight, lengths) + alpha * activity_l1(states)

Convention: a synapse ``e`` is ``src -> dst`` with weight :math:`w_e`; as a matrix,
:math:`W_{src,dst} = w_e` (rows are presynaptic neurons, as ``Graph.to_scipy``).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .. import ops
from ..graph import Graph
from ._validate import as_edge_tensor, check_graph, check_int, check_nonnegative, check_positive, check_real

__all__ = [
    "wiring_cost",
    "communicability",
    "communicability_wiring_cost",
    "activity_l1",
    "firing_rate_penalty",
    "weight_budget_penalty",
]


def _check_weight(weight: Tensor, graph: Graph | None = None, num_edges: int | None = None) -> Tensor:
    e = graph.num_edges if graph is not None else num_edges
    if not isinstance(weight, Tensor):
        raise TypeError(f"weight must be a torch.Tensor of shape [E], got {type(weight).__name__}")
    if e is None:
        if weight.dim() != 1:
            raise ValueError(f"weight must have shape [E] (one value per synapse), got {tuple(weight.shape)}")
        e = weight.shape[0]
    return as_edge_tensor(weight, e, "weight")


def wiring_cost(weight: Tensor, lengths: Tensor, power: float = 1.0) -> Tensor:
    r"""Weighted wiring cost :math:`\sum_e |w_e|\, d_e^{\,p}`.

    Args:
        weight: ``[E]`` synapse weights (differentiable).
        lengths: ``[E]`` synapse lengths, e.g. :func:`~gnnkit.brain.topology.edge_lengths`.
        power: exponent :math:`p` on the length (1: total weighted wire).

    Returns:
        A scalar tensor. Its gradient is :math:`\operatorname{sign}(w_e) d_e^p`: an L1 penalty
        whose strength grows with length.

    Raises:
        TypeError/ValueError: non-tensors, shapes that differ, negative or non-finite lengths.
    """
    weight = _check_weight(weight)
    lengths = as_edge_tensor(lengths, weight.shape[0], "lengths")
    if lengths.numel() and (not bool(torch.isfinite(lengths).all()) or float(lengths.min()) < 0):
        raise ValueError("lengths must be finite and >= 0 (distances between neurons)")
    power = check_real(power, "power")
    d = lengths.to(weight.dtype)
    return (weight.abs() * (d if power == 1.0 else d.pow(power))).sum()


def communicability(
    graph: Graph,
    weight: Tensor,
    *,
    max_terms: int = 40,
    tol: float = 1e-12,
    block_size: int = 512,
) -> Tensor:
    r"""Weighted communicability at every synapse (Crofts & Higham 2009), differentiable.

    .. math:: C = \exp\!\big(S^{-1/2}\, |W|\, S^{-1/2}\big), \qquad S = \operatorname{diag}\Big(\sum_j |W_{ij}|\Big)

    (:math:`S` holds the out-strengths, the row sums of :math:`|W|`, as in Achterberg et al.'s
    seRNN code). Returns :math:`C_{src_e, dst_e}` for every edge, never the dense matrix:
    columns of :math:`C` are computed ``block_size`` at a time by the Taylor series
    :math:`\sum_k M^k / k!` applied to indicator columns, each term one ``ops.spmm``, until a
    term is below ``tol`` relative to the sum (:math:`M` is similar to a row-stochastic
    matrix, so its spectral radius is at most 1 and the series converges fast). Work is
    :math:`O(K \cdot E \cdot N_{dst})` with :math:`N_{dst}` the neurons that receive a synapse:
    meant for networks of up to ~10^4 neurons (seRNNs have 10^2). A neuron without outgoing
    synapses has :math:`s_i = 0`; its :math:`s_i^{-1/2}` is taken as 0.

    Args:
        graph: the synapses (one vertex set).
        weight: ``[E]`` weights; the result is differentiable in them.
        max_terms: most Taylor terms. tol: relative size of the last term.
        block_size: columns per block (memory ``[N, block_size]`` per term kept for backward).

    Returns:
        ``[E]`` communicability of each synapse, dtype of ``weight``.

    Raises:
        ValueError: weight of the wrong shape, ``max_terms < 1``, non-positive ``tol``.
    """
    check_graph(graph)
    weight = _check_weight(weight, graph)
    max_terms = check_int(max_terms, "max_terms", minimum=1)
    tol = check_positive(tol, "tol")
    block_size = check_int(block_size, "block_size", minimum=1)
    n, e = graph.num_nodes, graph.num_edges
    if e == 0:
        return weight.new_zeros(0)
    a = weight.abs()
    strength = a.new_zeros(n).index_add(0, graph.src, a)  # [N] out-strength
    inv_sqrt = torch.where(strength > 0, strength.clamp_min(torch.finfo(a.dtype).tiny).rsqrt(), torch.zeros_like(strength))
    m = a * inv_sqrt[graph.src] * inv_sqrt[graph.dst]  # [E] entries of M = S^-1/2 |W| S^-1/2
    rev = graph.reverse()  # (M v)_src = sum_e m_e v_dst: aggregation into the source side
    dst_sorted, perm = torch.sort(graph.dst, stable=True)
    cols = torch.unique_consecutive(dst_sorted)  # neurons that receive a synapse
    out = weight.new_zeros(e)
    col_of = torch.full((n,), -1, dtype=torch.int64, device=weight.device)
    for start in range(0, cols.numel(), block_size):  # a loop over column blocks of C
        block = cols[start : start + block_size]  # [b]
        b = block.numel()
        col_of[block] = torch.arange(b, device=weight.device)
        term = a.new_zeros(n, b).index_put((block, torch.arange(b, device=weight.device)), a.new_ones(b))  # [N, b] = I[:, block]
        total = term
        for k in range(1, max_terms + 1):  # Taylor terms
            term = ops.spmm(rev, term, m) / k  # [N, b]
            total = total + term
            if float(term.detach().abs().max()) <= tol * float(total.detach().abs().max()):
                break
        # edges whose destination lies in this block: C[src_e, dst_e] = total[src_e, col(dst_e)]
        lo = int(torch.searchsorted(dst_sorted, block[0]))
        hi = int(torch.searchsorted(dst_sorted, block[-1], right=True))
        eids = perm[lo:hi]  # [E_b]
        out = out.index_put((eids,), total[graph.src[eids], col_of[graph.dst[eids]]])
        col_of[block] = -1
    return out


def communicability_wiring_cost(
    graph: Graph,
    weight: Tensor,
    lengths: Tensor,
    *,
    detach_communicability: bool = False,
    **kwargs: int | float,
) -> Tensor:
    r"""Communicability-weighted wiring cost of spatially embedded RNNs (Achterberg et al. 2023).

    .. math:: \mathcal L_{\text{wire}} = \sum_{ij} |W_{ij}|\; C_{ij}\; D_{ij}, \qquad
              C = \exp\!\big(S^{-1/2} |W| S^{-1/2}\big)

    over the synapses only (the sum is zero wherever :math:`W_{ij} = 0`), with :math:`D` the
    Euclidean distance (Achterberg, Akarca, Strouse, Duncan & Astle, *Nature Machine
    Intelligence* 5:1369, 2023, https://doi.org/10.1038/s42256-023-00748-9). Synapses that
    are long *and* carry much of the network's communication are penalised most; the
    diagonal of :math:`C` never enters (no self-synapses have a length).

    Args:
        graph, weight: the synapses and their ``[E]`` weights.
        lengths: ``[E]`` synapse lengths :math:`D_{src,dst}`.
        detach_communicability: treat :math:`C` as a constant in backward (cheaper; the
            original differentiates through it, which is the default here too).
        **kwargs: ``max_terms``, ``tol``, ``block_size`` of :func:`communicability`.

    Returns:
        A scalar tensor.
    """
    weight = _check_weight(weight, check_graph(graph))
    lengths = as_edge_tensor(lengths, graph.num_edges, "lengths")
    if lengths.numel() and (not bool(torch.isfinite(lengths).all()) or float(lengths.min()) < 0):
        raise ValueError("lengths must be finite and >= 0 (distances between neurons)")
    if detach_communicability:
        with torch.no_grad():
            c = communicability(graph, weight.detach(), **kwargs)
    else:
        c = communicability(graph, weight, **kwargs)
    return (weight.abs() * c * lengths.to(weight.dtype)).sum()


def _check_states(states: Tensor, name: str = "states") -> Tensor:
    if not isinstance(states, Tensor) or not states.is_floating_point():
        got = f"dtype {states.dtype}" if isinstance(states, Tensor) else type(states).__name__
        raise TypeError(f"{name} must be a floating-point tensor of activations, got {got}")
    return states


def activity_l1(states: Tensor) -> Tensor:
    r"""Mean absolute activity :math:`\frac{1}{|a|}\sum |a|`, an L1 energy penalty on firing.

    Args:
        states: activations of any shape, e.g. ``[T, N, B]`` from ``SpatialRNN(return_states=True)``.
    """
    states = _check_states(states)
    return states.abs().mean() if states.numel() else states.new_zeros(())


def firing_rate_penalty(states: Tensor, target_rate: float = 0.0, neuron_dim: int = -2) -> Tensor:
    r"""Mean squared deviation of each neuron's rate from a target: :math:`\frac1N\sum_i (\bar r_i - r^*)^2`.

    :math:`\bar r_i` is the mean of neuron ``i``'s activity over every other dimension
    (time, batch). With ``target_rate=0`` it penalises sustained firing (metabolic cost);
    with a positive target it is a homeostatic set point.

    Args:
        states: activations with a neuron axis, e.g. ``[T, N, B]``.
        target_rate: :math:`r^*`, >= 0. neuron_dim: the neuron axis (default ``-2``).
    """
    states = _check_states(states)
    target_rate = check_nonnegative(target_rate, "target_rate")
    if states.dim() == 0:
        raise ValueError("states must have a neuron dimension, got a scalar")
    dim = neuron_dim % states.dim()
    other = [d for d in range(states.dim()) if d != dim]
    rate = states.mean(dim=other) if other else states  # [N]
    return ((rate - target_rate) ** 2).mean()


def weight_budget_penalty(weight: Tensor, budget: float, power: float = 2.0) -> Tensor:
    r"""Penalty on total synaptic weight above a budget: :math:`\max(0, \sum_e |w_e| - B)^p`.

    Zero (with zero gradient) while the network stays within budget :math:`B`.

    Raises:
        ValueError: a negative budget or non-positive power.
    """
    weight = _check_weight(weight)
    budget = check_nonnegative(budget, "budget")
    power = check_positive(power, "power")
    over = torch.relu(weight.abs().sum() - budget)
    return over if math.isclose(power, 1.0) else over.pow(power)
