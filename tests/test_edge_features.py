"""Edge features in layers: GATConv(edge_dim), GINEConv, GINConv(edge_weight), LinearSourceEdge.

Each layer is checked against PyG's layer with the same weights (forward, and the gradients of
x, the edge features and every parameter), a dense or per-vertex-loop float64 oracle, gradcheck,
and edge/node permutation properties. float64 comparisons use the ``assert_close`` defaults.
GCNConv(edge_weight) vs PyG, SAGEConv(edge_weight) vs a dense formula and their gradchecks live in
``test_nn.py`` (``test_gcn_edge_weight_matches_pyg``, ``test_sage_edge_weight_matches_dense_weighted_formula``).
"""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn
from torch.testing import assert_close

from gnnkit import Graph, ops
from gnnkit.nn import EdgeWeighted, GATConv, GINConv, GINEConv, GNNLayer, LinearSource, LinearSourceEdge
from test_nn import _gradcheck_module, dense_adj, fwd_bwd, leaf, loop_layer, make_graph, params, randn, randomize_, tiny_graph

F64 = torch.float64


def _pyg():
    return pytest.importorskip("torch_geometric.nn")


def edge_feats(g: Graph, dim: int, seed: int) -> Tensor:
    return randn(g.num_edges, dim, seed=seed, dtype=F64)


def pyg_gat(ours: GATConv):
    """PyG's GATConv with ``ours``' options and weights (float64)."""
    theirs = _pyg().GATConv(ours.in_features, ours.out_features, heads=ours.heads, concat=ours.concat,
                            add_self_loops=ours.add_self_loops, edge_dim=ours.edge_dim).double()
    with torch.no_grad():
        for name in ("att_src", "att_dst", "att_edge", "bias"):
            getattr(theirs, name).copy_(getattr(ours, name))
        theirs.lin.weight.copy_(ours.lin.weight)
        theirs.lin_edge.weight.copy_(ours.lin_edge.weight)
    return theirs


def pyg_gine(ours: GINEConv, aggr: str = "add"):
    """PyG's GINEConv sharing ``ours``' vertex MLP, with its eps and edge projection copied."""
    theirs = _pyg().GINEConv(ours.nn, train_eps=True, edge_dim=ours.edge_dim, aggr=aggr).double()
    with torch.no_grad():
        theirs.eps.copy_(ours.eps.view(1))
        if ours.lin_edge is not None:
            theirs.lin.weight.copy_(ours.lin_edge.weight)
            theirs.lin.bias.copy_(ours.lin_edge.bias)
    return theirs


def assert_same(a: tuple[Tensor, tuple[Tensor, ...]], b: tuple[Tensor, tuple[Tensor, ...]]) -> None:
    assert_close(a[0], b[0])
    assert len(a[1]) == len(b[1])
    for ga, gb in zip(a[1], b[1]):
        assert_close(ga, gb)


def mlp(fin: int, fout: int) -> nn.Module:
    return nn.Sequential(nn.Linear(fin, 6), nn.Tanh(), nn.Linear(6, fout))


# ============================================================== GATConv(edge_dim)
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("heads", [1, 3])
@pytest.mark.parametrize("concat", [True, False])
@pytest.mark.parametrize("add_self_loops", [True, False])
def test_gat_edge_dim_matches_pyg(seed, heads, concat, add_self_loops):
    """make_graph has existing loops (replaced by mean-filled ones), duplicates and isolated vertices."""
    g = make_graph(seed)
    ours = randomize_(GATConv(5, 4, heads=heads, concat=concat, add_self_loops=add_self_loops, edge_dim=3).double(), seed)
    theirs = pyg_gat(ours)
    x, e = randn(g.num_nodes, 5, seed=seed, dtype=F64), edge_feats(g, 3, seed + 10)
    xa, ea, xb, eb = leaf(x), leaf(e), leaf(x), leaf(e)
    a = fwd_bwd(lambda: ours(g, xa, ea), [xa, ea] + params(ours))
    b = fwd_bwd(lambda: theirs(xb, g.edge_index, eb), [xb, eb] + params(theirs))
    assert_same(a, b)


