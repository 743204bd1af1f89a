"""Heterogeneous models: RGCNConv against PyG RGCNConv, DGL RelGraphConv and a dense float64 formula (forward
and gradients, with and without bases/blocks, on a Graph and on a HeteroGraph)."""
import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gnnkit import Graph, HeteroGraph
from gnnkit.data.hetero_generators import ACADEMIC_RELATIONS, academic_graph
from gnnkit.models import GNN, GNNConfig
from gnnkit.nn import _typed
from gnnkit.nn import HeteroConv, HeteroGNN, HeteroSequential, RGCNConv, SAGEConv, to_hetero
from test_hetero import COUNTS, F_IN, F_OUT, assert_same_as_theirs, gen, randomize_, run_and_grad, shop  # tests/ is on sys.path

os.environ.setdefault("DGLBACKEND", "pytorch")

N, R = 7, 3


def typed_graph() -> tuple[Graph, torch.Tensor]:
    """7 vertices, 3 relations; vertex 6 has no in-edges, vertex 0 none of relation 2; a duplicate edge and a self-loop."""
    src = torch.tensor([0, 1, 2, 3, 4, 5, 1, 2, 3, 3, 0, 4, 5, 2])
    dst = torch.tensor([1, 1, 0, 0, 2, 3, 4, 5, 5, 5, 3, 4, 0, 2])
    etype = torch.tensor([0, 1, 0, 1, 2, 0, 1, 2, 2, 2, 0, 1, 0, 2])
    return Graph(src, dst, N), etype


def dense_rgcn(conv: RGCNConv, g: Graph, etype: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The paper's formula with a dense [R, N, N] adjacency (test oracle only)."""
    a = torch.zeros(conv.num_relations, g.num_nodes, g.num_src_nodes, dtype=x.dtype)
    a.index_put_((etype, g.dst, g.src), torch.ones(g.num_edges, dtype=x.dtype), accumulate=True)
    if conv.reduce == "mean":
        a = a / a.sum(2, keepdim=True).clamp(min=1)
    out = torch.einsum("rvu,uf,rfo->vo", a, x, conv.relation_weight())
    if conv.root is not None:
        out = out + x[: g.num_nodes] @ conv.root
    return out if conv.bias is None else out + conv.bias


def grads(fn, x: torch.Tensor, params: list) -> tuple[torch.Tensor, list]:
    x = x.clone().requires_grad_()
    out = fn(x)
    loss = (out * torch.randn(out.shape, generator=gen(9), dtype=out.dtype)).sum()
    return out, list(torch.autograd.grad(loss, [x] + params))


DECOMPOSITIONS = [dict(), dict(num_bases=2), dict(num_blocks=2)]
SIZES = [(6, 4), (4, 6)]  # project-first and aggregate-first


@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("decomp", DECOMPOSITIONS)
@pytest.mark.parametrize("reduce", ["mean", "sum"])
def test_rgcn_equals_dense_formula(sizes, decomp, reduce):
    g, etype = typed_graph()
    conv = randomize_(RGCNConv(*sizes, R, reduce=reduce, **decomp).double(), 1)
    x = torch.randn(N, sizes[0], generator=gen(2), dtype=torch.float64)
    params = list(conv.parameters())
    out, got = grads(lambda x: conv(g, x, etype), x, params)
    want_out, want = grads(lambda x: dense_rgcn(conv, g, etype, x), x, params)
    torch.testing.assert_close(out, want_out)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("decomp", DECOMPOSITIONS)
def test_rgcn_equals_pyg_rgcnconv(sizes, decomp):
    pnn = pytest.importorskip("torch_geometric.nn")
    g, etype = typed_graph()
    ours = randomize_(RGCNConv(*sizes, R, **decomp).double(), 3)
    theirs = pnn.RGCNConv(*sizes, R, **decomp).double()
    names = ["weight", "root", "bias"] + (["comp"] if "num_bases" in decomp else [])
    with torch.no_grad():
        for n in names:
            getattr(theirs, n).copy_(getattr(ours, n))
    x = torch.randn(N, sizes[0], generator=gen(4), dtype=torch.float64)
    out, got = grads(lambda x: ours(g, x, etype), x, [getattr(ours, n) for n in names])
    want_out, want = grads(lambda x: theirs(x, g.edge_index, etype), x, [getattr(theirs, n) for n in names])
    torch.testing.assert_close(out, want_out)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("regularizer,decomp", [(None, {}), ("basis", dict(num_bases=2)), ("bdd", dict(num_blocks=2))])
def test_rgcn_equals_dgl_relgraphconv(sizes, regularizer, decomp):
    dgl = pytest.importorskip("dgl")
    from dgl.nn import RelGraphConv

    g, etype = typed_graph()
    ours = randomize_(RGCNConv(*sizes, R, reduce="sum", **decomp).double(), 5)
    nb = decomp.get("num_bases", decomp.get("num_blocks"))
    theirs = RelGraphConv(*sizes, R, regularizer=regularizer, num_bases=nb).double()
    pairs = [(ours.weight, theirs.linear_r.W), (ours.root, theirs.loop_weight), (ours.bias, theirs.h_bias)]
    if regularizer == "basis":
        pairs.append((ours.comp, theirs.linear_r.coeff))
    with torch.no_grad():
        for a, b in pairs:
            b.copy_(a.reshape(b.shape))
    dg = dgl.graph((g.src, g.dst), num_nodes=N)
    x = torch.randn(N, sizes[0], generator=gen(6), dtype=torch.float64)
    out, got = grads(lambda x: ours(g, x, etype), x, [a for a, _ in pairs])
    want_out, want = grads(lambda x: theirs(dg, x, etype), x, [b for _, b in pairs])
    torch.testing.assert_close(out, want_out)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b.reshape(a.shape))


