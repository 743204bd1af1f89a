"""MultiViewGraph and MultiViewConv: dense float64 oracle, DGL/PyG hetero equality, gradients, one-pass, bad input."""
import itertools
import os

import pytest
import torch

from gnnkit import Graph, ops
from gnnkit.graph.multiview import MultiViewGraph
from gnnkit.nn.multiview import MultiViewConv

os.environ.setdefault("DGLBACKEND", "pytorch")

N = 7


def rand_graph(num_edges: int, seed: int, n: int = N, undirected: bool = False) -> Graph:
    gen = torch.Generator().manual_seed(seed)
    s, d = torch.randint(0, n, (num_edges,), generator=gen), torch.randint(0, n, (num_edges,), generator=gen)
    if undirected:
        s, d = torch.cat([s, d]), torch.cat([d, s])
    return Graph(s, d, n)


def three_views(weighted: bool = True, undirected: bool = False) -> MultiViewGraph:
    views = {"a": rand_graph(12, 1, undirected=undirected), "b": rand_graph(9, 2, undirected=undirected),
             "c": rand_graph(0, 3)}  # c: a view with no edges
    weights = {"b": torch.rand(views["b"].num_edges, dtype=torch.float64, generator=torch.Generator().manual_seed(4))}
    return MultiViewGraph(views, weights if weighted else None)


def dense_view(g: Graph, w: torch.Tensor | None, norm: str) -> torch.Tensor:
    """The normalised adjacency A[dst, src] of one view as a dense float64 matrix (oracle)."""
    w = torch.ones(g.num_edges, dtype=torch.float64) if w is None else w.double()
    a = torch.zeros(g.num_nodes, g.num_nodes, dtype=torch.float64)
    if norm == "mean":
        cnt = torch.bincount(g.dst, minlength=g.num_nodes).clamp(min=1).double()
        return a.index_put_((g.dst, g.src), w / cnt[g.dst], accumulate=True)
    a.index_put_((g.dst, g.src), w, accumulate=True)
    if norm == "symmetric":
        din, dout = a.sum(1), a.sum(0)
        inv = lambda d: torch.where(d > 0, d.clamp(min=1e-300).rsqrt(), torch.zeros_like(d))  # noqa: E731
        a = inv(din)[:, None] * a * inv(dout)[None, :]
    return a


def dense_reference(conv: MultiViewConv, mvg: MultiViewGraph, x: torch.Tensor) -> torch.Tensor:
    """E' = sum_v alpha_v A_v X W_v (+ X W_r) + b, or the per-vertex softmax over views, all dense."""
    hs = []
    for i, name in enumerate(mvg.names):
        w = conv.weight if conv.share_weights else conv.weight[i]
        hs.append(dense_view(mvg.view(name), mvg.edge_weight(name), conv.norm) @ x @ w)
    h = torch.stack(hs, 1)  # [N, V, F']
    if conv.combine == "attention":
        beta = torch.softmax(torch.tanh(h + conv.att_bias) @ conv.att_query, dim=1)
        out = (beta[..., None] * h).sum(1)
    else:
        out = (conv.view_weights()[None, :, None] * h).sum(1)
    if conv.root is not None:
        out = out + x @ conv.root
    if conv.bias is not None:
        out = out + conv.bias
    return out


def randomise(conv: MultiViewConv, seed: int = 0) -> MultiViewConv:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in conv.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return conv


# ------------------------------------------------------------ MultiViewGraph
def test_views_keep_names_order_and_graphs():
    mvg = three_views()
    assert mvg.names == ("a", "b", "c") and mvg.num_views == len(mvg) == 3
    assert mvg.num_nodes == N and mvg.num_edges == 12 + 9
    assert mvg.view("a").num_edges == 12 and mvg.edge_weight("a") is None and mvg.edge_weight("b").shape == (9,)
    assert "a=12" in repr(mvg)


