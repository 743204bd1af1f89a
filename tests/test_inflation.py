"""Vertex inflation: shortcuts vs a dense reachability oracle, hub graphs vs hand-built ones, schedules, bad input."""
import sys
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch

from gnnkit import Graph
from gnnkit.inflation import (
    GraphTransform,
    Hubs,
    Identity,
    InflatedGNN,
    InflationSchedule,
    LayerGraph,
    Shortcuts,
    cluster_nodes,
    hub_graph,
    label_propagation,
    shortcut_edges,
)
from gnnkit.graph.multiview import MultiViewGraph
from gnnkit.nn import GCNConv


def rand_graph(n: int, e: int, seed: int, loops: bool = True) -> Graph:
    gen = torch.Generator().manual_seed(seed)
    s, d = torch.randint(0, n, (e,), generator=gen), torch.randint(0, n, (e,), generator=gen)
    if not loops:
        keep = s != d
        s, d = s[keep], d[keep]
    return Graph(s, d, n)


def path_graph(n: int) -> Graph:
    a = torch.arange(n - 1)
    return Graph(torch.cat([a, a + 1]), torch.cat([a + 1, a]), n)


def dense_oracle(g: Graph, k: int, ppr_alpha: float = 0.15):
    """Dense float64 ``dist[v, u]`` (shortest u -> v hops, inf if > k), shortest-path counts, truncated PPR."""
    n = g.num_nodes
    a = torch.zeros(n, n, dtype=torch.float64)
    keep = g.src != g.dst
    a[g.dst[keep], g.src[keep]] = 1.0
    dist = torch.full((n, n), float("inf"), dtype=torch.float64)
    dist.fill_diagonal_(0)
    count = torch.zeros(n, n, dtype=torch.float64)
    walks = torch.eye(n, dtype=torch.float64)
    for d in range(1, k + 1):
        walks = a @ walks  # walks of length d; at the shortest distance they are shortest paths
        new = (walks > 0) & torch.isinf(dist)
        dist[new] = d
        count[new] = walks[new]
    outdeg = a.sum(0)
    t = a / torch.where(outdeg > 0, outdeg, torch.ones_like(outdeg))[None, :]
    x = torch.eye(n, dtype=torch.float64)
    ppr = ppr_alpha * x
    for _ in range(k):
        x = (1 - ppr_alpha) * (t @ x)
        ppr = ppr + ppr_alpha * x
    return dist, count, ppr


def edges_of(lg: LayerGraph) -> dict:
    return {(s, d): (w, h) for s, d, w, h in zip(lg.graph.src.tolist(), lg.graph.dst.tolist(),
                                                  lg.edge_weight.tolist(), lg.hops.tolist())}


def assert_no_duplicates(g: Graph):
    key = g.dst * g.num_src_nodes + g.src
    assert torch.unique(key).numel() == key.numel()


# ------------------------------------------------------------------ shortcuts
@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_shortcuts_equal_dense_reachability_within_k_hops(seed, k):
    g = rand_graph(8, 14, seed)
    lg = shortcut_edges(g, k, decay=0.5)
    dist, _, _ = dense_oracle(g, k)
    mult = {}
    for u, v in zip(g.src.tolist(), g.dst.tolist()):
        mult[(u, v)] = mult.get((u, v), 0) + 1  # duplicate input edges merge, their weights add
    want = {(u, v): (mult[(u, v)] if dist[v, u] == 1 else 0.5 ** (int(dist[v, u]) - 1), int(dist[v, u]))
            for v in range(8) for u in range(8) if u != v and dist[v, u] <= k}
    got = edges_of(lg)
    assert set(got) == set(want)
    for key, (w, h) in want.items():
        assert got[key][0] == pytest.approx(w) and got[key][1] == h
    assert_no_duplicates(lg.graph)
    assert bool((lg.graph.src != lg.graph.dst).all())  # input loops removed, none added
    assert lg.graph.is_sorted_by_dst()


def _scores(g, k, score, decay, min_hops=2):
    dist, count, ppr = dense_oracle(g, k)
    cand = {}
    for v in range(g.num_nodes):
        for u in range(g.num_nodes):
            d = dist[v, u]
            if u != v and min_hops <= d <= k:
                s = count[v, u].item() * decay ** (d.item() - 1) if score == "paths" else ppr[v, u].item()
                cand[(u, v)] = (s, int(d))
    return cand