def test_gat_edge_dim_one_takes_a_vector():
    """``[E]`` edge features are ``[E, 1]``, as in PyG."""
    g = make_graph(2)
    ours = randomize_(GATConv(5, 2, heads=2, edge_dim=1).double(), 2)
    x, e = randn(g.num_nodes, 5, seed=2, dtype=F64), randn(g.num_edges, seed=3, dtype=F64)
    assert_close(ours(g, x, e), pyg_gat(ours)(x, g.edge_index, e))
    assert_close(ours(g, x, e), ours(g, x, e[:, None]))


def test_gat_edge_dim_pair_input_matches_pyg():
    """A relation between two vertex sets: ``(x_src, x_dst)`` with edge features, no loops."""
    src, dst = torch.tensor([0, 3, 4, 5, 1, 2, 5, 0, 0]), torch.tensor([0, 0, 1, 1, 1, 2, 2, 2, 2])
    g = Graph(src, dst, 3, num_src_nodes=6)
    ours = randomize_(GATConv(4, 3, heads=2, add_self_loops=False, edge_dim=2).double(), 7)
    x_src, x_dst, e = randn(6, 4, seed=1, dtype=F64), randn(3, 4, seed=2, dtype=F64), edge_feats(g, 2, 3)
    want = pyg_gat(ours)((x_src, x_dst), torch.stack([src, dst]), e, size=(6, 3))
    assert_close(ours(g, (x_src, x_dst), e), want)


def test_gat_edge_dim_attention_uses_the_mean_filled_loops():
    """Every vertex has exactly one loop, and the attention still sums to one per destination."""
    g = make_graph(4)
    layer = GATConv(5, 2, heads=3, edge_dim=2)
    _, (loop_g, alpha) = layer(g, randn(g.num_nodes, 5), randn(g.num_edges, 2), return_attention=True)
    loops = loop_g.src[loop_g.src == loop_g.dst]
    assert sorted(loops.tolist()) == list(range(g.num_nodes))
    sums = torch.zeros(g.num_nodes, 3).index_add_(0, loop_g.dst, alpha.detach())
    assert_close(sums, torch.ones(g.num_nodes, 3))


def test_gat_without_edge_features_keeps_its_parameters():
    layer = GATConv(5, 2)
    assert layer.lin_edge is None and layer.att_edge is None
    assert sorted(layer.state_dict()) == ["att_dst", "att_src", "bias", "lin.weight"]
    assert "edge_dim=3" in repr(GATConv(5, 2, edge_dim=3))


# ======================================================================== GINEConv
@pytest.mark.parametrize("edge_dim", [None, 3])
@pytest.mark.parametrize("reduce,aggr", [("sum", "add"), ("mean", "mean"), ("max", "max")])
def test_gine_matches_pyg(edge_dim, reduce, aggr):
    g = make_graph(1)
    ours = randomize_(GINEConv(mlp(5, 4), train_eps=True, edge_dim=edge_dim, reduce=reduce).double(), 1)
    theirs = pyg_gine(ours, aggr)
    x, e = randn(g.num_nodes, 5, seed=1, dtype=F64), edge_feats(g, edge_dim or 5, 2)
    xa, ea, xb, eb = leaf(x), leaf(e), leaf(x), leaf(e)
    # theirs shares ours' MLP, so its parameters are compared as ours' eps and lin_edge only
    a = fwd_bwd(lambda: ours(g, xa, ea), [xa, ea] + params(ours))
    b = fwd_bwd(lambda: theirs(xb, g.edge_index, eb), [xb, eb] + params(theirs))
    # PyG's eps has shape [1], ours is a scalar as GINConv's: compare its gradient as a scalar
    assert_same(a, (b[0], tuple(gb.view_as(ga) for ga, gb in zip(a[1], b[1]))))


def test_gine_pair_input_matches_pyg():
    src, dst = torch.tensor([0, 3, 4, 5, 1, 2, 5, 0]), torch.tensor([0, 0, 1, 1, 1, 2, 2, 2])
    g = Graph(src, dst, 3, num_src_nodes=6)
    ours = randomize_(GINEConv(nn.Linear(4, 2), edge_dim=2).double(), 3)
    x_src, x_dst, e = randn(6, 4, seed=1, dtype=F64), randn(3, 4, seed=2, dtype=F64), edge_feats(g, 2, 3)
    want = pyg_gine(ours)((x_src, x_dst), torch.stack([src, dst]), e, size=(6, 3))
    assert_close(ours(g, (x_src, x_dst), e), want)


