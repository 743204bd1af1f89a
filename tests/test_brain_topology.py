"""gnnkit.brain.topology: generators against their defining probabilities, seeds, bad input.

Statistical checks compare counts with their exact expectation computed from the dense
pair list of a small network (the oracle), using 5-sigma bounds: a correct generator fails
one of them with probability below 1e-6 per check, a wrong rate (off by a few percent)
fails reliably.
"""
import math

import networkx as nx
import numpy as np
import pytest
import torch
from scipy.stats import chi2

from gnnkit import Graph
from gnnkit.brain.topology import sampling as T
from gnnkit.brain.topology import (
    PD14_PROBS,
    PD14_SIZES,
    SpatialGraph,
    cortical_column,
    decay_for_degree,
    edge_lengths,
    hierarchical_modular_graph,
    layered_graph,
    modular_graph,
    spatial_graph,
    watts_strogatz_graph,
)


def pair_probabilities(x: np.ndarray, decay: float, p0: float, tol: float, lateral: int | None = None):
    """Dense oracle: distance and connection probability of every ordered pair i != j."""
    xs = x if lateral is None else x[:, :lateral]
    d = np.sqrt(((xs[:, None, :] - xs[None, :, :]) ** 2).sum(-1))
    cutoff = decay * math.log(p0 / tol)
    p = p0 * np.exp(-d / decay) * (d <= cutoff)
    np.fill_diagonal(p, 0.0)
    return d, p


def edge_set(g: Graph) -> set:
    return set(zip(g.src.tolist(), g.dst.tolist()))


# ------------------------------------------------------------ spatial graphs
@pytest.mark.parametrize("cell_factor", [None, 0.25, 1.0, 4.0])
def test_spatial_graph_edge_count_and_distance_profile(cell_factor):
    rng = np.random.default_rng(5)
    x = rng.random((700, 2))
    decay, p0, tol = 0.06, 0.8, 1e-4
    cell = None if cell_factor is None else cell_factor * decay
    sg = spatial_graph(700, positions=x, decay=decay, p0=p0, tol=tol, cell_size=cell, seed=3)
    d, p = pair_probabilities(x, decay, p0, tol)
    mean, var = p.sum(), (p * (1 - p)).sum()
    assert abs(sg.num_edges - mean) < 5 * math.sqrt(var)
    # distance profile: observed edges per distance bin vs the expected counts, chi-square test
    bins = np.linspace(0, decay * math.log(p0 / tol), 13)
    lengths = edge_lengths(sg.graph, sg.positions).double().numpy()
    observed = np.histogram(lengths, bins)[0]
    expected = np.histogram(d.ravel(), bins, weights=p.ravel())[0]
    variance = np.histogram(d.ravel(), bins, weights=(p * (1 - p)).ravel())[0]
    used = expected > 5
    stat = (((observed - expected) ** 2)[used] / variance[used]).sum()
    assert stat < chi2.ppf(1 - 1e-6, used.sum())
    assert lengths.max() <= bins[-1] + 1e-6  # nothing beyond the cutoff
    assert not (sg.graph.src == sg.graph.dst).any()
    assert len(edge_set(sg.graph)) == sg.num_edges  # no duplicates


@pytest.mark.parametrize("strategy", ["auto", "cell pairs", "slots"])
def test_spatial_graph_each_pair_is_an_independent_trial_with_its_probability(strategy, monkeypatch):
    """Per-pair frequencies over many seeds match p_ij, for both sampling strategies and the planner's mix."""
    if strategy != "auto":  # force one strategy for every offset (offset 0 always uses cell pairs)
        plan = T._plan_costs
        force = (lambda *a: (plan(*a)[0] * 0, plan(*a)[1] + np.inf)) if strategy == "cell pairs" else \
            (lambda *a: (plan(*a)[0] + np.inf, plan(*a)[1] * 0))
        monkeypatch.setattr(T, "_plan_costs", force)
    rng = np.random.default_rng(0)
    x = rng.random((24, 2))
    decay, p0, tol, runs = 0.2, 0.9, 1e-3, 200
    cell = 0.3 if strategy == "cell pairs" else 0.05  # large cells keep the forced per-offset loop short
    counts = np.zeros((24, 24))
    for seed in range(runs):
        g = spatial_graph(24, positions=x, decay=decay, p0=p0, tol=tol, cell_size=cell, seed=seed).graph
        np.add.at(counts, (g.src.numpy(), g.dst.numpy()), 1)
    _, p = pair_probabilities(x, decay, p0, tol)
    sd = np.sqrt(runs * p * (1 - p))
    z = np.abs(counts - runs * p) / np.where(sd > 0, sd, 1)
    assert z.max() < 5.5  # 552 pairs: a 5.5-sigma outlier has probability ~2e-5 overall
    assert (counts[p == 0] == 0).all()