def _check_top(chosen, rest, group_of=lambda key: 0):
    """Every chosen shortcut ranks (score desc, hop asc) at least as high as every unchosen one of its group."""
    for key_c, (s_c, h_c) in chosen.items():
        for key_r, (s_r, h_r) in rest.items():
            if group_of(key_c) == group_of(key_r):
                assert s_c > s_r - 1e-12 and (s_c > s_r + 1e-12 or h_c <= h_r), (key_c, key_r)


@pytest.mark.parametrize("score", ["paths", "ppr"])
@pytest.mark.parametrize("m", [0, 1, 2, 4])
@pytest.mark.parametrize("seed", range(6))
def test_per_vertex_budget_keeps_top_m_by_score(score, m, seed):
    g = rand_graph(9, 20, seed + 100)
    lg = shortcut_edges(g, 4, max_per_node=m, score=score, decay=0.7)
    cand = _scores(g, 4, score, 0.7)
    got = {key: wh for key, wh in edges_of(lg).items() if wh[1] >= 2}
    assert set(got) <= set(cand)
    for v in range(9):
        n_c = sum(1 for (_, d) in cand if d == v)
        assert sum(1 for (_, d) in got if d == v) == min(m, n_c)  # budget respected and filled
    chosen = {key: cand[key] for key in got}
    _check_top(chosen, {key: s for key, s in cand.items() if key not in got}, group_of=lambda key: key[1])
    for key in got:
        assert got[key][0] == pytest.approx(0.7 ** (cand[key][1] - 1))


@pytest.mark.parametrize("score", ["paths", "ppr"])
@pytest.mark.parametrize("budget", [0, 3, 10, 1000])
def test_global_budget_keeps_top_edges_overall(score, budget):
    g = rand_graph(10, 22, 7)
    lg = shortcut_edges(g, 3, max_edges=budget, score=score)
    cand = _scores(g, 3, score, 0.5)
    got = {key for key, (_, h) in edges_of(lg).items() if h >= 2}
    assert len(got) == min(budget, len(cand))
    _check_top({key: cand[key] for key in got}, {key: s for key, s in cand.items() if key not in got})


def test_both_budgets_together():
    g = rand_graph(12, 30, 3)
    lg = shortcut_edges(g, 3, max_per_node=2, max_edges=5)
    sc = lg.hops >= 2
    assert int(sc.sum()) <= 5
    assert int(torch.bincount(lg.graph.dst[sc], minlength=12).max()) <= 2


@pytest.mark.parametrize("seed", range(4))
def test_beam_pruned_shortcuts_stay_within_k_hops(seed):
    g = rand_graph(40, 160, seed)
    k = 4
    dist, _, _ = dense_oracle(g, k)
    for score in ("paths", "ppr"):
        lg = shortcut_edges(g, k, max_per_node=3, beam=2, score=score)
        sc = lg.hops >= 2
        for u, v, h in zip(lg.graph.src[sc].tolist(), lg.graph.dst[sc].tolist(), lg.hops[sc].tolist()):
            assert 2 <= dist[v, u] <= h <= k  # a pruned frontier can only find a pair late, never wrongly
        assert int(torch.bincount(lg.graph.dst[sc], minlength=40).max()) <= 3
        assert_no_duplicates(lg.graph)


def test_self_loops_only_when_asked_and_originals_merged():
    g = Graph([0, 0, 1, 2, 2], [1, 1, 2, 2, 0], 3)  # a duplicate edge and a self-loop
    plain = shortcut_edges(g, 2)
    assert bool((plain.graph.src != plain.graph.dst).all())
    assert edges_of(plain)[(0, 1)] == (2.0, 1)  # duplicates merged, weights summed
    looped = shortcut_edges(g, 2, self_loops=True)
    loops = looped.graph.src == looped.graph.dst
    assert sorted(looped.graph.src[loops].tolist()) == [0, 1, 2] and bool((looped.hops[loops] == 0).all())
    assert_no_duplicates(looped.graph)


def test_exact_k_hop_edges_without_originals():
    g = path_graph(10)
    lg = shortcut_edges(g, 4, min_hops=4, keep_original=False)
    pairs = sorted(zip(lg.graph.src.tolist(), lg.graph.dst.tolist()))
    assert pairs == sorted([(i, i + 4) for i in range(6)] + [(i + 4, i) for i in range(6)])
    assert bool((lg.hops == 4).all())


