"""gnnkit.brain.metrics: every metric equals networkx (or a dense formula) on small graphs."""
import math

import networkx as nx
import numpy as np
import pytest
import scipy.sparse.csgraph as csgraph
import torch

from conftest import random_graph
from gnnkit import Graph
from gnnkit.brain import metrics as M
from gnnkit.brain.metrics._common import adjacency
from gnnkit.brain.topology import modular_graph, spatial_graph, watts_strogatz_graph


def nx_undirected(g: Graph) -> nx.Graph:
    out = nx.Graph()
    out.add_nodes_from(range(g.num_nodes))
    out.add_edges_from((u, v) for u, v in zip(g.src.tolist(), g.dst.tolist()) if u != v)
    return out


def nx_directed(g: Graph, weight=None, name="weight") -> nx.DiGraph:
    out = nx.DiGraph()
    out.add_nodes_from(range(g.num_nodes))
    w = [1.0] * g.num_edges if weight is None else weight.tolist()
    for u, v, x in zip(g.src.tolist(), g.dst.tolist(), w):
        if u != v and (not out.has_edge(u, v) or out[u][v][name] > x):
            out.add_edge(u, v, **{name: x})
    return out


def labels_to_sets(labels: torch.Tensor) -> list[set]:
    return [set((labels == c).nonzero().view(-1).tolist()) for c in torch.unique(labels).tolist()]


@pytest.fixture(scope="module")
def ws():
    return watts_strogatz_graph(120, 6, 0.15, seed=2).graph


@pytest.fixture(scope="module")
def directed():
    # a strongly connected directed graph with parallel edges and self-loops: a ring plus random chords
    n = 40
    g = random_graph(n, 160, seed=4)
    ring = torch.arange(n)
    return Graph(torch.cat([g.src, ring]), torch.cat([g.dst, (ring + 1) % n]), n)


def test_density_and_degree_histogram_equal_networkx(ws, directed):
    assert M.density(directed) == pytest.approx(nx.density(nx_directed(directed)))
    assert M.density(ws, directed=False) == pytest.approx(nx.density(nx_undirected(ws)))
    assert M.density(Graph([], [], 1)) == 0.0
    assert M.degree_histogram(ws).tolist() == nx.degree_histogram(nx_undirected(ws))
    md = nx.MultiDiGraph()
    md.add_nodes_from(range(directed.num_nodes))
    md.add_edges_from(zip(directed.src.tolist(), directed.dst.tolist()))
    assert M.degree_histogram(directed, "total").tolist() == nx.degree_histogram(md)
    assert M.degree_histogram(directed, "in").tolist() == np.bincount([d for _, d in md.in_degree()]).tolist()


def test_clustering_equals_networkx(ws, directed):
    for g in (ws, directed):
        ref = nx.clustering(nx_undirected(g))
        got = M.clustering(g, chunk_rows=7)  # several row blocks
        assert np.allclose(got.numpy(), [ref[i] for i in range(g.num_nodes)])
        assert M.average_clustering(g) == pytest.approx(nx.average_clustering(nx_undirected(g)))
    sub = M.clustering(ws, nodes=[3, 5])
    ref = nx.clustering(nx_undirected(ws))
    assert sub.tolist() == pytest.approx([ref[3], ref[5]])


def test_path_length_and_efficiency_equal_networkx(ws, directed):
    und = nx_undirected(ws)
    st = M.path_stats(ws, directed=False)
    assert st["path_length"] == pytest.approx(nx.average_shortest_path_length(und))
    assert st["efficiency"] == pytest.approx(nx.global_efficiency(und))
    assert st["reachable"] == 1.0
    dg = nx_directed(directed)
    assert M.characteristic_path_length(directed) == pytest.approx(nx.average_shortest_path_length(dg))
    lengths = dict(nx.all_pairs_shortest_path_length(dg))
    n = directed.num_nodes
    eff = sum(1 / lengths[i][j] for i in range(n) for j in lengths[i] if i != j) / (n * (n - 1))
    assert M.global_efficiency(directed) == pytest.approx(eff)


