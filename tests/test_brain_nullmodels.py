"""gnnkit.brain.nullmodels: degree sequences kept exactly, graphs stay simple, length bins kept, errors named."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gnnkit import Graph
from gnnkit.brain import metrics as M
from gnnkit.brain import nullmodels as N
from gnnkit.brain.topology import spatial_graph, watts_strogatz_graph


def pairs(g: Graph) -> list[tuple[int, int]]:
    return list(zip(g.src.tolist(), g.dst.tolist()))


def assert_simple(g: Graph):
    p = pairs(g)
    assert len(set(p)) == len(p) and all(u != v for u, v in p)


@st.composite
def simple_graphs(draw, directed: bool):
    n = draw(st.integers(2, 12))
    cand = [(u, v) for u in range(n) for v in range(n) if u != v and (directed or u < v)]
    chosen = draw(st.lists(st.sampled_from(cand), unique=True, max_size=len(cand)))
    src = [u for u, _ in chosen] + ([] if directed else [v for _, v in chosen])
    dst = [v for _, v in chosen] + ([] if directed else [u for u, _ in chosen])
    return Graph(torch.tensor(src, dtype=torch.int64), torch.tensor(dst, dtype=torch.int64), n)


@settings(max_examples=40, deadline=None)
@given(simple_graphs(directed=True), st.integers(0, 100))
def test_directed_rewire_keeps_in_and_out_degrees_and_sources(g, seed):
    for fn in (N.degree_preserving_rewire, N.lattice_rewire):
        r = fn(g, 5, directed=True, seed=seed)
        assert torch.equal(r.graph.src, g.src)  # edge i keeps its source, so [E] weights stay aligned
        assert torch.equal(M.degrees(r.graph, "in"), M.degrees(g, "in"))
        assert_simple(r.graph)


@settings(max_examples=40, deadline=None)
@given(simple_graphs(directed=False), st.integers(0, 100))
def test_undirected_rewire_keeps_degrees_and_symmetry(g, seed):
    for fn in (N.degree_preserving_rewire, N.lattice_rewire):
        r = fn(g, 5, seed=seed)
        assert torch.equal(M.degrees(r.graph, "undirected"), M.degrees(g, "undirected"))
        assert_simple(r.graph)
        p = set(pairs(r.graph))
        assert all((v, u) in p for u, v in p)


def test_degree_preserving_rewire_randomises_and_is_seeded():
    g = watts_strogatz_graph(300, 8, 0.0, seed=0).graph  # a ring lattice: high clustering
    r = N.degree_preserving_rewire(g, 10, seed=1)
    assert r.swaps > g.num_edges  # each undirected pair swapped several times
    assert torch.equal(M.degrees(r.graph, "undirected"), M.degrees(g, "undirected"))
    assert M.average_clustering(r.graph) < 0.2 * M.average_clustering(g)
    again = N.degree_preserving_rewire(g, 10, seed=1)
    assert torch.equal(again.graph.dst, r.graph.dst) and again.swaps == r.swaps


def test_lattice_rewire_shortens_ring_distances_and_raises_clustering():
    g = M.random_reference_graph(300, 1200, seed=0)
    latt = N.lattice_rewire(g, 20, seed=0).graph
    assert torch.equal(M.degrees(latt, "undirected"), M.degrees(g, "undirected"))

    def ring_length(h: Graph) -> int:
        d = (h.src - h.dst).abs()
        return int(torch.minimum(d, 300 - d).sum())

    assert ring_length(latt) < 0.7 * ring_length(g)
    assert M.average_clustering(latt) > 1.5 * M.average_clustering(g)


def test_spatial_rewire_keeps_length_bins_and_degrees():
    sg = spatial_graph(400, mean_degree=10, directed=False, seed=0)
    g = sg.graph
    pos = sg.positions.double().numpy()
    lengths = np.linalg.norm(pos[g.src] - pos[g.dst], axis=1)  # float64, as spatial_rewire measures them
    r = N.spatial_rewire(g, sg.positions, 10, num_bins=8, seed=0)
    assert r.swaps > 0
    assert torch.equal(M.degrees(r.graph, "undirected"), M.degrees(g, "undirected"))
    assert_simple(r.graph)
    new = np.linalg.norm(pos[r.graph.src] - pos[r.graph.dst], axis=1)
    edges = N.length_bins(lengths, 8)
    before = np.histogram(lengths, edges)[0]
    after = np.histogram(new, edges)[0]
    assert before.tolist() == after.tolist()  # every bin keeps its exact count
    # the stated tolerance: the KS distance is at most the largest bin's share of the edges
    grid = np.sort(np.concatenate([lengths, new]))
    ks = np.abs(np.searchsorted(np.sort(lengths), grid, "right") - np.searchsorted(np.sort(new), grid, "right")).max()
    assert ks / lengths.size <= before.max() / lengths.size
    assert set(pairs(r.graph)) != set(pairs(g))


def test_spatial_rewire_directed_and_one_bin_is_degree_preserving():
    sg = spatial_graph(150, mean_degree=6, directed=True, seed=1)
    r = N.spatial_rewire(sg.graph, sg.positions, 5, num_bins=1, directed=True, seed=0)
    assert torch.equal(r.graph.src, sg.graph.src)
    assert torch.equal(M.degrees(r.graph, "in"), M.degrees(sg.graph, "in"))


def test_nullmodels_bad_input():
    with pytest.raises(ValueError, match="no self-loops"):
        N.degree_preserving_rewire(Graph([0, 1], [0, 0], 2))
    with pytest.raises(ValueError, match="no duplicate edges"):
        N.degree_preserving_rewire(Graph([0, 0], [1, 1], 2), directed=True)
    with pytest.raises(ValueError, match="both directions for directed=False"):
        N.degree_preserving_rewire(Graph([0], [1], 2))
    with pytest.raises(ValueError, match="swaps_per_edge must be >= 0"):
        N.lattice_rewire(Graph([0, 1], [1, 0], 2), -1)
    with pytest.raises(ValueError, match="num_bins must be >= 1"):
        N.spatial_rewire(Graph([0, 1], [1, 0], 2), torch.zeros(2, 2), num_bins=0)
    with pytest.raises(ValueError, match="positions must have one row per neuron"):
        N.spatial_rewire(Graph([0, 1], [1, 0], 2), torch.zeros(3, 2))
    with pytest.raises(TypeError, match="seed must be an int"):
        N.degree_preserving_rewire(Graph([0, 1], [1, 0], 2), seed=0.5)
