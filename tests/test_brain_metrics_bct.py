"""gnnkit.brain.metrics against the Brain Connectivity Toolbox (bctpy) on hypothesis-generated small graphs.

Every graph is a random edge list with duplicates, self-loops, isolated vertices and
disconnected components; the oracle is bctpy on the dense float64 matrix of the view the
metric documents (parallel weights summed, diagonal zeroed; undirected ``max(W, W^T)``).
"""
import warnings

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gnnkit import Graph
from gnnkit.brain import metrics as M

bct = pytest.importorskip("bct")

# dyadic weights: 1 / w and sums of a few of them are exact, so path ties are exact in both tools
WEIGHTS = [0.25, 0.5, 1.0, 2.0, 4.0]
FAST = settings(max_examples=40, deadline=None)


@st.composite
def graphs(draw, max_nodes: int = 9, weighted: bool = True):
    n = draw(st.integers(1, max_nodes))
    m = draw(st.integers(0, 3 * n))
    src = draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    dst = draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    w = draw(st.lists(st.sampled_from(WEIGHTS), min_size=m, max_size=m))
    g = Graph(torch.tensor(src, dtype=torch.int64), torch.tensor(dst, dtype=torch.int64), n)
    return g, torch.tensor(w, dtype=torch.float64)


def dense(g: Graph, w: torch.Tensor | None, directed: bool, loops: bool = False) -> np.ndarray:
    """The float64 oracle matrix: W[src, dst] summed over parallel edges; undirected max(W, W^T)."""
    out = np.zeros((g.num_nodes, g.num_nodes))
    vals = np.ones(g.num_edges) if w is None else w.numpy()
    np.add.at(out, (g.src.numpy(), g.dst.numpy()), vals)
    if not loops:
        np.fill_diagonal(out, 0)
    if w is None:
        out = (out != 0).astype(float)
    return out if directed else np.maximum(out, out.T)


def two_components_and_isolated() -> tuple[Graph, torch.Tensor]:
    # a directed triangle with a reciprocated edge, a path 3 - 4 - 5 stored both ways, and isolated 6, 7
    src = [0, 1, 2, 1, 3, 4, 4, 5]
    dst = [1, 2, 0, 0, 4, 3, 5, 4]
    w = [1.0, 2.0, 0.5, 4.0, 1.0, 1.0, 0.25, 0.25]
    return Graph(src, dst, 8), torch.tensor(w, dtype=torch.float64)


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


@FAST
@given(graphs())
def test_density_degrees_strengths_equal_bct(gw):
    g, w = gw
    a, au = dense(g, None, True), dense(g, None, False)
    if g.num_nodes >= 2:
        assert M.density(g) == pytest.approx(bct.density_dir(a)[0])
        assert M.density(g, directed=False) == pytest.approx(bct.density_und(au)[0])
    i, o, t = bct.degrees_dir(a)
    assert M.degrees(g, "in").tolist() == i.tolist()
    assert M.degrees(g, "out").tolist() == o.tolist()
    assert M.degrees(g, "total").tolist() == t.tolist()
    assert M.degrees(g, "undirected").tolist() == bct.degrees_und(au).tolist()
    wd, wu = dense(g, w, True), dense(g, w, False)
    np.testing.assert_allclose(M.strengths(g, w, "in").numpy(), wd.sum(0))  # bctpy returns only the total
    np.testing.assert_allclose(M.strengths(g, w, "out").numpy(), wd.sum(1))
    np.testing.assert_allclose(M.strengths(g, w, "total").numpy(), bct.strengths_dir(wd))
    np.testing.assert_allclose(M.strengths(g, w, "undirected").numpy(), bct.strengths_und(wu))