def test_spatial_graph_undirected_pairs_once_in_both_directions():
    rng = np.random.default_rng(1)
    x = rng.random((500, 3))
    decay, tol = 0.1, 1e-4
    sg = spatial_graph(500, positions=x, decay=decay, tol=tol, directed=False, seed=2)
    e = edge_set(sg.graph)
    assert all((b, a) in e for a, b in e)
    _, p = pair_probabilities(x, decay, 1.0, tol)
    upper = np.triu(p, 1)
    mean, var = upper.sum(), (upper * (1 - upper)).sum()
    assert abs(sg.num_edges / 2 - mean) < 5 * math.sqrt(var)


def test_spatial_graph_seed_reproducible_and_sensitive():
    a = spatial_graph(2000, mean_degree=12, seed=7)
    b = spatial_graph(2000, mean_degree=12, seed=7)
    c = spatial_graph(2000, mean_degree=12, seed=8)
    assert a.graph.equal(b.graph) and torch.equal(a.positions, b.positions)
    assert not a.graph.equal(c.graph)
    # edges come sorted by (dst, src): CSR order for aggregation
    assert a.graph.is_sorted_by_dst()


def test_decay_for_degree_gives_the_interior_mean_degree():
    n, k = 20_000, 20.0
    sg = spatial_graph(n, mean_degree=k, seed=0)
    lam = decay_for_degree(k, n)
    assert lam == pytest.approx(math.sqrt(k / (n * 2 * math.pi)))
    margin = lam * math.log(1e6)  # beyond the cutoff from the boundary: a full neighbourhood
    pos = sg.positions
    interior = ((pos > margin) & (pos < 1 - margin)).all(1)
    mean_out = sg.graph.out_degrees()[interior].double().mean()
    # Poisson degrees: standard error sqrt(k / n_interior) ~ 0.07
    assert abs(float(mean_out) - k) < 5 * math.sqrt(k / int(interior.sum()))


def test_decay_for_degree_3d_formula():
    assert decay_for_degree(30, 1000, dim=3, extent=2.0) == pytest.approx((30 / (125 * 8 * math.pi)) ** (1 / 3))


def test_bernoulli_positions_is_exact_for_p_one_and_zero():
    rng = np.random.default_rng(0)
    assert np.concatenate(list(T._bernoulli_positions(10, 1.0, rng, chunk=3))).tolist() == list(range(10))
    assert list(T._bernoulli_positions(10, 0.0, rng)) == []
    draws = np.concatenate(list(T._bernoulli_positions(2_000_000, 0.01, rng, chunk=5000)))
    assert np.all(np.diff(draws) > 0) and draws.max() < 2_000_000
    assert abs(draws.size - 20_000) < 5 * math.sqrt(20_000 * 0.99)


# ------------------------------------------------------------ small world
def test_watts_strogatz_p0_is_the_ring_lattice_of_networkx():
    ws = watts_strogatz_graph(30, 6, 0.0)
    ref = nx.watts_strogatz_graph(30, 6, 0.0)
    want = {(u, v) for u, v in ref.edges()} | {(v, u) for u, v in ref.edges()}
    assert edge_set(ws.graph) == want
    assert torch.allclose(ws.positions.norm(dim=1), torch.ones(30))


@pytest.mark.parametrize("p", [0.1, 0.5, 1.0])
def test_watts_strogatz_keeps_edge_count_no_loops_no_duplicates(p):
    ws = watts_strogatz_graph(400, 10, p, seed=1)
    g = ws.graph
    assert g.num_edges == 400 * 10
    assert not (g.src == g.dst).any()
    e = edge_set(g)
    assert len(e) == g.num_edges and all((b, a) in e for a, b in e)
    lattice = edge_set(watts_strogatz_graph(400, 10, 0.0).graph)
    rewired = 1 - len(e & lattice) / len(e)
    # each lattice edge is rewired with probability p and then lands off-lattice with prob. ~ 1 - k/N
    assert abs(rewired - p * (1 - 10 / 400)) < 5 * math.sqrt(p * (1 - p) / 2000) + 0.01