def test_rgcn_mean_equals_dgl_with_per_relation_norm():
    """DGL's RelGraphConv takes the paper's 1/c_{v,r} as its `norm` edge data."""
    dgl = pytest.importorskip("dgl")
    from dgl.nn import RelGraphConv

    g, etype = typed_graph()
    ours = randomize_(RGCNConv(5, 3, R, num_bases=2).double(), 7)
    theirs = RelGraphConv(5, 3, R, regularizer="basis", num_bases=2).double()
    with torch.no_grad():
        for a, b in [(ours.weight, theirs.linear_r.W), (ours.comp, theirs.linear_r.coeff), (ours.root, theirs.loop_weight),
                     (ours.bias, theirs.h_bias)]:
            b.copy_(a)
    key = g.dst * R + etype
    norm = (1.0 / torch.bincount(key, minlength=N * R).double())[key].unsqueeze(1)  # [E, 1]
    x = torch.randn(N, 5, generator=gen(8), dtype=torch.float64)
    torch.testing.assert_close(ours(g, x, etype), theirs(dgl.graph((g.src, g.dst), num_nodes=N), x, etype, norm))


def academic() -> HeteroGraph:
    counts = {"author": 3, "paper": 4, "venue": 2}
    edges = {
        ("author", "writes", "paper"): ([0, 1, 2, 2], [0, 1, 1, 3]),
        ("paper", "cites", "paper"): ([1, 2, 3, 3], [0, 0, 1, 2]),
        ("paper", "published_in", "venue"): ([0, 1, 2, 3], [0, 0, 1, 1]),
        ("paper", "written_by", "author"): ([0, 1, 1, 3], [0, 1, 2, 2]),
    }
    g = gen(11)
    ndata = {t: {"x": torch.randn(n, 6, generator=g, dtype=torch.float64)} for t, n in counts.items()}
    return HeteroGraph(counts, edges, ndata=ndata)


@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("decomp", DECOMPOSITIONS)
def test_rgcn_on_hetero_graph_equals_typed_graph(sizes, decomp):
    hg = academic()
    conv = randomize_(RGCNConv(sizes[0], sizes[1], 4, **decomp).double(), 12)
    x = {t: torch.randn(hg.num_nodes(t), sizes[0], generator=gen(13), dtype=torch.float64) for t in hg.ntypes}
    homo, _, etype = hg.to_homogeneous()
    want = conv(homo, torch.cat([x[t] for t in hg.ntypes]), etype).split([hg.num_nodes(t) for t in hg.ntypes])
    got = conv(hg, x)
    assert list(got) == list(hg.ntypes)
    for t, w in zip(hg.ntypes, want):
        torch.testing.assert_close(got[t], w)
    assert conv(hg, x)["paper"].shape == (4, sizes[1])  # the cached layout serves a second call


