"""Graph: validation, layouts, transforms, batching and converters."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from gnnkit import Graph

from conftest import random_graph


def edges(g: Graph) -> list[tuple[int, int]]:
    """The edge list in edge order."""
    return list(zip(g.src.tolist(), g.dst.tolist()))


def t(*values):
    return torch.tensor(values, dtype=torch.int64)


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize("kwargs, error, match", [
    # ids
    (dict(src=torch.tensor([0.0]), dst=t(0), num_nodes=2), TypeError, r"src must hold integer vertex ids .* got dtype torch.float32"),
    (dict(src=t(0), dst=np.array([1.0]), num_nodes=2), TypeError, r"dst must hold integer vertex ids .* got dtype torch.float64"),
    (dict(src=[0.5], dst=[0], num_nodes=2), TypeError, "src must hold integer vertex ids"),
    (dict(src=torch.tensor([True]), dst=t(0), num_nodes=2), TypeError, r"src must hold integer vertex ids .* got dtype torch.bool"),
    (dict(src=t(0), dst=[False], num_nodes=2), TypeError, r"dst must hold integer vertex ids .* got dtype torch.bool"),
    (dict(src=torch.tensor([1j]), dst=t(0), num_nodes=2), TypeError, "src must hold integer vertex ids"),
    (dict(src=object(), dst=[0], num_nodes=1), TypeError, "src must be a 1-D integer tensor or array, got object"),
    (dict(src=["a"], dst=[0], num_nodes=1), TypeError, "src must be a 1-D integer tensor or array, got list"),
    (dict(src=t(0), dst=torch.tensor([[0]]), num_nodes=2), ValueError, r"dst must be 1-D with shape \[E\], got shape \(1, 1\)"),
    (dict(src=torch.tensor(0), dst=t(0), num_nodes=2), ValueError, r"src must be 1-D with shape \[E\], got shape \(\)"),
    (dict(src=t(0, 1), dst=t(0), num_nodes=2), ValueError, "same length E, got src of length 2 and dst of length 1"),
    (dict(src=t(-1), dst=t(0), num_nodes=2), ValueError, r"src holds a negative vertex id \(-1\); ids must lie in \[0, num_nodes=2\)"),
    (dict(src=t(0), dst=t(0, -3), num_nodes=2) | dict(src=t(0, 0)), ValueError, r"dst holds a negative vertex id \(-3\)"),
    (dict(src=t(2), dst=t(0), num_nodes=2), ValueError, r"src holds vertex id 2 but num_nodes is 2.*pass num_nodes >= 3"),
    (dict(src=t(0), dst=t(5), num_nodes=2), ValueError, r"dst holds vertex id 5 but num_nodes is 2.*pass num_nodes >= 6"),
    # num_nodes
    (dict(src=t(0), dst=t(0), num_nodes=2.0), TypeError, r"num_nodes must be an int, got float \(2.0\)"),
    (dict(src=t(0), dst=t(0), num_nodes="2"), TypeError, "num_nodes must be an int, got str"),
    (dict(src=t(0), dst=t(0), num_nodes=True), TypeError, "num_nodes must be an int, got bool"),
    (dict(src=t(0), dst=t(0), num_nodes=torch.tensor(2)), TypeError, "num_nodes must be an int, got Tensor"),
    (dict(src=[], dst=[], num_nodes=-1), ValueError, "num_nodes must be >= 0, got -1"),
    # bipartite
    (dict(src=t(0), dst=t(0), num_nodes=2, num_src_nodes=3.0), TypeError, "num_src_nodes must be an int or None, got float"),
    (dict(src=[], dst=[], num_nodes=2, num_src_nodes=-1), ValueError, "num_src_nodes must be >= 0, got -1"),
    (dict(src=t(3), dst=t(0), num_nodes=2, num_src_nodes=3), ValueError, "src holds vertex id 3 but num_src_nodes is 3"),
    (dict(src=t(0), dst=t(2), num_nodes=2, num_src_nodes=3), ValueError, "dst holds vertex id 2 but num_nodes is 2"),
    (dict(src=t(0), dst=t(0), num_nodes=1, num_src_nodes=2, batch_num_nodes=t(1), batch_num_edges=t(1)), ValueError,
     "bipartite graph .* cannot carry batch sizes"),
    # batch sizes
    (dict(src=[0], dst=[0], num_nodes=1, batch_num_nodes=t(1)), ValueError, "must be given together"),
    (dict(src=[0], dst=[0], num_nodes=1, batch_num_edges=t(1)), ValueError, "must be given together"),
    (dict(src=[0], dst=[0], num_nodes=2, batch_num_nodes=t(1), batch_num_edges=t(1)), ValueError,
     r"batch sizes do not add up: batch_num_nodes sums to 1 \(num_nodes=2\)"),
    (dict(src=[0], dst=[0], num_nodes=1, batch_num_nodes=t(1), batch_num_edges=t(2)), ValueError,
     r"batch_num_edges to 2 \(E=1\)"),
    (dict(src=[0, 1], dst=[0, 1], num_nodes=3, batch_num_nodes=t(2, 1), batch_num_edges=t(2)), ValueError,
     "one entry per graph, got lengths 2 and 1"),
    (dict(src=[0], dst=[0], num_nodes=1, batch_num_nodes=t(2, -1), batch_num_edges=t(1, 0)), ValueError,
     "batch sizes must be >= 0"),
    (dict(src=[0, 2], dst=[1, 2], num_nodes=3, batch_num_nodes=t(1, 2), batch_num_edges=t(1, 1)), ValueError,
     "batch sizes do not match the edges"),
    (dict(src=[0], dst=[0], num_nodes=1, batch_num_nodes=torch.tensor([1.0]), batch_num_edges=t(1)), TypeError,
     "batch_num_nodes must hold integer"),
])
def test_construction_rejects_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        Graph(**kwargs)


def test_src_and_dst_on_different_devices_are_rejected():
    with pytest.raises(ValueError, match="src and dst must be on one device, got cpu and meta"):
        Graph(t(0), torch.zeros(1, dtype=torch.int64, device="meta"), 1)


@pytest.mark.parametrize("edge_index", [torch.zeros(3, 2, dtype=torch.long), torch.zeros(2, dtype=torch.long),
                                        torch.zeros(2, 2, 2, dtype=torch.long)])
def test_edge_index_shape_is_checked(edge_index):
    with pytest.raises(ValueError, match=r"edge_index must have shape \[2, E\], got " + str(tuple(edge_index.shape)).replace("(", r"\(").replace(")", r"\)")):
        Graph.from_edge_index(edge_index, 4)


def test_accepted_inputs_are_normalised_to_int64():
    for src, dst in ((np.array([0, 1], dtype=np.int32), [1, 0]), (torch.tensor([0, 1], dtype=torch.int32), (1, 0)),
                     (torch.tensor([[0, 9], [1, 9]])[:, 0], np.array([1, 0], dtype=np.uint8))):
        g = Graph(src, dst, np.int64(3))
        assert g.src.dtype == g.dst.dtype == torch.int64 and g.src.is_contiguous()
        assert edges(g) == [(0, 1), (1, 0)] and g.num_nodes == 3 and type(g.num_nodes) is int
    empty = Graph([], [], 0)
    assert empty.num_edges == 0 and empty.num_nodes == 0 and empty.src.dtype == torch.int64


def test_num_nodes_is_never_inferred():
    g = Graph([0, 1], [1, 0], 10)  # vertices 2..9 are isolated, and kept
    assert g.num_nodes == 10
    assert g.in_degrees().tolist() == [1, 1] + [0] * 8
    assert g.csr_in().indptr.numel() == 11
    assert Graph.from_edge_index(torch.tensor([[0], [1]]), 7).num_nodes == 7
    assert Graph.from_edges([(0, 1)], 5).num_nodes == 5
    assert Graph([], [], 4).in_degrees().tolist() == [0, 0, 0, 0]


def test_basic_properties():
    g = Graph([0, 2], [1, 1], 3)
    assert g.num_edges == 2 and g.device == torch.device("cpu") and not g.is_bipartite and g.batch_size == 1
    assert g.edge_index.tolist() == [[0, 2], [1, 1]]
    assert repr(g) == "Graph(num_nodes=3, num_edges=2, device=cpu)"
    b = Graph([4], [0], 2, num_src_nodes=5)
    assert b.is_bipartite and b.num_src_nodes == 5 and "num_src_nodes=5" in repr(b)
    assert not Graph([0], [0], 2, num_src_nodes=2).is_bipartite  # the same vertex set on both sides


def test_equal():
    g = Graph([0, 1], [1, 0], 3)
    assert g.equal(Graph([0, 1], [1, 0], 3))
    assert not g.equal(Graph([1, 0], [0, 1], 3))  # same edges, other order
    assert not g.equal(Graph([0, 1], [1, 0], 4))
    assert not g.equal(Graph([0, 1], [1, 0], 3, num_src_nodes=4))
    assert not g.equal("g")


# --------------------------------------------------------------------- layouts
@pytest.mark.parametrize("seed", range(5))
def test_csr_matches_a_stable_sort(seed):
    g = random_graph(30, 200, seed=seed)
    for csr, rows, cols in ((g.csr_in(), g.dst, g.src), (g.csr_out(), g.src, g.dst)):
        order = torch.argsort(rows, stable=True)
        assert torch.equal(csr.eid, order)
        assert torch.equal(csr.indices, cols[order])
        assert torch.equal(csr.indptr, torch.cat([t(0), torch.cumsum(torch.bincount(rows, minlength=30), 0)]))


def test_csr_small_literal():
    g = Graph([2, 0, 1, 0], [1, 2, 1, 0], 4)
    csr = g.csr_in()
    assert csr.indptr.tolist() == [0, 1, 3, 4, 4]
    assert csr.eid.tolist() == [3, 0, 2, 1] and csr.indices.tolist() == [0, 2, 1, 0]
    out = g.csr_out()
    assert out.indptr.tolist() == [0, 2, 3, 4, 4]
    assert out.eid.tolist() == [1, 3, 2, 0] and out.indices.tolist() == [2, 0, 1, 1]


def test_bipartite_csr_out_has_a_row_per_source():
    g = random_graph(4, 30, seed=1, num_src_nodes=9)
    assert g.csr_out().indptr.numel() == 10 and g.csr_in().indptr.numel() == 5
    assert torch.equal(g.out_degrees(), torch.bincount(g.src, minlength=9))


def test_sorted_input_needs_no_permutation():
    g = random_graph(20, 100, seed=2).sort_by_dst()
    assert g.csr_in().eid is None and g.is_sorted_by_dst()
    assert torch.equal(g.csr_in().indices, g.src)
    by_src = Graph([0, 0, 1, 3], [2, 1, 0, 0], 4)
    assert by_src.csr_out().eid is None and not by_src.is_sorted_by_dst()
    assert Graph([], [], 3).csr_in().eid is None


def test_sort_by_dst_orders_by_dst_then_src_and_permutes_edge_data():
    g = Graph([2, 0, 1, 0], [1, 1, 0, 1], 3)
    s, w = g.sort_by_dst(torch.tensor([10.0, 20.0, 30.0, 40.0]))
    assert edges(s) == [(1, 0), (0, 1), (0, 1), (2, 1)]
    assert w.tolist() == [30.0, 20.0, 40.0, 10.0]  # stable for the duplicate (0, 1)


def test_degrees():
    g = Graph([0, 0, 1, 2, 2, 2], [1, 1, 1, 0, 2, 1], 5)
    assert g.in_degrees().tolist() == [1, 4, 1, 0, 0]
    assert g.out_degrees().tolist() == [2, 1, 3, 0, 0]
    r = random_graph(25, 120, seed=3)
    assert torch.equal(r.in_degrees(), torch.bincount(r.dst, minlength=25))
    assert torch.equal(r.out_degrees(), torch.bincount(r.src, minlength=25))
    assert r.in_degrees().dtype == torch.int64


@pytest.mark.parametrize("build_first", [None, "csr_in", "csr_out"])
def test_reverse_keeps_edge_order_and_shares_layouts(build_first):
    g = random_graph(15, 60, seed=3)
    if build_first:
        getattr(g, build_first)()
    r = g.reverse()
    assert torch.equal(r.src, g.dst) and torch.equal(r.dst, g.src)  # edge i is still edge i
    assert r.reverse() is g and g.reverse() is r
    assert r.csr_out() is g.csr_in() and r.csr_in() is g.csr_out()
    assert torch.equal(r.in_degrees(), g.out_degrees()) and torch.equal(r.out_degrees(), g.in_degrees())


def test_reverse_of_bipartite_and_batched_graphs():
    b = Graph([0, 4], [0, 1], 2, num_src_nodes=5)
    r = b.reverse()
    assert r.num_nodes == 5 and r.num_src_nodes == 2 and edges(r) == [(0, 0), (1, 4)]
    bg = Graph.batch([Graph([0], [1], 2), Graph([0], [0], 1)])
    assert bg.reverse().batch_num_nodes.tolist() == [2, 1] and bg.reverse().unbatch()[0].src.tolist() == [1]


# ------------------------------------------------------------------ transforms
def test_add_self_loops_plain():
    g = Graph([0, 1, 1], [1, 1, 2], 4)  # vertex 1 has a loop; vertex 3 is isolated
    h = g.add_self_loops()
    assert edges(h) == [(0, 0), (0, 1), (1, 1), (1, 1), (1, 2), (2, 2), (3, 3)]  # sorted by (dst, src)
    assert h.num_nodes == 4
    assert g.add_self_loops() is h  # cached on the immutable graph


def test_add_self_loops_only_missing():
    g = Graph([0, 1, 1, 1], [1, 1, 2, 1], 4)  # vertex 1 has two loops
    h = g.add_self_loops(only_missing=True)
    assert edges(h) == [(0, 0), (0, 1), (1, 1), (1, 2), (2, 2), (3, 3)]


def test_add_self_loops_with_weights_and_fill_value():
    g = Graph([0, 1, 1], [1, 1, 2], 3)
    w = torch.tensor([1.0, 5.0, 2.0])
    h, hw = g.add_self_loops(w, fill_value=0.5)
    assert list(zip(edges(h), hw.tolist())) == [((0, 0), 0.5), ((0, 1), 1.0), ((1, 1), 5.0), ((1, 1), 0.5),
                                                ((1, 2), 2.0), ((2, 2), 0.5)]
    h, hw = g.add_self_loops(w, fill_value=0.5, only_missing=True)
    assert list(zip(edges(h), hw.tolist())) == [((0, 0), 0.5), ((0, 1), 1.0), ((1, 1), 5.0), ((1, 2), 2.0), ((2, 2), 0.5)]
    w2 = torch.tensor([[1.0, -1.0], [5.0, -5.0], [2.0, -2.0]])  # [E, F] edge data
    h, hw = g.add_self_loops(w2, fill_value=3.0, only_missing=True)
    assert hw.tolist() == [[3.0, 3.0], [1.0, -1.0], [5.0, -5.0], [2.0, -2.0], [3.0, 3.0]]
    with pytest.raises(ValueError, match=r"edge_weight must have shape \[E=3, ...\], got \(2,\)"):
        g.add_self_loops(torch.ones(2))


@pytest.mark.parametrize("seed", range(3))
def test_self_loops_match_pyg(seed):
    tg = pytest.importorskip("torch_geometric.utils")
    g = random_graph(12, 50, seed=seed)
    g = Graph(torch.cat([g.src, t(3, 3)]), torch.cat([g.dst, t(3, 3)]), 12)  # a duplicated existing loop
    w = torch.rand(g.num_edges, generator=torch.Generator().manual_seed(seed))
    for only_missing, pyg_fn in ((True, tg.add_remaining_self_loops), (False, tg.add_self_loops)):
        ours, ow = g.add_self_loops(w, fill_value=2.0, only_missing=only_missing)
        ei, pw = pyg_fn(g.edge_index, w, fill_value=2.0, num_nodes=12)
        mine = sorted(zip(ours.src.tolist(), ours.dst.tolist(), ow.tolist()))
        theirs = sorted(zip(ei[0].tolist(), ei[1].tolist(), pw.tolist()))
        if only_missing:  # two loops on vertex 3: which weight survives is unspecified in both
            mine = [e for e in mine if e[:2] != (3, 3)]
            theirs = [e for e in theirs if e[:2] != (3, 3)]
        assert mine == theirs
    assert sorted(edges(g.add_self_loops(only_missing=True))) == sorted(
        zip(*tg.add_remaining_self_loops(g.edge_index, num_nodes=12)[0].tolist()))


@pytest.mark.parametrize("only_missing", [True, False])
def test_self_loops_mean_fill_matches_pyg(only_missing):
    """``fill_value="mean"``: a loop gets the mean row of its vertex's in-edges (0 without any), as in PyG."""
    tg = pytest.importorskip("torch_geometric.utils")
    g = random_graph(12, 40, seed=5)
    g = Graph(torch.cat([g.src, t(3, 3)]), torch.cat([g.dst, t(3, 3)]), 12)  # a duplicated existing loop
    w = torch.randn(g.num_edges, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    ours, ow = g.add_self_loops(w, fill_value="mean", only_missing=only_missing)
    pyg_fn = tg.add_remaining_self_loops if only_missing else tg.add_self_loops
    ei, pw = pyg_fn(g.edge_index, w, fill_value="mean", num_nodes=12)

    def rows(src, dst, values):  # sorted by edge, then value; vertex 3's two old loops: which one survives is unspecified
        out = sorted(zip(src.tolist(), dst.tolist(), values.tolist()))
        return [r for r in out if not (only_missing and r[:2] == (3, 3))]

    mine, theirs = rows(ours.src, ours.dst, ow), rows(ei[0], ei[1], pw)
    assert [r[:2] for r in mine] == [r[:2] for r in theirs]
    torch.testing.assert_close(torch.tensor([r[2] for r in mine]), torch.tensor([r[2] for r in theirs]))


def test_self_loops_mean_fill_per_name_and_gradient():
    g = Graph([0, 2, 1], [1, 1, 1], 3, edata={"c": torch.tensor([1, 2, 3])})  # (1, 1) is an existing loop
    w = torch.tensor([[2.0], [4.0], [9.0]], requires_grad=True)
    h, hw = g.add_self_loops(w, fill_value={"edge_weight": "mean", "c": -1})
    assert list(zip(edges(h), hw.view(-1).tolist())) == [((0, 0), 0.0), ((0, 1), 2.0), ((1, 1), 9.0), ((1, 1), 5.0),
                                                         ((2, 1), 4.0), ((2, 2), 0.0)]
    assert h.edata["c"].tolist() == [-1, 1, 3, -1, 2, -1]
    hw.sum().backward()  # the mean loop of vertex 1 spreads 1/3 to each of its three in-edges
    assert w.grad.view(-1).tolist() == pytest.approx([4 / 3, 4 / 3, 4 / 3])
    with pytest.raises(TypeError, match=r"fill_value must be a number, got str \('median'\); the one string allowed is 'mean'"):
        g.add_self_loops(w, fill_value="median")


def test_remove_self_loops_keeps_order_and_vertices():
    g = Graph([0, 1, 2, 2, 3], [1, 1, 0, 2, 3], 6)
    h = g.remove_self_loops()
    assert edges(h) == [(0, 1), (2, 0)] and h.num_nodes == 6
    assert Graph([], [], 2).remove_self_loops().num_edges == 0


@pytest.mark.parametrize("reduce, expected", [
    ("sum", [9.0, 3.0, 3.0]),
    ("mean", [4.5, 1.5, 3.0]),
    ("max", [5.0, 2.0, 3.0]),
    ("min", [4.0, 1.0, 3.0]),
])
def test_coalesce_merges_duplicates(reduce, expected):
    g = Graph([0, 0, 1, 2, 2], [1, 1, 1, 0, 0], 4)
    attr = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    c, w = g.coalesce(attr, reduce)
    assert edges(c) == [(2, 0), (0, 1), (1, 1)] and c.num_nodes == 4  # sorted by (dst, src)
    assert w.tolist() == expected
    _, w2 = g.coalesce(torch.stack([attr, -attr], 1), reduce)  # [E, F] merges per column
    neg = {"sum": "sum", "mean": "mean", "max": "min", "min": "max"}[reduce]
    assert w2[:, 0].tolist() == expected and w2[:, 1].tolist() == [-v for v in g.coalesce(attr, neg)[1].tolist()]


def test_coalesce_without_attr_and_errors():
    g = Graph([0, 0, 1], [1, 1, 1], 2)
    assert edges(g.coalesce()) == [(0, 1), (1, 1)]
    assert Graph([], [], 2).coalesce().num_edges == 0
    with pytest.raises(ValueError, match="reduce must be 'sum', 'mean', 'max' or 'min', got 'prod'"):
        g.coalesce(torch.ones(3), "prod")
    with pytest.raises(ValueError, match=r"edge_weight must have shape \[E=3, ...\], got \(4,\)"):
        g.coalesce(torch.ones(4))


def test_coalesce_matches_pyg():
    tg = pytest.importorskip("torch_geometric.utils")
    g = random_graph(6, 60, seed=5)  # many duplicates
    attr = torch.randn(60, 2, generator=torch.Generator().manual_seed(5))
    c, w = g.coalesce(attr)
    ei, pw = tg.coalesce(g.edge_index, attr, num_nodes=6)
    mine = {e: v for e, v in zip(edges(c), w)}
    theirs = {e: v for e, v in zip(zip(*ei.tolist()), pw)}
    assert mine.keys() == theirs.keys()
    for e in mine:
        torch.testing.assert_close(mine[e], theirs[e])  # float32 sums, possibly in another order


def test_to_undirected():
    u = Graph([0, 1, 1, 2], [1, 2, 0, 2], 4).to_undirected()
    assert edges(u) == [(1, 0), (0, 1), (2, 1), (1, 2), (2, 2)] and u.num_nodes == 4
    g = random_graph(10, 30, seed=6)
    u = g.to_undirected()
    pairs = set(edges(u))
    assert len(pairs) == u.num_edges  # no duplicates
    assert pairs == set(edges(g)) | {(d, s) for s, d in edges(g)}
    tg = pytest.importorskip("torch_geometric.utils")
    assert pairs == set(zip(*tg.to_undirected(g.edge_index, num_nodes=10).tolist()))


def test_subgraph_by_ids():
    g = Graph([0, 1, 2, 3, 3, 4], [1, 2, 3, 0, 1, 4], 5)
    sub, nodes, eids = g.subgraph(torch.tensor([3, 1, 0]))
    assert sub.num_nodes == 3 and nodes.tolist() == [3, 1, 0] and eids.tolist() == [0, 3, 4]
    assert edges(sub) == [(2, 1), (0, 2), (0, 1)]  # local ids: 3 -> 0, 1 -> 1, 0 -> 2
    sub, nodes, eids = g.subgraph([4])
    assert edges(sub) == [(0, 0)] and eids.tolist() == [5]
    sub, nodes, eids = g.subgraph([])
    assert sub.num_nodes == 0 and sub.num_edges == 0 and nodes.tolist() == [] and eids.tolist() == []


@pytest.mark.parametrize("seed", range(5))
def test_subgraph_id_maps_are_consistent_and_complete(seed):
    g = random_graph(20, 80, seed=seed)
    keep = torch.rand(20, generator=torch.Generator().manual_seed(seed)) < 0.5
    sub, nodes, eids = g.subgraph(keep)
    assert torch.equal(nodes, keep.nonzero().view(-1))
    assert torch.equal(nodes[sub.src], g.src[eids]) and torch.equal(nodes[sub.dst], g.dst[eids])
    inside = [i for i, (s, d) in enumerate(edges(g)) if keep[s] and keep[d]]
    assert eids.tolist() == inside  # every induced edge, in edge order


@pytest.mark.parametrize("nodes, error, match", [
    ([7], IndexError, r"nodes must lie in \[0, num_nodes=5\), got ids in \[7, 7\]"),
    ([0, -1], IndexError, r"nodes must lie in \[0, num_nodes=5\), got ids in \[-1, 0\]"),
    ([1, 1], ValueError, "nodes must not contain duplicate ids"),
    (torch.tensor([True]), ValueError, r"a boolean nodes mask must have shape \[num_nodes=5\], got \(1,\)"),
    ([0.5], TypeError, "nodes must hold integer vertex ids"),
    ([[0, 1]], ValueError, r"nodes must be 1-D with shape \[E\], got shape \(1, 2\)"),
])
def test_subgraph_rejects_bad_nodes(nodes, error, match):
    g = Graph([0, 1], [1, 2], 5)
    with pytest.raises(error, match=match):
        g.subgraph(nodes)


def test_dst_range_holds_the_in_edges_of_the_range_with_global_sources():
    # edges not in destination order: the result follows csr_in's order and edge_ids map back
    g = Graph([3, 0, 2, 1, 3, 0], [2, 1, 2, 3, 1, 0], 4, ndata={"x": torch.arange(4.0)},
              edata={"w": torch.arange(6.0) * 10})
    sub, eids = g.dst_range(1, 3)
    assert (sub.num_nodes, sub.num_src_nodes) == (2, 4)
    assert eids.tolist() == [1, 4, 0, 2]  # destination 1: edges 1, 4; destination 2: edges 0, 2
    assert torch.equal(sub.src, g.src[eids]) and torch.equal(sub.dst + 1, g.dst[eids])
    assert sub.edata["w"].tolist() == [10.0, 40.0, 0.0, 20.0]
    assert sub.ndata["x"].tolist() == [1.0, 2.0] and sub.srcdata["x"].tolist() == [0.0, 1.0, 2.0, 3.0]
    fresh = Graph(sub.src, sub.dst, 2, num_src_nodes=4).csr_in()  # the cached slice equals a built CSR
    assert torch.equal(sub.csr_in().indptr, fresh.indptr) and torch.equal(sub.csr_in().indices, fresh.indices)


@pytest.mark.parametrize("seed", range(3))
def test_dst_range_chunks_cover_every_edge_once(seed):
    g = random_graph(17, 60, seed=seed)
    eids = torch.cat([g.dst_range(s, min(s + 5, 17))[1] for s in range(0, 17, 5)])
    assert sorted(eids.tolist()) == list(range(60))
    whole, _ = g.dst_range(0, 17)
    assert not whole.is_bipartite and whole.num_edges == 60
    empty, no_edges = g.dst_range(4, 4)
    assert (empty.num_nodes, empty.num_edges, no_edges.numel()) == (0, 0, 0)


@pytest.mark.parametrize("start, stop", [(-1, 2), (3, 2), (0, 5), (0.0, 2)])
def test_dst_range_rejects_bad_ranges(start, stop):
    with pytest.raises(IndexError, match=r"start and stop must satisfy 0 <= start <= stop <= num_nodes=4"):
        Graph([0, 1], [1, 2], 4).dst_range(start, stop)


@pytest.mark.parametrize("name", ["add_self_loops", "to_undirected", "subgraph", "batch", "to_networkx"])
def test_bipartite_graph_rejects_square_only_transforms(name):
    b = Graph([0, 4], [0, 1], 2, num_src_nodes=5)
    call = {"add_self_loops": b.add_self_loops, "to_undirected": b.to_undirected, "subgraph": lambda: b.subgraph([0]),
            "batch": lambda: Graph.batch([Graph([], [], 1), b]), "to_networkx": b.to_networkx}[name]
    with pytest.raises(ValueError, match=r"needs one vertex set, but this graph is bipartite \(num_src_nodes=5, num_nodes=2\)"):
        call()


# -------------------------------------------------------------------- batching
def test_batch_offsets_sizes_and_node_graph():
    a, b = Graph([0], [1], 2), Graph([0, 2], [1, 0], 3)
    bg = Graph.batch([a, Graph([], [], 0), Graph([], [], 1), b])
    assert edges(bg) == [(0, 1), (3, 4), (5, 3)] and bg.num_nodes == 6
    assert bg.batch_num_nodes.tolist() == [2, 0, 1, 3] and bg.batch_num_edges.tolist() == [1, 0, 0, 2]
    assert bg.batch_size == 4 and "batch_size=4" in repr(bg)
    assert bg.node_graph().tolist() == [0, 0, 2, 3, 3, 3]
    assert Graph([0], [1], 3).node_graph().tolist() == [0, 0, 0]


def test_batch_rejects_bad_input():
    with pytest.raises(ValueError, match="batch needs at least one graph, got an empty sequence"):
        Graph.batch([])
    with pytest.raises(TypeError, match=r"graphs\[1\] must be a gnnkit.Graph, got tuple"):
        Graph.batch([Graph([], [], 1), ([0], [0])])


def test_unbatch_of_an_unbatched_graph_is_itself():
    g = Graph([0], [1], 2)
    assert g.unbatch() == [g]


def test_batch_unbatch_round_trip_100_random_graphs():
    gen = torch.Generator().manual_seed(0)
    for trial in range(100):
        k = int(torch.randint(1, 7, (1,), generator=gen))
        graphs = []
        for i in range(k):
            n = int(torch.randint(0, 9, (1,), generator=gen))  # 0: an empty graph
            e = int(torch.randint(0, 13, (1,), generator=gen)) if n else 0
            graphs.append(random_graph(n, e, seed=1000 * trial + i))
        bg = Graph.batch(graphs)
        parts = bg.unbatch()
        assert len(parts) == k and all(p.equal(q) for p, q in zip(parts, graphs)), trial
        again = Graph.batch(parts)
        assert again.equal(bg), trial
        assert torch.equal(again.batch_num_nodes, bg.batch_num_nodes) and torch.equal(again.batch_num_edges, bg.batch_num_edges)
        # the batch passes its own validation (edges stay inside their graph)
        Graph(bg.src, bg.dst, bg.num_nodes, bg.batch_num_nodes, bg.batch_num_edges)


# ------------------------------------------------------------------ converters
def test_scipy_round_trip_square():
    g = Graph([0, 2, 2, 1, 0], [1, 0, 0, 1, 3], 5)  # duplicate (2, 0), isolated vertex 4
    w = torch.tensor([1.0, 2.0, 3.0, 0.0, -1.5], dtype=torch.float64)
    a = g.to_scipy(w)
    assert a.shape == (5, 5) and a.format == "csr"
    np.testing.assert_array_equal(a.toarray()[[0, 2, 1, 0], [1, 0, 1, 3]], [1.0, 5.0, 0.0, -1.5])
    h, hw = Graph.from_scipy(a)
    assert not h.is_bipartite and h.num_nodes == 5 and hw.dtype == torch.float64
    assert (h.to_scipy(hw) != a).nnz == 0
    assert (1, 1) in edges(h)  # an explicit zero stays an edge
    assert g.to_scipy(fmt="coo").format == "coo" and g.to_scipy().dtype == np.float32


def test_scipy_round_trip_rectangular_is_bipartite():
    b = random_graph(4, 10, seed=6, num_src_nodes=7)
    a = b.to_scipy()
    assert a.shape == (7, 4)
    h, hw = Graph.from_scipy(a)  # duplicates were summed into a weight of 2
    assert h.num_src_nodes == 7 and h.num_nodes == 4 and (h.to_scipy(hw) != a).nnz == 0
    with pytest.raises(TypeError, match="matrix must be a scipy.sparse matrix, got ndarray"):
        Graph.from_scipy(np.eye(2))
    assert Graph.from_scipy(sp.csr_matrix((3, 3)))[0].num_nodes == 3


def test_networkx_round_trip():
    nx = pytest.importorskip("networkx")
    g = Graph([0, 0, 2, 3], [1, 1, 2, 0], 6)  # duplicate, self-loop, trailing isolated vertices
    m = g.to_networkx()
    assert isinstance(m, nx.MultiDiGraph) and m.number_of_nodes() == 6 and m.number_of_edges() == 4
    back, nodes = Graph.from_networkx(m)
    assert nodes == list(range(6)) and back.num_nodes == 6
    assert sorted(edges(back)) == sorted(edges(g))
    und, _ = Graph.from_networkx(nx.path_graph(3))
    assert sorted(edges(und)) == [(0, 1), (1, 0), (1, 2), (2, 1)]
    labelled = nx.DiGraph([("a", "b"), ("b", "c")])
    labelled.add_node("z")
    lg, names = Graph.from_networkx(labelled)
    assert names == ["a", "b", "c", "z"] and edges(lg) == [(0, 1), (1, 2)] and lg.num_nodes == 4
    loop, _ = Graph.from_networkx(nx.Graph([(0, 0)]))
    assert edges(loop) == [(0, 0)]  # an undirected self-loop is one edge, not two


def test_dgl_round_trip():
    dgl = pytest.importorskip("dgl")
    g = Graph([3, 0, 2, 2], [1, 1, 0, 2], 6)  # unsorted, duplicate-free, trailing isolated vertices
    d = g.to_dgl()
    assert d.num_nodes() == 6 and d.num_edges() == 4
    assert Graph.from_dgl(d).equal(g)
    r = random_graph(10, 25, seed=8)
    assert Graph.from_dgl(r.to_dgl()).equal(r)
    native = dgl.graph((torch.tensor([1, 2]), torch.tensor([0, 0])), num_nodes=4)
    assert edges(Graph.from_dgl(native)) == [(1, 0), (2, 0)] and Graph.from_dgl(native).num_nodes == 4
    hetero = dgl.heterograph({("a", "x", "b"): (torch.tensor([0]), torch.tensor([0]))})
    with pytest.raises(ValueError, match="from_dgl needs a homogeneous graph"):
        Graph.from_dgl(hetero)


def test_pyg_round_trip():
    pytest.importorskip("torch_geometric")
    from torch_geometric.data import Data

    g = Graph([3, 0, 2], [1, 1, 0], 6)
    x = torch.randn(6, 3)
    data = g.to_pyg(x=x)
    assert data.num_nodes == 6 and data.x.shape == (6, 3) and data.edge_index.tolist() == [[3, 0, 2], [1, 1, 0]]
    assert Graph.from_pyg(data).equal(Graph(g.src, g.dst, 6, ndata={"x": x}))  # x comes back as ndata
    assert Graph.from_pyg(Data(edge_index=torch.tensor([[0], [1]]), num_nodes=9)).num_nodes == 9
    with pytest.raises(ValueError, match="data has no edge_index"):
        Graph.from_pyg(Data(num_nodes=3))


def test_to_same_device_is_a_no_op():
    g = random_graph(3, 4)
    assert g.to("cpu") is g and g.to(torch.device("cpu")) is g


def test_to_another_device_copies_everything():
    bg = Graph.batch([Graph([0], [1], 2), Graph([0], [0], 1)])
    m = bg.to("meta")  # a device every machine has
    assert m.device.type == "meta" and m.src.device.type == "meta" and m.batch_num_nodes.device.type == "meta"
    assert m.num_nodes == 3 and m.num_edges == 2
    b = Graph([4], [0], 2, num_src_nodes=5).to("meta")
    assert b.num_src_nodes == 5
