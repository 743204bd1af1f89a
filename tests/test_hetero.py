"""HeteroGraph and HeteroConv: DGL / PyG round trips with data, equality with DGL HeteroGraphConv and PyG
HeteroConv (weights copied, float64, forward and gradients), subgraph, to_homogeneous, bad input."""
import os

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gnnkit import Graph, HeteroGraph, MultiViewGraph
from gnnkit.nn import GATConv, GINConv, HeteroConv, SAGEConv

os.environ.setdefault("DGLBACKEND", "pytorch")

COUNTS = {"item": 4, "tag": 3, "user": 5}  # sorted, as DGL orders node types
F_IN, F_OUT = 8, 6


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def shop(dtype: torch.dtype = torch.float64) -> HeteroGraph:
    """3 node types, 5 relations (sorted as DGL's canonical_etypes): a same-type relation
    ("follows"), and tag 2, user 4 without in-edges in any relation."""
    edges = {
        ("item", "bought_by", "user"): ([0, 1, 1, 2, 3, 3], [0, 0, 1, 2, 3, 1]),
        ("item", "has", "tag"): ([0, 1, 2, 3, 3], [0, 0, 1, 1, 0]),  # tag 2: no in-edges
        ("tag", "tags", "item"): ([0, 1, 2, 2], [0, 0, 3, 1]),
        ("user", "buys", "item"): ([0, 0, 1, 2, 3, 4, 4], [0, 1, 1, 2, 3, 3, 0]),
        ("user", "follows", "user"): ([0, 1, 2, 3, 1], [1, 2, 3, 0, 0]),  # user 4: no in-edges
    }
    g = gen(0)
    ndata = {t: {"x": torch.randn(n, F_IN, generator=g, dtype=dtype), "y": torch.arange(n)} for t, n in COUNTS.items()}
    edata = {r: {"w": torch.rand(len(s), generator=g, dtype=dtype), "feat": torch.randn(len(s), 2, generator=g, dtype=dtype)}
             for r, (s, _) in edges.items()}
    return HeteroGraph(COUNTS, edges, ndata=ndata, edata=edata)


# ------------------------------------------------------------ structure and data
def test_hetero_graph_relations_are_graphs_with_data_views():
    hg = shop()
    assert hg.ntypes == ("item", "tag", "user") and len(hg.relations) == 5
    assert hg.num_nodes("user") == 5 and hg.num_nodes() == 12 and hg.num_edges("buys") == 7 and hg.num_edges() == 27
    buys = hg["buys"]
    assert buys is hg[("user", "buys", "item")] and isinstance(buys, Graph)
    assert buys.is_bipartite and buys.num_src_nodes == 5 and buys.num_nodes == 4
    assert not hg["follows"].is_bipartite and hg["follows"].num_nodes == 5
    assert buys.srcdata["x"] is hg.ndata["user"]["x"] and buys.dstdata["x"] is hg.ndata["item"]["x"]
    assert buys.edata["w"] is hg.edata["buys"]["w"] is hg.edata[("user", "buys", "item")]["w"]
    hg.ndata["user"]["z"] = torch.zeros(5)  # node data is mutable and seen through the relation graphs
    assert "z" in buys.srcdata and "z" in hg["follows"].ndata
    hg.edata["buys"]["v"] = torch.ones(7)
    assert "v" in buys.edata


def test_hetero_graph_same_size_types_keep_their_own_data():
    hg = HeteroGraph({"a": 2, "b": 2}, {("a", "r", "b"): ([0, 1], [1, 1])},
                     ndata={"a": {"x": torch.zeros(2)}, "b": {"x": torch.ones(2)}})
    assert torch.equal(hg["r"].srcdata["x"], torch.zeros(2)) and torch.equal(hg["r"].dstdata["x"], torch.ones(2))