def test_gine_hand_case():
    """0 -> 1 and 2 -> 1 with identity nn, eps = 0.5: relu(x_u + e) summed, plus 1.5 x_v; vertex 0 has no in-edge."""
    g = Graph([0, 2], [1, 1], 3)
    layer = GINEConv(nn.Identity(), eps=0.5)
    x = torch.tensor([[1.0, -2.0], [0.0, 4.0], [-3.0, 1.0]])
    e = torch.tensor([[0.5, 1.0], [1.0, 1.0]])
    want = torch.tensor([[1.5, -3.0], [1.5 + 0.0, 6.0 + 0.0 + 2.0], [-4.5, 1.5]])
    assert_close(layer(g, x, e), want)


# ================================================================== GINConv(edge_weight)
@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_gin_edge_weight_matches_dense(reduce):
    g = make_graph(5)
    layer = randomize_(GINConv(mlp(4, 3), train_eps=True, reduce=reduce).double(), 5)
    x = leaf(randn(g.num_nodes, 4, seed=5, dtype=F64))
    w = leaf(torch.rand(g.num_edges, generator=torch.Generator().manual_seed(5), dtype=F64) + 0.1)

    def dense() -> Tensor:
        h = dense_adj(g, w) @ x  # [N, F]: sum_u w_uv x_u
        if reduce == "mean":  # the mean of the weighted messages, over the in-edges
            h = h / dense_adj(g).sum(1, keepdim=True).clamp(min=1)
        return layer.nn((1 + layer.eps) * x + h)

    assert_same(fwd_bwd(lambda: layer(g, x, w), [x, w] + params(layer)), fwd_bwd(dense, [x, w] + params(layer)))


def test_gin_unit_edge_weight_is_the_unweighted_layer():
    g = make_graph(6)
    layer = randomize_(GINConv(mlp(4, 3)).double(), 6)
    x = randn(g.num_nodes, 4, seed=6, dtype=F64)
    assert_close(layer(g, x, torch.ones(g.num_edges, dtype=F64)), layer(g, x))


# ======================================================= GNNLayer with edge features
@pytest.mark.parametrize("reduce", ops.REDUCES)
@pytest.mark.parametrize("bias", [False, True])
def test_linear_source_edge_matches_loop(reduce, bias):
    g = tiny_graph()
    layer = randomize_(GNNLayer(LinearSourceEdge(3, 2, 4, bias=bias), reduce).double(), 1)
    x, e = leaf(randn(g.num_nodes, 3, seed=1, dtype=F64)), leaf(edge_feats(g, 2, 2))
    wrt = [x, e] + params(layer)
    assert_same(fwd_bwd(lambda: layer(g, x, e), wrt), fwd_bwd(lambda: loop_layer(layer, g, x, e), wrt))


def test_linear_source_edge_is_the_concatenated_linear_map():
    """W [x_u || e_uv] with W = [lin.weight | lin_edge.weight]."""
    fn = randomize_(LinearSourceEdge(3, 2, 4).double(), 0)
    x, e = randn(5, 3, seed=0, dtype=F64), randn(5, 2, seed=1, dtype=F64)
    w = torch.cat([fn.lin.weight, fn.lin_edge.weight], dim=1)  # [M, F + D]
    assert_close(fn(x, x, e), torch.cat([x, e], dim=1) @ w.t())


@pytest.mark.parametrize("reduce", ops.REDUCES)
@pytest.mark.parametrize("make", [lambda: EdgeWeighted(), lambda: LinearSource(3, 4, use_edge_weight=True)],
                         ids=["edge_weighted", "linear_weighted"])