def test_union_holds_every_view_edge_with_its_view_and_weight():
    mvg = three_views()
    u, view, w = mvg.union(), mvg.edge_view, mvg.union_edge_weight()
    assert u.num_nodes == N and u.num_edges == mvg.num_edges
    got = sorted(zip(u.src.tolist(), u.dst.tolist(), view.tolist(), w.tolist()))
    want = []
    for i, name in enumerate(mvg.names):
        g, gw = mvg.view(name), mvg.edge_weight(name)
        gw = torch.ones(g.num_edges, dtype=torch.float64) if gw is None else gw
        want += list(zip(g.src.tolist(), g.dst.tolist(), [i] * g.num_edges, gw.tolist()))
    assert got == sorted(want)
    assert u.is_sorted_by_dst()
    assert mvg.union() is u  # cached


@pytest.mark.parametrize("side", ["src", "dst", "both"])
def test_expanded_graphs_encode_views_in_vertex_ids(side):
    mvg = three_views()
    v, u = mvg.num_views, mvg.union()
    e = mvg.expanded(side)
    src = u.src * v + mvg.edge_view if side in ("src", "both") else u.src
    dst = u.dst * v + mvg.edge_view if side in ("dst", "both") else u.dst
    assert torch.equal(e.src, src) and torch.equal(e.dst, dst)
    assert e.num_src_nodes == (N * v if side != "dst" else N) and e.num_nodes == (N if side == "src" else N * v)
    assert e.is_sorted_by_dst()  # the shared (dst, view, src) order is CSR order for every layout
    e.validate()


@pytest.mark.parametrize("norm", ["none", "mean", "symmetric"])
def test_normalized_edge_weight_equals_dense_per_view(norm):
    mvg = three_views()
    w = mvg.normalized_edge_weight(norm, torch.float64)
    u, view = mvg.union(), mvg.edge_view
    for i, name in enumerate(mvg.names):
        sel = view == i
        a = torch.zeros(N, N, dtype=torch.float64).index_put_((u.dst[sel], u.src[sel]), w[sel], accumulate=True)
        torch.testing.assert_close(a, dense_view(mvg.view(name), mvg.edge_weight(name), norm))
    assert mvg.normalized_edge_weight(norm, torch.float64) is w


def test_from_typed_edges_splits_by_type():
    src, dst = torch.tensor([0, 1, 2, 3, 4]), torch.tensor([1, 2, 3, 4, 0])
    et = torch.tensor([1, 0, 1, 1, 0])
    w = torch.arange(5, dtype=torch.float32)
    mvg = MultiViewGraph.from_typed_edges(src, dst, et, 5, ["x", "y", "empty"], edge_weight=w)
    assert mvg.view("x").src.tolist() == [1, 4] and mvg.view("y").dst.tolist() == [1, 3, 4]
    assert mvg.edge_weight("y").tolist() == [0.0, 2.0, 3.0] and mvg.view("empty").num_edges == 0


def test_dgl_heterograph_round_trip():
    pytest.importorskip("dgl")
    mvg = three_views(weighted=False)
    back = MultiViewGraph.from_dgl(mvg.to_dgl())
    assert back.equal(mvg)
    hg = mvg.to_dgl()
    hg.edges["a"].data["w"] = torch.rand(12)
    hg.edges["b"].data["w"] = torch.rand(9)
    hg.edges["c"].data["w"] = torch.rand(0)
    weighted = MultiViewGraph.from_dgl(hg, edge_weight_field="w")
    assert torch.equal(weighted.edge_weight("a"), hg.edges["a"].data["w"])


def test_map_views_and_to_device():
    mvg = three_views()
    same = mvg.map_views(lambda g, w: (g, w))
    assert same.equal(mvg) and mvg.to("cpu") is mvg


# ------------------------------------------------------------ MultiViewConv vs dense
CASES = list(itertools.product([False, True], ["fixed", "learned", "attention"], ["none", "mean", "symmetric"], [False, True]))