@pytest.mark.parametrize("sizes", SIZES)
def test_rgcn_on_sampled_blocks_equals_full_graph(sizes):
    """Two layers on blocks that keep every in-edge give the full-graph output at the seeds."""
    from gnnkit.data.hetero_sampling import HeteroNeighborSampler

    hg = academic()
    convs = [randomize_(RGCNConv(sizes[0], sizes[1], 4, num_bases=2).double(), 18),
             randomize_(RGCNConv(sizes[1], 3, 4).double(), 19)]
    x = {t: torch.randn(hg.num_nodes(t), sizes[0], generator=gen(20), dtype=torch.float64) for t in hg.ntypes}
    batch = HeteroNeighborSampler(hg, [{r: 100 for r in hg.relations}] * 2, seed=0).sample({"paper": torch.tensor([2, 0])})
    h = {t: x[t][batch.input_nodes[t]] for t in hg.ntypes}
    full = x
    for conv, block in zip(convs, batch.blocks):
        h = {t: v.tanh() for t, v in conv(block, h).items()}
        full = {t: v.tanh() for t, v in conv(hg, full).items()}
    assert h["paper"].shape == (2, 3) and h["author"].shape == (0, 3)
    torch.testing.assert_close(h["paper"], full["paper"][batch.seeds["paper"]])


def test_rgcn_bipartite_block_takes_first_rows_as_destinations():
    block = Graph([0, 3, 4, 1, 2], [0, 0, 1, 1, 2], 3, num_src_nodes=5)
    etype = torch.tensor([0, 1, 1, 0, 1])
    conv = randomize_(RGCNConv(4, 2, 2).double(), 14)
    x = torch.randn(5, 4, generator=gen(15), dtype=torch.float64)
    torch.testing.assert_close(conv(block, x, etype), dense_rgcn(conv, block, etype, x))


def test_rgcn_zero_edges_is_root_plus_bias():
    g = Graph(torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64), 3)
    conv = randomize_(RGCNConv(4, 2, 2, num_bases=1).double(), 16)
    x = torch.randn(3, 4, generator=gen(17), dtype=torch.float64)
    torch.testing.assert_close(conv(g, x, torch.zeros(0, dtype=torch.int64)), x @ conv.root + conv.bias)


@pytest.mark.parametrize("kwargs,match", [
    (dict(in_features=0), "in_features must be an int >= 1, got 0"),
    (dict(num_relations=True), "num_relations must be an int >= 1"),
    (dict(num_bases=2, num_blocks=2), "pass num_bases or num_blocks, not both"),
    (dict(num_bases=0), "num_bases must be None or an int >= 1, got 0"),
    (dict(num_blocks=3), "num_blocks=3 must divide in_features=4 and out_features=2"),
    (dict(reduce="max"), r"reduce must be one of \('mean', 'sum'\), got 'max'"),
])
def test_rgcn_bad_construction(kwargs, match):
    args = dict(in_features=4, out_features=2, num_relations=2) | kwargs
    with pytest.raises(ValueError, match=match):
        RGCNConv(**args)


def test_rgcn_bad_forward_input():
    g, etype = typed_graph()
    conv = RGCNConv(4, 2, R)
    x = torch.randn(N, 4)
    with pytest.raises(ValueError, match="edge_type \\[E\\] is required on a Graph"):
        conv(g, x)
    with pytest.raises(TypeError, match="edge_type must be an integer tensor of relation ids, got torch.float32"):
        conv(g, x, etype.float())
    with pytest.raises(ValueError, match=r"edge_type must have shape \[E=14\], got \(13,\)"):
        conv(g, x, etype[1:])
    with pytest.raises(IndexError, match=r"edge_type must lie in \[0, num_relations=3\), got types in \[0, 3\]"):
        conv(g, x, etype + (etype == 2).long())
    with pytest.raises(ValueError, match=r"x must have shape \[num_src_nodes=7, F=4\], got \(7, 3\)"):
        conv(g, torch.randn(N, 3), etype)
    with pytest.raises(TypeError, match="g must be a gnnkit.Graph"):
        conv("g", x, etype)
    hg = academic()
    hx = {t: hg.ndata[t]["x"][:, :4].float() for t in hg.ntypes}
    with pytest.raises(ValueError, match="built for num_relations=3"):
        conv(hg, hx)
    conv4 = RGCNConv(4, 2, 4)
    with pytest.raises(ValueError, match="edge_type is implied by a HeteroGraph"):
        conv4(hg, hx, etype)
    with pytest.raises(ValueError, match=r"x\['venue'\] must have shape \[2, F=4\], got NoneType"):
        conv4(hg, {t: v for t, v in hx.items() if t != "venue"})
    with pytest.raises(TypeError, match="x must be a mapping"):
        conv4(hg, x)


