"""gnnkit.nn.mpnn and gnnkit.nn.readout: the MPNN algorithm, batching, permutation-invariant readouts."""
import pytest
import torch
from torch import nn
from torch.testing import assert_close

from gnnkit import Graph
from gnnkit.blocks import MLP
from gnnkit.nn.mpnn import MPNN
from gnnkit.nn.readout import AttentionReadout, DeepSetsReadout, Readout, pooling_graph, readout

from conftest import dense_adjacency, random_graph


def small_batch(seed: int = 0):
    graphs = [random_graph(n, 2 * n, seed=seed + n) for n in (4, 0, 6, 1, 3)]  # includes an empty graph
    return graphs, Graph.batch(graphs)


# --------------------------------------------------------------- readouts
@pytest.mark.parametrize("reduce", ["sum", "mean", "max"])
def test_readout_matches_per_graph_loop(reduce):
    torch.manual_seed(0)
    graphs, batch = small_batch()
    x = torch.randn(batch.num_nodes, 3, dtype=torch.float64, requires_grad=True)
    out = readout(batch, x, reduce)
    start, ref = 0, []
    for g in graphs:
        xi = x[start : start + g.num_nodes]
        if g.num_nodes == 0:
            ref.append(torch.zeros(3, dtype=torch.float64))  # a graph without vertices reads out 0
        else:
            ref.append({"sum": xi.sum(0), "mean": xi.mean(0), "max": xi.amax(0)}[reduce])
        start += g.num_nodes
    ref = torch.stack(ref)
    assert_close(out, ref)
    w = torch.randn_like(ref)
    assert_close(torch.autograd.grad((out * w).sum(), x)[0], torch.autograd.grad((ref * w).sum(), x)[0])
    assert_close(Readout(reduce)(batch, x), out)


def test_readout_unbatched_graph_is_one_graph():
    g = random_graph(5, 8)
    x = torch.randn(5, 2)
    assert_close(readout(g, x, "mean"), x.mean(0, keepdim=True))


def test_readouts_are_permutation_invariant():
    torch.manual_seed(0)
    g = random_graph(6, 10)
    x = torch.randn(6, 4)
    perm = torch.randperm(6)
    readouts = [Readout("sum"), Readout("max"), DeepSetsReadout(MLP(4, 8, 8), MLP(8, 8, 3)),
                AttentionReadout(nn.Linear(4, 1), nn.Linear(4, 5))]
    for r in readouts:
        assert_close(r(g, x[perm]), r(g, x))


def test_attention_readout_matches_softmax_per_graph():
    torch.manual_seed(0)
    graphs, batch = small_batch(1)
    gate, feat = nn.Linear(3, 1).double(), nn.Linear(3, 2).double()
    pool = AttentionReadout(gate, feat)
    x = torch.randn(batch.num_nodes, 3, dtype=torch.float64)
    out, alpha = pool(batch, x, return_attention=True)
    start = 0
    for b, g in enumerate(graphs):
        xi = x[start : start + g.num_nodes]
        expected = (torch.softmax(gate(xi).squeeze(1), 0).unsqueeze(1) * feat(xi)).sum(0)
        assert_close(out[b], expected)
        start += g.num_nodes
    assert alpha.shape == (batch.num_nodes,)
    with pytest.raises(ValueError, match=r"gate must return one score per vertex, \[N\] or \[N, 1\] with N = 14"):
        AttentionReadout(nn.Linear(3, 2).double())(batch, x)


def test_deep_sets_readout_is_rho_of_sum_of_phi():
    torch.manual_seed(0)
    graphs, batch = small_batch(2)
    phi, rho = MLP(3, 8, 6), MLP(6, 8, 2)
    x = torch.randn(batch.num_nodes, 3)
    out = DeepSetsReadout(phi, rho)(batch, x)
    assert_close(out, rho(readout(batch, phi(x), "sum")))
    assert_close(out[1], rho(torch.zeros(6)))  # the empty graph: rho(0)


@pytest.mark.parametrize("sizes", [[3, 0, 2, 4], [5], [0, 0]])
def test_pooling_graph_layouts_equal_the_ones_the_graph_builds_and_are_cached(sizes):
    g = Graph.batch([random_graph(n, 2 * n, seed=n) for n in sizes])
    pg = pooling_graph(g)
    assert pooling_graph(g) is pg  # once per batch, however many readouts
    fresh = Graph(pg.src, pg.dst, pg.num_nodes, num_src_nodes=pg.num_src_nodes)
    for cached, built in ((pg.csr_in(), fresh.csr_in()), (pg.csr_out(), fresh.csr_out())):
        assert torch.equal(cached.indptr, built.indptr) and torch.equal(cached.indices, built.indices)
        assert cached.eid is None and built.eid is None  # sorted both ways by construction


