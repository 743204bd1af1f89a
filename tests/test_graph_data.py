"""Graph data (ndata/edata/srcdata) through every transform, sampler, partition and converter."""
import io
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gnnkit import Graph
from gnnkit.data.sampling import ClusterGCNSampler, DataLoader, NeighborSampler
from gnnkit.scale.partition import Part, from_assignment, partition

from conftest import random_graph

PROPERTY = settings(max_examples=30, deadline=None)


def with_data(g: Graph, seed: int = 0) -> Graph:
    """``g`` carrying distinct rows: ndata "x" [N, 2] float64 and "id" [N]; edata "w" [E] and "eid" [E]."""
    gen = torch.Generator().manual_seed(seed)
    n, e = g.num_nodes, g.num_edges
    return Graph(g.src, g.dst, n, ndata={"x": torch.randperm(2 * n, generator=gen).double().view(n, 2),
                                         "id": torch.arange(n)},
                 edata={"w": torch.randperm(e, generator=gen).double() + 0.5, "eid": torch.arange(e)})


@st.composite
def graphs(draw, max_nodes: int = 8, max_edges: int = 16, min_nodes: int = 1) -> Graph:
    """A small random graph (duplicates and self-loops allowed) with distinct data rows."""
    n = draw(st.integers(min_nodes, max_nodes))
    e = draw(st.integers(0, max_edges))
    src = draw(st.lists(st.integers(0, n - 1), min_size=e, max_size=e))
    dst = draw(st.lists(st.integers(0, n - 1), min_size=e, max_size=e))
    return with_data(Graph(src, dst, n), seed=draw(st.integers(0, 2**16)))


def edges(g: Graph) -> list[tuple[int, int]]:
    return list(zip(g.src.tolist(), g.dst.tolist()))


def assert_rows(data, source, index) -> None:
    """Every value of ``data`` equals rows ``index`` of the same name in ``source``."""
    assert sorted(data) == sorted(source)
    for k in source:
        torch.testing.assert_close(data[k], source[k][index], rtol=0, atol=0)


# ------------------------------------------------------------------ transforms: hand-computed
def test_subgraph_hand_computed():
    g = Graph([0, 1, 2, 3], [1, 2, 3, 0], 4, ndata={"x": torch.tensor([10.0, 11.0, 12.0, 13.0])},
              edata={"w": torch.tensor([0.25, 0.5, 0.75, 1.0])})
    sub, nodes, eids = g.subgraph([2, 1])
    assert sub.ndata["x"].tolist() == [12.0, 11.0] and eids.tolist() == [1] and sub.edata["w"].tolist() == [0.5]
    assert edges(sub) == [(1, 0)]
    sub.ndata["x"][0] = -1.0  # a gathered copy, not a view of g's data
    assert g.ndata["x"][2] == 12.0


def test_add_self_loops_fill_per_key_hand_computed():
    g = Graph([0, 1, 1], [1, 1, 2], 3, edata={"w": torch.tensor([1.0, 5.0, 2.0]), "c": torch.tensor([[1, 2], [3, 4], [5, 6]])},
              ndata={"x": torch.tensor([7.0, 8.0, 9.0])})
    h = g.add_self_loops(fill_value={"w": 0.5, "c": -1})
    assert edges(h) == [(0, 0), (0, 1), (1, 1), (1, 1), (1, 2), (2, 2)]
    assert h.edata["w"].tolist() == [0.5, 1.0, 5.0, 0.5, 2.0, 0.5]
    assert h.edata["c"].tolist() == [[-1, -1], [1, 2], [3, 4], [-1, -1], [5, 6], [-1, -1]] and h.edata["c"].dtype == torch.int64
    assert torch.equal(h.ndata["x"], g.ndata["x"])
    m = g.add_self_loops(fill_value=0.0, only_missing=True)  # the existing loop (1, 1) keeps its rows
    assert edges(m) == [(0, 0), (0, 1), (1, 1), (1, 2), (2, 2)]
    assert m.edata["w"].tolist() == [0.0, 1.0, 5.0, 2.0, 0.0] and m.edata["c"].tolist() == [[0, 0], [1, 2], [3, 4], [5, 6], [0, 0]]
    d = g.add_self_loops(fill_value={"w": 3.0})  # a name left out gets 1
    assert d.edata["c"][0].tolist() == [1, 1] and d.edata["w"][0] == 3.0
    h2, hw = g.add_self_loops(torch.tensor([1.0, 2.0, 3.0]), fill_value={"edge_weight": 9.0, "w": 0.0})
    assert hw.tolist() == [9.0, 1.0, 2.0, 9.0, 3.0, 9.0] and h2.edata["w"][0] == 0.0


