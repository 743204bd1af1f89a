"""gnnkit.partition: edges owned once, halos, id maps, METIS (pymetis vs DGL), bad input."""
import io
import warnings

import pytest
import torch
from conftest import random_graph

from gnnkit import Graph
from gnnkit.nn import GATConv, GINConv, SAGEConv
from gnnkit.scale.partition import METHODS, Part, from_assignment, partition, partition_assignment

pytest.importorskip("pymetis")
HAVE_DGL = True
try:
    import dgl  # noqa: F401
except ImportError:  # pragma: no cover - the dev extra installs dgl
    HAVE_DGL = False

METHODS_HERE = [m for m in METHODS if m != "dgl-metis" or HAVE_DGL]


def clusters(num_clusters: int, size: int, bridges: int = 1, seed: int = 0) -> Graph:
    """Dense random clusters (both edge directions) joined by a few bridge edges: METIS' easy case."""
    gen = torch.Generator().manual_seed(seed)
    src, dst = [], []
    for c in range(num_clusters):
        s = torch.randint(0, size, (size * 4,), generator=gen) + c * size
        d = torch.randint(0, size, (size * 4,), generator=gen) + c * size
        src += [s, d]
        dst += [d, s]
    for c in range(num_clusters - 1):
        for b in range(bridges):
            src.append(torch.tensor([c * size + b]))
            dst.append(torch.tensor([(c + 1) * size + b]))
    return Graph(torch.cat(src), torch.cat(dst), num_clusters * size)


def check_invariants(g: Graph, parts) -> None:
    """Every vertex owned once, every edge owned once by its destination's part, halos exact."""
    n, e, a = g.num_nodes, g.num_edges, parts.assignment
    assert torch.equal(torch.cat([p.owned for p in parts]).sort().values, torch.arange(n))
    assert torch.equal(torch.cat([p.edge_ids for p in parts]).sort().values, torch.arange(e))
    cut = 0
    for p in parts:
        assert bool((a[p.owned] == p.part_id).all())
        assert torch.equal(p.owned, p.owned.sort().values)
        l2g = p.local_to_global
        # the local graph, mapped back to global ids, is exactly the owned edges in order
        assert torch.equal(l2g[p.graph.src], g.src[p.edge_ids])
        assert torch.equal(p.owned[p.graph.dst], g.dst[p.edge_ids])
        assert bool((a[g.dst[p.edge_ids]] == p.part_id).all())
        remote = g.src[p.edge_ids][a[g.src[p.edge_ids]] != p.part_id]
        assert torch.equal(p.halo.sort().values, torch.unique(remote))
        assert torch.equal(p.halo_owner, a[p.halo])
        assert bool((p.halo_owner[1:] >= p.halo_owner[:-1]).all())  # grouped by owner
        assert bool((p.halo_owner != p.part_id).all())
        assert p.graph.num_nodes == p.num_owned and p.graph.num_src_nodes == p.num_owned + p.num_halo
        cut += remote.numel()
    assert parts.edge_cut == cut == int((a[g.src] != a[g.dst]).sum())
    assert parts.halo_sizes.tolist() == [p.num_halo for p in parts]
    assert parts.part_sizes.tolist() == [p.num_owned for p in parts]


@pytest.mark.parametrize("method", METHODS_HERE)
def test_every_edge_owned_once_random_graphs(method):
    for seed in range(20):
        gen = torch.Generator().manual_seed(seed)
        n = int(torch.randint(1, 9, (1,), generator=gen))
        g = random_graph(n, int(torch.randint(0, 20, (1,), generator=gen)), seed=seed)
        k = int(torch.randint(1, n + 1, (1,), generator=gen))
        with warnings.catch_warnings():  # METIS may leave a part empty on tiny graphs; the repair warns
            warnings.simplefilter("ignore", UserWarning)
            parts = partition(g, k, method, seed=seed)
        assert len(parts) == k and all(p.num_owned >= 1 for p in parts)
        check_invariants(g, parts)



@pytest.mark.parametrize("method", METHODS_HERE)
def test_invariants_on_clusters(method):
    g = clusters(4, 30)
    check_invariants(g, partition(g, 4, method))


@pytest.mark.parametrize(
    "make_layer",
    [lambda: SAGEConv(5, 3, reduce="mean"), lambda: SAGEConv(5, 3, reduce="max"),
     lambda: GINConv(torch.nn.Linear(5, 3), train_eps=True), lambda: GATConv(5, 3, heads=2, add_self_loops=False)],
    ids=["sage-mean", "sage-max", "gin", "gat"],
)
def test_layer_on_parts_equals_full_graph(make_layer):
    torch.manual_seed(0)
    g = clusters(3, 12, bridges=3)
    x = torch.randn(g.num_nodes, 5, dtype=torch.float64)
    layer = make_layer().double()
    full = layer(g, x)
    for p in partition(g, 3, "metis"):
        torch.testing.assert_close(layer(p.graph, x[p.local_to_global]), full[p.owned])


