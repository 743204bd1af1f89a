"""gnnkit.nn.graph_rnn: graph RNN cells against dense formulas and torch cells, BPTT identities, truncation."""
import pytest
import torch
from torch import nn
from torch.testing import assert_close

from gnnkit import Graph
from gnnkit.nn.graph_rnn import GraphGRUCell, GraphLSTMCell, GraphRNN, GraphRNNCell, propagate

from conftest import dense_adjacency, random_graph


def dense_a_hat(g: Graph, norm: str, add_self_loops: bool) -> torch.Tensor:
    a = dense_adjacency(g)
    if add_self_loops:
        a = a + torch.diag((a.diagonal() == 0).double())  # loops only where missing
    if norm == "sym":
        d = a.sum(1)
        dinv = torch.where(d > 0, d.pow(-0.5), torch.zeros_like(d))
        return dinv[:, None] * a * dinv[None, :]
    if norm == "mean":
        return a / a.sum(1, keepdim=True).clamp(min=1)
    return a


@pytest.mark.parametrize("norm", ["sym", "mean", "none"])
@pytest.mark.parametrize("loops", [True, False])
def test_propagate_matches_dense(norm, loops):
    g = random_graph(7, 16, seed=1).coalesce()
    x = torch.randn(7, 3, dtype=torch.float64)
    assert_close(propagate(g, x, norm, loops), dense_a_hat(g, norm, loops) @ x)


def test_rnn_cell_is_the_formula():
    torch.manual_seed(0)
    g = random_graph(6, 14, seed=2).coalesce()
    cell = GraphRNNCell(3, 5).double()
    x, h = torch.randn(6, 3, dtype=torch.float64), torch.randn(6, 5, dtype=torch.float64)
    a = dense_a_hat(g, "sym", True)
    expected = torch.tanh(x @ cell.lin_x.weight.t() + cell.lin_x.bias + a @ h @ cell.lin_h.weight.t())
    assert_close(cell(g, x, h), expected)
    conv = GraphRNNCell(3, 5, activation="relu", norm="mean", conv_input=True).double()
    u = conv.lin_x.weight
    am = dense_a_hat(g, "mean", True)
    expected = torch.relu(x @ u[:, :3].t() + am @ x @ u[:, 3:].t() + conv.lin_x.bias + am @ h @ conv.lin_h.weight.t())
    assert_close(conv(g, x, h), expected)


def test_gated_cells_reduce_to_torch_cells_without_edges():
    """With no edges, A_hat = I (self-loops, sym norm) and the graph cells are torch's GRU/LSTM cells."""
    torch.manual_seed(0)
    g = Graph([], [], 5)
    x, h, c = torch.randn(5, 3), torch.randn(5, 4), torch.randn(5, 4)
    gru, ref = GraphGRUCell(3, 4), nn.GRUCell(3, 4)
    with torch.no_grad():
        ref.weight_ih.copy_(gru.lin_x.weight)
        ref.bias_ih.copy_(gru.lin_x.bias)
        ref.weight_hh.copy_(gru.lin_h.weight)
        ref.bias_hh.copy_(gru.lin_h.bias)
    assert_close(gru(g, x, h), ref(x, h))
    lstm, lref = GraphLSTMCell(3, 4), nn.LSTMCell(3, 4)
    with torch.no_grad():
        lref.weight_ih.copy_(lstm.lin_x.weight)
        lref.bias_ih.copy_(lstm.lin_x.bias)
        lref.weight_hh.copy_(lstm.lin_h.weight)
        lref.bias_hh.copy_(lstm.lin_h.bias)
    for ours, theirs in zip(lstm(g, x, (h, c)), lref(x, (h, c))):
        assert_close(ours, theirs)


def test_gru_cell_with_edges_uses_a_hat_on_the_hidden_path():
    torch.manual_seed(0)
    g = random_graph(6, 12, seed=3).coalesce()
    cell = GraphGRUCell(2, 3).double()
    x, h = torch.randn(6, 2, dtype=torch.float64), torch.randn(6, 3, dtype=torch.float64)
    a = dense_a_hat(g, "sym", True)
    gi = x @ cell.lin_x.weight.t() + cell.lin_x.bias
    gh = a @ h @ cell.lin_h.weight.t() + cell.lin_h.bias
    r = torch.sigmoid(gi[:, :3] + gh[:, :3])
    z = torch.sigmoid(gi[:, 3:6] + gh[:, 3:6])
    n = torch.tanh(gi[:, 6:] + r * gh[:, 6:])
    assert_close(cell(g, x, h), (1 - z) * n + z * h)
    hr = h.clone().requires_grad_()
    xr = x.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda a_, b_: cell(g, a_, b_), (xr, hr))