def test_original_edge_weights_are_kept():
    g = Graph([0, 1], [1, 2], 3)
    lg = shortcut_edges(g, 2, edge_weight=torch.tensor([3.0, 5.0]), decay=0.25)
    assert edges_of(lg) == {(0, 1): (3.0, 1), (1, 2): (5.0, 1), (0, 2): (0.25, 2)}


def test_shortcuts_per_view_of_a_multiview_graph():
    mvg = MultiViewGraph({"a": rand_graph(8, 12, 1), "b": rand_graph(8, 10, 2)}, {"b": torch.rand(10)})
    out = shortcut_edges(mvg, 3, max_per_node=2)
    assert isinstance(out, MultiViewGraph) and out.names == ("a", "b")
    for name in mvg.names:
        lg = shortcut_edges(mvg.view(name), 3, max_per_node=2, edge_weight=mvg.edge_weight(name))
        assert out.view(name).equal(lg.graph)
        torch.testing.assert_close(out.edge_weight(name), lg.edge_weight)


def test_shortcuts_on_a_graph_with_no_edges():
    lg = shortcut_edges(Graph([], [], 4), 3, self_loops=True)
    assert lg.graph.num_edges == 4


# ------------------------------------------------------------------ hubs
def test_hub_graph_equals_hand_built_graph():
    g = path_graph(4)  # 0-1-2-3
    lg = hub_graph(g, clusters=torch.tensor([0, 0, 1, 1]), hub_weight=0.5)
    hand = {
        (0, 1): 1.0, (1, 0): 1.0, (1, 2): 1.0, (2, 1): 1.0, (2, 3): 1.0, (3, 2): 1.0,  # original
        (0, 4): 0.5, (1, 4): 0.5, (2, 5): 0.5, (3, 5): 0.5,  # members -> hubs
        (4, 0): 0.5, (4, 1): 0.5, (5, 2): 0.5, (5, 3): 0.5,  # hubs -> members
        (4, 5): 0.5, (5, 4): 0.5,  # neighbouring clusters
    }
    assert lg.graph.num_nodes == 6 and lg.num_hubs == 2 and lg.num_nodes == 4
    assert {key: w for key, (w, _) in edges_of(lg).items()} == hand
    assert lg.graph.is_sorted_by_dst()
    no_hub_edges = hub_graph(g, clusters=torch.tensor([0, 0, 1, 1]), connect_hubs=False)
    assert (4, 5) not in edges_of(no_hub_edges)


def _hand_graph(clusters):
    src = [0, 1, 1, 2, 2, 3] + [0, 1, 2, 3] + [4, 4, 5, 5] + [4, 5]
    dst = [1, 0, 2, 1, 3, 2] + [4, 4, 5, 5] + [0, 1, 2, 3] + [5, 4]
    return Graph(src, dst, 6)


@pytest.mark.parametrize("readout", ["pool", "drop"])
@pytest.mark.parametrize("hub_init", ["mean", "zero"])
def test_inflated_vertex_layer_equals_layer_on_hand_built_graph(readout, hub_init):
    g = path_graph(4)
    clusters = torch.tensor([0, 0, 1, 1])
    lg = hub_graph(g, clusters=clusters, hub_init=hub_init, readout=readout)
    conv = GCNConv(3, 2).double()
    x = torch.randn(4, 3, dtype=torch.float64)
    got = lg.remove_hub_states(conv(lg.graph, lg.add_hub_states(x), lg.edge_weight.double()))
    hubs = torch.stack([x[:2].mean(0), x[2:].mean(0)]) if hub_init == "mean" else torch.zeros(2, 3, dtype=torch.float64)
    y = conv(_hand_graph(clusters), torch.cat([x, hubs]))
    want = y[:4] + y[[4, 4, 5, 5]] if readout == "pool" else y[:4]
    torch.testing.assert_close(got, want)