def test_global_to_local_round_trip():
    g = clusters(3, 10, bridges=2)
    parts = partition(g, 3, "random", seed=1)
    for p in parts:
        local = torch.arange(p.num_owned + p.num_halo)
        assert torch.equal(p.global_to_local(p.local_to_global), local)
        others = torch.tensor(sorted(set(range(g.num_nodes)) - set(p.local_to_global.tolist())))
        assert bool((p.global_to_local(others) == -1).all())


def test_metis_cuts_clusters_apart_and_beats_random():
    g = clusters(4, 25)
    metis = partition(g, 4, "metis")
    assert metis.edge_cut <= 3  # only the bridges
    assert partition(g, 4, "random").edge_cut > 10 * max(metis.edge_cut, 1)


@pytest.mark.skipif(not HAVE_DGL, reason="dgl not installed")
def test_pymetis_and_dgl_metis_agree():
    g = random_graph(300, 900, seed=3).to_undirected()
    g = Graph.batch([g, clusters(3, 40, seed=4)])  # a disconnected graph
    ours, theirs, rnd = (partition(g, 4, m) for m in ("metis", "dgl-metis", "random"))
    for p in (ours, theirs):
        # METIS' default imbalance tolerance is 3% (ufactor=30); allow rounding on 390 vertices
        assert float(p.part_sizes.max()) <= 1.05 * g.num_nodes / 4
        assert p.edge_cut < 0.7 * rnd.edge_cut
    # two runs of the same objective: within a factor 1.5 of each other
    assert max(ours.edge_cut, theirs.edge_cut) <= 1.5 * min(ours.edge_cut, theirs.edge_cut)


@pytest.mark.parametrize("method", METHODS_HERE)
def test_disconnected_graph_with_isolated_vertices(method):
    g = Graph.batch([clusters(2, 10), Graph([], [], 7), random_graph(5, 6, seed=2)])
    parts = partition(g, 3, method)
    check_invariants(g, parts)


@pytest.mark.parametrize("method", METHODS_HERE)
def test_graph_without_edges(method):
    g = Graph([], [], 10)
    parts = partition(g, 4, method)
    check_invariants(g, parts)
    assert parts.edge_cut == 0 and parts.halo_sizes.tolist() == [0, 0, 0, 0]


def test_one_part_is_the_whole_graph():
    g = random_graph(9, 30, seed=5)
    (p,) = partition(g, 1)
    assert p.num_halo == 0 and not p.graph.is_bipartite
    assert torch.equal(p.graph.src, g.src[p.edge_ids]) and torch.equal(p.graph.dst, g.dst[p.edge_ids])
    assert bool((p.graph.dst[1:] >= p.graph.dst[:-1]).all())  # sorted by destination: csr_in needs no permutation
    assert p.graph.is_sorted_by_dst()


