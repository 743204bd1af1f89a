"""Rate and LIF networks of gnnkit.brain.dynamics: dense float64 references, hand-computed cases,
surrogate gradients (gradcheck on the smooth twin), training, pruning and wiring costs."""
from __future__ import annotations

import math

import pytest
import torch
from conftest import DEVICES
from torch.func import functional_call

from gnnkit import Graph
from gnnkit.brain import Lifecycle, PruningSchedule, edge_lengths, rewire_, spatial_graph, wiring_cost
from gnnkit.brain.dynamics import (
    SURROGATES,
    LIFNetwork,
    LIFState,
    RateNetwork,
    Surrogate,
    as_delays,
    simulate,
)

F64 = torch.float64


def _graph(n: int = 7, p: float = 0.4, seed: int = 0, device: str = "cpu") -> Graph:
    gen = torch.Generator().manual_seed(seed)
    src, dst = (torch.rand(n, n, generator=gen) < p).nonzero(as_tuple=True)
    src = torch.cat([src, src[:2]])  # duplicate synapses add up
    dst = torch.cat([dst, dst[:2]])
    return Graph(src, dst, n + 1).to(device)  # neuron n is isolated


def _dense(g: Graph, w: Tensor) -> Tensor:  # noqa: F821 - oracle only
    return torch.zeros(g.num_nodes, g.num_nodes, dtype=w.dtype).index_put_((g.dst.cpu(), g.src.cpu()), w.cpu(), accumulate=True)


class _SmoothTwin(Surrogate):
    """The step built with the surrogate's primitive: smooth, so gradcheck's finite differences apply."""

    def __call__(self, x):
        return self.primitive(x)