# ------------------------------------------------------------ HeteroConv: batched relations
def sage_convs(reduce: str, fin: int = F_IN, fout: int = F_OUT, **kwargs) -> dict:
    torch.manual_seed(0)
    return {r: SAGEConv(fin, fout, reduce, **kwargs) for r in ("buys", "tags", "bought_by", "follows", "has")}


def hetero_grads(conv: HeteroConv, hg: HeteroGraph, x: dict) -> tuple[dict, list]:
    params = list(conv.parameters())
    return run_and_grad(lambda x: conv(hg, x), x, params)


@pytest.mark.parametrize("hetero_reduce", ["sum", "mean", "max", "min", "stack"])
@pytest.mark.parametrize("sage_reduce", ["sum", "mean"])
@pytest.mark.parametrize("fout", [3, 11])
def test_hetero_conv_batched_equals_loop(hetero_reduce, sage_reduce, fout):
    hg = shop()
    batched = randomize_(HeteroConv(sage_convs(sage_reduce, fout=fout), reduce=hetero_reduce).double(), 21)
    loop = copy.deepcopy(batched)
    loop.batched = False
    x = {t: hg.ndata[t]["x"] for t in hg.ntypes}
    got, got_grads = hetero_grads(batched, hg, x)
    want, want_grads = hetero_grads(loop, hg, x)
    assert list(got) == list(want)
    for t in want:
        torch.testing.assert_close(got[t], want[t])
    for a, b in zip(got_grads, want_grads):
        torch.testing.assert_close(a, b)


def test_hetero_conv_batched_takes_the_batched_path(monkeypatch):
    """item and user each have two SAGE relations (batched), tag one (the loop)."""
    hg = shop()
    conv = HeteroConv(sage_convs("mean")).double()
    calls = []
    real = HeteroConv._batched_sage
    monkeypatch.setattr(HeteroConv, "_batched_sage", lambda self, g, x, d, *a: calls.append(d) or real(self, g, x, d, *a))
    conv(hg, {t: hg.ndata[t]["x"] for t in hg.ntypes})
    assert calls == ["user", "item"]  # in the order of the graph's relations


@pytest.mark.parametrize("kwargs", [dict(root_weight=False), dict(bias=False), dict(normalize=True),
                                    dict(activation="relu")])  # a relation's activation comes before the sum
def test_hetero_conv_batched_options_equal_loop(kwargs):
    hg = shop()
    batched = randomize_(HeteroConv(sage_convs("sum", **kwargs)).double(), 22)
    loop = copy.deepcopy(batched)
    loop.batched = False
    x = {t: hg.ndata[t]["x"] for t in hg.ntypes}
    got, want = batched(hg, x), loop(hg, x)
    for t in want:
        torch.testing.assert_close(got[t], want[t])


def test_hetero_conv_batched_equals_pyg_heteroconv():
    pnn = pytest.importorskip("torch_geometric.nn")
    hg = shop()
    ours = randomize_(HeteroConv(sage_convs("sum"), reduce="sum").double(), 23)
    theirs = {r: pnn.SAGEConv(F_IN, F_OUT, aggr="sum") for r in ("buys", "tags", "bought_by", "follows", "has")}
    hetero = pnn.HeteroConv({hg.canonical(k): v for k, v in theirs.items()}, aggr="sum").double()
    eis = {r: hg[r].edge_index for r in hg.relations}
    assert_same_as_theirs("pyg", hg, ours, theirs, lambda x: hetero(x, eis))