def test_weighted_path_length_uses_the_shortest_parallel_edge(directed):
    gen = torch.Generator().manual_seed(0)
    lengths = torch.rand(directed.num_edges, generator=gen, dtype=torch.float64) + 0.1
    dg = nx_directed(directed, lengths)
    assert M.characteristic_path_length(directed, lengths=lengths) == pytest.approx(
        nx.average_shortest_path_length(dg, weight="weight"))


def test_path_stats_disconnected_sources_targets():
    g = Graph([0, 1, 3], [1, 2, 4], 5)  # 0->1->2, 3->4
    st = M.path_stats(g)
    # reachable ordered pairs: (0,1)=1, (0,2)=2, (1,2)=1, (3,4)=1 out of 20
    assert st["path_length"] == pytest.approx(5 / 4)
    assert st["efficiency"] == pytest.approx((1 + 0.5 + 1 + 1) / 20)
    assert st["reachable"] == pytest.approx(4 / 20)
    io = M.path_stats(g, sources=[0, 3], targets=[2, 4])
    assert io["efficiency"] == pytest.approx((0.5 + 1) / 4)
    assert M.path_stats(Graph([], [], 1))["path_length"] == math.inf


def test_sampled_sources_estimator_is_unbiased_within_its_standard_error():
    g = watts_strogatz_graph(1000, 8, 0.1, seed=0).graph
    a = adjacency(g, directed=False)
    dist = csgraph.shortest_path(a, unweighted=True)
    np.fill_diagonal(dist, np.inf)
    per_source = (1 / dist).sum(1) / 999
    exact = per_source.mean()
    assert M.global_efficiency(g, directed=False) == pytest.approx(exact)
    s = 100
    se = per_source.std() / math.sqrt(s) * math.sqrt(1 - s / 1000)  # without replacement
    for seed in range(3):
        est = M.global_efficiency(g, directed=False, num_sources=s, seed=seed)
        assert abs(est - exact) < 4 * se


def test_modularity_equals_networkx_undirected_and_directed(ws, directed):
    labels = torch.arange(ws.num_nodes) // 20
    assert M.modularity(ws, labels) == pytest.approx(nx.community.modularity(nx_undirected(ws), labels_to_sets(labels)))
    gen = torch.Generator().manual_seed(1)
    # a weighted undirected graph stored in both directions: one weight per unordered pair
    und = nx_undirected(ws)
    for u, v in und.edges():
        und[u][v]["weight"] = float(torch.rand(1, generator=gen)) + 0.1
    w = torch.tensor([und[u][v]["weight"] for u, v in zip(ws.src.tolist(), ws.dst.tolist())], dtype=torch.float64)
    assert M.modularity(ws, labels, weight=w, resolution=0.7) == pytest.approx(
        nx.community.modularity(und, labels_to_sets(labels), weight="weight", resolution=0.7))
    lab = torch.arange(directed.num_nodes) % 3
    md = nx.MultiDiGraph()
    md.add_nodes_from(range(directed.num_nodes))
    md.add_edges_from(zip(directed.src.tolist(), directed.dst.tolist()))
    assert M.modularity(directed, lab, directed=True) == pytest.approx(nx.community.modularity(md, labels_to_sets(lab)))
    assert M.modularity(directed, labels_to_sets(lab), directed=True) == M.modularity(directed, lab, directed=True)
    assert M.modularity(Graph([], [], 3), torch.zeros(3, dtype=torch.int64)) == 0.0


def test_community_detection_finds_planted_modules():
    sg = modular_graph(240, 4, 0.3, 0.005, seed=0)
    planted = M.modularity(sg.graph, sg.groups)
    for method in ("louvain", "greedy", "label_propagation"):
        found = M.detect_communities(sg.graph, method=method, seed=0)
        assert M.modularity(sg.graph, found) >= planted - 1e-9, method
        # the same partition up to relabelling: every found community lies inside one module
        pairs = torch.unique(torch.stack([found, sg.groups]), dim=1)
        assert pairs.shape[1] == int(found.max()) + 1 == 4, method