# ---------------------------------------------------------------- surrogate
@pytest.mark.parametrize("kind", SURROGATES)
def test_surrogate_forward_is_strict_step_backward_is_derivative(kind: str) -> None:
    s = Surrogate(kind, slope=3.0)
    x = torch.tensor([-2.0, -0.1, 0.0, 0.1, 2.0], dtype=F64, requires_grad=True)
    y = s(x)
    torch.testing.assert_close(y, torch.tensor([0.0, 0.0, 0.0, 1.0, 1.0], dtype=F64))
    (grad,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(grad, s.derivative(x.detach()))
    # the derivative is the primitive's derivative (autograd of the smooth function)
    xp = x.detach().clone().requires_grad_()
    (prim,) = torch.autograd.grad(s.primitive(xp).sum(), xp)
    torch.testing.assert_close(grad, prim)


def test_surrogate_analytic_values() -> None:
    x = torch.tensor([0.0, 0.5], dtype=F64)
    torch.testing.assert_close(Surrogate("fast_sigmoid", 2.0).derivative(x), torch.tensor([1.0, 0.25], dtype=F64))
    expected = torch.tensor([1.0, 1.0 / (1.0 + (math.pi / 2) ** 2)], dtype=F64)
    torch.testing.assert_close(Surrogate("arctan", 2.0).derivative(x), expected)


def test_surrogate_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        Surrogate("sigmoid")
    with pytest.raises(ValueError, match="slope must be > 0"):
        Surrogate("arctan", 0.0)


# ---------------------------------------------------------------- rate model
@pytest.mark.parametrize("device", DEVICES)
def test_rate_network_equals_dense_reference(device: str) -> None:
    g = _graph(device=device)
    model = RateNetwork(g, tau=4.0, dt=0.5, activation="tanh").to(F64)
    inputs = torch.randn(6, g.num_nodes, 3, dtype=F64, generator=torch.Generator().manual_seed(1)).to(device)
    with torch.no_grad():
        _, rec = simulate(model, model.initial_state(3), inputs, record=("rates",))
    a = _dense(g, model.weight.detach())
    r, want = torch.zeros(g.num_nodes, 3, dtype=F64), []
    for t in range(6):
        r = r + 0.5 / 4.0 * (-r + torch.tanh(a @ r + inputs[t].cpu()))
        want.append(r)
    torch.testing.assert_close(rec["rates"].cpu(), torch.stack(want))


def test_rate_network_gradcheck() -> None:
    g = _graph(5)
    model = RateNetwork(g, tau=3.0, dt=1.0, activation="tanh").to(F64)
    gen = torch.Generator().manual_seed(2)
    w = torch.randn(g.num_edges, dtype=F64, generator=gen, requires_grad=True)
    r = torch.rand(g.num_nodes, 2, dtype=F64, generator=gen, requires_grad=True)
    x = torch.randn(g.num_nodes, 2, dtype=F64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(lambda w, r, x: functional_call(model, {"weight": w}, (r, x)), (w, r, x))


def test_rate_network_rejects_bad_arguments() -> None:
    g = _graph()
    with pytest.raises(ValueError, match="dt must be <= tau"):
        RateNetwork(g, tau=1.0, dt=2.0)
    with pytest.raises(ValueError, match="activation must be one of"):
        RateNetwork(g, activation="nope")
    with pytest.raises(TypeError, match="graph must be a gnnkit.Graph"):
        RateNetwork("g")
    model = RateNetwork(g)
    with pytest.raises(ValueError, match=r"state must have shape \[N, B\]"):
        model(torch.zeros(3, 2))
    with pytest.raises(ValueError, match=r"input must have shape \[N, B\]"):
        model(model.initial_state(2), torch.zeros(g.num_nodes, 3))


# ---------------------------------------------------------------- LIF: hand-computed cases
@pytest.mark.parametrize("refractory,expected", [(0, [0, 1, 2, 3, 4, 5]), (1, [0, 1, 2, 3, 4, 5]),
                                                 (2, [0, 2, 4]), (3, [0, 3])])
def test_lif_refractory_period_in_steps(refractory: int, expected: list[int]) -> None:
    # tau_m = dt: one Euler step lands on v_rest + R I_b = 2 > v_th, so a free neuron fires at once
    g = Graph(torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64), 1)
    model = LIFNetwork(g, tau_m=1.0, dt=1.0, bias_current=2.0, refractory=refractory)
    _, rec = simulate(model, model.initial_state(1), steps=6, record=("spikes",))
    assert rec["spikes"][:, 0, 0].nonzero().flatten().tolist() == expected


@pytest.mark.parametrize("delay", [0, 1, 3])
def test_lif_delay_in_whole_steps(delay: int) -> None:
    # neuron 0 is kicked over threshold at step 0 (input arrives after the threshold test), fires at
    # step 1; its synapse onto neuron 1 delivers at step 1 + delay, so neuron 1 fires at step 2 + delay
    g = Graph(torch.tensor([0]), torch.tensor([1]), 2)
    model = LIFNetwork(g, tau_m=1e9, dt=1.0, delays=delay, weight=torch.tensor([5.0]))
    inputs = torch.zeros(8, 2, 1)
    inputs[0, 0] = 5.0
    _, rec = simulate(model, model.initial_state(1), inputs, record=("spikes",))
    spikes = rec["spikes"][:, :, 0]
    assert spikes[:, 0].nonzero().flatten().tolist() == [1]
    assert spikes[:, 1].nonzero().flatten().tolist() == [2 + delay]


def test_lif_delta_input_is_lost_while_refractory_exponential_is_kept() -> None:
    # Brian2's rule for a variable marked "unless refractory": synaptic writes wait for not_refractory
    g = Graph(torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64), 1)
    inputs = torch.zeros(4, 1, 1)
    inputs[0] = 2.0  # fires at step 1, refractory at step 2
    inputs[2] = 0.5
    delta = LIFNetwork(g, tau_m=1e9, dt=1.0, refractory=2)
    state, _ = simulate(delta, delta.initial_state(1), inputs)
    assert float(state.v) == 0.0
    expo = LIFNetwork(g, tau_m=1e9, dt=1.0, tau_s=1e9, refractory=2)
    state, _ = simulate(expo, expo.initial_state(1), inputs)
    assert float(state.i) == 2.5