@FAST
@given(graphs())
def test_clustering_equals_bct_bu_bd_wu_wd(gw):
    g, w = gw
    np.testing.assert_allclose(M.clustering(g).numpy(), quiet(bct.clustering_coef_bu, dense(g, None, False)), atol=1e-12)
    np.testing.assert_allclose(M.clustering(g, directed=True).numpy(),
                               quiet(bct.clustering_coef_bd, dense(g, None, True)), atol=1e-12)
    np.testing.assert_allclose(M.clustering(g, weight=w).numpy(),
                               quiet(bct.clustering_coef_wu, dense(g, w, False)), atol=1e-12)
    np.testing.assert_allclose(M.clustering(g, weight=w, directed=True, chunk_rows=2).numpy(),
                               quiet(bct.clustering_coef_wd, dense(g, w, True)), atol=1e-12)


def _charpath_reachable(d: np.ndarray) -> float:
    off = ~np.eye(len(d), dtype=bool)
    finite = np.isfinite(d) & off
    return float(d[finite].mean()) if finite.any() else float("inf")


@FAST
@given(graphs(), st.booleans())
def test_path_length_and_efficiency_equal_bct(gw, directed):
    g, w = gw
    if g.num_nodes < 2:
        return
    a, wm = dense(g, None, directed), dense(g, w, directed)
    st_bin = M.path_stats(g, directed=directed)
    d = bct.distance_bin(a)
    finite = np.isfinite(d) & ~np.eye(g.num_nodes, dtype=bool)
    if finite.any():
        assert st_bin["path_length"] == pytest.approx(quiet(bct.charpath, d, include_infinite=False)[0])
    else:
        assert st_bin["path_length"] == float("inf")
    assert st_bin["efficiency"] == pytest.approx(bct.efficiency_bin(a))
    st_wei = M.path_stats(g, directed=directed, weight=w)
    dw = bct.distance_wei(bct.invert(wm))[0]
    assert st_wei["path_length"] == pytest.approx(_charpath_reachable(dw))
    assert st_wei["efficiency"] == pytest.approx(bct.efficiency_wei(wm))


@FAST
@given(graphs(), st.booleans(), st.integers(1, 40))
def test_local_efficiency_equals_bct(gw, directed, chunk_size):
    g, w = gw
    a, wm = dense(g, None, directed), dense(g, w, directed)
    # bctpy 0.6's efficiency_bin(local=True) takes only out-neighbours on a directed matrix (its
    # ``G[u, :].T`` is the same row); efficiency_wei on the binary matrix is the toolbox's in-or-out rule
    ref = quiet(bct.efficiency_bin, a, local=True) if not directed else quiet(bct.efficiency_wei, a, local=True)
    np.testing.assert_allclose(M.local_efficiency(g, directed=directed, chunk_size=chunk_size).numpy(),
                               ref, atol=1e-12)
    np.testing.assert_allclose(M.local_efficiency(g, weight=w, directed=directed, chunk_size=chunk_size).numpy(),
                               quiet(bct.efficiency_wei, wm, local=True), atol=1e-12)


@FAST
@given(graphs(), st.integers(1, 3), st.sampled_from([0.5, 1.0, 1.5]))
def test_modularity_equals_bct_und_and_dir(gw, k, gamma):
    g, w = gw
    if g.num_edges == 0:
        return
    labels = torch.arange(g.num_nodes) % k
    full = dense(g, w, True, loops=True)  # every stored edge counts, self-loops included
    q_und = bct.modularity_und(full + full.T, gamma, kci=labels.numpy())[1]
    q_dir = bct.modularity_dir(full, gamma, kci=labels.numpy())[1]
    assert M.modularity(g, labels, weight=w, resolution=gamma) == pytest.approx(q_und)
    assert M.modularity(g, labels, weight=w, directed=True, resolution=gamma) == pytest.approx(q_dir)


