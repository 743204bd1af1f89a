"""gnnkit.brain.lifecycle and network: schedules, pruning removes synapses for real, gradients, regrowth."""
import pytest
import torch
from torch.testing import assert_close

from conftest import dense_adjacency
from gnnkit import Graph
from gnnkit.brain.lifecycle import (
    CRITERIA,
    Lifecycle,
    PruningSchedule,
    UsageTracker,
    prune_fraction,
    prune_graph,
    regrow,
    rewire_,
    select_survivors,
    synapse_scores,
)
from gnnkit.brain.network import SpatialRNN
from gnnkit.brain.topology import edge_lengths, spatial_graph


def keys(g: Graph) -> set:
    return set(zip(g.src.tolist(), g.dst.tolist()))


def small_net(seed=0, n=60, degree=12.0):
    sg = spatial_graph(n, mean_degree=degree, seed=seed)
    torch.manual_seed(seed)
    net = SpatialRNN(sg.graph, 3, 2, input_nodes=torch.arange(5), output_nodes=torch.arange(n - 4, n)).double()
    return sg, net


def dense_rnn(net: SpatialRNN, weight: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """The same RNN with an [N, N] matrix A[dst, src] (oracle)."""
    a = dense_adjacency(net.graph, weight)
    h = torch.zeros(net.num_nodes, xs.shape[1], dtype=torch.float64)
    ys = []
    for t in range(xs.shape[0]):
        z = a @ h + net.bias.unsqueeze(1)
        z = z.index_add(0, net.input_nodes, net.input_weight @ xs[t].t())
        h = (1 - net.alpha) * h + net.alpha * torch.tanh(z)
        ys.append(net.readout(h[net.output_nodes].t()))
    return torch.stack(ys)


# ------------------------------------------------------------ schedules
@pytest.mark.parametrize("e0,stages,keep", [(1000, 5, 0.2), (977, 7, 0.13), (10, 4, 0.5), (50, 1, 1.0)])
def test_schedules_reach_the_same_final_count_with_their_rate_profiles(e0, stages, keep):
    final = {kind: PruningSchedule(kind, stages, keep).targets(e0)[-1] for kind in ("constant", "increasing", "decreasing")}
    assert set(final.values()) == {round(keep * e0)}
    inc = PruningSchedule("increasing", stages, keep).removals(e0)
    dec = PruningSchedule("decreasing", stages, keep).removals(e0)
    const = PruningSchedule("constant", stages, keep).removals(e0)
    assert sum(inc) == sum(dec) == sum(const) == e0 - round(keep * e0)
    assert all(a <= b + 1 for a, b in zip(inc, inc[1:]))  # non-decreasing up to rounding
    assert all(a + 1 >= b for a, b in zip(dec, dec[1:]))
    assert max(const) - min(const) <= 1
    for kind in ("constant", "increasing", "decreasing"):
        fr = PruningSchedule(kind, stages, keep).fractions(e0)
        assert all(0 <= f < 1 for f in fr)


def test_decreasing_is_the_mirror_of_increasing():
    inc = PruningSchedule("increasing", 4, 0.0 + 0.2).removals(1000)
    dec = PruningSchedule("decreasing", 4, 0.2).removals(1000)
    assert inc == [80, 160, 240, 320] and dec == [320, 240, 160, 80]


@pytest.mark.parametrize("kind", ["constant", "increasing", "decreasing"])
def test_lifecycle_removes_the_exact_fraction_per_stage_and_the_edges_are_gone(kind):
    sg, net = small_net()
    e0 = net.graph.num_edges
    schedule = PruningSchedule(kind, 4, 0.25)
    life = Lifecycle(schedule, e0, "magnitude")
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for stage, (target, removed, fraction) in enumerate(zip(schedule.targets(e0), schedule.removals(e0),
                                                            schedule.fractions(e0))):
        before_graph, before_w = net.graph, net.weight.detach().clone()
        report = life.step(stage, net, optimizer=opt)
        assert net.graph.num_edges == target == report.edges_after
        assert report.removed == removed and report.fraction_removed == pytest.approx(fraction)
        assert net.weight.shape == (target,)
        # the removed synapses are the lowest |w| and are absent from the new structure
        order = torch.argsort(before_w.abs(), stable=True)
        gone = set(zip(before_graph.src[order[:removed]].tolist(), before_graph.dst[order[:removed]].tolist()))
        assert not gone & keys(net.graph)
        assert keys(net.graph) | gone == keys(before_graph)
        # survivors keep their weights, re-indexed
        lookup = {k: float(w) for k, w in zip(zip(before_graph.src.tolist(), before_graph.dst.tolist()), before_w)}
        assert [lookup[k] for k in zip(net.graph.src.tolist(), net.graph.dst.tolist())] == net.weight.tolist()


def test_pruned_network_gradients_flow_only_to_surviving_synapses():
    _, net = small_net(seed=1)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    xs = torch.randn(4, 5, 3, dtype=torch.float64)
    net(xs)[0].pow(2).sum().backward()
    opt.step()  # Adam state now exists for every synapse
    old_state = {k: v.clone() for k, v in opt.state[net.weight].items() if torch.is_tensor(v)}
    e0 = net.graph.num_edges
    scores = synapse_scores("magnitude", net.graph, net.weight)
    keep = select_survivors(scores, e0 // 2)
    rewire_(net, keep, optimizer=opt)
    assert net.weight in opt.param_groups[0]["params"]
    state = opt.state[net.weight]
    assert_close(state["exp_avg"], old_state["exp_avg"][keep])
    assert_close(state["exp_avg_sq"], old_state["exp_avg_sq"][keep])
    opt.zero_grad()
    loss = net(xs)[0].pow(2).sum()
    loss.backward()
    assert net.weight.grad.shape == (e0 - e0 // 2,)
    # dense oracle on the pruned structure: the gradient of every survivor, nothing else exists
    w = net.weight.detach().clone().requires_grad_(True)
    ref = dense_rnn(net, w, xs).pow(2).sum()
    (gw,) = torch.autograd.grad(ref, w)
    assert_close(loss, ref)
    assert_close(net.weight.grad, gw)
    # a full dense layer with the pruned entries masked to zero gets the same survivor gradients
    a = dense_adjacency(net.graph, w).detach().requires_grad_(True)
    mask = a.detach() != 0
    net_a = a * mask
    h = torch.zeros(net.num_nodes, 5, dtype=torch.float64)
    ys = []
    for t in range(4):
        z = (net_a @ h + net.bias.unsqueeze(1)).index_add(0, net.input_nodes, net.input_weight @ xs[t].t())
        h = torch.tanh(z)
        ys.append(net.readout(h[net.output_nodes].t()))
    (ga,) = torch.autograd.grad(torch.stack(ys).pow(2).sum(), a)
    assert_close(ga[net.graph.dst, net.graph.src], net.weight.grad)
    assert torch.all(ga[~mask] == 0)
    opt.step()  # the optimizer steps only the survivors: no pruned synapse comes back
    assert net.weight.shape == (e0 - e0 // 2,)


def test_criteria_choose_the_right_synapses():
    g = Graph([0, 1, 2, 3, 0], [1, 2, 3, 0, 2], 4)
    w = torch.tensor([0.5, -3.0, 0.1, 2.0, -0.2])
    pos = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    lengths = edge_lengths(g, pos)
    assert select_survivors(synapse_scores("magnitude", g, w), 2).tolist() == [0, 1, 3]
    assert select_survivors(synapse_scores("wiring", g, w, lengths=lengths), 1).tolist() == [0, 1, 2, 3]  # the diagonal
    tracker = UsageTracker(4, 5)
    states = torch.tensor([[1.0, -1.0], [0.0, 0.0], [2.0, 2.0], [0.5, 0.5]])  # [N, B]
    tracker.update(g, states)
    assert_close(tracker.usage(g, w), w.abs().double() * torch.tensor([1.0, 0.0, 2.0, 0.5], dtype=torch.float64)[g.src])
    co = (states[g.src] * states[g.dst]).mean(1).double()
    assert_close(tracker.coactivation, co)
    assert_close(synapse_scores("coactivation", g, w, tracker=tracker), co.abs())
    mix = synapse_scores({"magnitude": 1.0, "wiring": 1.0}, g, w, lengths=lengths)
    rank_m = torch.tensor([2, 4, 0, 3, 1], dtype=torch.float64) / 4  # |w| ascending: edges 2, 4, 0, 3, 1
    rank_w = torch.tensor([1, 2, 3, 4, 0], dtype=torch.float64) / 4  # the long diagonal ranks lowest, ties by id
    assert_close(mix, (rank_m + rank_w) / 2)
    r1 = synapse_scores("random", g, w, seed=3)
    assert torch.equal(r1, synapse_scores("random", g, w, seed=3)) and not torch.equal(r1, synapse_scores("random", g, w, seed=4))
    assert set(CRITERIA) == {"magnitude", "usage", "coactivation", "wiring", "random"}


def test_usage_tracker_moving_average_and_reindex():
    g = Graph([0, 1], [1, 0], 2)
    t = UsageTracker(2, 2, momentum=0.5)
    t.update(g, torch.ones(3, 2, 4))  # [T, N, B]
    t.update(g, torch.zeros(3, 2, 4))
    assert_close(t.node_activity, torch.full((2,), 0.5, dtype=torch.float64))
    t.reindex(torch.tensor([1]), num_added=2)
    assert t.coactivation.tolist() == [0.5, 0.0, 0.0]
    state = t.state_dict()
    u = UsageTracker(2, 3)
    u.load_state_dict(state)
    assert torch.equal(u.coactivation, t.coactivation) and u.updates == 2


def test_prune_fraction_removes_round_fraction_of_edges():
    g = Graph(torch.arange(10), (torch.arange(10) + 1) % 10, 10)
    scores = torch.arange(10, dtype=torch.float64)
    for fraction, left in ((0.0, 10), (0.25, 7), (0.35, 6), (0.99, 0)):
        keep = prune_fraction(g, scores, fraction)
        assert keep.numel() == left and keep.tolist() == list(range(10 - left, 10))
    sub = prune_graph(g, torch.tensor([2, 5]))
    assert sub.src.tolist() == [2, 5] and sub.num_nodes == 10


def test_regrow_avoids_existing_synapses_and_prefers_near_neurons():
    sg = spatial_graph(300, mean_degree=10, seed=0)
    g = sg.graph
    src, dst = regrow(g, 500, seed=1)
    new = set(zip(src.tolist(), dst.tolist()))
    assert len(new) == 500 and not new & keys(g) and all(a != b for a, b in new)
    near_s, near_d = regrow(g, 500, positions=sg.positions, decay=0.03, seed=1)
    near = set(zip(near_s.tolist(), near_d.tolist()))
    assert len(near) == 500 and not near & keys(g)
    length = lambda s, d: (sg.positions[s] - sg.positions[d]).norm(dim=1).mean()
    assert length(near_s, near_d) < 0.5 * length(src, dst)
    only_forward = regrow(g, 100, allowed=lambda s, d: s < d, seed=2)
    assert bool((only_forward[0] < only_forward[1]).all())
    full = Graph(*torch.tensor([(a, b) for a in range(4) for b in range(4) if a != b]).T, 4)
    assert regrow(full, 3, seed=0)[0].numel() == 0  # nothing left to grow


def run_regrowth_lifecycle(check: bool) -> Graph:
    sg, net = small_net(seed=2)
    e0 = net.graph.num_edges
    schedule = PruningSchedule("decreasing", 3, 0.3)
    tracker = UsageTracker(net.num_nodes, e0)
    gen = torch.Generator().manual_seed(0)
    tracker.update(net.graph, net(torch.randn(3, 4, 3, generator=gen, dtype=torch.float64), return_states=True)[2])
    life = Lifecycle(schedule, e0, {"usage": 1.0, "magnitude": 1.0}, positions=sg.positions, regrow_fraction=0.5,
                     regrow_decay=0.1, seed=4)
    for stage, target in enumerate(schedule.targets(e0)):
        before = keys(net.graph)
        report = life.step(stage, net, tracker=tracker)
        if not check:
            continue
        assert net.graph.num_edges == target and report.added > 0
        assert tracker.coactivation.numel() == target
        assert torch.all(net.weight[-report.added:] == 0)  # new synapses start silent
        new = set(zip(net.graph.src[-report.added:].tolist(), net.graph.dst[-report.added:].tolist()))
        assert len(new) == report.added and len(keys(net.graph)) == net.graph.num_edges  # no duplicates
        assert new - before  # turnover: synapses that did not exist before the stage
    return net.graph


def test_lifecycle_with_regrowth_keeps_the_schedule_and_adds_zero_synapses():
    final = run_regrowth_lifecycle(check=True)
    assert run_regrowth_lifecycle(check=False).equal(final)  # seeded by (seed, stage): reproducible


def test_spatial_rnn_equals_dense_reference_and_leak():
    _, net = small_net(seed=3)
    net.alpha = 0.5
    xs = torch.randn(5, 4, 3, dtype=torch.float64)
    ys, h, states = net(xs, return_states=True)
    assert ys.shape == (5, 4, 2) and h.shape == (60, 4) and states.shape == (5, 60, 4)
    assert_close(ys, dense_rnn(net, net.weight, xs))
    ys2, _ = net(xs[2:], state=states[1])
    assert_close(ys2, ys[2:])


def test_bad_input_lifecycle_and_network():
    _, net = small_net()
    e = net.graph.num_edges
    g = net.graph
    with pytest.raises(ValueError, match=r"fraction must lie in \[0, 1\)"):
        prune_fraction(g, torch.zeros(e), 1.0)
    with pytest.raises(ValueError, match=r"fraction must lie in \[0, 1\) .*got -0.2"):
        prune_fraction(g, torch.zeros(e), -0.2)
    with pytest.raises(ValueError, match=r"scores must have shape \[E\]"):
        prune_fraction(g, torch.zeros(e + 1), 0.5)
    with pytest.raises(ValueError, match="kind must be one of"):
        PruningSchedule("exponential", 3, 0.5)
    with pytest.raises(ValueError, match="num_stages must be >= 1"):
        PruningSchedule("constant", 0, 0.5)
    with pytest.raises(ValueError, match=r"final_keep must lie in \(0, 1\]"):
        PruningSchedule("constant", 3, 0.0)
    with pytest.raises(ValueError, match=r"final_keep must be a probability in \[0, 1\]"):
        PruningSchedule("constant", 3, 1.5)
    with pytest.raises(ValueError, match="rounds to 0 synapses"):
        PruningSchedule("decreasing", 3, 0.1).targets(4)
    with pytest.raises(ValueError, match="criterion must be one of"):
        synapse_scores("size", g, net.weight)
    with pytest.raises(ValueError, match="needs a UsageTracker"):
        synapse_scores("usage", g, net.weight)
    with pytest.raises(ValueError, match="needs the synapse lengths"):
        synapse_scores("wiring", g, net.weight)
    with pytest.raises(ValueError, match="criterion weights must be > 0"):
        synapse_scores({"magnitude": 0.0}, g, net.weight)
    with pytest.raises(ValueError, match="criterion 'wiring' needs positions"):
        Lifecycle(PruningSchedule("constant", 2, 0.5), e, "wiring")
    with pytest.raises(ValueError, match="regrow_decay needs positions"):
        Lifecycle(PruningSchedule("constant", 2, 0.5), e, regrow_decay=0.1)
    with pytest.raises(ValueError, match=r"regrow_fraction must be a probability"):
        Lifecycle(PruningSchedule("constant", 2, 0.5), e, regrow_fraction=2.0)
    with pytest.raises(TypeError, match="schedule must be a PruningSchedule"):
        Lifecycle("constant", e)
    with pytest.raises(ValueError, match="stage must be <= 1"):
        Lifecycle(PruningSchedule("constant", 2, 0.5), e).step(2, net)
    with pytest.raises(ValueError, match="targets .* synapses but the module has only"):
        Lifecycle(PruningSchedule("constant", 2, 0.5), 10 * e).step(0, net)
    with pytest.raises(ValueError, match="num_remove must be <= "):
        select_survivors(torch.zeros(3), 4)
    with pytest.raises(ValueError, match="scores must be finite"):
        select_survivors(torch.tensor([0.0, float("nan")]), 1)
    with pytest.raises(ValueError, match="keep must hold synapse ids"):
        rewire_(net, torch.tensor([e]))
    with pytest.raises(ValueError, match="keep must not repeat"):
        rewire_(net, torch.tensor([0, 0]))
    with pytest.raises(ValueError, match="new_src and new_dst must have the same length"):
        rewire_(net, torch.tensor([0]), new_src=torch.tensor([1]), new_dst=torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="regrow by distance needs both"):
        regrow(g, 3, decay=0.1)
    with pytest.raises(ValueError, match=r"states must have shape \[..., N, B\]"):
        UsageTracker(60, e).update(g, torch.zeros(3, 7, 2))
    with pytest.raises(ValueError, match="call reindex"):
        UsageTracker(60, e + 1).update(g, torch.zeros(3, 60, 2))
    with pytest.raises(ValueError, match=r"xs must have shape \[T, B, F_in\] with F_in = 3"):
        net(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"state must have shape \[N, B\]"):
        net(torch.zeros(2, 4, 3, dtype=torch.float64), state=torch.zeros(3, 4))
    with pytest.raises(ValueError, match="activation must be one of"):
        SpatialRNN(g, 3, 2, activation="swish")
    with pytest.raises(ValueError, match=r"alpha must lie in \(0, 1\]"):
        SpatialRNN(g, 3, 2, alpha=0.0)
    with pytest.raises(ValueError, match=r"input_nodes must lie in \[0, num_nodes=60\)"):
        SpatialRNN(g, 3, 2, input_nodes=[100])
    with pytest.raises(ValueError, match=r"weight must be a float tensor of shape \[E\]"):
        SpatialRNN(g, 3, 2, weight=torch.zeros(e + 1))
    with pytest.raises(ValueError, match="graph must keep the 60 neurons"):
        net.replace_synapses(Graph([0], [1], 61), torch.nn.Parameter(torch.zeros(1)))


def test_bad_input_lifecycle_rare_branches():
    _, net = small_net()
    g, e = net.graph, net.graph.num_edges
    with pytest.raises(ValueError, match="criterion must name at least one criterion"):
        synapse_scores({}, g, net.weight)
    with pytest.raises(ValueError, match=r"scores must be a 1-D tensor \[E\]"):
        select_survivors(torch.zeros(2, 2), 1)
    with pytest.raises(ValueError, match=r"new_weight must be a number or a tensor of shape \[1\]"):
        rewire_(net, torch.arange(e), new_src=torch.tensor([0]), new_dst=torch.tensor([1]), new_weight=torch.zeros(2))
    with pytest.raises(ValueError, match="criterion must be one of"):
        Lifecycle(PruningSchedule("constant", 2, 0.5), e, {"magnitude": 1.0, "size": 1.0})
    with pytest.raises(ValueError, match="input_nodes must be a non-empty 1-D sequence of integer neuron ids"):
        SpatialRNN(g, 3, 2, input_nodes=[0.5])
    with pytest.raises(ValueError, match="output_nodes must not repeat a neuron"):
        SpatialRNN(g, 3, 2, output_nodes=[1, 1])
    with pytest.raises(ValueError, match=r"weight must be an nn.Parameter of shape \[E\]"):
        net.replace_synapses(g, torch.zeros(e))