@pytest.mark.parametrize("reduce", ["mean", "stack"])
def test_hetero_conv_batched_equals_dgl_heterographconv(reduce):
    pytest.importorskip("dgl")
    import dgl.nn as dglnn

    hg = shop()
    ours = randomize_(HeteroConv(sage_convs("mean"), reduce=reduce).double(), 24)
    theirs = {r: dglnn.SAGEConv(F_IN, F_OUT, "mean") for r in ("buys", "tags", "bought_by", "follows", "has")}
    hetero = dglnn.HeteroGraphConv(theirs, aggregate=reduce).double()
    dg = hg.to_dgl()
    assert_same_as_theirs("dgl", hg, ours, theirs, lambda x: hetero(dg, x))


def test_hetero_conv_batched_on_a_block_equals_loop():
    block = HeteroGraph({"a": 4, "b": 3}, {("a", "r", "b"): ([0, 3, 2], [0, 1, 1]), ("b", "s", "b"): ([2, 1], [0, 0]),
                                           ("a", "q", "b"): ([1], [1])}, num_dst_nodes={"a": 1, "b": 2})
    torch.manual_seed(1)
    conv = HeteroConv({r: SAGEConv(5, 3, "mean") for r in ("r", "s", "q")}, reduce="mean").double()
    x = {"a": torch.randn(4, 5, generator=gen(25), dtype=torch.float64), "b": torch.randn(3, 5, generator=gen(26), dtype=torch.float64)}
    got = conv(block, x)["b"]
    conv.batched = False
    assert got.shape == (2, 3)
    torch.testing.assert_close(got, conv(block, x)["b"])


def test_hetero_conv_batched_bad_feature_shape():
    hg = shop()
    conv = HeteroConv(sage_convs("mean"))
    x = {t: hg.ndata[t]["x"].float() for t in hg.ntypes}
    x["item"] = x["item"][:3]
    with pytest.raises(ValueError, match=r"x\['item'\] must have shape \[4, F=8\], got \(3, 8\)"):
        conv(hg, x)


# ------------------------------------------------------------ to_hetero
def sage_gnn(**kwargs) -> GNN:
    torch.manual_seed(0)
    cfg = dict(model="sage", in_features=F_IN, out_features=3, hidden_features=5, num_layers=2, dropout=0.3) | kwargs
    return GNN(GNNConfig(**cfg)).double()


def test_to_hetero_copies_each_layer_per_relation_and_keeps_the_original():
    hg = shop()
    gnn = sage_gnn(norm="layer")
    model = to_hetero(gnn, (hg.ntypes, hg.relations))
    assert isinstance(model, HeteroGNN) and len(model.layers) == 2
    for conv, hconv in zip(gnn.layers, model.layers):
        assert hconv.relations == hg.relations and hconv.reduce == "sum"
        for copy_ in hconv.convs:
            assert copy_ is not conv and copy_.lin_l.weight is not conv.lin_l.weight
            torch.testing.assert_close(copy_.lin_l.weight, conv.lin_l.weight)
    assert set(model.norms[0]) == set(hg.ntypes)  # LayerNorm has parameters: one per node type
    assert model.act is not None and not isinstance(model.act, torch.nn.ModuleDict)  # ReLU is shared


@pytest.mark.parametrize("kwargs", [dict(norm="layer"), dict(residual=True, num_layers=3), dict(reduce="sum")])
def test_to_hetero_gnn_equals_hand_built_hetero_conv_stack(kwargs):
    hg = shop()
    model = randomize_(to_hetero(sage_gnn(**kwargs), (hg.ntypes, hg.relations), reduce="mean"), 31).eval()
    cfg = model.config
    sizes = [F_IN] + [cfg.hidden_features] * (cfg.num_layers - 1) + [3]
    x = {t: hg.ndata[t]["x"] for t in hg.ntypes}
    h = x
    for i in range(cfg.num_layers):  # by hand: one HeteroConv of SAGE layers per layer, weights copied
        conv = HeteroConv({r: SAGEConv(sizes[i], sizes[i + 1], cfg.reduce or "mean") for r in hg.relations}, reduce="mean").double()
        conv.load_state_dict(model.layers[i].state_dict())
        out = conv(hg, h)
        if i < cfg.num_layers - 1:
            for t in out:
                if cfg.norm == "layer":
                    norm = model.norms[i][t]
                    out[t] = torch.nn.functional.layer_norm(out[t], (sizes[i + 1],), norm.weight, norm.bias)
                out[t] = out[t].relu()
                if cfg.residual:
                    skip = model.skips[i]  # a Linear per type when the width changes, else the identity
                    out[t] = out[t] + (skip[t](h[t]) if isinstance(skip, torch.nn.ModuleDict) else h[t])
        h = out
    got = model(hg, x)
    assert set(got) == set(h) == set(COUNTS)
    for t in h:
        torch.testing.assert_close(got[t], h[t])