def test_add_self_loops_cache_follows_the_data():
    g = Graph([0], [1], 2, edata={"w": torch.tensor([2.0])})
    h = g.add_self_loops()
    assert g.add_self_loops() is h  # the layers' hot path: cached while the data are the same tensors
    with pytest.raises(TypeError, match="fill_value must be a number, got Tensor"):
        g.add_self_loops(fill_value=torch.tensor(1.0))
    assert g.add_self_loops(fill_value=0.0) is not h and g.add_self_loops(fill_value=0.0).edata["w"].tolist() == [0.0, 2.0, 0.0]
    g.edata["w"] = torch.tensor([4.0])
    assert g.add_self_loops().edata["w"].tolist() == [1.0, 4.0, 1.0]
    g.ndata["x"] = torch.ones(2)
    assert "x" in g.add_self_loops().ndata


@pytest.mark.parametrize("reduce, expected", [("sum", [9.0, 3.0, 3.0]), ("mean", [4.5, 1.5, 3.0]),
                                              ("max", [5.0, 2.0, 3.0]), ("min", [4.0, 1.0, 3.0])])
def test_coalesce_reduces_edata(reduce, expected):
    g = Graph([0, 0, 1, 2, 2], [1, 1, 1, 0, 0], 4, edata={"w": torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])})
    c = g.coalesce(reduce=reduce)
    assert edges(c) == [(2, 0), (0, 1), (1, 1)] and c.edata["w"].tolist() == expected
    _, explicit = g.coalesce(g.edata["w"], reduce)  # the tensor argument and edata agree
    assert torch.equal(explicit, c.edata["w"])


def test_coalesce_reduce_per_key():
    g = Graph([0, 0, 1], [1, 1, 1], 2, edata={"w": torch.tensor([1.0, 3.0, 5.0]), "mask": torch.tensor([True, False, False]),
                                               "cnt": torch.tensor([1, 1, 1])})
    c = g.coalesce(reduce={"w": "mean", "mask": "max"})  # "cnt" falls back to sum
    assert c.edata["w"].tolist() == [2.0, 5.0] and c.edata["mask"].tolist() == [True, False] and c.edata["cnt"].tolist() == [2, 1]


def test_to_undirected_merges_reversed_copies():
    g = Graph([0, 1, 2], [1, 0, 2], 3, edata={"w": torch.tensor([1.0, 10.0, 4.0])})
    u = g.to_undirected()
    assert edges(u) == [(1, 0), (0, 1), (2, 2)] and u.edata["w"].tolist() == [11.0, 11.0, 8.0]
    assert g.to_undirected(reduce="max").edata["w"].tolist() == [10.0, 10.0, 4.0]


def test_remove_self_loops_and_sort_by_dst_keep_rows():
    g = Graph([2, 1, 0], [0, 1, 2], 3, edata={"w": torch.tensor([1.0, 2.0, 3.0])}, ndata={"x": torch.arange(3)})
    r = g.remove_self_loops()
    assert r.edata["w"].tolist() == [1.0, 3.0] and torch.equal(r.ndata["x"], g.ndata["x"])
    s, w = g.sort_by_dst(torch.tensor([7, 8, 9]))
    assert edges(s) == [(2, 0), (1, 1), (0, 2)] and s.edata["w"].tolist() == [1.0, 2.0, 3.0] and w.tolist() == [7, 8, 9]
    s = Graph([0, 1], [1, 0], 2, edata={"w": torch.tensor([1.0, 2.0])}).sort_by_dst()
    assert s.edata["w"].tolist() == [2.0, 1.0]


def test_reverse_shares_data_and_swaps_sides():
    g = with_data(random_graph(5, 7, seed=1))
    r = g.reverse()
    assert r.edata is g.edata and r.ndata is g.ndata  # no copy on the backward pass
    assert torch.equal(r.src, g.dst) and torch.equal(r.edata["w"], g.edata["w"])
    b = Graph([0, 4], [0, 1], 2, num_src_nodes=5, ndata={"y": torch.tensor([1, 2])}, srcdata={"x": torch.arange(5.0)})
    rb = b.reverse()
    assert rb.ndata is b.srcdata and rb.srcdata is b.ndata and rb.ndata["x"].shape == (5,)