def test_inflated_gnn_with_hubs_equals_hand_computation():
    g = path_graph(4)
    sched = InflationSchedule([Hubs(2, method="label_propagation", seed=1)])
    model = InflatedGNN(3, 5, 2, 1, sched, conv="gcn").double()
    x = torch.randn(4, 3, dtype=torch.float64)
    lg = sched.graph(0, g)
    c = lg.hub_of
    h = torch.relu(model.encoder(x))
    hubs = torch.zeros(lg.num_hubs, 5, dtype=torch.float64).index_add_(0, c, h) / torch.bincount(c)[:, None]
    src, dst = [g.src, torch.arange(4), 4 + c], [g.dst, 4 + c, torch.arange(4)]
    cs, cd = c[g.src], c[g.dst]
    pairs = {(int(a), int(b)) for a, b in zip(cs, cd) if a != b}
    hand = Graph(torch.cat(src + [torch.tensor([4 + a for a, _ in pairs], dtype=torch.int64)]),
                 torch.cat(dst + [torch.tensor([4 + b for _, b in pairs], dtype=torch.int64)]), 4 + lg.num_hubs)
    y = model.convs[0](hand, torch.cat([h, hubs]))
    want = model.decoder(h + torch.relu(y[:4] + y[4:][c]))
    torch.testing.assert_close(model(g, x), want)


def test_label_propagation_clusters_respect_components():
    a = torch.arange(5)
    s = torch.cat([a.repeat_interleave(5), 5 + a.repeat_interleave(5)])
    d = torch.cat([a.repeat(5), 5 + a.repeat(5)])
    g = Graph(s, d, 10)  # two disjoint 5-cliques
    for seed in range(5):
        lab = label_propagation(g, num_clusters=2, seed=seed)
        assert sorted(torch.unique(lab).tolist()) == list(range(int(lab.max()) + 1))
        assert not set(lab[:5].tolist()) & set(lab[5:].tolist())  # no cluster crosses components
        assert int(lab.max()) + 1 <= 3


def test_label_propagation_on_a_ring_gives_at_most_the_requested_clusters():
    n = 40
    a = torch.arange(n)
    g = Graph(torch.cat([a, (a + 1) % n]), torch.cat([(a + 1) % n, a]), n)
    lab = label_propagation(g, num_clusters=4, seed=0)
    assert lab.shape == (n,) and 1 <= int(lab.max()) + 1 <= 4


def test_metis_clusters_are_balanced():
    pytest.importorskip("pymetis")
    n = 40
    a = torch.arange(n)
    g = Graph(torch.cat([a, (a + 1) % n]), torch.cat([(a + 1) % n, a]), n)
    lab = cluster_nodes(g, 4, method="metis")
    assert torch.bincount(lab).tolist() == [10, 10, 10, 10]
    assert torch.equal(cluster_nodes(g, 4, method="auto"), lab)


def test_auto_falls_back_to_label_propagation_without_pymetis(monkeypatch):
    monkeypatch.setitem(sys.modules, "pymetis", None)
    g = path_graph(12)
    assert torch.equal(cluster_nodes(g, 3, method="auto", seed=2), label_propagation(g, num_clusters=3, seed=2, max_iter=3))
    with pytest.raises(ImportError, match="method='metis' needs pymetis"):
        cluster_nodes(g, 3, method="metis")


# ------------------------------------------------------------------ schedules
@dataclass(frozen=True)
class Counting(GraphTransform):
    """Wraps a transform and records every call (the record does not take part in equality)."""

    inner: GraphTransform
    calls: list = field(default_factory=list, compare=False, hash=False)

    def __call__(self, g):
        self.calls.append(g)
        return self.inner(g)


def test_schedule_applies_the_intended_graph_at_each_layer():
    g = path_graph(30)
    counting = Counting(Shortcuts(2))
    sched = InflationSchedule([None, counting, Shortcuts(4, max_per_node=2), Hubs(3, method="label_propagation"), counting])
    model = InflatedGNN(2, 4, 2, 5, sched)
    seen = {}
    for i, conv in enumerate(model.convs):
        conv.register_forward_pre_hook(lambda mod, args, i=i: seen.__setitem__(i, args))
    model(g, torch.randn(30, 2))
    assert seen[0][0] is g and seen[0][2] is None
    assert seen[1][0].equal(shortcut_edges(g, 2).graph) and seen[1][0] is seen[4][0]
    four = shortcut_edges(g, 4, max_per_node=2)
    assert seen[2][0].equal(four.graph) and torch.equal(seen[2][2], four.edge_weight)
    assert seen[3][0].num_nodes == 30 + sched.graph(3, g).num_hubs and seen[3][1].shape[0] == seen[3][0].num_nodes
    for i in range(5):
        lg = sched.graph(i, g)
        assert seen[i][0] is lg.graph
    model(g, torch.randn(30, 2))
    assert len(counting.calls) == 1  # built once, shared by layers 1 and 4 and by both forwards


