"""gnnkit.nn.neurons: a network as a sparse graph of neurons; the lecture's worked examples."""
import math

import pytest
import torch
from torch import nn
from torch.func import functional_call
from torch.testing import assert_close

import gnnkit.ops as ops
from gnnkit import Graph
from gnnkit.nn.neurons import NeuronGraph

# ------------------------------------------------------------ the 2-2-1 example
# neurons A=0, B=1 (inputs), C=2, D=3 (hidden), E=4 (output); synapses in this order:
#   w1: A->C, w2: A->D, w3: B->C, w4: B->D, w5: C->E, w6: D->E
SRC, DST = [0, 0, 1, 1, 2, 3], [2, 3, 2, 3, 4, 4]
W0 = [0.1, 0.5, 0.4, 0.3, 0.2, 0.6]


def worked_example_net(outputs=(4,)) -> NeuronGraph:
    g = Graph(SRC, DST, 5)
    return NeuronGraph(g, [0, 1], list(outputs), activation="sigmoid", bias=False,
                       weight=torch.tensor(W0, dtype=torch.float64))


def test_worked_example_2_2_1_forward_loss_gradient_and_sgd_step():
    net = worked_example_net(outputs=(2, 3, 4))
    x = torch.tensor([[0.23, 0.82]], dtype=torch.float64)
    a = net(x)[0]  # activations of C, D, E
    assert_close(torch.logit(a[:2]), torch.tensor([0.351, 0.361], dtype=torch.float64))  # z_C, z_D
    assert_close(a[:2], torch.tensor([0.58686, 0.58928], dtype=torch.float64), atol=5e-6, rtol=0)
    assert_close(a[2], torch.tensor(0.61561, dtype=torch.float64), atol=5e-6, rtol=0)
    loss = 0.5 * (1.0 - a[2]) ** 2
    assert_close(loss, torch.tensor(0.073879, dtype=torch.float64), atol=5e-7, rtol=0)
    loss.backward()
    expected = {"w1": -0.0010145, "w2": -0.0030381, "w3": -0.0036169, "w4": -0.0108315, "w5": -0.0533814, "w6": -0.0536017}
    got = dict(zip(["w1", "w2", "w3", "w4", "w5", "w6"], net.weight.grad.tolist()))
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=5e-8), name
    opt = torch.optim.SGD(net.parameters(), lr=0.7)
    opt.step()
    after = dict(zip(["w1", "w2", "w3", "w4", "w5", "w6"], net.weight.tolist()))
    for name, value in {"w1": 0.1007, "w2": 0.5021, "w3": 0.4025, "w4": 0.3076, "w5": 0.2374, "w6": 0.6375}.items():
        assert after[name] == pytest.approx(value, abs=5e-5), name


def test_worked_example_backward_equations_through_the_ops():
    """delta_t = s'(z_t) sum_u w_tu delta_u is spmm on the reversed graph; dE/dw_st = delta_t a_s is sddmm."""
    g = Graph(SRC, DST, 5)
    w = torch.tensor(W0, dtype=torch.float64)
    x = torch.tensor([0.23, 0.82], dtype=torch.float64)
    a = torch.zeros(5, 1, dtype=torch.float64)
    a[:2, 0] = x
    for _ in range(2):  # two synchronous sweeps settle a depth-2 DAG
        a = torch.cat([a[:2], torch.sigmoid(ops.spmm(g, a, w))[2:]])
    y_hat = a[4, 0]
    delta = torch.zeros(5, 1, dtype=torch.float64)
    delta[4] = (y_hat - 1.0) * y_hat * (1 - y_hat)
    back = ops.spmm(g.reverse(), delta, w)  # [N, 1]: sum over out-synapses of w_tu delta_u
    delta[2:4] = a[2:4] * (1 - a[2:4]) * back[2:4]
    grad = ops.sddmm(g, a, delta, op="dot")  # [E]: a_src * delta_dst
    net = worked_example_net()
    (0.5 * (1 - net(x.view(1, 2))[0, 0]) ** 2).backward()
    assert_close(grad, net.weight.grad)