@pytest.mark.parametrize("share,combine,norm,root", CASES)
@pytest.mark.parametrize("fin,fout", [(5, 3), (3, 5)])  # project first / aggregate first
def test_conv_equals_dense_float64_forward_and_gradients(share, combine, norm, root, fin, fout):
    mvg = three_views()
    conv = randomise(MultiViewConv(fin, fout, 3, combine=combine, share_weights=share, norm=norm, root_weight=root).double())
    x = torch.randn(N, fin, dtype=torch.float64, generator=torch.Generator().manual_seed(5), requires_grad=True)
    out = conv(mvg, x)
    ref = dense_reference(conv, mvg, x)
    torch.testing.assert_close(out, ref)
    dy = torch.randn_like(out)
    params = [x] + list(conv.parameters())
    got = torch.autograd.grad(out, params, dy)
    want = torch.autograd.grad(ref, params, dy)
    for g_, w_ in zip(got, want):
        torch.testing.assert_close(g_, w_)


def test_lecture_formula_one_third_each_view_shared_w():
    """E' = 1/3 A E W + 1/3 B E W + 1/3 C E W (no normalisation, no bias) with dense float64 matrices."""
    mvg = three_views(weighted=False)
    conv = randomise(MultiViewConv(4, 2, 3, share_weights=True, norm="none", bias=False).double())
    x = torch.randn(N, 4, dtype=torch.float64)
    a, b, c = (dense_view(mvg.view(n), None, "none") for n in "abc")
    want = (a @ x @ conv.weight + b @ x @ conv.weight + c @ x @ conv.weight) / 3
    torch.testing.assert_close(conv(mvg, x), want)


@pytest.mark.parametrize("share,combine", [(False, "fixed"), (True, "learned"), (False, "attention"), (True, "attention")])
def test_gradcheck_tiny(share, combine):
    mvg = MultiViewGraph({"p": rand_graph(6, 7, n=4), "q": rand_graph(5, 8, n=4)})
    conv = randomise(MultiViewConv(3, 2, 2, combine=combine, share_weights=share, root_weight=True).double())
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    names = [n for n, _ in conv.named_parameters()]
    params = [x] + [p.detach().clone().requires_grad_(True) for p in conv.parameters()]

    def run(x_, *ps):  # the module as a function of its input and every parameter
        return torch.func.functional_call(conv, dict(zip(names, ps)), (mvg, x_))

    assert torch.autograd.gradcheck(run, params)