# ---------------------------------------------------------------- LIF: reference loop and batching
def _reference_lif(g: Graph, w: Tensor, delays: Tensor, inputs: Tensor, *, tau_m: float, dt: float,  # noqa: F821
                   tau_s: float | None, refractory: int, bias: float) -> Tensor:  # noqa: F821
    """Float64 dense loop with a list of past spikes, the semantics written out once more."""
    n, steps, trials = g.num_nodes, inputs.shape[0], inputs.shape[2]
    mats = [_dense(Graph(g.src[delays == d], g.dst[delays == d], n), w[delays == d]) for d in range(int(delays.max()) + 1)]
    v, i = torch.zeros(n, trials, dtype=F64), torch.zeros(n, trials, dtype=F64)
    last = torch.full((n, trials), -10**9)
    past, out = [], []
    for t in range(steps):
        free = (t - last) >= refractory
        v = torch.where(free, v + dt / tau_m * ((0.0 + (i + bias)) - v), v)
        if tau_s is not None:
            i = i + dt / tau_s * (-i)
        s = ((v > 1.0) & free).to(F64)
        past.insert(0, s)
        arriving = sum(m @ past[d] for d, m in enumerate(mats) if d < len(past)) + inputs[t]
        if tau_s is None:
            v = torch.where(free, v + arriving, v)
        else:
            i = i + arriving
        v = torch.where(s > 0, torch.zeros_like(v), v)
        last = torch.where(s > 0, torch.full_like(last, t), last)
        out.append(s)
    return torch.stack(out)


@pytest.mark.parametrize("tau_s", [None, 3.0])
@pytest.mark.parametrize("device", DEVICES)
def test_lif_equals_reference_loop_with_batched_trials(tau_s: float | None, device: str) -> None:
    g = _graph(12, 0.3, seed=4)
    gen = torch.Generator().manual_seed(5)
    w = torch.randn(g.num_edges, dtype=F64, generator=gen) * 0.6
    delays = torch.randint(0, 3, (g.num_edges,), generator=gen)
    inputs = (torch.rand(60, g.num_nodes, 4, generator=gen) < 0.1).to(F64) * 1.5  # 4 trials, different inputs
    model = LIFNetwork(g.to(device), tau_m=5.0, dt=1.0, tau_s=tau_s, refractory=2, delays=delays, weight=w,
                       bias_current=0.1).to(device)
    with torch.no_grad():
        _, rec = simulate(model, model.initial_state(4), inputs.to(device), record=("spikes",))
    want = _reference_lif(g, w, delays, inputs, tau_m=5.0, dt=1.0, tau_s=tau_s, refractory=2, bias=0.1)
    assert want.sum() > 20  # an active network
    torch.testing.assert_close(rec["spikes"].cpu(), want)


def test_lif_invariant_to_edge_permutation() -> None:
    g = _graph(10, 0.3, seed=6)
    gen = torch.Generator().manual_seed(7)
    w = torch.randn(g.num_edges, dtype=F64, generator=gen)
    delays = torch.randint(0, 4, (g.num_edges,), generator=gen)
    inputs = (torch.rand(40, g.num_nodes, 2, generator=gen) < 0.2).to(F64)
    perm = torch.randperm(g.num_edges, generator=gen)
    runs = []
    for idx in (torch.arange(g.num_edges), perm):
        model = LIFNetwork(Graph(g.src[idx], g.dst[idx], g.num_nodes), tau_m=4.0, delays=delays[idx], weight=w[idx])
        with torch.no_grad():
            runs.append(simulate(model, model.initial_state(2), inputs, record=("spikes",))[1]["spikes"])
    torch.testing.assert_close(runs[0], runs[1])


# ---------------------------------------------------------------- surrogate gradients through a step
def _step_fn(model: LIFNetwork, state: LIFState):
    def f(w, v, i, x):
        new, spikes = functional_call(model, {"weight": w}, (LIFState(v, i, state.refractory, state.history), x))
        return spikes, new.v, new.i
    return f