def test_to_device_moves_all_data():
    b = Graph([4], [0], 2, num_src_nodes=5, ndata={"y": torch.zeros(2)}, srcdata={"x": torch.zeros(5, 3)},
              edata={"w": torch.ones(1)})
    m = b.to("meta")  # a device every machine has
    assert m.ndata["y"].device.type == m.srcdata["x"].device.type == m.edata["w"].device.type == "meta"
    assert m.srcdata["x"].shape == (5, 3)
    sq = with_data(random_graph(3, 4)).to("meta")
    assert sq.srcdata is sq.ndata and sq.ndata["x"].device.type == "meta"


def test_batch_and_unbatch_hand_computed():
    a = Graph([0], [1], 2, ndata={"x": torch.tensor([1.0, 2.0])}, edata={"w": torch.tensor([5.0])})
    b = Graph([0, 0], [0, 0], 1, ndata={"x": torch.tensor([3.0])}, edata={"w": torch.tensor([6.0, 7.0])})
    bg = Graph.batch([a, b])
    assert bg.ndata["x"].tolist() == [1.0, 2.0, 3.0] and bg.edata["w"].tolist() == [5.0, 6.0, 7.0]
    back = bg.unbatch()
    assert back[0].equal(a) and back[1].equal(b)
    assert not back[1].equal(Graph([0, 0], [0, 0], 1, ndata={"x": torch.tensor([4.0])}, edata={"w": torch.tensor([6.0, 7.0])}))


@pytest.mark.parametrize("other, match", [
    (Graph([0], [0], 1, ndata={"z": torch.zeros(1)}, edata={"w": torch.zeros(1)}), r"graphs\[1\].ndata lacks key 'x'"),
    (Graph([0], [0], 1, ndata={"x": torch.zeros(1, 2)}, edata={"w": torch.zeros(1)}),
     r"graphs\[1\].ndata\['x'\] has trailing shape \(2,\)"),
    (Graph([0], [0], 1, ndata={"x": torch.zeros(1)}, edata={"w": torch.zeros(1), "v": torch.zeros(1)}),
     r"graphs\[1\].edata has an extra key 'v'"),
    (Graph([0], [0], 1, ndata={"x": torch.zeros(1)}, edata={"w": torch.zeros(1, dtype=torch.int64)}),
     r"graphs\[1\].edata\['w'\] has trailing shape \(\) and dtype torch.int64"),
])
def test_batch_rejects_mismatched_data(other, match):
    first = Graph([0], [0], 1, ndata={"x": torch.zeros(1)}, edata={"w": torch.zeros(1)})
    with pytest.raises(ValueError, match=match):
        Graph.batch([first, other])


def test_transform_option_errors():
    g = Graph([0, 0], [1, 1], 2, edata={"w": torch.tensor([1.0, 2.0]), "m": torch.tensor([True, False])})
    with pytest.raises(ValueError, match=r"fill_value names \['v'\], which the graph does not carry"):
        g.add_self_loops(fill_value={"v": 0.0})
    with pytest.raises(TypeError, match=r"fill_value\['w'\] must be a number, got str"):
        g.add_self_loops(fill_value={"w": "zero"})
    with pytest.raises(TypeError, match="fill_value must be a number, got NoneType"):
        g.add_self_loops(fill_value=None)
    with pytest.raises(ValueError, match=r"reduce\['w'\] must be 'sum', 'mean', 'max' or 'min', got 'prod'"):
        g.coalesce(reduce={"w": "prod"})
    with pytest.raises(ValueError, match=r"reduce names \['edge_weight'\], which the graph does not carry"):
        g.coalesce(reduce={"edge_weight": "sum"})  # only with an edge_weight argument
    with pytest.raises(TypeError, match=r"reduce 'mean' needs numbers, but edata\['m'\] is bool"):
        g.coalesce(reduce="mean")
    with pytest.raises(ValueError, match="a block's destinations are its first sources"):
        Graph.block([0], [0], 3, 2)