def test_label_propagation_is_seeded_and_weighted():
    g = watts_strogatz_graph(200, 6, 0.05, seed=1).graph
    assert torch.equal(M.label_propagation(g, seed=3), M.label_propagation(g, seed=3))
    # two triangles joined by a weak bridge: the weights decide
    g2 = Graph([0, 1, 2, 3, 4, 5, 2], [1, 2, 0, 4, 5, 3, 3], 6)
    w = torch.tensor([5.0, 5, 5, 5, 5, 5, 0.01])
    lab = M.label_propagation(g2, w, seed=0)
    assert lab[0] == lab[1] == lab[2] and lab[3] == lab[4] == lab[5] and lab[0] != lab[3]


def test_random_reference_graph_is_gnm():
    g = M.random_reference_graph(50, 200, seed=1)
    e = set(zip(g.src.tolist(), g.dst.tolist()))
    assert g.num_edges == 400 and len(e) == 400 and all((b, a) in e for a, b in e)
    assert not (g.src == g.dst).any()
    assert M.random_reference_graph(50, 200, seed=1).equal(g)
    assert M.random_reference_graph(5, 10, seed=0).num_edges == 20  # the complete graph


def test_small_world_sigma_formula_and_references(ws):
    und = nx_undirected(ws)
    refs = [M.random_reference_graph(ws.num_nodes, und.number_of_edges(), seed=s) for s in range(3)]
    got = M.small_world_sigma(ws, reference=refs)
    c_r = np.mean([nx.average_clustering(nx_undirected(r)) for r in refs])
    l_r = np.mean([nx.average_shortest_path_length(nx_undirected(r)) for r in refs])
    c, length = nx.average_clustering(und), nx.average_shortest_path_length(und)
    assert got["sigma"] == pytest.approx((c / c_r) / (length / l_r))
    ana = M.small_world_sigma(ws)
    k = 2 * und.number_of_edges() / ws.num_nodes
    l_r = (math.log(120) - 0.5772156649015329) / math.log(k) + 0.5
    assert ana["sigma"] == pytest.approx((c / (k / 119)) / (length / l_r))
    assert M.small_world_sigma(ws, reference="random", num_random=2, seed=0)["sigma"] > 1


def test_small_world_sigma_separates_small_worlds_from_random_graphs():
    small = M.small_world_sigma(watts_strogatz_graph(1000, 10, 0.05, seed=0).graph)["sigma"]
    er = M.small_world_sigma(M.random_reference_graph(1000, 5000, seed=0))["sigma"]
    assert small > 5
    # G(n, m) against its own analytic reference: C/C_r has sd ~ 0.05 at this size, L/L_r ~ 0.01
    assert 0.8 < er < 1.2


def test_wiring_length_and_robustness():
    sg = spatial_graph(200, mean_degree=8, seed=0)
    d = sg.edge_lengths().double()
    assert M.wiring_length(sg.graph, sg.positions) == pytest.approx(float(d.sum()))
    w = torch.randn(sg.num_edges)
    assert M.wiring_length(sg.graph, sg.positions, w) == pytest.approx(float((w.abs().double() * d).sum()), rel=1e-6)
    seen = []
    mean, std = M.robustness(lambda keep: seen.append(keep) or float(keep.sum()), 101, 0.3, trials=4, seed=2)
    assert all(k.dtype == torch.bool and int(k.sum()) == 101 - 30 for k in seen)  # exactly round(0.3 * 101) removed
    assert mean == 71 and std == 0
    assert M.efficiency_robustness(sg.graph, 0.0) == pytest.approx(1.0)
    r = M.efficiency_robustness(sg.graph, 0.5, trials=2)
    assert 0 < r < 1
    assert M.efficiency_robustness(sg.graph, 0.5, trials=2) == r  # seeded