def test_to_hetero_on_one_type_and_relation_equals_the_homogeneous_model():
    g = Graph([0, 1, 2, 3, 3, 0], [1, 2, 0, 0, 1, 3], 4)
    hg = HeteroGraph({"v": 4}, {("v", "e", "v"): (g.src, g.dst)})
    for name in ("gcn", "sage", "gin"):
        gnn = randomize_(sage_gnn(model=name, norm="batch"), 32).eval()
        x = torch.randn(4, F_IN, generator=gen(33), dtype=torch.float64)
        torch.testing.assert_close(to_hetero(gnn, (hg.ntypes, hg.relations))(hg, {"v": x})["v"], gnn(g, x))


def test_to_hetero_sequential_equals_hand_built():
    hg = shop()
    torch.manual_seed(0)
    stack = torch.nn.Sequential(SAGEConv(F_IN, 6), torch.nn.ReLU(), torch.nn.Linear(6, 4), SAGEConv(4, 2, "sum")).double()
    model = randomize_(to_hetero(stack, (hg.ntypes, hg.relations)), 34)
    assert isinstance(model, HeteroSequential) and isinstance(model.steps[1], torch.nn.ReLU)
    assert set(model.steps[2]) == set(COUNTS)  # Linear: one copy per node type
    x = {t: hg.ndata[t]["x"] for t in hg.ntypes}
    h = model.steps[0](hg, x)
    h = {t: model.steps[2][t](v.relu()) for t, v in h.items()}
    want = model.steps[3](hg, h)
    got = model(hg, x)
    for t in want:
        torch.testing.assert_close(got[t], want[t])


def test_to_hetero_blocks_equal_full_graph_on_sampled_neighbourhoods():
    """On blocks that keep every in-edge, the model equals the full-graph run on the seeds."""
    from gnnkit.data.hetero_sampling import HeteroNeighborSampler

    hg = shop()
    model = randomize_(to_hetero(sage_gnn(residual=True), (hg.ntypes, hg.relations)), 35).eval()
    sampler = HeteroNeighborSampler(hg, [{r: 100 for r in hg.relations}] * 2, seed=0)
    batch = sampler.sample({"item": torch.tensor([3, 0])})
    x = {t: hg.ndata[t]["x"][batch.input_nodes[t]] for t in hg.ntypes}
    got = model(batch.blocks, x)["item"]
    torch.testing.assert_close(got, model(hg, {t: hg.ndata[t]["x"] for t in hg.ntypes})["item"][batch.seeds["item"]])


def test_to_hetero_bad_input():
    hg = shop()
    meta = (hg.ntypes, hg.relations)
    with pytest.raises(TypeError, match="to_hetero supports a gnnkit.models.GNN or an nn.Sequential"):
        to_hetero(torch.nn.Linear(2, 2), meta)
    with pytest.raises(ValueError, match=r"reduce must be one of \('sum', 'mean', 'max', 'min'\), got 'stack'"):
        to_hetero(sage_gnn(), meta, reduce="stack")
    with pytest.raises(TypeError, match="metadata must be"):
        to_hetero(sage_gnn(), hg)
    with pytest.raises(ValueError, match="node type 'tag', which is not in metadata's node_types"):
        to_hetero(sage_gnn(), (("item", "user"), hg.relations))
    with pytest.raises(ValueError, match="relations must be"):
        to_hetero(sage_gnn(), (hg.ntypes, ["buys"]))
    with pytest.raises(ValueError, match="relations must not be empty"):
        to_hetero(sage_gnn(), (hg.ntypes, []))
    model = to_hetero(sage_gnn(), meta)
    with pytest.raises(TypeError, match="g must be a HeteroGraph or a list of 2 HeteroGraph blocks"):
        model([hg], {})
    with pytest.raises(TypeError, match="g must be a gnnkit.HeteroGraph"):
        to_hetero(torch.nn.Sequential(SAGEConv(2, 2)), meta)(hg["buys"], {})