def test_schedule_cache_is_per_graph_and_supports_multiview():
    sched = InflationSchedule.from_hops([1, 3])
    assert isinstance(sched[0], Identity) and sched[1] == Shortcuts(3)
    g1, g2 = path_graph(6), path_graph(7)
    assert sched.graph(1, g1).graph.num_nodes == 6 and sched.graph(1, g2).graph.num_nodes == 7
    assert sched.graph(1, g1) is sched.graph(1, g1)
    mvg = MultiViewGraph({"a": path_graph(6), "b": Graph([0], [5], 6)})
    assert sched.graph(0, mvg) is mvg and sched.graph(1, mvg).view("a").equal(shortcut_edges(path_graph(6), 3).graph)
    stats = InflationSchedule([None, Hubs(2)]).stats(g1)
    assert stats[0]["added_edges"] == 0 and stats[1]["num_hubs"] == 2 and stats[1]["added_edges"] == 2 * 6 + 2


def test_inflated_gnn_trains_with_gradients():
    g = path_graph(12)
    model = InflatedGNN(3, 8, 2, 3, InflationSchedule([Shortcuts(2), Hubs(2, readout="drop"), None]), dropout=0.1)
    model(g, torch.randn(12, 3)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(k=0), ValueError, "k must be >= 1, got 0"),
    (dict(k=2.5), TypeError, "k must be an int"),
    (dict(max_per_node=-1), ValueError, "max_per_node must be >= 0, got -1"),
    (dict(max_edges=-3), ValueError, "max_edges must be >= 0, got -3"),
    (dict(beam=0), ValueError, "beam must be >= 1, got 0"),
    (dict(min_hops=1), ValueError, "min_hops must be >= 2, got 1"),
    (dict(score="degree"), ValueError, "score must be one of"),
    (dict(decay=0.0), ValueError, r"decay must lie in \(0, 1\]"),
    (dict(ppr_alpha=1.0), ValueError, r"ppr_alpha must lie in \(0, 1\)"),
    (dict(edge_weight=torch.ones(3)), ValueError, r"edge_weight must have shape \[E=2\]"),
    (dict(edge_weight=torch.ones(2, dtype=torch.int64)), TypeError, "edge_weight must be a float tensor"),
])
def test_shortcut_bad_input(kwargs, exc, match):
    args = dict(g=Graph([0, 1], [1, 2], 3), k=2)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        shortcut_edges(**args)


def test_shortcut_bad_graphs():
    with pytest.raises(ValueError, match="g is bipartite"):
        shortcut_edges(Graph([0], [1], 2, num_src_nodes=3), 2)
    with pytest.raises(TypeError, match="g must be a gnnkit.Graph"):
        shortcut_edges("graph", 2)
    mvg = MultiViewGraph({"a": Graph([0], [1], 2)})
    with pytest.raises(ValueError, match="edge_weight must be None for a MultiViewGraph"):
        shortcut_edges(mvg, 2, edge_weight=torch.ones(1))


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(), ValueError, "pass exactly one of clusters"),
    (dict(clusters=torch.zeros(4, dtype=torch.int64), num_clusters=2), ValueError, "pass exactly one of clusters"),
    (dict(clusters=torch.zeros(3, dtype=torch.int64)), ValueError, r"clusters must be an integer tensor of shape \[N=4\]"),
    (dict(clusters=torch.tensor([0, 0, 2, 2])), ValueError, "every cluster non-empty"),
    (dict(clusters=torch.tensor([0, -1, 0, 0])), ValueError, "clusters must hold ids >= 0"),
    (dict(num_clusters=0), ValueError, "num_clusters must be >= 1, got 0"),
    (dict(num_clusters=2, method="spectral"), ValueError, "method must be one of"),
    (dict(num_clusters=2, hub_init="max"), ValueError, "hub_init must be one of"),
    (dict(num_clusters=2, readout="sum"), ValueError, "readout must be one of"),
])
def test_hub_graph_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        hub_graph(path_graph(4), **kwargs)