def test_metrics_bad_input(ws):
    with pytest.raises(ValueError, match="kind must be 'in', 'out' or 'total'"):
        M.degree_histogram(ws, "both")
    with pytest.raises(ValueError, match=r"lengths must be finite and > 0"):
        M.path_stats(ws, lengths=torch.zeros(ws.num_edges))
    with pytest.raises(ValueError, match=r"lengths must have shape \[E\]"):
        M.path_stats(ws, lengths=torch.ones(3))
    with pytest.raises(ValueError, match="give sources or num_sources, not both"):
        M.path_stats(ws, sources=[0], num_sources=3)
    with pytest.raises(ValueError, match=r"sources must lie in \[0, num_nodes=120\)"):
        M.path_stats(ws, sources=[500])
    with pytest.raises(ValueError, match="num_sources must be >= 1"):
        M.path_stats(ws, num_sources=0)
    with pytest.raises(ValueError, match=r"nodes must lie in \[0, num_nodes=120\)"):
        M.clustering(ws, nodes=[-1])
    with pytest.raises(ValueError, match=r"communities must be an integer label tensor of shape \[N\] = \[120\]"):
        M.modularity(ws, torch.zeros(5, dtype=torch.int64))
    with pytest.raises(ValueError, match="communities must not overlap"):
        M.modularity(ws, [set(range(60)), set(range(50, 120))])
    with pytest.raises(ValueError, match="communities must cover every neuron"):
        M.modularity(ws, [set(range(60))])
    with pytest.raises(ValueError, match=r"communities\[0\] holds ids outside"):
        M.communities_from_sets([{500}], 120)
    with pytest.raises(ValueError, match="weight must be finite and >= 0"):
        M.modularity(ws, torch.zeros(120, dtype=torch.int64), weight=-torch.ones(ws.num_edges))
    with pytest.raises(ValueError, match="method must be 'louvain', 'greedy' or 'label_propagation'"):
        M.detect_communities(ws, method="spectral")
    with pytest.raises(ValueError, match="reference must be 'analytic', 'random'"):
        M.small_world_sigma(ws, reference="lattice")
    with pytest.raises(ValueError, match="reference must hold at least one graph"):
        M.small_world_sigma(ws, reference=[])
    with pytest.raises(ValueError, match="mean degree > 1"):
        M.small_world_sigma(Graph([0], [1], 10))
    with pytest.raises(ValueError, match="num_edges = 11 exceeds the 10 possible pairs"):
        M.random_reference_graph(5, 11)
    with pytest.raises(ValueError, match=r"fraction must lie in \[0, 1\)"):
        M.robustness(lambda k: 0.0, 10, 1.0)
    with pytest.raises(ValueError, match=r"fraction must lie in \[0, 1\)"):
        M.efficiency_robustness(ws, -0.1)
    with pytest.raises(ValueError, match="trials must be >= 1"):
        M.robustness(lambda k: 0.0, 10, 0.5, trials=0)
    with pytest.raises(TypeError, match="graph must be a gnnkit.Graph"):
        M.density("graph")
    with pytest.raises(ValueError, match="bipartite"):
        M.density(Graph([0], [0], 1, num_src_nodes=3))
    with pytest.raises(ValueError, match="positions must be finite"):
        M.wiring_length(Graph([0], [1], 2), torch.tensor([[0.0], [float("nan")]]))


def from_networkx(g: nx.Graph) -> Graph:
    e = list(g.edges())
    return Graph([u for u, _ in e] + [v for _, v in e], [v for _, v in e] + [u for u, _ in e], g.number_of_nodes())


def test_small_world_omega_equals_networkx_with_the_same_references():
    import random

    g = nx.connected_watts_strogatz_graph(30, 4, 0.2, seed=1)
    for seed in (0, 3):
        # networkx.omega turns an int seed into one random.Random and draws the references from it in turn
        rng = random.Random(seed)
        gr = nx.random_reference(g, niter=2 * 2, seed=rng)
        gl = nx.lattice_reference(g, niter=2, seed=rng)
        got = M.small_world_omega(from_networkx(g), random_reference=[from_networkx(gr)],
                                  lattice_reference=[from_networkx(gl)])
        assert got["omega"] == pytest.approx(nx.omega(g, niter=2, nrand=1, seed=seed))


def test_small_world_omega_orders_lattice_small_world_random():
    omega = [M.small_world_omega(watts_strogatz_graph(300, 8, p, seed=0).graph, num_references=2, seed=0)["omega"]
             for p in (0.0, 0.1, 1.0)]
    # a ring lattice near -1, a random graph near +1; the small world between them
    assert omega[0] < -0.5 and omega[0] < omega[1] < omega[2] and omega[2] > 0.5