def per_step_losses(model, graphs, xs, targets, detach_every=None):
    ys, _ = model(graphs, xs, detach_every=detach_every)
    return ((ys - targets) ** 2).mean(dim=(1, 2))  # [T]


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_bptt_gradient_is_sum_of_per_step_gradients(cell):
    """grad_theta sum_t L_t == sum_t grad_theta L_t, each L_t back-propagated through its own history."""
    torch.manual_seed(0)
    t_len = 5
    graphs = [random_graph(6, 12, seed=s) for s in range(t_len)]  # a different graph per step
    model = GraphRNN(cell, 2, 4, 1).double()
    xs = torch.randn(t_len, 6, 2, dtype=torch.float64)
    targets = torch.randn(t_len, 6, 1, dtype=torch.float64)
    params = list(model.parameters())
    total = torch.autograd.grad(per_step_losses(model, graphs, xs, targets).sum(), params)
    summed = [torch.zeros_like(p) for p in params]
    for t in range(t_len):
        grads = torch.autograd.grad(per_step_losses(model, graphs, xs, targets)[t], params, allow_unused=True)
        summed = [s + (torch.zeros_like(s) if gr is None else gr) for s, gr in zip(summed, grads)]
    for a, b in zip(total, summed):
        assert_close(a, b)
    # the same identity holds for truncated BPTT
    total_k = torch.autograd.grad(per_step_losses(model, graphs, xs, targets, 2).sum(), params)
    summed_k = [torch.zeros_like(p) for p in params]
    for t in range(t_len):
        grads = torch.autograd.grad(per_step_losses(model, graphs, xs, targets, 2)[t], params, allow_unused=True)
        summed_k = [s + (torch.zeros_like(s) if gr is None else gr) for s, gr in zip(summed_k, grads)]
    for a, b in zip(total_k, summed_k):
        assert_close(a, b)
    assert any(not torch.allclose(a, b) for a, b in zip(total, total_k))  # truncation changes the gradient


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_truncated_bptt_cuts_the_gradient_every_k_steps(cell):
    torch.manual_seed(0)
    g = random_graph(5, 10, seed=7)
    model = GraphRNN(cell, 2, 3, 1).double()
    xs = torch.randn(7, 5, 2, dtype=torch.float64, requires_grad=True)
    k = 3
    ys, _ = model(g, xs, detach_every=k)
    for t in range(7):
        (gx,) = torch.autograd.grad(ys[t].sum(), xs, retain_graph=True)
        window = (t // k) * k  # the first step of t's window
        reach = gx.abs().sum(dim=(1, 2)) > 0  # [T]: which inputs the loss at t sees
        assert not bool(reach[:window].any())
        assert bool(reach[window : t + 1].all())
        assert not bool(reach[t + 1 :].any())
    full, _ = model(g, xs)
    long, _ = model(g, xs, detach_every=7)
    (g_full,) = torch.autograd.grad(full.sum(), xs)
    (g_long,) = torch.autograd.grad(long.sum(), xs)
    assert_close(g_full, g_long)


def test_graph_rnn_with_a_graph_per_step_equals_manual_unroll():
    torch.manual_seed(0)
    graphs = [random_graph(4, 6, seed=s) for s in range(3)]
    model = GraphRNN("gru", 2, 3, 2)
    xs = torch.randn(3, 4, 2)
    ys, h = model(graphs, xs)
    s = None
    for t in range(3):
        s = model.cell(graphs[t], xs[t], s)
        assert_close(ys[t], model.out(s))
    assert_close(h, s)
    # the returned state continues the sequence
    ys2, _ = model(graphs[2], xs[:1], state=h)
    assert_close(ys2[0], model.out(model.cell(graphs[2], xs[0], h)))


def test_graph_rnn_bad_input():
    g = random_graph(4, 6)
    model = GraphRNN("rnn", 2, 3, 1)
    with pytest.raises(ValueError, match="graphs holds 3 graphs but xs has T = 4 steps"):
        model([g, g, g], torch.randn(4, 4, 2))
    with pytest.raises(ValueError, match=r"graphs\[1\] has num_nodes = 5 but xs has N = 4 vertices per step"):
        model([g, random_graph(5, 6)], torch.randn(2, 4, 2))
    with pytest.raises(ValueError, match=r"GraphRNN expects xs of shape \[T, N, F\] with F = 2, got \(4, 2\)"):
        model(g, torch.randn(4, 2))
    with pytest.raises(ValueError, match="detach_every must be None or an int >= 1, got 0"):
        model(g, torch.randn(3, 4, 2), detach_every=0)
    with pytest.raises(ValueError, match="cell must be one of"):
        GraphRNN("transformer", 2, 3, 1)
    with pytest.raises(ValueError, match=r"GraphRNNCell expects state of shape \[N, D\] = \[4, 3\], got \(4, 2\)"):
        model.cell(g, torch.randn(4, 2), torch.randn(4, 2))
    with pytest.raises(ValueError, match="norm must be one of"):
        GraphGRUCell(2, 3, norm="rw")


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_graph_rnn_is_node_permutation_equivariant(cell):
    torch.manual_seed(0)
    g = random_graph(7, 15, seed=9)
    model = GraphRNN(cell, 2, 3, 2, conv_input=True).double()
    xs = torch.randn(4, 7, 2, dtype=torch.float64)
    ys, _ = model(g, xs)
    perm = torch.randperm(7)
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(7)
    yp, _ = model(Graph(inv[g.src], inv[g.dst], 7), xs[:, perm])
    assert_close(yp, ys[:, perm])