def test_scalar_edge_weight_keeps_the_fused_path(monkeypatch, reduce, make):
    """With a scalar [E] weight the layer is one spmm: no gather, no [E, M] messages, no segment_reduce."""
    g = make_graph(7)
    layer = randomize_(GNNLayer(make(), reduce).double(), 7)
    x = randn(g.num_nodes, 3, seed=7, dtype=F64)
    w = torch.rand(g.num_edges, generator=torch.Generator().manual_seed(7), dtype=F64) + 0.1
    layer.fuse = False
    want = layer(g, x, w)
    layer.fuse = True
    calls = []
    spmm = ops.spmm

    def counting_spmm(*args, **kwargs):
        calls.append(args[1].shape)
        return spmm(*args, **kwargs)

    def per_edge(*args, **kwargs):
        raise AssertionError("the fused path materialised per-edge data")

    monkeypatch.setattr(ops, "spmm", counting_spmm)
    monkeypatch.setattr(ops, "gather", per_edge)
    monkeypatch.setattr(ops, "segment_reduce", per_edge)
    assert_close(layer(g, x, w), want)
    assert calls == [(g.num_nodes, 3 if isinstance(layer.edge_fn, EdgeWeighted) else 4)]  # one spmm over [N, M]


# ================================================================ gradcheck
@pytest.mark.parametrize("case", ["gat_loops", "gat_no_loops_mean", "gine_edge_dim", "gine", "gin_weighted"])
def test_gradcheck_edge_features(case):
    g = tiny_graph()
    x = randn(g.num_nodes, 3, seed=0, dtype=F64)
    layer, extra = {
        "gat_loops": lambda: (GATConv(3, 2, heads=2, edge_dim=2), edge_feats(g, 2, 1)),
        "gat_no_loops_mean": lambda: (GATConv(3, 2, heads=2, concat=False, add_self_loops=False, edge_dim=2),
                                      edge_feats(g, 2, 1)),
        "gine_edge_dim": lambda: (GINEConv(mlp(3, 2), train_eps=True, edge_dim=2), edge_feats(g, 2, 1)),
        # x + e is kept away from 0 so the finite differences do not cross the ReLU's kink
        "gine": lambda: (GINEConv(mlp(3, 2), train_eps=True), edge_feats(g, 3, 1).sign() * 3),
        "gin_weighted": lambda: (GINConv(mlp(3, 2), train_eps=True),
                                 torch.rand(g.num_edges, generator=torch.Generator().manual_seed(1), dtype=F64) + 0.5),
    }[case]()
    if case == "gine":
        x = x.clamp(-1, 1)
    _gradcheck_module(randomize_(layer.double(), 0), g, x, extra)


# =============================================================== properties
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), num_nodes=st.integers(1, 8), num_edges=st.integers(0, 16),
       which=st.sampled_from(["gat", "gine"]))
def test_edge_features_follow_edge_and_node_permutations(seed, num_nodes, num_edges, which):
    """Permuting edges with their features changes nothing; permuting vertices permutes the output."""
    gen = torch.Generator().manual_seed(seed)
    g = Graph(torch.randint(num_nodes, (num_edges,), generator=gen), torch.randint(num_nodes, (num_edges,), generator=gen),
              num_nodes)
    torch.manual_seed(seed)
    layer = GATConv(3, 2, heads=2, edge_dim=2) if which == "gat" else GINEConv(mlp(3, 2), edge_dim=2)
    layer = randomize_(layer.double(), seed)
    x, e = torch.randn(num_nodes, 3, generator=gen, dtype=F64), torch.randn(num_edges, 2, generator=gen, dtype=F64)
    ref = layer(g, x, e)
    ep = torch.randperm(num_edges, generator=gen)
    assert_close(layer(Graph(g.src[ep], g.dst[ep], num_nodes), x, e[ep]), ref)
    perm = torch.randperm(num_nodes, generator=gen)  # new vertex i is old vertex perm[i]
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(num_nodes)
    assert_close(layer(Graph(inv[g.src], inv[g.dst], num_nodes), x[perm], e), ref[perm])