def test_betweenness_equals_networkx_and_sampling_is_unbiased():
    g = watts_strogatz_graph(150, 6, 0.1, seed=3).graph
    ref = nx.betweenness_centrality(nx_undirected(g), normalized=False)
    exact = M.betweenness(g, directed=False)
    # the undirected view counts every unordered pair twice, as bctpy's betweenness_bin does
    assert np.allclose(exact.numpy(), [2 * ref[i] for i in range(150)])
    batched = M.betweenness(g, directed=False, batch_edges=2000)  # 2 sources per batch
    assert np.allclose(batched.numpy(), exact.numpy())
    # sampled sources: the mean of 8 estimates is within 4 standard errors of the exact total
    est = np.stack([M.betweenness(g, directed=False, num_sources=30, seed=s).numpy() for s in range(8)])
    se = est.std(0) / math.sqrt(8)
    total_err = abs(est.mean(0).sum() - exact.numpy().sum())
    assert total_err < 4 * math.sqrt((se**2).sum()) + 1e-9


def test_new_metrics_bad_input(ws):
    with pytest.raises(ValueError, match="kind must be one of"):
        M.degrees(ws, "both")
    with pytest.raises(ValueError, match="kind must be one of"):
        M.participation_coef(ws, torch.zeros(120, dtype=torch.int64), kind="total")
    with pytest.raises(ValueError, match="give weight .* or lengths, not both"):
        M.betweenness(ws, weight=torch.ones(ws.num_edges), lengths=torch.ones(ws.num_edges))
    with pytest.raises(ValueError, match="weight must be finite and >= 0"):
        M.clustering(ws, weight=-torch.ones(ws.num_edges))
    with pytest.raises(ValueError, match="weight must be finite"):
        M.strengths(ws, torch.full((ws.num_edges,), float("nan")))
    with pytest.raises(ValueError, match="weight needs directed=False"):
        M.rich_club(ws, weight=torch.ones(ws.num_edges), directed=True)
    with pytest.raises(ValueError, match="klevel must be >= 0"):
        M.rich_club(ws, -1)
    with pytest.raises(ValueError, match="flag must be 0 .* or 1-4"):
        M.assortativity(ws, 5)
    with pytest.raises(ValueError, match="k must be >= 0"):
        M.kcore(ws, -1)
    with pytest.raises(ValueError, match="chunk_wedges must be >= 1"):
        M.motif3_counts(ws, chunk_wedges=0)
    with pytest.raises(ValueError, match="num_sources must be >= 1"):
        M.betweenness(ws, num_sources=0)
    with pytest.raises(ValueError, match="must each hold at least one graph"):
        M.small_world_omega(ws, random_reference=[], lattice_reference=[ws])
    with pytest.raises(TypeError, match="weight must be a torch.Tensor"):
        M.strengths(ws, [1.0])
    with pytest.raises(ValueError, match="chunk_size must be >= 1"):
        M.local_efficiency(ws, chunk_size=0)
    with pytest.raises(ValueError, match="weight must be finite"):
        M.participation_coef_sign(ws, torch.zeros(120, dtype=torch.int64), torch.full((ws.num_edges,), float("inf")))
    with pytest.raises(ValueError, match=r"communities must be an integer label tensor of shape \[N\]"):
        M.participation_coef(ws, torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="num_references must be >= 1"):
        M.small_world_omega(ws, num_references=0)


@pytest.mark.slow  # three worker processes (torch import each): ~25 s wall on the loaded dev machine
def test_brain_metrics_benchmark_quick_prints_the_table():
    # one metric and tiny sizes: the --quick path end to end (worker processes, table, sampled error)
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, str(root / "benchmarks" / "brain_metrics.py"), "--quick", "--metrics",
                           "kcore", "--sizes", "60", "--large", "300"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| kcore |")]
    assert len(rows) == 2 and rows[0].split("|")[4].strip() != "—"  # bctpy ran at the small size