@FAST
@given(graphs(), st.integers(1, 3))
def test_participation_coef_equals_bct(gw, k):
    g, w = gw
    labels = torch.arange(g.num_nodes) % k
    ci = labels.numpy()
    for weight in (None, w):
        wu, wd = dense(g, weight, False), dense(g, weight, True)
        np.testing.assert_allclose(M.participation_coef(g, labels, weight=weight).numpy(),
                                   quiet(bct.participation_coef, wu, ci, "undirected"), atol=1e-12)
        np.testing.assert_allclose(M.participation_coef(g, labels, weight=weight, kind="out").numpy(),
                                   quiet(bct.participation_coef, wd, ci, "out"), atol=1e-12)
        np.testing.assert_allclose(M.participation_coef(g, labels, weight=weight, kind="in").numpy(),
                                   quiet(bct.participation_coef, wd, ci, "in"), atol=1e-12)
    signed = w * torch.where(torch.arange(g.num_edges) % 3 == 0, -1.0, 1.0).double()
    pos, neg = M.participation_coef_sign(g, labels, signed)
    ref_pos, ref_neg = quiet(bct.participation_coef_sign, dense(g, signed, True), ci)
    np.testing.assert_allclose(pos.numpy(), ref_pos, atol=1e-12)
    np.testing.assert_allclose(neg.numpy(), ref_neg, atol=1e-12)


@FAST
@given(graphs())
def test_rich_club_equals_bct_bu_bd_wu(gw):
    g, w = gw
    au, ad, wu = dense(g, None, False), dense(g, None, True), dense(g, w, False)
    np.testing.assert_allclose(M.rich_club(g).numpy(), quiet(bct.rich_club_bu, au)[0], equal_nan=True)
    np.testing.assert_allclose(M.rich_club(g, directed=True).numpy(), quiet(bct.rich_club_bd, ad)[0], equal_nan=True)
    np.testing.assert_allclose(M.rich_club(g, weight=w).numpy(), quiet(bct.rich_club_wu, wu), equal_nan=True)
    np.testing.assert_allclose(M.rich_club(g, 3).numpy(), quiet(bct.rich_club_bu, au, 3)[0], equal_nan=True)


@FAST
@given(graphs())
def test_assortativity_equals_bct(gw):
    g, w = gw
    ref = {0: quiet(bct.assortativity_bin, dense(g, None, False), 0)}
    ref.update({f: quiet(bct.assortativity_bin, dense(g, None, True), f) for f in (1, 2, 3, 4)})
    for flag, r in ref.items():
        np.testing.assert_allclose(quiet(M.assortativity, g, flag), r, equal_nan=True, atol=1e-9)
    np.testing.assert_allclose(quiet(M.assortativity, g, 0, weight=w),
                               quiet(bct.assortativity_wei, dense(g, w, False), 0), equal_nan=True, atol=1e-9)
    # bctpy 0.6's assortativity_wei fails for flags 1-4; the oracle is the MATLAB toolbox's
    # definition: the symmetrised Pearson correlation of (strength of u, strength of v) over arcs
    wd = dense(g, w, True)
    i, j = np.nonzero(wd)
    sides = {"out": wd.sum(1), "in": wd.sum(0)}
    for flag, (a, b) in {1: ("out", "in"), 2: ("in", "out"), 3: ("out", "out"), 4: ("in", "in")}.items():
        x, y = sides[a][i], sides[b][j]
        ref = quiet(np.corrcoef, np.concatenate([x, y]), np.concatenate([y, x]))[0, 1] if x.size else np.nan
        np.testing.assert_allclose(quiet(M.assortativity, g, flag, weight=w), ref, equal_nan=True, atol=1e-9)


@FAST
@given(graphs(), st.booleans())
def test_betweenness_equals_bct(gw, directed):
    g, w = gw
    # one edge per (src, dst): summed parallel weights such as 2 + 1 would give lengths like 1/3 whose
    # path sums tie in exact arithmetic but not always in floating point, where bctpy compares exactly
    key = g.src * g.num_nodes + g.dst
    first = torch.tensor(sorted({int(k): i for i, k in reversed(list(enumerate(key.tolist())))}.values()),
                         dtype=torch.int64)
    g, w = Graph(g.src[first], g.dst[first], g.num_nodes), w[first]
    a, wm = dense(g, None, directed), dense(g, w, directed)
    np.testing.assert_allclose(M.betweenness(g, directed=directed).numpy(), bct.betweenness_bin(a), atol=1e-9)
    np.testing.assert_allclose(M.betweenness(g, directed=directed, weight=w).numpy(),
                               bct.betweenness_wei(bct.invert(wm)), atol=1e-9)
    lengths = 1.0 / w  # lengths as given: the shortest parallel edge
    lm = np.full((g.num_nodes, g.num_nodes), np.inf)
    s, d, ln = g.src.numpy(), g.dst.numpy(), lengths.numpy()
    np.minimum.at(lm, (s, d), ln)
    if not directed:
        np.minimum.at(lm, (d, s), ln)
    np.fill_diagonal(lm, np.inf)
    lm[np.isinf(lm)] = 0
    np.testing.assert_allclose(M.betweenness(g, directed=directed, lengths=lengths, batch_edges=7).numpy(),
                               bct.betweenness_wei(lm), atol=1e-9)