def test_to_device_keeps_structure_and_data():
    hg = shop()
    assert hg.to("cpu") is hg
    moved = hg.to("meta")
    assert moved.device.type == "meta" and moved.ndata["user"]["x"].device.type == "meta"
    assert moved.num_edges("buys") == 7 and set(moved.edata["buys"]) == {"w", "feat"}


# ------------------------------------------------------------ converters
def test_dgl_round_trip_with_features():
    dgl = pytest.importorskip("dgl")
    hg = shop()
    d = hg.to_dgl()
    assert sorted(d.ntypes) == sorted(COUNTS) and len(d.canonical_etypes) == 5
    for t in COUNTS:
        assert d.num_nodes(t) == COUNTS[t]
        torch.testing.assert_close(d.nodes[t].data["x"], hg.ndata[t]["x"])
    for r in hg.relations:
        s, t = d.edges(etype=r, order="eid")
        assert torch.equal(s, hg[r].src) and torch.equal(t, hg[r].dst)
        torch.testing.assert_close(d.edges[r].data["feat"], hg.edata[r]["feat"])
    assert HeteroGraph.from_dgl(d).equal(hg)
    # and from a graph built in DGL, data under DGL's names
    g2 = dgl.heterograph({("a", "r", "b"): ([0, 2], [1, 1]), ("b", "q", "b"): ([0], [1])}, num_nodes_dict={"a": 3, "b": 2})
    g2.nodes["a"].data["h"] = torch.arange(3.0)
    g2.edges["q"].data["edge_weight"] = torch.tensor([0.5])
    back = HeteroGraph.from_dgl(g2)
    assert back.num_nodes("a") == 3 and back.num_nodes("b") == 2
    assert torch.equal(back.ndata["a"]["h"], torch.arange(3.0)) and back.edata["q"]["edge_weight"].item() == 0.5
    d2 = back.to_dgl()
    assert torch.equal(d2.edges["q"].data["edge_weight"], torch.tensor([0.5])) and d2.num_nodes("a") == 3


def test_pyg_round_trip_with_features():
    pytest.importorskip("torch_geometric")
    hg = shop()
    data = hg.to_pyg()
    assert set(data.node_types) == set(COUNTS) and len(data.edge_types) == 5
    for t, n in COUNTS.items():
        assert data[t].num_nodes == n and torch.equal(data[t].x, hg.ndata[t]["x"])
    for r in hg.relations:
        assert torch.equal(data[r].edge_index, hg[r].edge_index) and torch.equal(data[r].w, hg.edata[r]["w"])
    assert HeteroGraph.from_pyg(data).equal(hg)


def test_from_pyg_keeps_the_users_key_names():
    from_pyg = pytest.importorskip("torch_geometric.data")
    data = from_pyg.HeteroData()
    data["p"].x = torch.randn(3, 2)
    data["a"].num_nodes = 2
    data["a", "writes", "p"].edge_index = torch.tensor([[0, 1], [2, 2]])
    data["a", "writes", "p"].edge_attr = torch.randn(2, 4)
    hg = HeteroGraph.from_pyg(data)
    assert hg.num_nodes("p") == 3 and hg.num_nodes("a") == 2
    assert torch.equal(hg.edata["writes"]["edge_attr"], data["a", "writes", "p"].edge_attr)
    assert torch.equal(hg.ndata["p"]["x"], data["p"].x)