def test_edge_attr_keyword_is_deprecated():
    g = Graph([0, 0], [1, 1], 2)
    with pytest.warns(DeprecationWarning, match=r"coalesce\(edge_attr=...\) is deprecated; pass edge_weight"):
        _, w = g.coalesce(edge_attr=torch.tensor([1.0, 2.0]))
    assert w.tolist() == [3.0]
    with pytest.warns(DeprecationWarning, match="add_self_loops"):
        g.add_self_loops(edge_attr=torch.ones(2))
    with pytest.warns(DeprecationWarning, match="sort_by_dst"), pytest.raises(TypeError, match="both edge_weight and edge_attr"):
        g.sort_by_dst(torch.ones(2), edge_attr=torch.ones(2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g.coalesce(edge_weight=torch.ones(2))  # the new name does not warn


# ------------------------------------------------------------------ transforms: properties
@PROPERTY
@given(graphs(), st.data())
def test_subgraph_rows_follow_the_ids(g, data):
    nodes = data.draw(st.lists(st.integers(0, g.num_nodes - 1), unique=True, max_size=g.num_nodes))
    sub, node_ids, edge_ids = g.subgraph(nodes)
    assert_rows(sub.ndata, g.ndata, node_ids)
    assert_rows(sub.edata, g.edata, edge_ids)
    assert torch.equal(node_ids[sub.src], g.src[edge_ids]) and torch.equal(node_ids[sub.dst], g.dst[edge_ids])


@PROPERTY
@given(st.lists(graphs(max_nodes=5, max_edges=6), min_size=1, max_size=4))
def test_batch_unbatch_round_trip(gs):
    bg = Graph.batch(gs)
    offsets = torch.cumsum(bg.batch_num_nodes, 0) - bg.batch_num_nodes
    node_of = torch.cat([torch.arange(g.num_nodes) for g in gs])  # [N] id inside its own graph
    assert torch.equal(bg.ndata["id"], node_of) and torch.equal(bg.ndata["x"], torch.cat([g.ndata["x"] for g in gs]))
    assert torch.equal(bg.edata["eid"], torch.cat([torch.arange(g.num_edges) for g in gs]))
    assert torch.equal(bg.ndata["id"] + torch.repeat_interleave(offsets, bg.batch_num_nodes), torch.arange(bg.num_nodes))
    back = bg.unbatch()
    assert len(back) == len(gs) and all(a.equal(b) for a, b in zip(back, gs))
    assert Graph.batch(back).equal(bg)


def _merged(g: Graph, name: str, reduce: str, undirected: bool = False) -> dict:
    """Reference: ``{(src, dst): reduce over the rows of its edges}`` in plain Python."""
    groups: dict = {}
    for (s, d), v in zip(edges(g), g.edata[name].tolist()):
        groups.setdefault((s, d), []).append(v)
        if undirected:
            groups.setdefault((d, s), []).append(v)
    fn = {"sum": sum, "max": max, "min": min, "mean": lambda vs: sum(vs) / len(vs)}[reduce]
    return {k: fn(vs) for k, vs in groups.items()}


@PROPERTY
@given(graphs(), st.sampled_from(["sum", "mean", "max", "min"]))
def test_coalesce_matches_reference(g, reduce):
    c = g.coalesce(reduce={"w": reduce, "eid": "max"})
    ref = _merged(g, "w", reduce)
    assert edges(c) == sorted(ref, key=lambda e: (e[1], e[0]))
    torch.testing.assert_close(c.edata["w"], torch.tensor([ref[e] for e in edges(c)], dtype=torch.float64))
    assert c.edata["eid"].tolist() == [_merged(g, "eid", "max")[e] for e in edges(c)]
    assert torch.equal(c.ndata["x"], g.ndata["x"])


@PROPERTY
@given(graphs(), st.sampled_from(["sum", "max"]))
def test_to_undirected_matches_reference(g, reduce):
    u = g.to_undirected(reduce=reduce)
    ref = _merged(g, "w", reduce, undirected=True)
    assert set(edges(u)) == set(ref) and len(ref) == u.num_edges
    torch.testing.assert_close(u.edata["w"], torch.tensor([ref[e] for e in edges(u)], dtype=torch.float64))


@PROPERTY
@given(graphs(), st.floats(-3, 3), st.booleans())
def test_add_self_loops_matches_reference(g, fill, only_missing):
    h = g.add_self_loops(fill_value=fill, only_missing=only_missing)
    loops_of = {v: [w for (s, d), w in zip(edges(g), g.edata["w"].tolist()) if s == d == v] for v in range(g.num_nodes)}
    rows = [(d, s, w) for (s, d), w in zip(edges(g), g.edata["w"].tolist()) if not (only_missing and s == d)]
    rows += [(v, v, None) for v in range(g.num_nodes)]
    expected = sorted(rows, key=lambda r: (r[0], r[1]))  # stable: the added loop after a vertex's own
    assert [(d, s) for d, s, _ in expected] == [(d, s) for s, d in edges(h)]
    for (d, s, w), got in zip(expected, h.edata["w"].tolist()):
        if w is not None:
            assert got == w
        elif only_missing and loops_of[s]:
            assert got in loops_of[s]  # which duplicate loop survives is unspecified (as in PyG)
        else:
            assert got == pytest.approx(fill)
    assert torch.equal(h.ndata["x"], g.ndata["x"])


# ------------------------------------------------------------------ DGL / PyG as references for the transforms
def test_subgraph_and_self_loops_match_dgl():
    dgl = pytest.importorskip("dgl")
    g = with_data(random_graph(9, 30, seed=3))
    d = g.to_dgl()
    nodes = torch.tensor([7, 2, 5, 0])
    sub, node_ids, edge_ids = g.subgraph(nodes)
    ds = dgl.node_subgraph(d, nodes)
    ours = sorted(zip(node_ids[sub.src].tolist(), node_ids[sub.dst].tolist(), sub.edata["w"].tolist()))
    s, t = ds.edges()
    theirs = sorted(zip(ds.ndata[dgl.NID][s].tolist(), ds.ndata[dgl.NID][t].tolist(), ds.edata["w"].tolist()))
    assert ours == theirs
    assert dict(zip(node_ids.tolist(), sub.ndata["x"].tolist())) == dict(zip(ds.ndata[dgl.NID].tolist(), ds.ndata["x"].tolist()))
    h = g.add_self_loops(fill_value=2.0)
    dl = dgl.add_self_loop(d, edge_feat_names=["w"], fill_data=2.0)
    s, t = dl.edges()
    assert sorted(zip(h.src.tolist(), h.dst.tolist(), h.edata["w"].tolist())) == sorted(
        zip(s.tolist(), t.tolist(), dl.edata["w"].tolist()))


def test_batch_matches_dgl():
    dgl = pytest.importorskip("dgl")
    gs = [with_data(random_graph(n, e, seed=n)) for n, e in ((3, 4), (1, 0), (4, 6))]
    ours, theirs = Graph.batch(gs), dgl.batch([g.to_dgl() for g in gs])
    assert Graph.from_dgl(theirs).equal(Graph(ours.src, ours.dst, ours.num_nodes, ndata=dict(ours.ndata), edata=dict(ours.edata)))


def test_coalesce_and_to_undirected_match_pyg():
    tg = pytest.importorskip("torch_geometric.utils")
    g = with_data(random_graph(6, 40, seed=5))
    for reduce in ("sum", "mean", "max"):
        ei, pw = tg.coalesce(g.edge_index, g.edata["w"], num_nodes=6, reduce=reduce)
        c = g.coalesce(reduce=reduce)
        assert sorted(zip(*ei.tolist(), pw.tolist())) == sorted(zip(c.src.tolist(), c.dst.tolist(), c.edata["w"].tolist()))
    ei, pw = tg.to_undirected(g.edge_index, g.edata["w"], num_nodes=6, reduce="sum")
    u = g.to_undirected()
    mine = {e: w for e, w in zip(edges(u), u.edata["w"])}
    theirs = {e: w for e, w in zip(zip(*ei.tolist()), pw)}
    assert mine.keys() == theirs.keys()
    for e in mine:
        torch.testing.assert_close(mine[e], theirs[e])


# ------------------------------------------------------------------ sampling
def _check_minibatch(g: Graph, batch) -> None:
    for layer, block in enumerate(batch.blocks):
        assert_rows(block.srcdata, g.ndata, batch.src_nodes(layer))
        assert_rows(block.dstdata, g.ndata, batch.dst_nodes(layer))
        assert_rows(block.edata, g.edata, batch.edge_ids[layer])
    assert_rows(batch.input_data, g.ndata, batch.input_nodes)
    assert_rows(batch.seed_data, g.ndata, batch.seeds)


@PROPERTY
@given(graphs(min_nodes=2), st.lists(st.integers(1, 3), min_size=1, max_size=3), st.data())
def test_sampled_blocks_carry_rows_of_their_vertices(g, fanouts, data):
    seeds = data.draw(st.lists(st.integers(0, g.num_nodes - 1), unique=True, min_size=1, max_size=g.num_nodes))
    batch = NeighborSampler(g, fanouts).sample(seeds, generator=0)
    _check_minibatch(g, batch)


def test_sampled_features_are_gathered_once_per_batch():
    g = with_data(random_graph(40, 200, seed=2))
    batch = NeighborSampler(g, [3, 3, 3]).sample(torch.arange(0, 40, 7), generator=1)
    ptr = batch.input_data["x"].data_ptr()
    assert all(b.srcdata["x"].data_ptr() == ptr and b.dstdata["x"].data_ptr() == ptr for b in batch.blocks)  # views
    plain = NeighborSampler(random_graph(40, 200, seed=2), [3, 3, 3]).sample(torch.arange(0, 40, 7), generator=1)
    assert all(len(b.srcdata) == len(b.edata) == 0 for b in plain.blocks)
    assert torch.equal(plain.input_nodes, batch.input_nodes)  # data do not change the draw


def test_from_csr_carries_data_and_checks_it():
    g = with_data(random_graph(30, 90, seed=4))
    csr = g.csr_in()
    s = NeighborSampler.from_csr(csr.indptr, csr.indices, [2, 2], eid=csr.eid, ndata=dict(g.ndata),
                                 edata={"w": g.edata["w"].numpy()})
    batch = s.sample([1, 5, 9], generator=3)
    assert_rows(batch.input_data, g.ndata, batch.input_nodes)
    torch.testing.assert_close(batch.blocks[0].edata["w"], g.edata["w"][batch.edge_ids[0]])
    with pytest.raises(ValueError, match=r"ndata\['x'\] must have first dimension num_nodes=30, got shape \(29,\)"):
        NeighborSampler.from_csr(csr.indptr, csr.indices, [2], ndata={"x": torch.zeros(29)})
    with pytest.raises(ValueError, match=r"edata\['w'\] must have first dimension num_edges=90"):
        NeighborSampler.from_csr(csr.indptr, csr.indices, [2], edata={"w": torch.zeros(3)})


@pytest.mark.parametrize("num_workers", [0, 1])
def test_dataloader_batches_carry_data(num_workers):
    g = with_data(random_graph(50, 200, seed=6))
    loader = DataLoader(NeighborSampler(g, [3, 2]), torch.arange(50), batch_size=20, num_workers=num_workers)
    batches = list(loader)
    assert len(batches) == 3
    for batch in batches:
        _check_minibatch(g, batch)
    moved = batches[0].to("meta")
    assert moved.input_data["x"].device.type == "meta" and moved.blocks[1].edata["w"].device.type == "meta"


def test_sampled_blocks_match_dgl_to_block_data():
    dgl = pytest.importorskip("dgl")
    g = with_data(random_graph(20, 80, seed=8))
    batch = NeighborSampler(g, [-1]).sample([3, 11], generator=0)  # all in-edges: the same edges as DGL
    frontier = dgl.in_subgraph(g.to_dgl(), torch.tensor([3, 11]))
    block = dgl.to_block(frontier, torch.tensor([3, 11]))
    ours = Graph.from_dgl(block)
    assert sorted(ours.srcdata["id"].tolist()) == sorted(batch.blocks[0].srcdata["id"].tolist())
    assert torch.equal(ours.dstdata["x"], batch.seed_data["x"])
    assert sorted(ours.edata["w"].tolist()) == sorted(batch.blocks[0].edata["w"].tolist())


@PROPERTY
@given(graphs(min_nodes=3), st.data())
def test_cluster_batches_carry_data(g, data):
    assignment = data.draw(st.lists(st.integers(0, 2), min_size=g.num_nodes, max_size=g.num_nodes))
    sampler = ClusterGCNSampler(g, 3, assignment=assignment)
    parts = data.draw(st.lists(st.integers(0, 2), unique=True, min_size=1, max_size=3))
    cb = sampler.sample(parts)
    assert_rows(cb.graph.ndata, g.ndata, cb.node_ids)
    assert_rows(cb.graph.edata, g.edata, cb.edge_ids)


# ------------------------------------------------------------------ partitions
@PROPERTY
@given(graphs(min_nodes=2), st.data())
def test_partition_parts_carry_data(g, data):
    k = data.draw(st.integers(1, min(3, g.num_nodes)))
    assignment = torch.tensor(data.draw(st.permutations(list(range(k)) + data.draw(
        st.lists(st.integers(0, k - 1), min_size=g.num_nodes - k, max_size=g.num_nodes - k)))))
    parts = from_assignment(g, assignment, k)
    for part in parts:
        assert_rows(part.graph.srcdata, g.ndata, part.local_to_global)
        assert_rows(part.graph.ndata, g.ndata, part.owned)
        assert_rows(part.graph.edata, g.edata, part.edge_ids)
        inner, inner_ids = part.inner()
        assert_rows(inner.ndata, g.ndata, part.owned)
        assert_rows(inner.edata, g.edata, inner_ids)
    moved = parts.reorder(g)
    assert_rows(moved.ndata, g.ndata, parts.permutation)
    assert torch.equal(moved.edata["w"], g.edata["w"])


def test_partition_local_features_give_the_full_graph_layer():
    from gnnkit.nn import SAGEConv

    g = random_graph(30, 120, seed=9)
    g.ndata["x"] = torch.randn(30, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    conv = SAGEConv(4, 3).double()
    full = conv(g, g.ndata["x"])
    for part in partition(g, 3, method="random"):
        torch.testing.assert_close(conv(part.graph, part.graph.srcdata["x"]), full[part.owned])


def test_part_state_dict_keeps_data():
    g = with_data(random_graph(12, 40, seed=10))
    part = partition(g, 2, method="contiguous")[1]
    buf = io.BytesIO()
    torch.save(part.state_dict(), buf)
    buf.seek(0)
    back = Part.from_state_dict(torch.load(buf, weights_only=True))
    assert back.graph.equal(part.graph)


# ------------------------------------------------------------------ converters
def test_dgl_round_trip_with_data():
    dgl = pytest.importorskip("dgl")
    g = with_data(random_graph(6, 9, seed=11))
    d = g.to_dgl()
    assert torch.equal(d.ndata["x"], g.ndata["x"]) and torch.equal(d.edata["w"], g.edata["w"])
    assert Graph.from_dgl(d).equal(g)
    native = dgl.graph((torch.tensor([1, 2]), torch.tensor([0, 0])), num_nodes=3)
    native.ndata["feat"] = torch.ones(3, 2)
    native.edata["e"] = torch.tensor([[1.0], [2.0]])
    back = Graph.from_dgl(native)
    assert sorted(back.ndata) == ["feat"] and back.edata["e"].tolist() == [[1.0], [2.0]]


def test_dgl_block_round_trip():
    pytest.importorskip("dgl")
    b = Graph.block([0, 3, 4], [0, 1, 1], 2, 5, srcdata={"x": torch.arange(5.0)}, edata={"w": torch.tensor([1, 2, 3])})
    d = b.to_dgl()
    assert d.is_block and d.num_src_nodes() == 5 and torch.equal(d.dstdata["x"], torch.tensor([0.0, 1.0]))
    assert Graph.from_dgl(d).equal(b)


def test_pyg_data_attributes_both_ways():
    pytest.importorskip("torch_geometric")
    from torch_geometric.data import Data

    x, y, ea = torch.randn(4, 3), torch.tensor([0, 1, 1, 0]), torch.randn(3, 2)
    data = Data(x=x, y=y, edge_index=torch.tensor([[0, 1, 2], [1, 2, 3]]), edge_attr=ea, edge_weight=torch.ones(3),
                graph_label=torch.tensor([1]), name="toy")
    g = Graph.from_pyg(data)
    assert sorted(g.ndata) == ["x", "y"] and sorted(g.edata) == ["edge_attr", "edge_weight"]  # graph-level and str ignored
    assert torch.equal(g.ndata["x"], x) and torch.equal(g.edata["edge_attr"], ea)
    back = g.to_pyg()
    assert torch.equal(back.y, y) and torch.equal(back.edge_attr, ea) and back.num_nodes == 4
    square = Data(edge_index=torch.tensor([[0, 1], [1, 0]]), num_nodes=2, edge_w=torch.ones(2), h=torch.zeros(2))
    sg = Graph.from_pyg(square)  # as many vertices as edges: a name with "edge" decides
    assert list(sg.edata) == ["edge_w"] and list(sg.ndata) == ["h"]


def test_to_pyg_errors():
    pytest.importorskip("torch_geometric")
    g = Graph([0], [1], 2, ndata={"v": torch.zeros(2)}, edata={"v": torch.zeros(1)})
    with pytest.raises(ValueError, match="to_pyg: edata key 'v' is already a Data attribute"):
        g.to_pyg()
    with pytest.raises(ValueError, match="to_pyg: attrs key 'x' is already a Data attribute"):
        Graph([0], [1], 2, ndata={"x": torch.zeros(2)}).to_pyg(x=torch.ones(2))
    with pytest.raises(ValueError, match=r"to_pyg keeps one vertex set; this bipartite graph has srcdata \['h'\]"):
        Graph([0], [0], 1, num_src_nodes=2, srcdata={"h": torch.zeros(2)}).to_pyg()


def test_networkx_attributes_both_ways():
    nx = pytest.importorskip("networkx")
    m = nx.Graph()
    m.add_node("a", x=[1.0, 2.0], club="red", n=1)
    m.add_node("b", x=[3.0, 4.0], club="blue", n=2)
    m.add_node("c", x=[5.0, 6.0], club="red", n=3)
    m.add_edge("a", "b", weight=0.5)
    m.add_edge("c", "c", weight=2.0)
    g, nodes = Graph.from_networkx(m)
    assert nodes == ["a", "b", "c"] and sorted(g.ndata) == ["n", "x"]  # "club" (strings) is left out
    assert g.ndata["x"].dtype == torch.float32 and g.ndata["n"].tolist() == [1, 2, 3]
    assert edges(g) == [(0, 1), (2, 2), (1, 0)] and g.edata["weight"].tolist() == [0.5, 2.0, 0.5]
    back = g.to_networkx()
    assert back.nodes[1]["x"] == [3.0, 4.0] and back.edges[1, 0, 0]["weight"] == 0.5
    again, _ = Graph.from_networkx(back)  # networkx lists edges by source vertex
    assert all(torch.equal(again.ndata[k], g.ndata[k]) for k in ("n", "x"))
    assert sorted(zip(edges(again), again.edata["weight"].tolist())) == sorted(zip(edges(g), g.edata["weight"].tolist()))
    arrays = nx.DiGraph()
    arrays.add_node(0, v=np.array([1, 2], dtype=np.int16))
    arrays.add_node(1, v=np.array([3, 4], dtype=np.int16))
    assert Graph.from_networkx(arrays)[0].ndata["v"].dtype == torch.int16


def test_networkx_attribute_errors():
    nx = pytest.importorskip("networkx")
    ragged = nx.DiGraph()
    ragged.add_node(0, x=[1.0, 2.0])
    ragged.add_node(1, x=[1.0])
    with pytest.raises(ValueError, match="vertex attribute 'x' must be a number or an equal-length sequence"):
        Graph.from_networkx(ragged)
    missing = nx.DiGraph()
    missing.add_edge(0, 1, w=1.0)
    missing.add_edge(1, 2)
    with pytest.raises(ValueError, match=r"edge attribute 'w' is missing on 1 of 2 edges \(first at edge index 1\)"):
        Graph.from_networkx(missing)


def test_scipy_values_are_edge_weight():
    a = sp.csr_matrix(np.array([[0.0, 2.0], [3.0, 0.0]]))
    g, w = Graph.from_scipy(a)
    assert g.edata["edge_weight"] is w and w.tolist() == [2.0, 3.0]
    assert (g.to_scipy() != a).nnz == 0  # to_scipy reads edata["edge_weight"]
    assert g.to_scipy(torch.ones(2)).sum() == 2.0  # an explicit weight wins
    with pytest.raises(ValueError, match=r"edata\['edge_weight'\] must have shape \[E=2\] for a scipy matrix, got \(2, 2\)"):
        Graph([0, 1], [1, 0], 2, edata={"edge_weight": torch.ones(2, 2)}).to_scipy()


def test_select_gathers_into_the_given_allocator():
    g = with_data(random_graph(6, 4, seed=12))
    made = []

    def empty(shape, dtype):
        made.append((shape, dtype))
        return torch.full(shape, -7, dtype=dtype)  # every row must be overwritten

    picked = g.ndata.select(torch.tensor([4, 0, 4]), empty=empty)
    assert sorted(made) == sorted([((3, 2), torch.float64), ((3,), torch.int64)])
    assert_rows(picked, g.ndata, torch.tensor([4, 0, 4]))