@pytest.mark.parametrize("which", ["gat", "gine", "linear_source_edge"])
def test_edge_features_may_be_non_contiguous(which):
    g = make_graph(8)
    layer = {"gat": lambda: GATConv(3, 2, heads=2, edge_dim=4),
             "gine": lambda: GINEConv(mlp(3, 2), edge_dim=4),
             "linear_source_edge": lambda: GNNLayer(LinearSourceEdge(3, 4, 2), "mean")}[which]()
    layer = randomize_(layer.double(), 8)
    x = randn(g.num_nodes, 3, seed=8, dtype=F64)
    e = randn(4, g.num_edges, seed=9, dtype=F64).t()  # [E, D] with strides (1, E)
    assert not e.is_contiguous()
    assert_close(layer(g, x, e), layer(g, x, e.contiguous()))


# =============================================================== validation
def test_gat_rejects_edge_features_without_edge_dim():
    g = tiny_graph()
    with pytest.raises(ValueError, match="edge_weight was given, but this GATConv has edge_dim=None"):
        GATConv(3, 2)(g, torch.randn(5, 3), torch.randn(g.num_edges, 2))


def test_gat_rejects_edge_dim_without_edge_features():
    with pytest.raises(ValueError, match=r"this GATConv has edge_dim=2, so forward needs edge_weight \[E, 2\]"):
        GATConv(3, 2, edge_dim=2)(tiny_graph(), torch.randn(5, 3))


@pytest.mark.parametrize("shape", [(8, 3), (7, 2), (8,), (8, 2, 1)])
def test_gat_rejects_wrong_edge_feature_shape(shape):
    with pytest.raises(ValueError, match=r"edge_weight must have shape \[E=8, edge_dim=2\], got " + str(shape).replace("(", r"\(").replace(")", r"\)")):
        GATConv(3, 2, edge_dim=2)(tiny_graph(), torch.randn(5, 3), torch.randn(*shape))


def test_gat_rejects_bad_edge_dim():
    with pytest.raises(ValueError, match="edge_dim must be None or >= 1, got 0"):
        GATConv(3, 2, edge_dim=0)


def test_gine_rejects_missing_edge_features():
    with pytest.raises(ValueError, match=r"GINEConv needs edge features: pass edge_weight \[E, D\]"):
        GINEConv(nn.Linear(3, 2))(tiny_graph(), torch.randn(5, 3))


def test_gine_rejects_edge_features_of_another_size_without_edge_dim():
    with pytest.raises(ValueError, match=r"edge_weight must have shape \[E=8, F=3\], got \(8, 2\); .*edge_dim=D"):
        GINEConv(nn.Linear(3, 2))(tiny_graph(), torch.randn(5, 3), torch.randn(8, 2))


def test_gine_rejects_wrong_edge_dim_shape():
    with pytest.raises(ValueError, match=r"edge_weight must have shape \[E=8, edge_dim=2\], got \(8, 3\)"):
        GINEConv(nn.Linear(3, 2), edge_dim=2)(tiny_graph(), torch.randn(5, 3), torch.randn(8, 3))


def test_gine_rejects_nn_without_input_size():
    with pytest.raises(ValueError, match=r"reads the node feature size F from nn, but nn's first layer \(ReLU\)"):
        GINEConv(nn.Sequential(nn.ReLU(), nn.Linear(3, 2)), edge_dim=2)
    with pytest.raises(ValueError, match="edge_dim must be None or >= 1, got -1"):
        GINEConv(nn.Linear(3, 2), edge_dim=-1)


def test_gin_rejects_non_scalar_edge_weight():
    with pytest.raises(ValueError, match=r"edge_weight must have shape \[E=8\], got \(8, 2\)"):
        GINConv(nn.Linear(3, 2))(tiny_graph(), torch.randn(5, 3), torch.randn(8, 2))


def test_linear_source_edge_rejects_bad_edge_features():
    g, x = tiny_graph(), torch.randn(5, 3)
    layer = GNNLayer(LinearSourceEdge(3, 2, 4), "sum")
    with pytest.raises(ValueError, match="LinearSourceEdge needs edge features, but the layer was called with edge_weight=None"):
        layer(g, x)
    with pytest.raises(ValueError, match=r"edge_weight must have shape \[E=8, edge_dim=2\], got \(8, 3\)"):
        layer(g, x, torch.randn(8, 3))
