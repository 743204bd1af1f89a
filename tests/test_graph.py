"""Graph: validation, layouts, transforms, batching and converters."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gnnkit import Graph

from conftest import random_graph


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize("kwargs, error, match", [
    (dict(src=torch.tensor([0.0]), dst=torch.tensor([0]), num_nodes=2), TypeError, "src must hold integer vertex ids .* got dtype torch.float32"),
    (dict(src=torch.tensor([True]), dst=torch.tensor([0]), num_nodes=2), TypeError, "src must hold integer"),
    (dict(src=torch.tensor([0]), dst=torch.tensor([[0]]), num_nodes=2), ValueError, r"dst must be 1-D with shape \[E\], got shape \(1, 1\)"),
    (dict(src=torch.tensor([0, 1]), dst=torch.tensor([0]), num_nodes=2), ValueError, "same length E, got src of length 2 and dst of length 1"),
    (dict(src=torch.tensor([-1]), dst=torch.tensor([0]), num_nodes=2), ValueError, r"src holds a negative vertex id \(-1\)"),
    (dict(src=torch.tensor([0]), dst=torch.tensor([5]), num_nodes=2), ValueError, "dst holds vertex id 5 but num_nodes is 2.*num_nodes >= 6"),
    (dict(src=torch.tensor([0]), dst=torch.tensor([0]), num_nodes=2.0), TypeError, "num_nodes must be an int, got float"),
    (dict(src=torch.tensor([0]), dst=torch.tensor([0]), num_nodes=-1), ValueError, "num_nodes must be >= 0, got -1"),
    (dict(src=torch.tensor([3]), dst=torch.tensor([0]), num_nodes=2, num_src_nodes=3), ValueError, "src holds vertex id 3 but num_src_nodes is 3"),
    (dict(src=[0], dst=[0], num_nodes=1, batch_num_nodes=torch.tensor([1])), ValueError, "must be given together"),
    (dict(src=[0], dst=[0], num_nodes=2, batch_num_nodes=torch.tensor([1]), batch_num_edges=torch.tensor([1])), ValueError, "batch sizes do not add up"),
    (dict(src=object(), dst=[0], num_nodes=1), TypeError, "src must be a 1-D integer tensor or array, got object"),
])
def test_construction_rejects_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        Graph(**kwargs)


def test_edge_index_shape_is_checked():
    with pytest.raises(ValueError, match=r"edge_index must have shape \[2, E\], got \(3, 2\)"):
        Graph.from_edge_index(torch.zeros(3, 2, dtype=torch.long), 4)


def test_num_nodes_is_never_inferred_and_int32_numpy_lists_are_accepted():
    g = Graph(np.array([0, 1], dtype=np.int32), [1, 0], 10)
    assert g.num_nodes == 10 and g.src.dtype == torch.int64
    assert g.in_degrees().tolist() == [1, 1] + [0] * 8


# --------------------------------------------------------------------- layouts
def test_csr_matches_a_stable_sort_and_degrees():
    g = random_graph(30, 200, seed=1)
    csr = g.csr_in()
    order = torch.argsort(g.dst, stable=True)
    assert torch.equal(csr.eid, order) and torch.equal(csr.indices, g.src[order])
    assert torch.equal(csr.indptr.diff(), torch.bincount(g.dst, minlength=30))
    assert torch.equal(g.out_degrees(), torch.bincount(g.src, minlength=30))
    out = g.csr_out()
    assert torch.equal(out.indices, g.dst[torch.argsort(g.src, stable=True)])


def test_sorted_input_needs_no_permutation():
    g = random_graph(20, 100, seed=2).sort_by_dst()
    assert g.csr_in().eid is None and g.is_sorted_by_dst()


def test_reverse_keeps_edge_order_and_shares_layouts():
    g = random_graph(15, 60, seed=3)
    csr = g.csr_in()
    r = g.reverse()
    assert torch.equal(r.src, g.dst) and torch.equal(r.dst, g.src)
    assert r.csr_out() is csr and r.reverse() is g


# ------------------------------------------------------------------ transforms
def test_self_loops_plain_only_missing_and_weighted():
    g = Graph([0, 1, 1], [1, 1, 2], 3)  # vertex 1 has a loop
    assert g.add_self_loops().num_edges == 6
    h = g.add_self_loops(only_missing=True)
    assert sorted(zip(h.src.tolist(), h.dst.tolist())) == [(0, 0), (0, 1), (1, 1), (1, 2), (2, 2)]
    hw, w = g.add_self_loops(torch.tensor([1.0, 5.0, 2.0]), fill_value=0.5, only_missing=True)
    weights = {(s, d): float(x) for s, d, x in zip(hw.src.tolist(), hw.dst.tolist(), w)}
    assert weights == {(0, 1): 1.0, (1, 1): 5.0, (1, 2): 2.0, (0, 0): 0.5, (2, 2): 0.5}
    assert g.add_self_loops() is g.add_self_loops()  # cached on the immutable graph


def test_self_loops_match_pyg_remaining_self_loops():
    tg = pytest.importorskip("torch_geometric.utils")
    g = random_graph(12, 50, seed=4)
    w = torch.rand(50)
    ours, ow = g.add_self_loops(w, fill_value=2.0, only_missing=True)
    ei, pw = tg.add_remaining_self_loops(g.edge_index, w, fill_value=2.0, num_nodes=12)
    theirs = sorted(zip(ei[0].tolist(), ei[1].tolist(), pw.tolist()))
    assert sorted(zip(ours.src.tolist(), ours.dst.tolist(), ow.tolist())) == theirs


def test_remove_self_loops_coalesce_and_undirected():
    g = Graph([0, 0, 1, 2, 2], [1, 1, 1, 0, 0], 3)
    assert g.remove_self_loops().num_edges == 4
    c, w = g.coalesce(torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert list(zip(c.src.tolist(), c.dst.tolist(), w.tolist())) == [(2, 0, 9.0), (0, 1, 3.0), (1, 1, 3.0)]
    for reduce, expected in (("mean", [4.5, 1.5, 3.0]), ("max", [5.0, 2.0, 3.0]), ("min", [4.0, 1.0, 3.0])):
        assert g.coalesce(torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0]), reduce)[1].tolist() == expected
    u = Graph([0, 1], [1, 2], 4).to_undirected()
    assert sorted(zip(u.src.tolist(), u.dst.tolist())) == [(0, 1), (1, 0), (1, 2), (2, 1)]
    with pytest.raises(ValueError, match="reduce must be"):
        g.coalesce(torch.ones(5), "prod")


def test_subgraph_ids_mask_and_errors():
    g = Graph([0, 1, 2, 3, 3], [1, 2, 3, 0, 1], 5)
    sub, nodes, eids = g.subgraph(torch.tensor([3, 1, 0]))
    assert sub.num_nodes == 3 and nodes.tolist() == [3, 1, 0]
    assert eids.tolist() == [0, 3, 4]
    assert torch.equal(nodes[sub.src], g.src[eids]) and torch.equal(nodes[sub.dst], g.dst[eids])
    sub2, nodes2, _ = g.subgraph(torch.tensor([True, True, False, True, False]))
    assert nodes2.tolist() == [0, 1, 3] and sub2.num_edges == 3
    with pytest.raises(IndexError, match=r"nodes must lie in \[0, num_nodes=5\)"):
        g.subgraph([7])
    with pytest.raises(ValueError, match="duplicate"):
        g.subgraph([1, 1])
    with pytest.raises(ValueError, match="boolean nodes mask must have shape"):
        g.subgraph(torch.tensor([True]))


def test_bipartite_graph_rejects_square_only_transforms():
    b = Graph([0, 4], [0, 1], 2, num_src_nodes=5)
    assert b.reverse().num_nodes == 5 and b.reverse().num_src_nodes == 2
    for op in (b.add_self_loops, b.to_undirected, lambda: b.subgraph([0]), lambda: Graph.batch([b])):
        with pytest.raises(ValueError, match="needs one vertex set"):
            op()


# -------------------------------------------------------------------- batching
def test_batch_offsets_and_node_graph():
    a, b = Graph([0], [1], 2), Graph([0, 2], [1, 0], 3)
    bg = Graph.batch([a, Graph([], [], 0), b])
    assert bg.src.tolist() == [0, 2, 4] and bg.dst.tolist() == [1, 3, 2]
    assert bg.node_graph().tolist() == [0, 0, 2, 2, 2]
    with pytest.raises(ValueError, match="at least one graph"):
        Graph.batch([])
    with pytest.raises(TypeError, match=r"graphs\[0\] must be a gnnkit.Graph"):
        Graph.batch([object()])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 8), st.integers(0, 12), st.integers(0, 10**6)), min_size=1, max_size=6))
def test_batch_unbatch_round_trip(specs):
    graphs = [random_graph(n, e if n else 0, seed) for n, e, seed in specs]
    bg = Graph.batch(graphs)
    parts = bg.unbatch()
    assert len(parts) == len(graphs) and all(p.equal(q) for p, q in zip(parts, graphs))
    assert Graph.batch(parts).equal(bg)


# ------------------------------------------------------------------ converters
def test_scipy_round_trip_square_and_rectangular():
    g = random_graph(9, 30, seed=5).coalesce()
    w = torch.rand(g.num_edges, dtype=torch.float64)
    h, hw = Graph.from_scipy(g.to_scipy(w))
    assert (h.to_scipy(hw) != g.to_scipy(w)).nnz == 0
    b = random_graph(4, 10, seed=6, num_src_nodes=7)
    assert b.to_scipy().shape == (7, 4) and Graph.from_scipy(b.to_scipy())[0].num_src_nodes == 7
    with pytest.raises(TypeError, match="scipy.sparse matrix"):
        Graph.from_scipy(np.eye(2))


def test_networkx_round_trip():
    nx = pytest.importorskip("networkx")
    g = random_graph(8, 20, seed=7)
    back, nodes = Graph.from_networkx(g.to_networkx())
    assert nodes == list(range(8))
    assert sorted(zip(back.src.tolist(), back.dst.tolist())) == sorted(zip(g.src.tolist(), g.dst.tolist()))
    und, _ = Graph.from_networkx(nx.path_graph(3))
    assert sorted(zip(und.src.tolist(), und.dst.tolist())) == [(0, 1), (1, 0), (1, 2), (2, 1)]


def test_dgl_round_trip():
    pytest.importorskip("dgl")
    g = random_graph(10, 25, seed=8)
    assert Graph.from_dgl(g.to_dgl()).equal(g)


def test_pyg_round_trip():
    pytest.importorskip("torch_geometric")
    g = random_graph(10, 25, seed=9)
    data = g.to_pyg(x=torch.randn(10, 3))
    assert Graph.from_pyg(data).equal(g) and data.x.shape == (10, 3)


def test_to_same_device_is_a_no_op():
    g = random_graph(3, 4)
    assert g.to("cpu") is g