def test_watts_strogatz_complete_lattice_has_nothing_to_rewire():
    g = watts_strogatz_graph(7, 6, 1.0).graph
    assert g.num_edges == 42 and len(edge_set(g)) == 42  # the complete graph on 7 neurons


def test_watts_strogatz_clustering_falls_with_p():
    from gnnkit.brain.metrics import average_clustering

    c = [average_clustering(watts_strogatz_graph(500, 10, p, seed=0).graph) for p in (0.0, 0.1, 1.0)]
    assert c[0] == pytest.approx(3 * (10 - 2) / (4 * (10 - 1)))  # lattice: 3(k-2)/(4(k-1))
    assert c[0] > c[1] > c[2]


# ------------------------------------------------------------ modular
def test_modular_graph_counts_match_the_planted_partition():
    n, m, p_in, p_out = 600, 4, 0.2, 0.01
    sg = modular_graph(n, m, p_in, p_out, seed=3)
    g, groups = sg.graph, sg.groups
    assert torch.bincount(groups).tolist() == [150] * 4
    same = groups[g.src] == groups[g.dst]
    within_pairs, between_pairs = 4 * 150 * 149 / 2, (n * (n - 1) / 2 - 4 * 150 * 149 / 2)
    for count, pairs, p in ((int(same.sum()) // 2, within_pairs, p_in), (int((~same).sum()) // 2, between_pairs, p_out)):
        assert abs(count - pairs * p) < 5 * math.sqrt(pairs * p * (1 - p))
    e = edge_set(g)
    assert all((b, a) in e for a, b in e)


def test_hierarchical_modular_graph_levels_and_nested_positions():
    probs = [0.005, 0.05, 0.4]
    sg = hierarchical_modular_graph(640, 4, probs, seed=1, directed=True)
    g, groups = sg.graph, sg.groups
    assert int(groups.max()) + 1 == 16
    leaf_s, leaf_d = groups[g.src], groups[g.dst]
    level = (leaf_s // 4 == leaf_d // 4).long() + (leaf_s == leaf_d).long()
    size = 40
    pairs = {2: 16 * size * (size - 1), 1: 4 * 4 * 3 * size * size, 0: 640 * 639 - 16 * size * (size - 1) - 4 * 12 * size * size}
    for lv, p in enumerate(probs):
        count = int((level == lv).sum())
        assert abs(count - pairs[lv] * p) < 5 * math.sqrt(pairs[lv] * p * (1 - p)), lv
    # each leaf module occupies its own box: modules are spatially separated
    centre = torch.stack([sg.positions[groups == k].mean(0) for k in range(16)])
    spread = torch.stack([(sg.positions[groups == k] - centre[k]).norm(dim=1).max() for k in range(16)])
    gaps = torch.cdist(centre, centre) + torch.eye(16) * 9
    assert float(gaps.min()) > float(spread.max())


def test_layered_graph_without_decay_is_a_block_model():
    sizes = [100, 150, 80]
    probs = np.array([[0.1, 0.3, 0.0], [0.0, 0.05, 0.2], [0.15, 0.0, 0.1]])
    sg = layered_graph(sizes, probs, seed=4, layer_names=["a", "b", "c"])
    g, lay = sg.graph, sg.groups
    assert sg.group_names == ("a", "b", "c") and sg.dim == 3
    for a in range(3):
        for b in range(3):
            count = int(((lay[g.src] == a) & (lay[g.dst] == b)).sum())
            pairs = sizes[a] * (sizes[b] - (a == b))
            assert abs(count - pairs * probs[a, b]) <= 5 * math.sqrt(pairs * probs[a, b] * (1 - probs[a, b])) + 1e-9
    # layer 0 lies above layer 1 above layer 2 (depth is the last coordinate)
    z = sg.positions[:, -1]
    assert float(z[lay == 0].min()) >= float(z[lay == 1].max()) >= 0


def test_layered_graph_with_decay_matches_the_lateral_distance_rule():
    sizes = [150, 150]
    probs = np.array([[0.6, 0.9], [0.2, 0.5]])
    decay, tol = 0.15, 1e-4
    sg = layered_graph(sizes, probs, decay=decay, tol=tol, seed=9)
    x = sg.positions.double().numpy()
    lay = sg.groups.numpy()
    _, p = pair_probabilities(x, decay, 1.0, tol, lateral=2)
    p *= probs[lay[:, None], lay[None, :]]
    assert abs(sg.num_edges - p.sum()) < 5 * math.sqrt((p * (1 - p)).sum())


def test_cortical_column_populations_and_pd14_probabilities():
    sg = cortical_column(1543, seed=0)
    sizes = torch.bincount(sg.groups, minlength=8).numpy()
    assert sizes.sum() == 1543
    assert np.abs(sizes - np.asarray(PD14_SIZES) / sum(PD14_SIZES) * 1543).max() < 1
    g, pop = sg.graph, sg.groups
    probs = np.asarray(PD14_PROBS)
    expected = sum(sizes[a] * (sizes[b] - (a == b)) * probs[a, b] for a in range(8) for b in range(8))
    var = sum(sizes[a] * (sizes[b] - (a == b)) * probs[a, b] * (1 - probs[a, b]) for a in range(8) for b in range(8))
    assert abs(g.num_edges - expected) < 5 * math.sqrt(var)
    l5e_to_l5i = int(((pop[g.src] == 4) & (pop[g.dst] == 5)).sum())
    pairs = sizes[4] * sizes[5]
    assert abs(l5e_to_l5i - pairs * 0.0600) < 5 * math.sqrt(pairs * 0.06 * 0.94)  # PD14 table: L5i <- L5e = 0.06
    # excitatory and inhibitory populations of a layer share its depth band
    z = sg.positions[:, -1]
    assert float(z[pop == 0].min()) >= float(z[pop == 3].max()) - 1e-6


def test_generators_reproducible_by_seed():
    for make in (lambda s: watts_strogatz_graph(100, 4, 0.3, seed=s), lambda s: modular_graph(100, 4, 0.3, 0.02, seed=s),
                 lambda s: layered_graph([30, 30], [[0.2, 0.1], [0.1, 0.2]], decay=0.3, seed=s)):
        assert make(1).graph.equal(make(1).graph)
        assert not make(1).graph.equal(make(2).graph)


def test_edge_lengths_and_spatial_graph_container():
    g = Graph([0, 1, 2], [1, 2, 0], 3)
    pos = torch.tensor([[0.0, 0.0], [3.0, 4.0], [3.0, 0.0]])
    assert torch.allclose(edge_lengths(g, pos), torch.tensor([5.0, 4.0, 3.0]))
    sg = SpatialGraph(g, pos)
    assert torch.allclose(sg.edge_lengths(), torch.tensor([5.0, 4.0, 3.0]))
    sub = sg.with_graph(Graph([0], [2], 3))
    assert sub.num_edges == 1 and torch.equal(sub.positions, sg.positions)
    assert edge_lengths(Graph([], [], 3), pos).shape == (0,)


# ------------------------------------------------------------ bad input
def test_bad_input_generators():
    with pytest.raises(ValueError, match="positions must be finite.*neuron 1"):
        spatial_graph(3, positions=[[0.0, 0.0], [float("nan"), 1.0], [0.5, 0.5]], decay=0.1)
    with pytest.raises(ValueError, match="positions must be finite"):
        edge_lengths(Graph([0], [1], 2), torch.tensor([[0.0, 0.0], [float("inf"), 0.0]]))
    with pytest.raises(ValueError, match=r"p0 must be a probability in \[0, 1\], got 1.5"):
        spatial_graph(10, decay=0.1, p0=1.5)
    with pytest.raises(ValueError, match=r"tol must be a probability in \[0, 1\]"):
        spatial_graph(10, decay=0.1, tol=-1e-3)
    with pytest.raises(ValueError, match="tol must be > 0"):
        spatial_graph(10, decay=0.1, tol=0.0)
    with pytest.raises(ValueError, match="exactly one of decay"):
        spatial_graph(10, decay=0.1, mean_degree=3)
    with pytest.raises(ValueError, match="exactly one of decay"):
        spatial_graph(10)
    with pytest.raises(ValueError, match="decay must be > 0"):
        spatial_graph(10, decay=0.0)
    with pytest.raises(ValueError, match="positions must have one row per neuron"):
        spatial_graph(4, positions=np.zeros((3, 2)), decay=0.1)
    with pytest.raises(ValueError, match=r"positions must have shape \[N, D\]"):
        spatial_graph(4, positions=np.zeros(4), decay=0.1)
    with pytest.raises(ValueError, match="dim must be <= 3"):
        spatial_graph(4, dim=4, decay=0.1)
    with pytest.raises(TypeError, match="seed must be an int"):
        spatial_graph(4, decay=0.1, seed=None)
    with pytest.raises(ValueError, match="mean_degree must be > 0"):
        decay_for_degree(0, 10)
    with pytest.raises(ValueError, match="p0 must be > 0"):
        decay_for_degree(3, 10, p0=0.0)
    with pytest.raises(ValueError, match="k must be even"):
        watts_strogatz_graph(10, 3, 0.1)
    with pytest.raises(ValueError, match="k must be even and < num_nodes"):
        watts_strogatz_graph(10, 10, 0.1)
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\], got -0.1"):
        watts_strogatz_graph(10, 4, -0.1)
    with pytest.raises(ValueError, match=r"p_in must be a probability in \[0, 1\]"):
        modular_graph(10, 2, 1.2, 0.1)
    with pytest.raises(ValueError, match="num_modules must be >= 2"):
        modular_graph(10, 1, 0.2, 0.1)
    with pytest.raises(ValueError, match=r"probs must hold probabilities in \[0, 1\], got a value of 2.0"):
        hierarchical_modular_graph(16, 2, [0.1, 2.0])
    with pytest.raises(ValueError, match="probs must list one probability per level"):
        hierarchical_modular_graph(16, 2, [0.1])
    with pytest.raises(ValueError, match="smaller than the 16 leaf modules"):
        hierarchical_modular_graph(10, 4, [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r"layer_probs must have shape \[2, 2\]"):
        layered_graph([5, 5], [[0.1, 0.2, 0.3]])
    with pytest.raises(ValueError, match="layer_probs must hold probabilities"):
        layered_graph([5, 5], [[0.1, float("nan")], [0.1, 0.1]])
    with pytest.raises(ValueError, match="must be symmetric when directed=False"):
        layered_graph([5, 5], [[0.1, 0.2], [0.3, 0.1]], directed=False)
    with pytest.raises(ValueError, match="layer_names must name the 2 layers"):
        layered_graph([5, 5], [[0.1, 0.2], [0.2, 0.1]], layer_names=["a"])
    with pytest.raises(ValueError, match=r"layer_sizes\[1\] must be >= 0"):
        layered_graph([5, -1], [[0.1, 0.2], [0.2, 0.1]])
    with pytest.raises(ValueError, match="num_nodes must be >= 8"):
        cortical_column(5)


def test_bad_input_spatial_graph_container():
    g = Graph([0], [1], 2)
    with pytest.raises(TypeError, match="graph must be a gnnkit.Graph"):
        SpatialGraph("not a graph", torch.zeros(2, 2))
    with pytest.raises(ValueError, match="positions must have one row per neuron"):
        SpatialGraph(g, torch.zeros(3, 2))
    with pytest.raises(ValueError, match=r"groups must be an integer tensor of shape \[N\]"):
        SpatialGraph(g, torch.zeros(2, 2), groups=torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="bipartite"):
        SpatialGraph(Graph([0], [0], 1, num_src_nodes=2), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="same 2 neurons"):
        SpatialGraph(g, torch.zeros(2, 2)).with_graph(Graph([0], [1], 3))


def test_bad_input_types_and_rare_branches():
    with pytest.raises(TypeError, match=r"num_nodes must be an int, got float"):
        spatial_graph(10.5, decay=0.1)
    with pytest.raises(TypeError, match="decay must be a real number, got str"):
        spatial_graph(10, decay="far")
    with pytest.raises(TypeError, match="layer_probs must be an array of probabilities"):
        layered_graph([2, 2], object())
    with pytest.raises(TypeError, match=r"positions must be an \[N, D\] float array, got list"):
        spatial_graph(1, positions=[["a", "b"]], decay=0.1)
    with pytest.raises(TypeError, match="positions must be an .* got dtype torch.bool"):
        spatial_graph(2, positions=torch.ones(2, 2, dtype=torch.bool), decay=0.1)
    with pytest.raises(ValueError, match="cell_size=1e-20 is too small"):
        spatial_graph(50, decay=0.1, cell_size=1e-20)
    with pytest.raises(ValueError, match="layer_sizes must list at least one layer"):
        layered_graph([], np.zeros((0, 0)))
    with pytest.raises(ValueError, match="tol must be > 0"):
        layered_graph([5, 5], [[0.1, 0.2], [0.2, 0.1]], decay=0.1, tol=0.0)