def test_one_sparse_product_per_forward_whatever_the_view_count(monkeypatch):
    calls = []
    real = ops.spmm
    monkeypatch.setattr(ops, "spmm", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    views = {f"v{i}": rand_graph(10, i) for i in range(5)}
    mvg = MultiViewGraph(views)
    x = torch.randn(N, 6)
    for share, combine, fout in itertools.product([False, True], ["fixed", "learned", "attention"], [3, 9]):
        calls.clear()
        MultiViewConv(6, fout, 5, combine=combine, share_weights=share)(mvg, x).sum().backward()
        assert len(calls) == 1, (share, combine, fout)
        assert calls[0] in (mvg.union(), mvg.expanded("src"), mvg.expanded("dst"), mvg.expanded("both"))


def test_learned_alpha_is_softmax_and_gets_gradient():
    mvg = three_views()
    conv = MultiViewConv(4, 3, 3, combine="learned", alpha=[1.0, 2.0, 1.0])
    torch.testing.assert_close(conv.view_weights(), torch.tensor([0.25, 0.5, 0.25]))
    conv(mvg, torch.randn(N, 4)).pow(2).sum().backward()
    assert conv.alpha_logits.grad.abs().sum() > 0


def test_attention_weights_sum_to_one_per_vertex():
    conv = MultiViewConv(4, 3, 3, combine="attention")
    _, beta = conv(three_views(), torch.randn(N, 4), return_attention=True)
    assert beta.shape == (N, 3)
    torch.testing.assert_close(beta.sum(1), torch.ones(N))


def test_view_dropout_zeroes_whole_views_in_training_only():
    mvg = three_views()
    conv = randomise(MultiViewConv(4, 3, 3, view_dropout=0.5, norm="mean").double())
    x = torch.randn(N, 4, dtype=torch.float64)
    conv.eval()
    torch.testing.assert_close(conv(mvg, x), dense_reference(conv, mvg, x))
    conv.train()
    hs = torch.stack([dense_view(mvg.view(n), mvg.edge_weight(n), "mean") @ x @ conv.weight[i] for i, n in enumerate(mvg.names)], 1)
    options = [(torch.tensor(keep, dtype=torch.float64)[None, :, None] * 2 / 3 * hs).sum(1) + conv.bias
               for keep in itertools.product([0, 1], repeat=3)]
    for seed in range(4):
        torch.manual_seed(seed)
        out = conv(mvg, x)
        assert any(torch.allclose(out, o) for o in options)


def test_edge_permutation_invariance_and_node_permutation_equivariance():
    mvg = three_views()
    conv = randomise(MultiViewConv(4, 3, 3, combine="attention", root_weight=True).double())
    x = torch.randn(N, 4, dtype=torch.float64)
    out = conv(mvg, x)
    gen = torch.Generator().manual_seed(9)
    views, weights = {}, {}
    for name in mvg.names:  # shuffle each view's edges
        g, w = mvg.view(name), mvg.edge_weight(name)
        p = torch.randperm(g.num_edges, generator=gen)
        views[name] = Graph(g.src[p], g.dst[p], N)
        if w is not None:
            weights[name] = w[p]
    torch.testing.assert_close(conv(MultiViewGraph(views, weights), x), out)
    perm = torch.randperm(N, generator=gen)
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(N)
    relabelled = MultiViewGraph({n: Graph(inv[g.src], inv[g.dst], N) for n, g in views.items()}, weights)
    torch.testing.assert_close(conv(relabelled, x[perm]), out[perm])


def test_isolated_vertices_get_bias_only():
    mvg = MultiViewGraph({"a": Graph([0], [1], 4), "b": Graph([], [], 4)})
    conv = randomise(MultiViewConv(2, 2, 2))
    out = conv(mvg, torch.randn(4, 2))
    torch.testing.assert_close(out[2:], conv.bias.expand(2, 2))


# ------------------------------------------------------------ DGL / PyG equality
def directed_views(seed: int = 0, n: int = 30, undirected: bool = False) -> MultiViewGraph:
    return MultiViewGraph({r: rand_graph(60, seed + i, n=n, undirected=undirected) for i, r in enumerate(["r0", "r1", "r2"])})


@pytest.mark.parametrize("fin,fout", [(8, 5), (5, 8)])
def test_equals_dgl_heterographconv_mean_graphconv(fin, fout):
    pytest.importorskip("dgl")
    import dgl.nn as dglnn

    mvg = directed_views()
    hetero = dglnn.HeteroGraphConv(
        {r: dglnn.GraphConv(fin, fout, norm="both", allow_zero_in_degree=True) for r in mvg.names}, aggregate="mean").double()
    ours = MultiViewConv(fin, fout, 3, norm="symmetric").double()
    with torch.no_grad():
        for i, r in enumerate(mvg.names):
            hetero.mods[r].bias.normal_()
            ours.weight[i].copy_(hetero.mods[r].weight)
        ours.bias.copy_(torch.stack([hetero.mods[r].bias for r in mvg.names]).mean(0))
    x = torch.randn(30, fin, dtype=torch.float64)
    want = hetero(mvg.to_dgl(), {"_N": x})["_N"]
    torch.testing.assert_close(ours(mvg, x), want)


def test_equals_dgl_heterographconv_mean_sageconv():
    pytest.importorskip("dgl")
    import dgl.nn as dglnn

    mvg = directed_views(seed=3)
    hetero = dglnn.HeteroGraphConv({r: dglnn.SAGEConv(6, 4, "mean") for r in mvg.names}, aggregate="mean").double()
    ours = MultiViewConv(6, 4, 3, norm="mean", root_weight=True).double()
    with torch.no_grad():
        for i, r in enumerate(mvg.names):
            hetero.mods[r].fc_self.bias.normal_()
            ours.weight[i].copy_(hetero.mods[r].fc_neigh.weight.t())
        ours.root.copy_(torch.stack([hetero.mods[r].fc_self.weight.t() for r in mvg.names]).mean(0))
        ours.bias.copy_(torch.stack([hetero.mods[r].fc_self.bias for r in mvg.names]).mean(0))
    x = torch.randn(30, 6, dtype=torch.float64)
    torch.testing.assert_close(ours(mvg, x), hetero(mvg.to_dgl(), {"_N": x})["_N"])


def pyg_inputs(mvg: MultiViewGraph):
    return {("n", r, "n"): mvg.view(r).edge_index for r in mvg.names}


def test_equals_pyg_heteroconv_mean_sageconv():
    pnn = pytest.importorskip("torch_geometric.nn")
    mvg = directed_views(seed=5)
    eis = pyg_inputs(mvg)
    hetero = pnn.HeteroConv({k: pnn.SAGEConv(6, 4, aggr="mean") for k in eis}, aggr="mean").double()
    ours = MultiViewConv(6, 4, 3, norm="mean", root_weight=True).double()
    with torch.no_grad():
        mods = [hetero.convs[k] for k in eis]
        for i, m in enumerate(mods):
            m.lin_l.bias.normal_()
            ours.weight[i].copy_(m.lin_l.weight.t())
        ours.root.copy_(torch.stack([m.lin_r.weight.t() for m in mods]).mean(0))
        ours.bias.copy_(torch.stack([m.lin_l.bias for m in mods]).mean(0))
    x = torch.randn(30, 6, dtype=torch.float64)
    torch.testing.assert_close(ours(mvg, x), hetero({"n": x}, eis)["n"])


def test_equals_pyg_heteroconv_mean_gcnconv_on_undirected_views():
    # PyG's gcn_norm uses in-degrees at both ends; on undirected views that is D^-1/2 A D^-1/2 as ours
    pnn = pytest.importorskip("torch_geometric.nn")
    mvg = directed_views(seed=7, undirected=True)
    eis = pyg_inputs(mvg)
    hetero = pnn.HeteroConv({k: pnn.GCNConv(6, 4, add_self_loops=False) for k in eis}, aggr="mean").double()
    ours = MultiViewConv(6, 4, 3, norm="symmetric").double()
    with torch.no_grad():
        mods = [hetero.convs[k] for k in eis]
        for i, m in enumerate(mods):
            m.bias.normal_()
            ours.weight[i].copy_(m.lin.weight.t())
        ours.bias.copy_(torch.stack([m.bias for m in mods]).mean(0))
    x = torch.randn(30, 6, dtype=torch.float64)
    torch.testing.assert_close(ours(mvg, x), hetero({"n": x}, eis)["n"])


# ------------------------------------------------------------ bad input
def test_views_with_different_vertex_counts_are_rejected():
    with pytest.raises(ValueError, match=r"views must share one vertex set: view 'a' has num_nodes=3 but view 'b' has num_nodes=4"):
        MultiViewGraph({"a": Graph([0], [1], 3), "b": Graph([0], [1], 4)})


@pytest.mark.parametrize("views,edge_weights,exc,match", [
    ({}, None, ValueError, "at least one view"),
    ([Graph([0], [1], 2)], None, TypeError, "views must be a mapping"),
    ({"a": "not a graph"}, None, TypeError, r"views\['a'\] must be a gnnkit.Graph"),
    ({1: Graph([0], [1], 2)}, None, TypeError, "view names must be strings"),
    ({"a": Graph([0], [1], 2, num_src_nodes=3)}, None, ValueError, "bipartite"),
    ({"a": Graph([0], [1], 2)}, {"zz": torch.ones(1)}, ValueError, "edge_weights names view 'zz'"),
    ({"a": Graph([0], [1], 2)}, {"a": torch.ones(2)}, ValueError, r"edge_weights\['a'\] must have shape \[E\] with E = 1"),
    ({"a": Graph([0], [1], 2)}, {"a": torch.ones(1, dtype=torch.int64)}, TypeError, "must be floating point"),
    ({"a": Graph([0], [1], 2)}, {"a": [1.0]}, TypeError, r"edge_weights\['a'\] must be a torch.Tensor"),
    ({"a": Graph([0], [1], 2), "b": Graph([0], [1], 2)}, {"a": torch.ones(1), "b": torch.ones(1, dtype=torch.float64)},
     TypeError, "share one dtype"),
])
def test_multiview_graph_bad_input(views, edge_weights, exc, match):
    with pytest.raises(exc, match=match):
        MultiViewGraph(views, edge_weights)


def test_unknown_view_name_and_bad_options():
    mvg = three_views()
    with pytest.raises(ValueError, match=r"name must be one of the views \['a', 'b', 'c'\], got 'd'"):
        mvg.view("d")
    with pytest.raises(ValueError, match="name must be one of the views"):
        mvg.edge_weight("d")
    with pytest.raises(ValueError, match="side must be one of"):
        mvg.expanded("left")
    with pytest.raises(ValueError, match="norm must be one of"):
        mvg.normalized_edge_weight("l2")
    with pytest.raises(TypeError, match="dtype must be a floating-point dtype"):
        mvg.normalized_edge_weight("mean", torch.int64)


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(edge_type=[0, 3]), ValueError, r"edge_type holds view index 3 but names has 2 entries"),
    (dict(edge_type=[0, -1]), ValueError, r"edge_type holds view index -1"),
    (dict(edge_type=[0]), ValueError, r"edge_type must have one entry per edge \(E = 2\)"),
    (dict(edge_type=[0.0, 1.0]), TypeError, "edge_type must be a 1-D integer tensor"),
    (dict(names=["a", "a"]), ValueError, "names must be distinct"),
    (dict(names=[]), ValueError, "names must list at least one"),
    (dict(edge_weight=torch.ones(3)), ValueError, r"edge_weight must be a tensor of shape \[E=2\]"),
])
def test_from_typed_edges_bad_input(kwargs, exc, match):
    args = dict(src=[0, 1], dst=[1, 0], edge_type=[0, 1], num_nodes=2, names=["a", "b"])
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        MultiViewGraph.from_typed_edges(**args)