# ------------------------------------------------------------ computational graphs
def test_computational_graph_examples():
    x, y = torch.tensor(2.0, requires_grad=True), torch.tensor(1.0, requires_grad=True)
    f = y * (x**2 + x)
    assert f.item() == 6.0
    assert [t.item() for t in torch.autograd.grad(f, (x, y))] == [5.0, 6.0]

    a, b = torch.tensor(2.0, requires_grad=True), torch.tensor(3.0, requires_grad=True)
    f = torch.log(a * b)
    assert f.item() == pytest.approx(math.log(6))
    assert f.item() == pytest.approx(1.791, abs=1e-3)  # the lecture truncates log 6 = 1.79176 to 1.791
    assert [t.item() for t in torch.autograd.grad(f, (a, b))] == pytest.approx([0.5, 0.333], abs=5e-4)

    x1, x2 = torch.tensor(2.0, requires_grad=True), torch.tensor(3.0, requires_grad=True)
    z = torch.sin(x1) + x1 * x2
    assert [t.item() for t in torch.autograd.grad(z, (x1, x2))] == pytest.approx([math.cos(2) + 3, 2.0])

    # f = ((a + b) c)^2 with a + b = 3, c = 2
    a, b, c = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (1.0, 2.0, 2.0))
    f = ((a + b) * c) ** 2
    df_da, df_dc = torch.autograd.grad(f, (a, c), create_graph=True)
    assert (df_dc.item(), df_da.item()) == (36.0, 24.0)
    (d2f_dadb,) = torch.autograd.grad(df_da, b)
    assert d2f_dadb.item() == 8.0 == 2 * c.item() ** 2


def test_computational_graph_sum_node_as_a_neuron_graph():
    """The a + b node of ((a + b) c)^2 as a neuron with identity activation: first derivatives via spmm."""
    g = Graph([0, 1], [2, 2], 3)
    node = NeuronGraph(g, [0, 1], [2], activation="identity", bias=False, weight=torch.ones(2, dtype=torch.float64))
    ab = torch.tensor([[1.0, 2.0]], dtype=torch.float64, requires_grad=True)
    c = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    f = ((node(ab)[0, 0]) * c) ** 2
    d_ab, d_c = torch.autograd.grad(f, (ab, c))
    assert d_c.item() == 36.0 and d_ab.tolist() == [[24.0, 24.0]]


# ------------------------------------------------------------ torch MLP equivalence
def make_mlp(dtype=torch.float64):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3), nn.Sigmoid()).to(dtype)


def test_fully_connected_neuron_graph_equals_torch_mlp_outputs_and_gradients():
    mlp = make_mlp()
    net = NeuronGraph.from_sequential(mlp)
    assert net.graph.num_edges == 4 * 6 + 6 * 5 + 5 * 3 and net.num_levels == 3
    x = torch.randn(9, 4, dtype=torch.float64)
    target = torch.randn(9, 3, dtype=torch.float64)
    x_net, x_ref = x.clone().requires_grad_(), x.clone().requires_grad_()
    out, ref = net(x_net), mlp(x_ref)
    assert_close(out, ref)
    ((out - target) ** 2).sum().backward()
    ((ref - target) ** 2).sum().backward()
    assert_close(x_net.grad, x_ref.grad)
    start = 0
    offsets = [0, 4, 10, 15, 18]
    for i, lin in enumerate(m for m in mlp if isinstance(m, nn.Linear)):
        n = lin.weight.numel()
        assert_close(net.weight.grad[start : start + n].view_as(lin.weight), lin.weight.grad)
        assert_close(net.bias.grad[offsets[i + 1] : offsets[i + 2]], lin.bias.grad)
        start += n
    assert_close(net.bias.grad[:4], torch.zeros(4, dtype=torch.float64))  # input neurons have no bias


def test_round_trip_to_sequential_and_drop_zeros():
    mlp = make_mlp()
    with torch.no_grad():
        mlp[2].weight[mlp[2].weight.abs() < 0.2] = 0.0  # pruned synapses
    sparse = NeuronGraph.from_sequential(mlp, drop_zeros=True)
    assert sparse.graph.num_edges == 4 * 6 + int((mlp[2].weight != 0).sum()) + 5 * 3
    back = sparse.to_sequential()
    x = torch.randn(5, 4, dtype=torch.float64)
    assert_close(back(x), mlp(x))
    assert_close(sparse(x), mlp(x))
    for ours, theirs in zip(back, mlp):
        assert type(ours) is type(theirs)
        if isinstance(ours, nn.Linear):
            assert_close(ours.weight, theirs.weight)
            assert_close(ours.bias, theirs.bias)