@pytest.mark.parametrize("kind", SURROGATES)
@pytest.mark.parametrize("tau_s", [None, 2.0])
def test_lif_step_gradcheck_smooth_twin(kind: str, tau_s: float | None) -> None:
    g = _graph(5, 0.5, seed=8)
    gen = torch.Generator().manual_seed(9)
    model = LIFNetwork(g, tau_m=3.0, tau_s=tau_s, refractory=2, delays=torch.randint(0, 3, (g.num_edges,), generator=gen),
                       surrogate=_SmoothTwin(kind, 1.5)).to(F64)
    state = model.initial_state(2)
    history = (torch.rand(state.history.shape, generator=gen) < 0.5).to(F64)
    refractory = torch.randint(0, 3, state.v.shape, generator=gen)  # some neurons refractory
    state = LIFState(state.v, state.i, refractory, history)
    args = [torch.randn(g.num_edges, dtype=F64, generator=gen), torch.randn(state.v.shape, dtype=F64, generator=gen) + 1,
            torch.randn(state.v.shape, dtype=F64, generator=gen), torch.randn(state.v.shape, dtype=F64, generator=gen)]
    args = [a.requires_grad_() for a in args]
    assert torch.autograd.gradcheck(_step_fn(model, state), tuple(args))


@pytest.mark.parametrize("kind", SURROGATES)
def test_lif_spike_gradient_equals_smooth_twin(kind: str) -> None:
    # a step's spikes depend only on the pre-threshold membrane (old v and current i), the same in
    # both steps: so the true step's backward equals the smooth twin's, which gradcheck verified above
    g = _graph(6, 0.5, seed=10)
    gen = torch.Generator().manual_seed(11)
    w = torch.randn(g.num_edges, dtype=F64, generator=gen)
    v = torch.randn(g.num_nodes, 3, dtype=F64, generator=gen) + 1
    i = torch.randn(g.num_nodes, 3, dtype=F64, generator=gen)
    grads = []
    for surrogate in (Surrogate(kind, 2.0), _SmoothTwin(kind, 2.0)):
        model = LIFNetwork(g, tau_m=2.0, tau_s=3.0, surrogate=surrogate).to(F64)
        s0 = model.initial_state(3)
        inputs = [t.clone().requires_grad_() for t in (v, i)]
        spikes = _step_fn(model, s0)(w, inputs[0], inputs[1], None)[0]
        grads.append(torch.autograd.grad(spikes.sum(), inputs))
    for got, want in zip(*grads):
        torch.testing.assert_close(got, want)
    assert all(gr.abs().sum() > 0 for gr in grads[0])


# ---------------------------------------------------------------- training, pruning, wiring cost
def test_lif_training_reaches_target_rate() -> None:
    torch.manual_seed(0)
    g = _graph(20, 0.3, seed=12)
    model = LIFNetwork(g, tau_m=5.0, tau_s=2.0, refractory=1, surrogate=Surrogate("fast_sigmoid", 5.0), gain=0.5)
    inputs = (torch.rand(30, g.num_nodes, 4, generator=torch.Generator().manual_seed(13)) < 0.15).float() * 2.0
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(25):
        _, rec = simulate(model, model.initial_state(4), inputs, record=("spikes",))
        loss = (rec["spikes"].mean() - 0.3) ** 2
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.1 * losses[0]  # the rate starts near 0.03 and must move to 0.3


def test_rate_network_wiring_cost_trains_and_prunes_with_lifecycle() -> None:
    torch.manual_seed(1)
    sg = spatial_graph(60, mean_degree=10, seed=0)
    model = RateNetwork(sg.graph, tau=2.0, dt=1.0, activation="tanh")
    lengths = edge_lengths(sg.graph, sg.positions)
    inputs = torch.randn(8, sg.num_nodes, 4, generator=torch.Generator().manual_seed(2))
    target = torch.tanh(torch.randn(sg.num_nodes, 4, generator=torch.Generator().manual_seed(3)))
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    life = Lifecycle(PruningSchedule("decreasing", 2, final_keep=0.5), sg.num_edges, "magnitude")
    first_cost = float(wiring_cost(model.weight, lengths))
    for stage in range(2):
        for _ in range(15):
            state, _ = simulate(model, model.initial_state(4), inputs)
            lengths = edge_lengths(model.graph, sg.positions)
            loss = ((state - target) ** 2).mean() + 1e-2 * wiring_cost(model.weight, lengths)
            opt.zero_grad()
            loss.backward()
            opt.step()
        report = life.step(stage, model, optimizer=opt)
        assert report.edges_after == life.targets[stage]
    assert model.graph.num_edges == round(0.5 * sg.num_edges)
    assert float(wiring_cost(model.weight, edge_lengths(model.graph, sg.positions))) < first_cost
    state, _ = simulate(model, model.initial_state(4), inputs)  # the pruned network still steps
    assert state.shape == (sg.num_nodes, 4) and bool(torch.isfinite(state).all())


