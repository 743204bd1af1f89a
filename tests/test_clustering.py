"""gnnkit.scale.clustering.label_propagation: the one label propagation (inflation hubs, brain communities)."""
import networkx as nx
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gnnkit import Graph
from gnnkit.scale.clustering import label_propagation


def two_cliques(bridge: bool) -> Graph:
    a = torch.arange(5)
    src = torch.cat([a.repeat_interleave(5), 5 + a.repeat_interleave(5)])
    dst = torch.cat([a.repeat(5), 5 + a.repeat(5)])
    if bridge:
        src, dst = torch.cat([src, torch.tensor([4])]), torch.cat([dst, torch.tensor([5])])
    return Graph(src, dst, 10)


@st.composite
def small_graphs(draw):
    n = draw(st.integers(0, 8))
    e = draw(st.integers(0, 16)) if n else 0
    src = draw(st.lists(st.integers(0, max(n - 1, 0)), min_size=e, max_size=e))
    dst = draw(st.lists(st.integers(0, max(n - 1, 0)), min_size=e, max_size=e))
    return Graph(torch.tensor(src, dtype=torch.int64), torch.tensor(dst, dtype=torch.int64), n)


def components(g: Graph) -> list[set[int]]:
    nxg = nx.Graph()
    nxg.add_nodes_from(range(g.num_nodes))
    nxg.add_edges_from(zip(g.src.tolist(), g.dst.tolist()))
    return [set(c) for c in nx.connected_components(nxg)]


@settings(max_examples=60, deadline=None)
@given(g=small_graphs(), num_clusters=st.one_of(st.none(), st.integers(1, 4)), seed=st.integers(0, 3))
def test_label_propagation_clusters_stay_inside_components(g, num_clusters, seed):
    lab = label_propagation(g, num_clusters=num_clusters, seed=seed)
    assert lab.shape == (g.num_nodes,) and lab.dtype == torch.int64
    if g.num_nodes:
        assert sorted(set(lab.tolist())) == list(range(int(lab.max()) + 1))  # contiguous ids
    owner = {v: i for i, comp in enumerate(components(g)) for v in comp}
    for c in set(lab.tolist()):
        members = (lab == c).nonzero().view(-1).tolist()
        assert len({owner[v] for v in members}) == 1  # no cluster crosses components
    assert torch.equal(lab, label_propagation(g, num_clusters=num_clusters, seed=seed))  # seeded


def test_label_propagation_without_seeds_finds_two_cliques():
    lab = label_propagation(two_cliques(bridge=True), seed=0)
    assert len(set(lab[:5].tolist())) == 1 and len(set(lab[5:].tolist())) == 1 and lab[0] != lab[5]


def test_label_propagation_weights_decide():
    g = Graph([0, 1, 2, 3, 4, 5, 2], [1, 2, 0, 4, 5, 3, 3], 6)  # two triangles and a bridge 2 -> 3
    strong = torch.tensor([5.0, 5, 5, 5, 5, 5, 0.01])
    lab = label_propagation(g, strong, seed=0)
    assert lab[0] == lab[1] == lab[2] and lab[3] == lab[4] == lab[5] and lab[0] != lab[3]


def test_label_propagation_growth_respects_the_cluster_budget():
    n = 40
    a = torch.arange(n)
    ring = Graph(torch.cat([a, (a + 1) % n]), torch.cat([(a + 1) % n, a]), n)
    for seed in range(3):
        assert 1 <= int(label_propagation(ring, num_clusters=4, seed=seed).max()) + 1 <= 4


def test_label_propagation_edge_cases():
    assert label_propagation(Graph([], [], 0)).shape == (0,)
    assert label_propagation(Graph([], [], 3)).tolist() == [0, 1, 2]  # no edges: singletons
    # self-loops are ignored: two components, so two clusters although num_clusters=1
    assert sorted(label_propagation(Graph([0, 1], [0, 1], 2), num_clusters=1).tolist()) == [0, 1]


def test_label_propagation_rejects_bad_input():
    g = two_cliques(bridge=False)
    with pytest.raises(TypeError, match="g must be a gnnkit.Graph, got list"):
        label_propagation([0, 1])
    with pytest.raises(ValueError, match="g must have one vertex set"):
        label_propagation(Graph([0], [0], 1, num_src_nodes=2))
    with pytest.raises(ValueError, match="num_clusters must be >= 1, got 0"):
        label_propagation(g, num_clusters=0)
    with pytest.raises(TypeError, match=r"num_clusters must be an int, got float \(2.0\)"):
        label_propagation(g, num_clusters=2.0)
    with pytest.raises(ValueError, match="max_iter must be >= 0, got -1"):
        label_propagation(g, max_iter=-1)
    with pytest.raises(TypeError, match="seed must be an int, got NoneType"):
        label_propagation(g, seed=None)
    with pytest.raises(ValueError, match=r"edge_weight must be a float tensor of shape \[E=50\], got \(3,\)"):
        label_propagation(g, torch.ones(3))
    with pytest.raises(ValueError, match=r"edge_weight must be a float tensor of shape \[E=50\], got \(50,\)"):
        label_propagation(g, torch.ones(50, dtype=torch.int64))


def test_label_propagation_old_keywords_warn():
    g = two_cliques(bridge=True)
    w = torch.rand(g.num_edges) + 0.5
    with pytest.warns(DeprecationWarning, match="label_propagation: the keyword 'weight' is deprecated"):
        old = label_propagation(g, weight=w, seed=1)
    assert torch.equal(old, label_propagation(g, w, seed=1))
    with pytest.warns(DeprecationWarning, match="label_propagation: the keyword 'refine_iters' is deprecated"):
        old = label_propagation(g, num_clusters=2, refine_iters=3, seed=1)
    assert torch.equal(old, label_propagation(g, num_clusters=2, max_iter=3, seed=1))