@pytest.mark.parametrize("make,exc,match", [
    (lambda: Shortcuts(0), ValueError, "k must be >= 1, got 0"),
    (lambda: Shortcuts(2, max_per_node=-1), ValueError, "max_per_node must be >= 0"),
    (lambda: Shortcuts(2, max_edges=-1), ValueError, "max_edges must be >= 0"),
    (lambda: Shortcuts(2, beam=0), ValueError, "beam must be >= 1"),
    (lambda: Shortcuts(2, min_hops=0), ValueError, "min_hops must be >= 2"),
    (lambda: Shortcuts(2, score="x"), ValueError, "score must be one of"),
    (lambda: Shortcuts(2, decay=2.0), ValueError, "decay must lie in"),
    (lambda: Shortcuts(2, ppr_alpha=0.0), ValueError, r"ppr_alpha must lie in \(0, 1\)"),
    (lambda: Hubs(0), ValueError, "num_clusters must be >= 1"),
    (lambda: Hubs(2, method="x"), ValueError, "method must be one of"),
    (lambda: Hubs(2, hub_init="x"), ValueError, "hub_init must be one of"),
    (lambda: Hubs(2, readout="x"), ValueError, "readout must be one of"),
    (lambda: InflationSchedule([]), ValueError, "one transform per layer, got an empty sequence"),
    (lambda: InflationSchedule([None, "hops"]), TypeError, r"transforms\[1\] must be a GraphTransform"),
    (lambda: InflationSchedule.from_hops([1, 0]), ValueError, r"hops\[1\] must be >= 1, got 0"),
    (lambda: InflationSchedule.plain(0), ValueError, "num_layers must be >= 1"),
    (lambda: InflatedGNN(2, 4, 2, 3, InflationSchedule.plain(2)), ValueError,
     "schedule has 2 transforms but the model has num_layers=3"),
    (lambda: InflatedGNN(2, 4, 2, 1, [None]), TypeError, "schedule must be an InflationSchedule"),
    (lambda: InflatedGNN(2, 4, 2, 1, InflationSchedule.plain(1), conv="gat"), ValueError, "conv must be one of"),
    (lambda: InflatedGNN(2, 4, 2, 1, InflationSchedule.plain(1), activation="swish"), ValueError, "activation must be one of"),
    (lambda: InflatedGNN(2, 4, 2, 1, InflationSchedule.plain(1), dropout=1.0), ValueError, r"dropout must lie in \[0, 1\)"),
    (lambda: InflatedGNN(0, 4, 2, 1, InflationSchedule.plain(1)), ValueError, "in_features must be >= 1"),
])
def test_schedule_and_model_bad_input(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_schedule_layer_out_of_range_and_hubs_on_multiview():
    sched = InflationSchedule([None, Hubs(2)])
    with pytest.raises(IndexError, match=r"layer must be an int in \[0, 2\), got 2"):
        sched.graph(2, path_graph(4))
    with pytest.raises(TypeError, match="Hubs works on a Graph"):
        sched.graph(1, MultiViewGraph({"a": path_graph(4)}))
    lg = hub_graph(path_graph(4), num_clusters=2)
    with pytest.raises(ValueError, match=r"x must have num_nodes=4 rows"):
        lg.add_hub_states(torch.randn(5, 2))


def test_cluster_bad_input():
    with pytest.raises(ValueError, match="num_clusters must be >= 1"):
        cluster_nodes(path_graph(4), 0)
    with pytest.raises(ValueError, match="max_iter must be >= 0"):
        label_propagation(path_graph(4), num_clusters=2, max_iter=-1)
    assert np.array_equal(cluster_nodes(path_graph(4), 1).numpy(), np.zeros(4))


@pytest.mark.parametrize("beam,max_per_node", [(None, None), (None, 2), (2, 3)])
def test_row_blocked_products_equal_one_block(monkeypatch, beam, max_per_node):
    from gnnkit.inflation import shortcuts as inflation

    g = rand_graph(30, 90, 11)
    whole = shortcut_edges(g, 4, max_per_node=max_per_node, beam=beam)
    real = inflation._row_blocks
    monkeypatch.setattr(inflation, "_row_blocks", lambda a, prev: real(a, prev, max_terms=7))
    assert len(real(inflation.sp.csr_matrix(np.eye(30)), inflation.sp.csr_matrix(np.eye(30)), max_terms=7)) > 1
    blocked = shortcut_edges(g, 4, max_per_node=max_per_node, beam=beam)
    assert blocked.graph.equal(whole.graph) and torch.equal(blocked.hops, whole.hops)
    torch.testing.assert_close(blocked.edge_weight, whole.edge_weight)