def test_from_sequential_without_bias_and_float32():
    mlp = nn.Sequential(nn.Linear(3, 4, bias=False), nn.GELU(), nn.Linear(4, 2, bias=False))
    net = NeuronGraph.from_sequential(mlp)
    assert net.bias is None
    x = torch.randn(6, 3)
    assert_close(net(x), mlp(x))


def test_from_sequential_bad_input():
    with pytest.raises(TypeError, match=r"sequential\[1\] is a Dropout; from_sequential takes nn.Linear layers"):
        NeuronGraph.from_sequential(nn.Sequential(nn.Linear(2, 3), nn.Dropout(0.1)))
    with pytest.raises(ValueError, match=r"sequential\[0\] \(ReLU\) must follow a Linear layer directly"):
        NeuronGraph.from_sequential(nn.Sequential(nn.ReLU(), nn.Linear(2, 3)))
    with pytest.raises(ValueError, match=r"sequential\[1\] is Linear\(4, 2\) but the previous layer has out_features = 3"):
        NeuronGraph.from_sequential(nn.Sequential(nn.Linear(2, 3), nn.Linear(4, 2)))
    with pytest.raises(ValueError, match="only the default settings of LeakyReLU"):
        NeuronGraph.from_sequential(nn.Sequential(nn.Linear(2, 3), nn.LeakyReLU(0.2)))


# ------------------------------------------------------------ DAGs, levels, cycles
def skip_dag() -> tuple[Graph, torch.Tensor]:
    # inputs 0, 1; hidden 2 <- (0, 1); 3 <- (2, 0) (a skip from the input); output 4 <- (3, 1, 2)
    g = Graph([0, 1, 2, 0, 3, 1, 2], [2, 2, 3, 3, 4, 4, 4], 5)
    return g, torch.tensor([0.5, -0.3, 0.8, 0.2, -0.7, 0.4, 0.9], dtype=torch.float64)


def test_dag_with_skip_connections_matches_hand_evaluation():
    g, w = skip_dag()
    net = NeuronGraph(g, [0, 1], [4], activation=["identity", "identity", "tanh", "relu", "sigmoid"], weight=w).double()
    x = torch.randn(3, 2, dtype=torch.float64)
    b = net.bias.detach()
    a2 = torch.tanh(w[0] * x[:, 0] + w[1] * x[:, 1] + b[2])
    a3 = torch.relu(w[2] * a2 + w[3] * x[:, 0] + b[3])
    a4 = torch.sigmoid(w[4] * a3 + w[5] * x[:, 1] + w[6] * a2 + b[4])
    assert_close(net(x)[:, 0], a4)
    assert net.levels.tolist() == [0, 0, 1, 2, 3]
    with pytest.raises(ValueError, match=r"strictly layered network, but synapse 0 -> 3 joins level 0 to level 2"):
        net.to_sequential()


def test_feedforward_runs_one_spmm_per_level(monkeypatch):
    g, w = skip_dag()
    net = NeuronGraph(g, [0, 1], [4], weight=w)
    calls = []
    real = ops.spmm
    monkeypatch.setattr(ops, "spmm", lambda *a, **k: calls.append(a[0].num_edges) or real(*a, **k))
    net(torch.randn(4, 2, dtype=torch.float64))
    assert calls == [2, 2, 3]  # the synapses into levels 1, 2, 3: each used once


def test_recurrent_mode_on_a_dag_settles_to_the_feedforward_output():
    g, w = skip_dag()
    ff = NeuronGraph(g, [0, 1], [4], activation="tanh", weight=w)
    rec = NeuronGraph(g, [0, 1], [4], activation="tanh", weight=w, mode="recurrent")
    with torch.no_grad():
        rec.bias.copy_(ff.bias)
    x = torch.randn(5, 2, dtype=torch.float64)
    ys, state = rec(x.expand(ff.num_levels, 5, 2))
    assert_close(ys[-1], ff(x))
    assert state.shape == (5, 5)


