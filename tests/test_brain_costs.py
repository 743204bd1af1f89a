"""gnnkit.brain.costs: wiring and energy loss terms equal their dense formulas (value and gradient)."""
import numpy as np
import pytest
import scipy.linalg
import torch
from torch.testing import assert_close

from conftest import random_graph
from gnnkit import Graph
from gnnkit.brain.costs import (
    activity_l1,
    communicability,
    communicability_wiring_cost,
    firing_rate_penalty,
    weight_budget_penalty,
    wiring_cost,
)
from gnnkit.brain.topology import edge_lengths


def simple_graph(n: int, p: float, seed: int) -> Graph:
    """Random directed graph without self-loops or duplicates (so W[src, dst] is one entry per edge)."""
    gen = torch.Generator().manual_seed(seed)
    a = (torch.rand(n, n, generator=gen) < p) & ~torch.eye(n, dtype=torch.bool)
    s, d = a.nonzero().T
    perm = torch.randperm(s.numel(), generator=gen)  # unsorted edge order
    return Graph(s[perm], d[perm], n)


def dense(g: Graph, values: torch.Tensor) -> torch.Tensor:
    """W[src, dst] (an [N, N] oracle for tests only); differentiable in ``values``."""
    return torch.zeros(g.num_nodes, g.num_nodes, dtype=values.dtype).index_put((g.src, g.dst), values, accumulate=True)


def dense_communicability(w_abs: torch.Tensor) -> torch.Tensor:
    s = w_abs.sum(1)
    inv = torch.where(s > 0, s.clamp_min(1e-300).rsqrt(), torch.zeros_like(s))
    return torch.linalg.matrix_exp(inv[:, None] * w_abs * inv[None, :])


def setup(n=14, p=0.35, seed=0):
    g = simple_graph(n, p, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    w = torch.randn(g.num_edges, generator=gen, dtype=torch.float64, requires_grad=True)
    pos = torch.rand(n, 3, generator=gen)
    return g, w, pos, edge_lengths(g, pos).double()


def test_wiring_cost_equals_dense_sum_and_gradient():
    g, w, pos, d = setup()
    cost = wiring_cost(w, d)
    wd = dense(g, w)
    dd = torch.cdist(pos.double(), pos.double())
    ref = (wd.abs() * dd).sum()
    assert_close(cost, ref)
    (gw,) = torch.autograd.grad(cost, w)
    (gref,) = torch.autograd.grad(ref, w)
    assert_close(gw, gref)
    assert_close(gw, torch.sign(w.detach()) * d)
    assert_close(wiring_cost(w, d, power=2.0), (wd.abs() * dd**2).sum())


@pytest.mark.parametrize("block_size", [1, 5, 512])
def test_communicability_equals_scipy_expm(block_size):
    g, w, _, _ = setup(n=16, p=0.3, seed=2)
    c = communicability(g, w, block_size=block_size)
    wa = dense(g, w.detach()).abs().numpy()
    s = wa.sum(1)
    inv = np.where(s > 0, 1 / np.sqrt(np.where(s > 0, s, 1)), 0.0)
    ref = scipy.linalg.expm(inv[:, None] * wa * inv[None, :])
    assert_close(c.detach(), torch.from_numpy(ref[g.src.numpy(), g.dst.numpy()]), rtol=1e-9, atol=1e-10)


def test_communicability_neuron_without_outputs_and_empty_graph():
    # neuron 2 sends nothing: s_2 = 0, its row/column of M vanish (documented convention)
    g = Graph([0, 1, 0, 1], [1, 0, 2, 2], 3)
    w = torch.tensor([1.0, 2.0, 0.5, 1.5], dtype=torch.float64)
    c = communicability(g, w)
    ref = dense_communicability(dense(g, w).abs())
    assert_close(c, ref[g.src, g.dst])
    assert torch.isfinite(c).all()
    assert communicability(Graph([], [], 3), torch.zeros(0, dtype=torch.float64)).shape == (0,)


def test_communicability_wiring_cost_equals_dense_formula_and_gradient():
    g, w, pos, d = setup(n=12, p=0.4, seed=3)
    cost = communicability_wiring_cost(g, w, d)
    wd = dense(g, w)
    dd = dense(g, d)  # D at the synapses; elsewhere |W| = 0 anyway
    assert_close(dd[g.src, g.dst], torch.cdist(pos.double(), pos.double())[g.src, g.dst], rtol=1e-6, atol=1e-6)
    c = dense_communicability(wd.abs())
    ref = (wd.abs() * c * dd).sum()  # Achterberg et al. 2023: sum |W| (x) C (x) D
    assert_close(cost, ref, rtol=1e-9, atol=1e-10)
    (gw,) = torch.autograd.grad(cost, w)
    (gref,) = torch.autograd.grad(ref, w)
    assert_close(gw, gref, rtol=1e-7, atol=1e-9)
    # detached communicability: same value, gradient treats C as a constant
    cost_d = communicability_wiring_cost(g, w, d, detach_communicability=True)
    assert_close(cost_d, ref, rtol=1e-9, atol=1e-10)
    (gd,) = torch.autograd.grad(cost_d, w)
    assert_close(gd, torch.sign(w.detach()) * c.detach()[g.src, g.dst] * d, rtol=1e-9, atol=1e-10)


def test_communicability_is_scale_invariant_and_gradcheck():
    g, w, _, _ = setup(n=6, p=0.5, seed=4)
    assert_close(communicability(g, 3.0 * w), communicability(g, w))
    assert torch.autograd.gradcheck(lambda v: communicability(g, v, tol=1e-14), (w,))


def test_energy_terms_equal_their_formulas():
    gen = torch.Generator().manual_seed(0)
    states = torch.randn(5, 7, 3, generator=gen, dtype=torch.float64, requires_grad=True)  # [T, N, B]
    assert_close(activity_l1(states), states.abs().sum() / states.numel())
    rate = states.mean(dim=(0, 2))
    assert_close(firing_rate_penalty(states, target_rate=0.2), ((rate - 0.2) ** 2).mean())
    assert_close(firing_rate_penalty(states.transpose(0, 1), neuron_dim=0), (rate**2).mean())
    (g,) = torch.autograd.grad(activity_l1(states), states)
    assert_close(g, torch.sign(states.detach()) / states.numel())
    assert activity_l1(torch.zeros(0)).item() == 0.0


def test_weight_budget_penalty_zero_within_budget():
    w = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64, requires_grad=True)
    assert weight_budget_penalty(w, 4.0).item() == 0.0
    (g,) = torch.autograd.grad(weight_budget_penalty(w, 4.0), w)
    assert torch.all(g == 0)
    over = weight_budget_penalty(w, 3.0)
    assert_close(over, torch.tensor(0.25, dtype=torch.float64))
    (g,) = torch.autograd.grad(over, w)
    assert_close(g, 2 * 0.5 * torch.sign(w.detach()))
    assert_close(weight_budget_penalty(w, 3.0, power=1.0), torch.tensor(0.5, dtype=torch.float64))