# ------------------------------------------------------------ the synthetic academic graph and the example
def test_academic_graph_is_deterministic_with_disjoint_splits():
    g = academic_graph(num_papers=60, num_authors=20, num_venues=4, seed=3)
    assert g.equal(academic_graph(num_papers=60, num_authors=20, num_venues=4, seed=3))
    assert not g.equal(academic_graph(num_papers=60, num_authors=20, num_venues=4, seed=4))
    assert g.ntypes == ("paper", "author", "venue") and g.relations == ACADEMIC_RELATIONS
    paper = g.ndata["paper"]
    masks = torch.stack([paper["train_mask"], paper["val_mask"], paper["test_mask"]])
    assert bool((masks.sum(0) == 1).all()) and masks.sum(1).tolist() == [18, 12, 30]
    for fwd, rev in ((0, 1), (2, 3), (4, 5)):  # every reverse relation holds the same edges flipped
        assert torch.equal(g[ACADEMIC_RELATIONS[fwd]].src, g[ACADEMIC_RELATIONS[rev]].dst)
        assert torch.equal(g[ACADEMIC_RELATIONS[fwd]].dst, g[ACADEMIC_RELATIONS[rev]].src)
    assert g.num_edges("writes") == 180 and g.num_edges("cites") == 300 and g.num_edges("published_in") == 60


def test_academic_graph_homophily_one_keeps_every_edge_in_topic():
    g = academic_graph(num_papers=80, num_authors=30, num_venues=8, num_classes=2, homophily=1.0, seed=0)
    y = g.ndata["paper"]["y"]
    assert torch.equal(y[g["cites"].src], y[g["cites"].dst])
    # each author's papers share one topic (authors are drawn within the paper's topic)
    writes = g["writes"]
    ones = torch.ones(writes.num_edges, dtype=torch.int64)
    per_author = torch.zeros(30, 2, dtype=torch.int64).index_put_((writes.src, y[writes.dst]), ones, accumulate=True)
    assert bool(((per_author > 0).sum(1) <= 1).all())


@pytest.mark.parametrize("kwargs,match", [
    (dict(num_papers=0), "num_papers must be an int >= 1, got 0"),
    (dict(num_classes=1), "num_classes must be >= 2, got 1"),
    (dict(homophily=1.5), r"homophily must lie in \[0, 1\], got 1.5"),
    (dict(signal=-1.0), "signal must be >= 0, got -1.0"),
    (dict(split=(0.6, 0.4)), r"split must be \(train, val\) fractions >= 0 summing to < 1"),
])
def test_academic_graph_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        academic_graph(**kwargs)


# seeded --quick run (1500 papers, 40 epochs, seed 0): mlp 0.421, rgcn 0.892, sage 0.877 with 1 thread;
# the floor leaves room for other BLAS builds but fails on a broken layer, and both hetero models must
# beat the features-only MLP by a wide margin (the labels need the relations)
def test_hetero_node_classification_example_quick():
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, str(root / "examples" / "hetero_node_classification.py"), "--quick"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    acc = {m.group(1): float(m.group(2)) for m in (re.fullmatch(r"(\w+) test accuracy: (\d\.\d{4})", s) for s in lines) if m}
    assert set(acc) == {"mlp", "rgcn", "sage"}, lines
    assert re.fullmatch(r"test accuracy: (\d\.\d{4})", lines[-1]) and float(lines[-1].split()[-1]) == acc["rgcn"]
    assert acc["rgcn"] > 0.8 and acc["sage"] > 0.8
    assert acc["rgcn"] > acc["mlp"] + 0.25 and acc["sage"] > acc["mlp"] + 0.25