def test_cycle_in_feedforward_mode_is_an_error_and_runs_in_recurrent_mode():
    g = Graph([0, 1, 2, 3], [1, 2, 1, 2], 4)  # 1 -> 2 -> 1 is a cycle
    with pytest.raises(ValueError, match=r"the neuron graph has a cycle.*neurons \[1, 2\].*mode='recurrent'"):
        NeuronGraph(g, [0, 3], [2])
    net = NeuronGraph(g, [0, 3], [2], mode="recurrent", weight=torch.tensor([1.0, 0.5, -0.5, 0.2], dtype=torch.float64))
    xs = torch.randn(6, 3, 2, dtype=torch.float64)
    ys, state = net(xs)
    a = torch.zeros(4, 3, dtype=torch.float64)
    b = net.bias.detach()
    for t in range(6):  # the synchronous update by hand
        a = a.clone()
        a[[0, 3]] = xs[t].t()
        new = a.clone()
        new[1] = torch.sigmoid(1.0 * a[0] - 0.5 * a[2] + b[1])
        new[2] = torch.sigmoid(0.5 * a[1] + 0.2 * a[3] + b[2])
        a = new
        assert_close(ys[t, :, 0], a[2])
    assert_close(state[1:3], a[1:3])
    with pytest.raises(ValueError, match="a feed-forward NeuronGraph takes no state"):
        NeuronGraph(Graph([0], [1], 2), [0], [1])(torch.randn(1, 1), state=torch.zeros(2, 1))


def test_neuron_graph_gradcheck_feedforward_and_recurrent():
    torch.manual_seed(0)
    g, w = skip_dag()
    for mode in ("feedforward", "recurrent"):
        net = NeuronGraph(g, [0, 1], [3, 4], activation="tanh", weight=w, mode=mode).double()
        x = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
        wp = net.weight.detach().clone().requires_grad_()
        bp = net.bias.detach().clone().requires_grad_()

        def run(x_, w_, b_):
            params = {"weight": w_, "bias": b_}
            if mode == "feedforward":
                return functional_call(net, params, (x_,))
            ys, _ = functional_call(net, params, (x_.expand(4, 3, 2),))  # 4 time steps, constant input
            return ys

        assert torch.autograd.gradcheck(run, (x, wp, bp))


def test_neuron_graph_bad_input():
    g = Graph([0, 1, 2], [2, 2, 3], 4)
    with pytest.raises(ValueError, match="input neuron 2 receives a synapse"):
        NeuronGraph(g, [0, 1, 2], [3])
    with pytest.raises(ValueError, match=r"output_nodes must lie in \[0, num_nodes=4\), got ids in \[3, 9\]"):
        NeuronGraph(g, [0, 1], [3, 9])
    with pytest.raises(ValueError, match="activation must be one of"):
        NeuronGraph(g, [0, 1], [3], activation="softmax")
    with pytest.raises(ValueError, match="activation must be one name or a sequence of num_nodes = 4 names, got 2"):
        NeuronGraph(g, [0, 1], [3], activation=["relu", "tanh"])
    with pytest.raises(ValueError, match=r"weight must be a float tensor of shape \[E\] = \[3\]"):
        NeuronGraph(g, [0, 1], [3], weight=torch.ones(4))
    with pytest.raises(ValueError, match="mode must be one of"):
        NeuronGraph(g, [0, 1], [3], mode="spiking")
    net = NeuronGraph(g, [0, 1], [3])
    with pytest.raises(ValueError, match=r"expects x of shape \[B, n_in\] with n_in = 2 input neurons, got \(5, 3\)"):
        net(torch.randn(5, 3))
    with pytest.raises(TypeError, match="x has dtype torch.float64 but the synapse weights are torch.float32"):
        net(torch.randn(5, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"NeuronGraph.run expects x of shape \[T, B, n_in\]"):
        NeuronGraph(g, [0, 1], [3], mode="recurrent")(torch.randn(5, 2))