def test_costs_bad_input():
    g, w, _, d = setup(n=6, p=0.5, seed=5)
    with pytest.raises(ValueError, match=r"lengths must have shape \[E\]"):
        wiring_cost(w, d[:-1])
    with pytest.raises(ValueError, match="lengths must be finite and >= 0"):
        wiring_cost(w, -d)
    with pytest.raises(ValueError, match="lengths must be finite and >= 0"):
        communicability_wiring_cost(g, w, d * float("nan"))
    with pytest.raises(TypeError, match="weight must be a torch.Tensor"):
        wiring_cost([1.0], d)
    with pytest.raises(ValueError, match=r"weight must have shape \[E\]"):
        wiring_cost(w.view(-1, 1), d)
    with pytest.raises(ValueError, match=r"weight must have shape \[E\] with E = "):
        communicability(g, w[:-1])
    with pytest.raises(TypeError, match="weight must be a floating-point tensor"):
        communicability(g, torch.ones(g.num_edges, dtype=torch.int64))
    with pytest.raises(ValueError, match="max_terms must be >= 1"):
        communicability(g, w, max_terms=0)
    with pytest.raises(ValueError, match="tol must be > 0"):
        communicability(g, w, tol=0.0)
    with pytest.raises(TypeError, match="graph must be a gnnkit.Graph"):
        communicability("g", w)
    with pytest.raises(ValueError, match="budget must be >= 0"):
        weight_budget_penalty(w, -1.0)
    with pytest.raises(ValueError, match="power must be > 0"):
        weight_budget_penalty(w, 1.0, power=0.0)
    with pytest.raises(TypeError, match="states must be a floating-point tensor"):
        activity_l1(torch.ones(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="target_rate must be >= 0"):
        firing_rate_penalty(torch.ones(2, 3), target_rate=-1.0)
    with pytest.raises(ValueError, match="neuron dimension"):
        firing_rate_penalty(torch.tensor(1.0))
    with pytest.raises(ValueError, match="power must be finite"):
        wiring_cost(w, d, power=float("inf"))


def test_costs_on_a_multigraph_count_every_synapse():
    """Parallel synapses and autapses: each is its own term, and M sums the parallel |w| (dense accumulate)."""
    g = random_graph(10, 40, seed=3)
    assert len(set(zip(g.src.tolist(), g.dst.tolist()))) < 40 and bool((g.src == g.dst).any())
    w = torch.randn(40, dtype=torch.float64)
    d = torch.rand(40, dtype=torch.float64)
    assert_close(wiring_cost(w, d), (w.abs() * d).sum())
    c = communicability(g, w)
    assert_close(c, dense_communicability(dense(g, w.abs()))[g.src, g.dst])


def test_costs_bad_input_types():
    with pytest.raises(TypeError, match=r"lengths must be a torch.Tensor of shape \[E\], got list"):
        wiring_cost(torch.ones(2), [1.0, 2.0])