def test_random_and_contiguous_are_balanced_and_seeded():
    g = random_graph(103, 300, seed=0)
    for method in ("random", "contiguous"):
        sizes = partition(g, 4, method).part_sizes
        assert int(sizes.max() - sizes.min()) <= 1
    a0, a1, b = (partition_assignment(g, 4, "random", seed=s) for s in (0, 0, 1))
    assert torch.equal(a0, a1) and not torch.equal(a0, b)
    assert torch.equal(partition_assignment(g, 4, "contiguous"), torch.arange(103) * 4 // 103)


def test_metis_empty_part_is_filled_with_a_warning():
    # METIS puts all of K20 into one part when asked for 19 parts
    n = 20
    s, d = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    keep = s != d
    g = Graph(s[keep], d[keep], n)
    with pytest.warns(UserWarning, match=r"METIS left \d+ empty part\(s\) of 19"):
        parts = partition(g, 19, "metis")
    assert all(p.num_owned >= 1 for p in parts)
    check_invariants(g, parts)


def skewed() -> Graph:
    """A power-law-ish graph: a few vertices receive most edges (hubs), the rest a handful."""
    gen = torch.Generator().manual_seed(7)
    n = 400
    dst = torch.cat([torch.randint(0, 8, (3000,), generator=gen), torch.randint(0, n, (1200,), generator=gen)])
    src = torch.randint(0, n, (dst.numel(),), generator=gen)
    return Graph(src, dst, n)


@pytest.mark.parametrize("method", ["metis", "contiguous"])
def test_balance_edges_evens_out_owned_edges(method):
    g = skewed()
    work = lambda p: (p.part_sizes + p.part_edges).double()  # noqa: E731 - what balance_edges balances
    plain, balanced = partition(g, 4, method), partition(g, 4, method, balance_edges=True)
    check_invariants(g, balanced)
    imbalance = lambda p: float(work(p).max() / work(p).mean())  # noqa: E731
    assert imbalance(balanced) < imbalance(plain)
    assert imbalance(balanced) <= 1.3  # one hub of weight ~380 in ~4600 limits the contiguous split


def test_balance_edges_needs_metis_or_contiguous():
    with pytest.raises(ValueError, match="balance_edges=True needs method 'metis' or 'contiguous', got method='random'"):
        partition(random_graph(10, 20), 2, "random", balance_edges=True)


def test_edge_balanced_contiguous_split_fills_empty_parts():
    g = Graph(torch.arange(1, 10), torch.zeros(9, dtype=torch.int64), 10)  # vertex 0 holds all edges
    with pytest.warns(UserWarning, match=r"the edge-balanced contiguous split left \d+ empty part"):
        parts = partition(g, 4, "contiguous", balance_edges=True)  # the hub lands in part 1: part 0 is empty
    check_invariants(g, parts)


def test_permutation_makes_parts_contiguous():
    g = clusters(3, 10, bridges=2)
    parts = partition(g, 3, "random", seed=2)
    perm, off = parts.permutation, parts.part_offsets
    for p in parts:
        assert torch.equal(perm[off[p.part_id]:off[p.part_id + 1]], p.owned)
    g2, x2 = parts.reorder(g, torch.arange(g.num_nodes))
    assert torch.equal(x2, perm)
    assert torch.equal(perm[g2.src], g.src) and torch.equal(perm[g2.dst], g.dst)
    # the reordered graph partitions contiguously into the same parts
    again = partition(g2, 3, "contiguous")
    assert torch.equal(again.assignment, parts.assignment[perm])
    assert partition(g, 3, "random", reorder=False).permutation is None


def test_inner_is_the_induced_subgraph():
    g = clusters(2, 10, bridges=3)
    for p in partition(g, 2, "random"):
        inner, eids = p.inner()
        sub, nodes, sub_eids = g.subgraph(p.owned)
        assert torch.equal(nodes, p.owned)
        assert torch.equal(eids.sort().values, sub_eids)
        assert inner.num_nodes == p.num_owned and inner.num_edges == sub.num_edges


def test_part_state_dict_round_trip():
    g = clusters(2, 8, bridges=2)
    p = partition(g, 2)[1]
    buf = io.BytesIO()
    torch.save(p.state_dict(), buf)
    buf.seek(0)
    q = Part.from_state_dict(torch.load(buf, weights_only=True))
    assert q.part_id == 1 and q.graph.equal(p.graph)
    for name in ("owned", "halo", "halo_owner", "edge_ids"):
        assert torch.equal(getattr(q, name), getattr(p, name))


def test_summary_reports_cut_and_halos():
    g = clusters(2, 8)
    text = partition(g, 2).summary()
    assert "edge cut" in text and "halo" in text and "part 1" in text


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("num_parts", [0, -1, 11])
def test_num_parts_out_of_range(num_parts):
    with pytest.raises(ValueError, match=r"num_parts must lie in \[1, num_nodes=10\]"):
        partition(random_graph(10, 20), num_parts)


def test_num_parts_not_int():
    with pytest.raises(TypeError, match="num_parts must be an int"):
        partition(random_graph(10, 20), 2.0)
    with pytest.raises(TypeError, match="num_parts must be an int"):
        partition(random_graph(10, 20), True)


def test_empty_graph_has_no_valid_num_parts():
    with pytest.raises(ValueError, match=r"num_parts must lie in \[1, num_nodes=0\]"):
        partition(Graph([], [], 0), 1)


def test_unknown_method():
    with pytest.raises(ValueError, match="method must be one of"):
        partition(random_graph(10, 20), 2, method="kmeans")


def test_bipartite_graph_rejected():
    with pytest.raises(ValueError, match="g must have one vertex set"):
        partition(random_graph(4, 10, num_src_nodes=6), 2)


def test_not_a_graph():
    with pytest.raises(TypeError, match="g must be a gnnkit.Graph"):
        partition(torch.zeros(2, 3), 2)


def test_seed_not_int():
    with pytest.raises(TypeError, match="seed must be an int"):
        partition(random_graph(10, 20), 2, "random", seed="0")


def test_from_assignment_rejects_empty_part_and_bad_shape():
    g = random_graph(6, 10)
    with pytest.raises(ValueError, match=r"every part must own at least one vertex, but parts \[1\] of 3 are empty"):
        from_assignment(g, torch.tensor([0, 0, 2, 2, 0, 2]), 3)
    with pytest.raises(ValueError, match=r"assignment must have shape \[num_nodes=6\]"):
        from_assignment(g, torch.zeros(5, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"assignment must lie in \[0, num_parts=2\)"):
        from_assignment(g, torch.tensor([0, 1, 2, 0, 1, 0]), 2)


def test_metis_without_pymetis(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pymetis", None)
    with pytest.raises(ImportError, match="method='metis' needs pymetis"):
        partition(random_graph(10, 20), 2, "metis")


def test_inverse_permutation_needs_reorder():
    parts = partition(random_graph(10, 20), 2, "random", reorder=False)
    with pytest.raises(ValueError, match="reorder=False"):
        parts.reorder(random_graph(10, 20))


def test_gnnkit_partition_is_callable_and_still_the_module():
    import gnnkit
    import gnnkit.partition as module

    g = gnnkit.Graph(torch.tensor([0, 1, 2, 3]), torch.tensor([1, 2, 3, 0]), 4)
    called = gnnkit.partition(g, 2, method="contiguous")
    assert isinstance(called, module.Partitioning)
    assert torch.equal(called.assignment, module.partition(g, 2, method="contiguous").assignment)