# ------------------------------------------------------------ subgraph, to_homogeneous
def test_subgraph_keeps_induced_edges_in_order_with_data():
    hg = shop()
    keep = {"user": [4, 0, 2], "item": torch.tensor([True, False, True, True])}  # tag: none kept
    sub, node_ids, edge_ids = hg.subgraph(keep)
    assert node_ids["user"].tolist() == [4, 0, 2] and node_ids["item"].tolist() == [0, 2, 3] and node_ids["tag"].numel() == 0
    assert sub.num_nodes("tag") == 0 and sub.num_edges("has") == 0 and sub.num_edges("tags") == 0
    for r in hg.relations:  # oracle: every edge with both ends kept, in the original order
        local_s = {int(v): i for i, v in enumerate(node_ids[r[0]])}
        local_d = {int(v): i for i, v in enumerate(node_ids[r[2]])}
        want = [(j, local_s[s], local_d[d]) for j, (s, d) in enumerate(zip(hg[r].src.tolist(), hg[r].dst.tolist()))
                if s in local_s and d in local_d]
        assert edge_ids[r].tolist() == [j for j, _, _ in want]
        assert sub[r].src.tolist() == [s for _, s, _ in want] and sub[r].dst.tolist() == [d for _, _, d in want]
        torch.testing.assert_close(sub.edata[r]["feat"], hg.edata[r]["feat"][edge_ids[r]])
    for t in COUNTS:
        torch.testing.assert_close(sub.ndata[t]["x"], hg.ndata[t]["x"][node_ids[t]])


def test_to_homogeneous_equals_dgl():
    dgl = pytest.importorskip("dgl")
    hg = shop()
    g, ntype, etype = hg.to_homogeneous(ndata=["x"], edata=["w"])
    d = dgl.to_homogeneous(hg.to_dgl(), ndata=["x"], edata=["w"])
    s, t = d.edges(order="eid")
    assert g.num_nodes == d.num_nodes() and torch.equal(g.src, s) and torch.equal(g.dst, t)
    assert torch.equal(ntype, d.ndata[dgl.NTYPE]) and torch.equal(etype, d.edata[dgl.ETYPE])
    torch.testing.assert_close(g.ndata["x"], d.ndata["x"])
    torch.testing.assert_close(g.edata["w"], d.edata["w"])


# ------------------------------------------------------------ MultiViewGraph as the one-type case
def test_multiview_graph_is_the_one_node_type_case():
    views = {"a": Graph([0, 1], [1, 2], 3, edata={"t": torch.tensor([5, 6])}), "b": Graph([2], [0], 3)}
    mvg = MultiViewGraph(views, {"b": torch.tensor([0.5])}, ndata={"x": torch.randn(3, 2)})
    assert isinstance(mvg, HeteroGraph) and mvg.ntypes == ("_N",)
    assert mvg.relations == (("_N", "a", "_N"), ("_N", "b", "_N"))
    assert mvg["a"] is mvg.view("a") and mvg.num_nodes == 3 and mvg.num_edges == 3
    assert HeteroGraph.num_nodes(mvg, "_N") == 3 and mvg.edata["a"]["t"].tolist() == [5, 6]
    assert mvg.view("a").srcdata["x"] is mvg.ndata["_N"]["x"]
    moved = mvg.to("meta")
    assert moved.ndata["_N"]["x"].device.type == "meta" and moved.edata["a"]["t"].device.type == "meta"


def test_multiview_graph_dgl_round_trip_with_data():
    pytest.importorskip("dgl")
    mvg = MultiViewGraph({"a": Graph([0, 1], [1, 2], 3, edata={"t": torch.tensor([5, 6])}), "b": Graph([2], [0], 3)},
                         ndata={"x": torch.arange(3.0)})
    back = MultiViewGraph.from_dgl(mvg.to_dgl())
    assert back.equal(mvg) and HeteroGraph.equal(back, mvg)


# ------------------------------------------------------------ HeteroConv vs DGL and PyG
class _FlatDGLGAT(torch.nn.Module):
    """DGL's GATConv returns [N, H, F']; HeteroGraphConv sums it with [N, F'] outputs, so flatten."""

    def __init__(self, conv: torch.nn.Module) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, g, x):
        return self.conv(g, x).flatten(1)