def test_docs_hetero_snippet_runs():
    text = (Path(__file__).resolve().parents[1] / "docs" / "hetero.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S)
    assert code, "docs/hetero.md lost its python snippet"
    exec(compile(code.group(1), "docs/hetero.md", "exec"), {})  # the snippet asserts its own results


# ------------------------------------------------------------ properties and the benchmark
@st.composite
def typed_graphs(draw) -> tuple[Graph, torch.Tensor, int]:
    n = draw(st.integers(1, 8))
    r = draw(st.integers(1, 3))
    e = draw(st.integers(0, 16))
    src = draw(st.lists(st.integers(0, n - 1), min_size=e, max_size=e))
    dst = draw(st.lists(st.integers(0, n - 1), min_size=e, max_size=e))
    etype = draw(st.lists(st.integers(0, r - 1), min_size=e, max_size=e))
    return Graph(src, dst, n), torch.tensor(etype, dtype=torch.int64), r


@settings(max_examples=30, deadline=None)
@given(typed_graphs(), st.sampled_from([(6, 4), (4, 6)]), st.sampled_from(DECOMPOSITIONS), st.sampled_from(["mean", "sum"]),
       st.integers(0, 2**16))
def test_rgcn_property_dense_formula_and_permutations(graph, sizes, decomp, reduce, seed):
    """Equal to the dense formula; node-permutation equivariant and edge-permutation invariant."""
    g, etype, r = graph
    conv = randomize_(RGCNConv(*sizes, r, reduce=reduce, **decomp).double(), seed)
    x = torch.randn(g.num_nodes, sizes[0], generator=gen(seed), dtype=torch.float64)
    out = conv(g, x, etype)
    torch.testing.assert_close(out, dense_rgcn(conv, g, etype, x))
    perm = torch.randperm(g.num_nodes, generator=gen(seed + 1))  # new vertex i is old perm[i]
    inv = torch.argsort(perm)
    order = torch.randperm(g.num_edges, generator=gen(seed + 2))
    permuted = Graph(inv[g.src[order]], inv[g.dst[order]], g.num_nodes)
    torch.testing.assert_close(conv(permuted, x[perm], etype[order]), out[perm])


def test_hetero_benchmark_runs_and_checks_agreement():
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, str(root / "benchmarks" / "hetero.py"), "--nodes", "300", "--degree", "3",
                           "--steps", "1", "--out-features", "16"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "8 relations" in proc.stdout and re.search(r"batched +[\d.]+ ms/step +speed-up x[\d.]+", proc.stdout)


# ------------------------------------------------------------ the typed-layout helpers
def test_typed_graph_folds_the_relation_into_one_end():
    src, dst, rel = torch.tensor([0, 2, 1]), torch.tensor([1, 1, 0]), torch.tensor([1, 0, 1])
    by_src = _typed.typed_graph(src, dst, rel, 3, 2, 2, "src")
    assert by_src.src.tolist() == [1, 4, 3] and by_src.dst.tolist() == [1, 1, 0] and by_src.num_src_nodes == 6
    by_dst = _typed.typed_graph(src, dst, rel, 3, 2, 2, "dst")
    assert by_dst.dst.tolist() == [3, 2, 1] and by_dst.num_nodes == 4 and by_dst.num_src_nodes == 3
    assert _typed.typed_mean_weight(dst, rel, 2, 2, torch.float64).tolist() == [1.0, 1.0, 1.0]
    assert _typed.typed_mean_weight(torch.tensor([1, 1, 1]), torch.tensor([0, 0, 1]), 2, 2, torch.float64).tolist() == [0.5, 0.5, 1.0]
    with pytest.raises(ValueError, match=r"side must be one of \('src', 'dst'\), got 'both'"):
        _typed.typed_graph(src, dst, rel, 3, 2, 2, "both")
    with pytest.raises(ValueError, match="overflow int64 expanded ids"):
        _typed.typed_graph(src, dst, rel, 2**40, 2, 2**30, "src")


def test_stack_relations_numbers_block_destinations_per_type():
    block = HeteroGraph({"a": 3, "b": 2}, {("a", "r", "b"): ([2, 0], [0, 1]), ("b", "s", "a"): ([1], [0])},
                        num_dst_nodes={"a": 1, "b": 2})
    src, dst, rel = _typed.stack_relations(block, block.relations, ("a", "b"), ("a", "b"))
    assert src.tolist() == [2, 0, 4] and dst.tolist() == [1, 2, 0] and rel.tolist() == [0, 0, 1]
    empty = _typed.stack_relations(block, (), ("a",), ("b",))
    assert all(t.numel() == 0 and t.dtype == torch.int64 for t in empty)