def test_pooling_graph_of_an_unbatched_graph_is_one_destination():
    g = random_graph(4, 6, seed=0)
    pg = pooling_graph(g)
    assert pg.num_nodes == 1 and pg.csr_in().indptr.tolist() == [0, 4]


def test_readout_bad_input():
    g = random_graph(5, 8)
    with pytest.raises(ValueError, match=r"reduce must be one of \('sum', 'mean', 'max'\), got 'min'"):
        readout(g, torch.randn(5, 2), "min")
    with pytest.raises(ValueError, match=r"readout expects x of shape \[N, F\] with N = num_nodes = 5, got \(4, 2\)"):
        readout(g, torch.randn(4, 2))


# ------------------------------------------------------------------- MPNN
def test_mpnn_is_the_algorithm():
    """Embed, T GRU steps on sum_u W h_u, sum readout, MLP classifier, written out densely."""
    torch.manual_seed(0)
    graphs, batch = small_batch(3)
    model = MPNN(3, 8, 4, num_steps=3).double()
    x = torch.randn(batch.num_nodes, 3, dtype=torch.float64)
    a = dense_adjacency(batch)
    gru = nn.GRUCell(8, 8).double()
    gru.load_state_dict(model.step.vertex_fn.cell.state_dict())
    h = model.embed(x)
    for _ in range(3):
        h = gru(a @ model.step.edge_fn.lin(h), h)
    r = torch.zeros(len(graphs), 8, dtype=torch.float64).index_add_(0, batch.node_graph(), h)
    assert_close(model(batch, x), model.classify(r))


@pytest.mark.parametrize("readout_kind", ["sum", "mean", "max", "deepsets", "attention"])
@pytest.mark.parametrize("message", ["linear", "mlp"])
def test_mpnn_batch_equals_separate_graphs_and_is_invariant(readout_kind, message):
    torch.manual_seed(0)
    graphs, batch = small_batch(4)
    graphs = [g for g in graphs if g.num_nodes]  # separate runs need vertices
    batch = Graph.batch(graphs)
    model = MPNN(2, 6, 3, num_steps=2, message=message, readout=readout_kind).double().eval()
    x = torch.randn(batch.num_nodes, 2, dtype=torch.float64)
    out = model(batch, x)
    assert out.shape == (len(graphs), 3)
    start = 0
    for b, g in enumerate(graphs):
        assert_close(out[b : b + 1], model(g, x[start : start + g.num_nodes]))
        start += g.num_nodes
    # relabelling the vertices of a graph leaves its prediction unchanged
    g = graphs[1]
    perm = torch.randperm(g.num_nodes)
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(g.num_nodes)
    gp = Graph(inv[g.src], inv[g.dst], g.num_nodes)
    xg = x[graphs[0].num_nodes : graphs[0].num_nodes + g.num_nodes]
    assert_close(model(gp, xg[perm]), model(g, xg))


def test_mpnn_edge_features_with_mlp_message():
    torch.manual_seed(0)
    g = random_graph(6, 12)
    model = MPNN(3, 5, 2, message="mlp", edge_features=4)
    x, e = torch.randn(6, 3), torch.randn(12, 4)
    out = model(g, x, e)
    out.sum().backward()
    assert out.shape == (1, 2)
    assert model.step.edge_fn.block.layers[0].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match=r"MPNN expects edge_weight of shape \[E, D_e\] = \[12, 4\], got None"):
        model(g, x)


def test_mpnn_bad_input():
    g = random_graph(6, 12)
    with pytest.raises(ValueError, match="readout must be one of"):
        MPNN(3, 5, 2, readout="median")
    with pytest.raises(ValueError, match=r"reduce must be one of \('sum', 'mean', 'max', 'min'\), got 'softmax'"):
        MPNN(3, 5, 2, reduce="softmax")
    with pytest.raises(ValueError, match="num_steps must be an int >= 1, got 0"):
        MPNN(3, 5, 2, num_steps=0)
    with pytest.raises(ValueError, match="the 'linear' message ignores edge features"):
        MPNN(3, 5, 2, edge_features=2)
    with pytest.raises(ValueError, match=r"MPNN expects x of shape \[N, F\] = \[6, 3\], got \(6, 4\)"):
        MPNN(3, 5, 2)(g, torch.randn(6, 4))
    with pytest.raises(ValueError, match="built with edge_features=0 but got edge_weight"):
        MPNN(3, 5, 2)(g, torch.randn(6, 3), torch.randn(12, 1))