def our_convs(kind: str) -> dict:
    """One layer per relation; DGL's SAGEConv has no "sum"/"max", so its set uses GIN "max" there."""
    torch.manual_seed(0)
    return {
        "buys": SAGEConv(F_IN, F_OUT, "mean"),  # F_IN > F_OUT: the project-first path on a pair
        "tags": GINConv(torch.nn.Linear(F_IN, F_OUT)),
        "bought_by": GATConv(F_IN, F_OUT // 2, heads=2, add_self_loops=False),
        "follows": SAGEConv(F_IN, F_OUT, "mean" if kind == "dgl" else "sum"),  # the same-type relation
        "has": GINConv(torch.nn.Linear(F_IN, F_OUT), reduce="max") if kind == "dgl" else SAGEConv(F_IN, F_OUT, "max"),
    }


def randomize_(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    g = gen(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


# (our parameter, their parameter) names per layer: the same tensors under each library's naming
PARAM_NAMES = {
    "dgl": {
        SAGEConv: [("lin_l.weight", "fc_neigh.weight"), ("lin_l.bias", "fc_self.bias"), ("lin_r.weight", "fc_self.weight")],
        GINConv: [("nn.weight", "apply_func.weight"), ("nn.bias", "apply_func.bias")],
        GATConv: [("lin.weight", "conv.fc.weight"), ("att_src", "conv.attn_l"), ("att_dst", "conv.attn_r"), ("bias", "conv.bias")],
    },
    "pyg": {
        SAGEConv: [("lin_l.weight", "lin_l.weight"), ("lin_l.bias", "lin_l.bias"), ("lin_r.weight", "lin_r.weight")],
        GINConv: [("nn.weight", "nn.weight"), ("nn.bias", "nn.bias")],
        GATConv: [("lin.weight", "lin.weight"), ("att_src", "att_src"), ("att_dst", "att_dst"), ("bias", "bias")],
    },
}


def param_pairs(kind: str, ours: dict, theirs: dict) -> list:
    """(our parameter, their parameter) pairs over every relation's layer."""
    return [(m.get_parameter(a), theirs[name].get_parameter(b))
            for name, m in ours.items() for a, b in PARAM_NAMES[kind][type(m)]]


def run_and_grad(fn, x: dict, params: list) -> tuple[dict, list]:
    x = {t: v.clone().requires_grad_() for t, v in x.items()}
    out = fn(x)
    g = gen(9)
    loss = sum((out[t] * torch.randn(out[t].shape, generator=g, dtype=out[t].dtype)).sum() for t in sorted(out))
    grads = torch.autograd.grad(loss, [x[t] for t in sorted(x)] + params)
    return out, list(grads)


def assert_same_as_theirs(kind: str, hg: HeteroGraph, ours: HeteroConv, theirs: dict, their_fn) -> None:
    """Copy our weights into theirs, then compare outputs and the gradients of inputs and weights."""
    pairs = param_pairs(kind, dict(zip(ours.relations, ours.convs)), theirs)
    with torch.no_grad():
        for a, b in pairs:
            b.copy_(a.view(b.shape))
    x = {t: hg.ndata[t]["x"] for t in hg.ntypes}
    ours_out, ours_grads = run_and_grad(lambda x: ours(hg, x), x, [a for a, _ in pairs])
    want_out, want_grads = run_and_grad(their_fn, x, [b for _, b in pairs])
    assert set(ours_out) == set(want_out) == set(COUNTS)
    for t in COUNTS:
        torch.testing.assert_close(ours_out[t], want_out[t])
    for a, b in zip(ours_grads, want_grads):
        torch.testing.assert_close(a, b.view(a.shape))


@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "min", "stack"])
def test_hetero_conv_equals_dgl_heterographconv(reduce):
    pytest.importorskip("dgl")
    import dgl.nn as dglnn

    hg = shop()
    ours = randomize_(HeteroConv(our_convs("dgl"), reduce=reduce).double(), 1)
    theirs = {
        "buys": dglnn.SAGEConv(F_IN, F_OUT, "mean"),
        "tags": dglnn.GINConv(torch.nn.Linear(F_IN, F_OUT), "sum"),
        "bought_by": _FlatDGLGAT(dglnn.GATConv(F_IN, F_OUT // 2, num_heads=2, allow_zero_in_degree=True)),
        "follows": dglnn.SAGEConv(F_IN, F_OUT, "mean"),
        "has": dglnn.GINConv(torch.nn.Linear(F_IN, F_OUT), "max"),
    }
    hetero = dglnn.HeteroGraphConv(theirs, aggregate=reduce).double()
    dg = hg.to_dgl()
    assert_same_as_theirs("dgl", hg, ours, theirs, lambda x: hetero(dg, x))


@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "min"])
def test_hetero_conv_equals_pyg_heteroconv(reduce):
    pnn = pytest.importorskip("torch_geometric.nn")
    hg = shop()
    ours = randomize_(HeteroConv(our_convs("pyg"), reduce=reduce).double(), 2)
    theirs = {
        "buys": pnn.SAGEConv(F_IN, F_OUT, aggr="mean"),
        "tags": pnn.GINConv(torch.nn.Linear(F_IN, F_OUT)),
        "bought_by": pnn.GATConv(F_IN, F_OUT // 2, heads=2, add_self_loops=False),
        "follows": pnn.SAGEConv(F_IN, F_OUT, aggr="sum"),
        "has": pnn.SAGEConv(F_IN, F_OUT, aggr="max"),
    }
    hetero = pnn.HeteroConv({hg.canonical(k): v for k, v in theirs.items()}, aggr=reduce).double()
    eis = {r: hg[r].edge_index for r in hg.relations}
    assert_same_as_theirs("pyg", hg, ours, theirs, lambda x: hetero(x, eis))


def test_hetero_conv_on_a_multiview_graph_equals_per_view_sum():
    mvg = MultiViewGraph({"a": Graph([0, 1, 2], [1, 2, 0], 3), "b": Graph([2, 2], [0, 1], 3)})
    conv = HeteroConv({"a": SAGEConv(4, 2, "sum"), "b": GINConv(torch.nn.Linear(4, 2))}).double()
    x = torch.randn(3, 4, generator=gen(3), dtype=torch.float64)
    want = conv.convs[0](mvg.view("a"), x) + conv.convs[1](mvg.view("b"), x)
    torch.testing.assert_close(conv(mvg, {"_N": x})["_N"], want)


# ------------------------------------------------------------ bad input
@pytest.mark.parametrize("args,kwargs,exc,match", [
    (({}, {}), {}, ValueError, "at least one node type"),
    (([("a", 2)], {}), {}, TypeError, "num_nodes must be a mapping"),
    (({"a": -1}, {}), {}, ValueError, r"num_nodes\['a'\] must be >= 0, got -1"),
    (({"a": 2.0}, {}), {}, TypeError, r"num_nodes\['a'\] must be an int"),
    (({1: 2}, {}), {}, TypeError, "node types must be strings"),
    (({"a": 2}, {("a", "r"): ([0], [1])}), {}, TypeError, "triples of strings"),
    (({"a": 2}, {("a", "r", "b"): ([0], [1])}), {}, ValueError, r"destination type 'b', which is not one of the node types \['a'\]"),
    (({"a": 2}, {("c", "r", "a"): ([0], [1])}), {}, ValueError, "source type 'c'"),
    (({"a": 2}, {("a", "r", "a"): [0, 1, 2]}), {}, TypeError, r"must be a pair \(src, dst\)"),
    (({"a": 2, "b": 1}, {("a", "r", "b"): ([0], [1])}), {}, ValueError,
     r"edges\[\('a', 'r', 'b'\)\]: dst holds vertex id 1 but num_nodes is 1"),
    (({"a": 2, "b": 3}, {("a", "r", "b"): ([2], [0])}), {}, ValueError, r"src holds vertex id 2 but num_src_nodes is 2"),
    (({"a": 2}, {}), dict(ndata={"z": {}}), ValueError, "ndata names node type 'z'"),
    (({"a": 2}, {}), dict(ndata={"a": {"x": torch.zeros(3)}}), ValueError,
     r"ndata\['a'\]\['x'\] must have first dimension num_nodes\['a'\]=2, got shape \(3,\)"),
    (({"a": 2}, {("a", "r", "a"): ([0], [1])}), dict(edata={"r": {"w": torch.zeros(2)}}), ValueError,
     r"edata\[\('a', 'r', 'a'\)\]\['w'\] must have first dimension num_edges=1"),
    (({"a": 2}, {("a", "r", "a"): ([0], [1])}), dict(edata={"q": {}}), ValueError, "edata 'q' is not an edge type"),
    (({"a": 2}, {}), dict(num_dst_nodes={"a": 3}), ValueError, r"num_dst_nodes\['a'\]=3 exceeds num_nodes\['a'\]=2"),
    (({"a": 2, "b": 1}, {}), dict(num_dst_nodes={"a": 1}), ValueError, "num_dst_nodes must give a count for every node type"),
])
def test_hetero_graph_bad_input(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        HeteroGraph(*args, **kwargs)


def test_hetero_graph_unknown_types_and_relations():
    hg = HeteroGraph({"a": 2, "b": 2}, {("a", "r", "b"): ([0], [1]), ("b", "r", "a"): ([0], [1]), ("a", "s", "a"): ([0], [0])})
    with pytest.raises(ValueError, match=r"ntype must be one of the node types \['a', 'b'\], got 'c'"):
        hg.num_nodes("c")
    with pytest.raises(ValueError, match="ntype must be one of"):
        hg.ndata["c"]
    with pytest.raises(ValueError, match=r"relation 'r' names several relations .*; pass the \(src_type, edge_type, dst_type\) triple"):
        hg["r"]
    with pytest.raises(ValueError, match=r"relation \('a', 's', 'b'\) is not one of the relations"):
        hg[("a", "s", "b")]
    with pytest.raises(ValueError, match="relation 'q' is not an edge type of this graph"):
        hg.num_edges("q")
    with pytest.raises(TypeError, match="relation must be a .* triple or an edge-type name, got int"):
        hg[3]
    assert hg["s"] is hg[("a", "s", "a")]


@pytest.mark.parametrize("nodes,exc,match", [
    ({"c": [0]}, ValueError, "ntype must be one of the node types"),
    ({"a": [0, 2]}, IndexError, r"nodes\['a'\] must lie in \[0, 2\), got ids in \[0, 2\]"),
    ({"a": [1, 1]}, ValueError, r"nodes\['a'\] must not contain duplicate ids"),
    ({"a": torch.tensor([True])}, ValueError, r"a boolean mask nodes\['a'\] must have shape \[2\], got \(1,\)"),
    ({"a": [0.5]}, TypeError, r"nodes\['a'\] must be 1-D integer ids or a bool mask"),
    ([0, 1], TypeError, "nodes must be a mapping"),
])
def test_subgraph_bad_input(nodes, exc, match):
    hg = HeteroGraph({"a": 2, "b": 2}, {("a", "r", "b"): ([0], [1])})
    with pytest.raises(exc, match=match):
        hg.subgraph(nodes)


def test_block_only_operations_are_rejected():
    block = HeteroGraph({"a": 3}, {("a", "r", "a"): ([0, 2], [0, 0])}, num_dst_nodes={"a": 1},
                        ndata={"a": {"x": torch.arange(3)}})
    assert block.is_block and block["r"].is_bipartite and block.num_dst_nodes("a") == 1
    assert block["r"].srcdata["x"].tolist() == [0, 1, 2] and block["r"].dstdata["x"].tolist() == [0]
    for call in (lambda: block.subgraph({"a": [0]}), block.to_homogeneous, block.to_dgl, block.to_pyg):
        with pytest.raises(ValueError, match="got a block"):
            call()


def test_to_homogeneous_missing_data_name():
    hg = HeteroGraph({"a": 2, "b": 1}, {("a", "r", "b"): ([0], [0])}, ndata={"a": {"x": torch.zeros(2)}})
    with pytest.raises(ValueError, match=r"ndata name 'x' is missing on node types \['b'\]"):
        hg.to_homogeneous(ndata=["x"])
    with pytest.raises(ValueError, match=r"edata name 'w' is missing on relations"):
        hg.to_homogeneous(edata=["w"])


def test_hetero_conv_bad_input():
    with pytest.raises(ValueError, match="convs must be a non-empty mapping"):
        HeteroConv({})
    with pytest.raises(ValueError, match="reduce must be one of"):
        HeteroConv({"r": SAGEConv(2, 2)}, reduce="cat")
    with pytest.raises(TypeError, match=r"convs\['r'\] must be an nn.Module"):
        HeteroConv({"r": "sage"})
    with pytest.raises(TypeError, match="convs keys must be"):
        HeteroConv({("a", "r"): SAGEConv(2, 2)})
    hg = HeteroGraph({"a": 2, "b": 2}, {("a", "r", "b"): ([0], [1])})
    conv = HeteroConv({"r": SAGEConv(2, 2)})
    with pytest.raises(ValueError, match=r"x has no features for node type 'b'"):
        conv(hg, {"a": torch.zeros(2, 2)})
    with pytest.raises(TypeError, match="g must be a gnnkit.HeteroGraph, got Graph"):
        conv(Graph([0], [1], 2), {"a": torch.zeros(2, 2)})
    with pytest.raises(ValueError, match="relation 'q' is not an edge type"):
        HeteroConv({"q": SAGEConv(2, 2)})(hg, {"a": torch.zeros(2, 2), "b": torch.zeros(2, 2)})
    with pytest.raises(ValueError, match=r"x_dst must have num_nodes=2 rows, got shape \(3, 2\)"):
        SAGEConv(2, 2)(hg["r"], (torch.zeros(2, 2), torch.zeros(3, 2)))


# ------------------------------------------------------------ layers on a pair (x_src, x_dst)
@pytest.mark.parametrize("layer", [
    lambda: SAGEConv(5, 3), lambda: SAGEConv(5, 8), lambda: SAGEConv(5, 3, "max"), lambda: GINConv(torch.nn.Linear(5, 4)),
    lambda: GATConv(5, 2, heads=2, add_self_loops=False),
])
def test_layers_take_a_pair_as_the_block_convention(layer):
    block = Graph([0, 3, 4, 5, 1, 2, 5, 0], [0, 0, 1, 1, 1, 2, 2, 2], 3, num_src_nodes=6)
    x = torch.randn(6, 5, generator=gen(4))
    conv = layer()
    torch.testing.assert_close(conv(block, (x, x[:3])), conv(block, x))


def test_layers_reject_bad_pairs():
    g = Graph([0, 1], [1, 0], 2, num_src_nodes=3)
    with pytest.raises(ValueError, match="needs one vertex set; pass add_self_loops=False"):
        GATConv(2, 2)(Graph([0], [1], 2), (torch.zeros(2, 2), torch.zeros(2, 2)))
    with pytest.raises(ValueError, match=r"x_src must have num_src_nodes=3 rows, got shape \(2, 2\)"):
        GINConv(torch.nn.Linear(2, 2))(g, (torch.zeros(2, 2), torch.zeros(2, 2)))
    with pytest.raises(TypeError, match=r"x must be a tensor or a pair \(x_src, x_dst\) of tensors, got tuple"):
        SAGEConv(2, 2)(g, (torch.zeros(3, 2),))


def test_multiview_subgraph_keeps_views_weights_and_data():
    views = {"a": Graph([0, 1, 2, 3], [1, 2, 3, 0], 4, edata={"t": torch.arange(4)}), "b": Graph([3, 2], [2, 0], 4)}
    mvg = MultiViewGraph(views, {"b": torch.tensor([0.5, 0.25])}, ndata={"x": torch.arange(4.0)})
    sub, node_ids, edge_ids = mvg.subgraph([3, 2, 0])
    assert isinstance(sub, MultiViewGraph) and sub.names == ("a", "b") and node_ids["_N"].tolist() == [3, 2, 0]
    assert sub.view("a").src.tolist() == [1, 0] and sub.view("a").dst.tolist() == [0, 2]  # edges 2->3, 3->0
    assert sub.edata["a"]["t"].tolist() == [2, 3] and sub.edge_weight("b").tolist() == [0.5, 0.25]
    assert sub.ndata["_N"]["x"].tolist() == [3.0, 2.0, 0.0] and sub.edge_weight("a") is None


# ------------------------------------------------------------ properties on small random graphs
PROP_RELS = [("p", "cites", "p"), ("a", "writes", "p"), ("p", "written_by", "a"), ("v", "hosts", "p")]


@st.composite
def small_hetero(draw) -> HeteroGraph:
    counts = {t: draw(st.integers(0, 4)) for t in ("a", "p", "v")}
    edges, edata = {}, {}
    for r in PROP_RELS:
        ns, nd = counts[r[0]], counts[r[2]]
        e = draw(st.integers(0, 6)) if ns and nd else 0
        edges[r] = (draw(st.lists(st.integers(0, max(ns - 1, 0)), min_size=e, max_size=e)),
                    draw(st.lists(st.integers(0, max(nd - 1, 0)), min_size=e, max_size=e)))
        edata[r] = {"w": torch.arange(e, dtype=torch.float64)}
    seed = draw(st.integers(0, 2**16))
    ndata = {t: {"x": torch.randn(n, 3, generator=gen(seed), dtype=torch.float64)} for t, n in counts.items()}
    return HeteroGraph(counts, edges, ndata=ndata, edata=edata)


@settings(max_examples=25, deadline=None)
@given(small_hetero())
def test_dgl_and_pyg_round_trips_property(hg):
    pytest.importorskip("dgl")
    pytest.importorskip("torch_geometric")
    assert HeteroGraph.from_dgl(hg.to_dgl()).equal(hg)
    assert HeteroGraph.from_pyg(hg.to_pyg()).equal(hg)


def prop_conv() -> HeteroConv:
    torch.manual_seed(0)
    return HeteroConv({r: SAGEConv(3, 2, "sum") for r in PROP_RELS}, reduce="mean").double()


@settings(max_examples=25, deadline=None)
@given(small_hetero(), st.integers(0, 2**16))
def test_hetero_conv_node_permutation_equivariance_and_edge_permutation_invariance(hg, seed):
    conv = prop_conv()
    g = gen(seed)
    perm = {t: torch.randperm(hg.num_nodes(t), generator=g) for t in hg.ntypes}  # new vertex i is old perm[i]
    inv = {t: torch.argsort(p) for t, p in perm.items()}  # old vertex j is new inv[j]
    edges = {}
    for r in hg.relations:
        order = torch.randperm(hg.num_edges(r), generator=g)  # and shuffle the edges
        edges[r] = (inv[r[0]][hg[r].src[order]], inv[r[2]][hg[r].dst[order]])
    permuted = HeteroGraph({t: hg.num_nodes(t) for t in hg.ntypes}, edges)
    x = {t: hg.ndata[t]["x"] for t in hg.ntypes}
    want = conv(hg, x)
    got = conv(permuted, {t: v[perm[t]] for t, v in x.items()})
    assert set(got) == set(want)
    for t in want:
        torch.testing.assert_close(got[t], want[t][perm[t]])