def test_lif_pruned_with_rewire_keeps_uniform_delay() -> None:
    g = _graph(8, 0.5, seed=14)
    model = LIFNetwork(g, delays=2)
    state = model.initial_state(2)
    rewire_(model, torch.arange(0, g.num_edges, 2))
    assert model.graph.num_edges == (g.num_edges + 1) // 2 and model.max_delay == 2
    assert bool((model.delays == 2).all())
    new, spikes = model(state, torch.ones(g.num_nodes, 2))  # an old state still fits
    assert spikes.shape == (g.num_nodes, 2)
    varied = LIFNetwork(g, delays=torch.arange(g.num_edges) % 2)
    with pytest.raises(ValueError, match="needs uniform delays"):
        rewire_(varied, torch.arange(3))


# ---------------------------------------------------------------- simulate and validation
def test_simulate_records_and_zero_steps() -> None:
    g = _graph()
    model = LIFNetwork(g)
    state, rec = simulate(model, model.initial_state(3), steps=0, record=("spikes", "v", "i"))
    assert all(r.shape == (0, g.num_nodes, 3) for r in rec.values()) and isinstance(state, LIFState)
    _, rec = simulate(model, model.initial_state(3), torch.ones(4, g.num_nodes, 1), record=("v",))
    assert rec["v"].shape == (4, g.num_nodes, 3)


def test_simulate_rejects_bad_arguments() -> None:
    g = _graph()
    lif, rate = LIFNetwork(g), RateNetwork(g)
    with pytest.raises(TypeError, match="model must be a RateNetwork or LIFNetwork"):
        simulate(torch.nn.Linear(2, 2), torch.zeros(2, 2), steps=1)
    with pytest.raises(ValueError, match="record must name some of"):
        simulate(rate, rate.initial_state(1), steps=1, record=("spikes",))
    with pytest.raises(ValueError, match="give inputs"):
        simulate(lif, lif.initial_state(1))
    with pytest.raises(ValueError, match=r"inputs must have shape \[T, N, B\]"):
        simulate(lif, lif.initial_state(1), torch.zeros(3, g.num_nodes))
    with pytest.raises(ValueError, match="steps must equal"):
        simulate(lif, lif.initial_state(1), torch.zeros(3, g.num_nodes, 1), steps=2)


def test_lif_rejects_bad_arguments() -> None:
    g = _graph()
    with pytest.raises(ValueError, match="tau_m must be > 0"):
        LIFNetwork(g, tau_m=0.0)
    with pytest.raises(ValueError, match="refractory must be >= 0"):
        LIFNetwork(g, refractory=-1)
    with pytest.raises(TypeError, match="delays must hold whole steps"):
        LIFNetwork(g, delays=torch.zeros(g.num_edges))
    with pytest.raises(ValueError, match="delays must be >= 0"):
        LIFNetwork(g, delays=-1)
    with pytest.raises(ValueError, match=r"delays must have shape \[E\]"):
        as_delays(torch.zeros(3, dtype=torch.int64), g.num_edges)
    with pytest.raises(TypeError, match="delays must be an int"):
        as_delays(1.5, g.num_edges)
    with pytest.raises(ValueError, match=r"bias_current must be a number or a float tensor of shape \[N\]"):
        LIFNetwork(g, bias_current=torch.zeros(2))
    with pytest.raises(TypeError, match="surrogate must be"):
        LIFNetwork(g, surrogate="arctan")
    model = LIFNetwork(g, delays=1)
    with pytest.raises(TypeError, match="state must be a LIFState"):
        model(torch.zeros(g.num_nodes, 1))
    bad = model.initial_state(2)._replace(history=torch.zeros(0, g.num_nodes, 2))
    with pytest.raises(ValueError, match=r"state.history must have shape \[D, N, B\]"):
        model(bad)