@FAST
@given(graphs(weighted=False), st.integers(0, 5))
def test_kcore_equals_bct_and_core_numbers_networkx(gw, k):
    g, _ = gw
    for directed, fn in ((False, bct.kcore_bu), (True, bct.kcore_bd)):
        a = dense(g, None, directed)
        ref, kn = fn(a, k)
        core, members = M.kcore(g, k, directed=directed)
        got = dense(core, None, True)
        np.testing.assert_array_equal(got, ref)
        assert int(members.sum()) == kn
    au = dense(g, None, False)
    assert M.core_numbers(g).tolist() == bct.kcoreness_centrality_bu(au)[0].astype(int).tolist()
    dg = nx.DiGraph()
    dg.add_nodes_from(range(g.num_nodes))
    dg.add_edges_from((u, v) for u, v in zip(g.src.tolist(), g.dst.tolist()) if u != v)
    ref = nx.core_number(dg)
    assert M.core_numbers(g, directed=True).tolist() == [ref[i] for i in range(g.num_nodes)]


def test_motif3_classes_are_the_triadic_census_types():
    for name, arcs in M.MOTIF3_CLASSES:
        d = nx.DiGraph()
        d.add_nodes_from(range(3))
        d.add_edges_from(arcs)
        census = nx.triadic_census(d)
        assert census[name] == 1, name
        f, per_vertex = M.motif3_counts(Graph([u for u, _ in arcs], [v for _, v in arcs], 3))
        assert f.tolist() == [int(n == name) for n, _ in M.MOTIF3_CLASSES]
        assert per_vertex.sum(1).tolist() == [3 * int(n == name) for n, _ in M.MOTIF3_CLASSES]


@FAST
@given(graphs(weighted=False))
def test_motif3_counts_equal_networkx_triads(gw):
    g, _ = gw
    d = nx.DiGraph()
    d.add_nodes_from(range(g.num_nodes))
    d.add_edges_from((u, v) for u, v in zip(g.src.tolist(), g.dst.tolist()) if u != v)
    names = [n for n, _ in M.MOTIF3_CLASSES]
    f, per_vertex = M.motif3_counts(g, chunk_wedges=3)
    census = nx.triadic_census(d)
    assert f.tolist() == [census[n] for n in names]
    ref = np.zeros((13, g.num_nodes), dtype=np.int64)
    for tri in nx.all_triads(d) if g.num_nodes >= 3 else []:
        kind = nx.triad_type(tri)
        if kind in names:
            for v in tri.nodes:
                ref[names.index(kind), v] += 1
    np.testing.assert_array_equal(per_vertex.numpy(), ref)


def test_fixed_graph_with_components_and_isolated_vertices():
    g, w = two_components_and_isolated()
    wu, wd = dense(g, w, False), dense(g, w, True)
    np.testing.assert_allclose(M.clustering(g, weight=w, directed=True).numpy(), bct.clustering_coef_wd(wd))
    np.testing.assert_allclose(M.betweenness(g, directed=False, weight=w).numpy(), bct.betweenness_wei(bct.invert(wu)))
    assert M.global_efficiency(g, weight=w, directed=False) == pytest.approx(bct.efficiency_wei(wu))
    assert M.degrees(g, "undirected").tolist() == [2, 2, 2, 1, 2, 1, 0, 0]
    assert M.core_numbers(g).tolist() == [2, 2, 2, 1, 1, 1, 0, 0]