def test_from_dgl_bad_input():
    dgl = pytest.importorskip("dgl")
    two_types = dgl.heterograph({("u", "r", "v"): ([0], [0])})
    with pytest.raises(ValueError, match="hetero_graph must have one node type"):
        MultiViewGraph.from_dgl(two_types)
    with pytest.raises(ValueError, match="edge_weight_field 'w' is missing on relation 'a'"):
        MultiViewGraph.from_dgl(three_views(weighted=False).to_dgl(), edge_weight_field="w")


@pytest.mark.parametrize("kwargs,match", [
    (dict(in_features=0), "in_features must be an int >= 1, got 0"),
    (dict(num_views=0), "num_views must be an int >= 1"),
    (dict(combine="max"), "combine must be one of"),
    (dict(norm="l1"), "norm must be one of"),
    (dict(view_dropout=1.0), r"view_dropout must lie in \[0, 1\)"),
    (dict(alpha=[0.5, 0.5]), "alpha must hold num_views=3 weights, got 2"),
    (dict(alpha=[0.5, -0.5, 1.0]), "alpha must be finite and >= 0"),
    (dict(alpha=[1.0, 0.0, 1.0], combine="learned"), "cannot hold zeros"),
    (dict(alpha=[1.0, 1.0, 1.0], combine="attention"), "alpha is not used with combine='attention'"),
])
def test_conv_bad_constructor_args(kwargs, match):
    args = dict(in_features=4, out_features=3, num_views=3)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        MultiViewConv(**args)


def test_conv_bad_forward_input():
    conv = MultiViewConv(4, 3, 3)
    with pytest.raises(TypeError, match="mvg must be a gnnkit.MultiViewGraph, got Graph"):
        conv(Graph([0], [1], 2), torch.randn(2, 4))
    with pytest.raises(ValueError, match=r"mvg has 2 views \['a', 'b'\] but the layer was built for num_views=3"):
        conv(MultiViewGraph({"a": Graph([0], [1], 2), "b": Graph([0], [1], 2)}), torch.randn(2, 4))
    with pytest.raises(ValueError, match=r"x must have shape \[N=7, F=4\], got \(7, 5\)"):
        conv(three_views(), torch.randn(N, 5))
