"""Link prediction: edge splits, negative samplers, decoders, metrics, link mini-batches and the Cora example."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare
from sklearn.metrics import average_precision_score, roc_auc_score

from gnnkit.graph import Graph
from gnnkit.link import (Bilinear, DegreeNegativeSampler, DotProduct, EdgeSet, MLPDecoder, StrictNegativeSampler,
                         UniformNegativeSampler, auc, average_precision, hits_at_k, link_neighbor_loader, mrr,
                         ogb_link_eval, split_edges)

ROOT = Path(__file__).resolve().parents[1]

# A chi-square test of a correct sampler fails with probability P_MIN per fixed seed;
# each test also shows the same statistic rejecting a wrong distribution.
P_MIN = 1e-3


def _ring_undirected(n: int = 12, chords: int = 6) -> Graph:
    """A ring plus a few chords, both directions stored, with edata and ndata."""
    src = torch.arange(n)
    dst = (src + 1) % n
    extra = torch.arange(chords)
    src, dst = torch.cat([src, extra]), torch.cat([dst, (extra + n // 2) % n])
    g = Graph(torch.cat([src, dst]), torch.cat([dst, src]), n)
    g.ndata["x"] = torch.randn(n, 3)
    g.edata["edge_weight"] = torch.arange(g.num_edges, dtype=torch.float32)
    return g


def _pairs(t: torch.Tensor) -> set[tuple[int, int]]:
    return set(map(tuple, t.t().tolist()))


graphs = st.integers(2, 8).flatmap(lambda n: st.tuples(
    st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=20)))


def _graph(spec: tuple[int, list[tuple[int, int]]]) -> Graph:
    n, edges = spec
    e = torch.tensor(edges, dtype=torch.int64).view(-1, 2)
    return Graph(e[:, 0], e[:, 1], n)


# ------------------------------------------------------------------ split
def test_split_edges_no_leakage_either_direction():
    g = _ring_undirected()
    s = split_edges(g, val=0.2, test=0.3, seed=1)
    train = _pairs(s.train_graph.edge_index)
    for held in (s.val_pos, s.test_pos):
        assert held.shape[1] > 0
        for u, v in _pairs(held):
            assert (u, v) not in train and (v, u) not in train


def test_split_edges_partitions_the_pairs():
    g = _ring_undirected()
    s = split_edges(g, val=0.2, test=0.3, seed=0)
    m = 18  # 12 ring pairs + 6 chords
    assert (s.val_pos.shape[1], s.test_pos.shape[1]) == (int(0.2 * m), int(0.3 * m))
    parts = [_pairs(p) for p in (s.train_pos, s.val_pos, s.test_pos)]
    assert sum(map(len, parts)) == m
    assert parts[0] | parts[1] | parts[2] == {(min(u, v), max(u, v)) for u, v in _pairs(g.edge_index)}
    # the training graph holds both directions of every training pair and nothing else
    assert _pairs(s.train_graph.edge_index) == parts[0] | {(v, u) for u, v in parts[0]}


def test_split_edges_carries_data():
    g = _ring_undirected()
    s = split_edges(g, val=0.2, test=0.2, seed=3)
    t = s.train_graph
    assert t.ndata["x"] is g.ndata["x"]
    # each kept edge keeps its own edge_weight row (the weight is the edge's index in g)
    idx = t.edata["edge_weight"].long()
    torch.testing.assert_close(g.src[idx], t.src)
    torch.testing.assert_close(g.dst[idx], t.dst)


def test_split_edges_negatives_are_non_edges():
    g = _ring_undirected()
    s = split_edges(g, val=0.2, test=0.3, seed=2)
    edges = _pairs(g.edge_index)
    for neg, pos in ((s.val_neg, s.val_pos), (s.test_neg, s.test_pos)):
        assert neg.shape == pos.shape
        for u, v in _pairs(neg):
            assert u < v and (u, v) not in edges and (v, u) not in edges


def test_split_edges_directed_keeps_reverse():
    g = Graph(torch.tensor([0, 1, 1, 2, 3]), torch.tensor([1, 0, 2, 3, 0]), 6)
    s = split_edges(g, val=0.0, test=0.4, undirected=False, seed=0)
    assert s.test_pos.shape[1] == 2
    train = _pairs(s.train_graph.edge_index)
    for u, v in _pairs(s.test_pos):
        assert (u, v) not in train
    assert len(train) == 3


def test_split_edges_self_loops_stay_in_train():
    g = Graph(torch.tensor([0, 1, 2, 1, 2]), torch.tensor([0, 1, 2, 2, 1]), 3)
    s = split_edges(g, val=0.0, test=0.5, seed=0)
    assert _pairs(s.test_pos) <= {(1, 2)}
    assert {(0, 0), (1, 1), (2, 2)} <= _pairs(s.train_graph.edge_index)


def test_split_edges_is_seeded():
    g = _ring_undirected()
    a, b = split_edges(g, seed=5), split_edges(g, seed=5)
    torch.testing.assert_close(a.test_pos, b.test_pos)
    torch.testing.assert_close(a.test_neg, b.test_neg)


@given(graphs, st.integers(0, 2**16))
@settings(max_examples=40, deadline=None)
def test_split_edges_property_no_leakage(spec, seed):
    g = _graph(spec).to_undirected()
    edges = _pairs(g.edge_index)
    # a complete graph has no negatives to draw (test_split_edges_validation covers that error)
    assume(any((u, v) not in edges for u in range(g.num_nodes) for v in range(u + 1, g.num_nodes)))
    s = split_edges(g, val=0.2, test=0.2, seed=seed)
    train = _pairs(s.train_graph.edge_index)
    for u, v in _pairs(s.val_pos) | _pairs(s.test_pos):
        assert (u, v) not in train and (v, u) not in train


def test_split_edges_validation():
    g = _ring_undirected()
    with pytest.raises(TypeError, match="g must be a gnnkit.Graph"):
        split_edges(g.edge_index)
    with pytest.raises(ValueError, match=r"val must be a fraction in \[0, 1\)"):
        split_edges(g, val=1.5)
    with pytest.raises(ValueError, match=r"test must be a fraction"):
        split_edges(g, test=-0.1)
    with pytest.raises(ValueError, match="val \\+ test must be < 1"):
        split_edges(g, val=0.5, test=0.5)
    with pytest.raises(ValueError, match="bipartite"):
        split_edges(Graph(torch.tensor([0]), torch.tensor([0]), 1, num_src_nodes=2))
    with pytest.raises(ValueError, match="nearly\\) complete"):
        split_edges(Graph.from_edges([(0, 1), (1, 2), (0, 2)], 3), val=0.0, test=0.5)


# --------------------------------------------------------------- edge set
@given(graphs, st.lists(st.tuples(st.integers(0, 7), st.integers(0, 7)), min_size=1, max_size=30))
@settings(max_examples=60, deadline=None)
def test_edge_set_contains_matches_python_set(spec, queries):
    g = _graph(spec)
    n = g.num_nodes
    q = torch.tensor([(u % n, v % n) for u, v in queries]).view(-1, 2)
    got = EdgeSet.from_graph(g).contains(q[:, 0], q[:, 1]).tolist()
    edges = _pairs(g.edge_index)
    assert got == [(u, v) in edges for u, v in q.tolist()]


def test_edge_set_lexicographic_path_matches_keys(monkeypatch):
    import gnnkit.link.negative as negative

    gen = torch.Generator().manual_seed(0)
    for n in (1, 3, 8):
        src, dst = torch.randint(n, (12,), generator=gen), torch.randint(n, (12,), generator=gen)
        qs, qd = torch.randint(n, (40,), generator=gen), torch.randint(n, (40,), generator=gen)
        keyed = EdgeSet(src, dst, n).contains(qs, qd)
        monkeypatch.setattr(negative, "_MAX_KEYED_NODES", 0)  # force the two-level search
        lexicographic = EdgeSet(src, dst, n)
        assert not lexicographic._keyed
        assert lexicographic.contains(qs, qd).tolist() == keyed.tolist()
        monkeypatch.undo()


def test_edge_set_huge_ids_no_overflow():
    n = 2**40  # n * n overflows int64: a src * N + dst key would alias
    src = torch.tensor([0, 5, 2**40 - 1])
    dst = torch.tensor([2**40 - 1, 7, 0])
    es = EdgeSet(src, dst, n)
    got = es.contains(torch.tensor([0, 5, 2**40 - 1, 0, 1]), torch.tensor([2**40 - 1, 7, 0, 2**40 - 2, 0]))
    assert got.tolist() == [True, True, True, False, False]


def test_edge_set_empty():
    es = EdgeSet(torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64), 3)
    assert es.contains(torch.tensor([0, 2]), torch.tensor([1, 2])).tolist() == [False, False]


def test_edge_set_validation():
    with pytest.raises(ValueError, match="src and dst must be 1-D of one length"):
        EdgeSet(torch.tensor([0, 1]), torch.tensor([0]), 3)


# --------------------------------------------------------- negative sampling
@given(graphs, st.integers(1, 3), st.integers(0, 2**16), st.booleans())
@settings(max_examples=60, deadline=None)
def test_strict_negatives_never_an_edge(spec, k, seed, undirected):
    g = _graph(spec)
    n = g.num_nodes
    edges = _pairs(g.edge_index)
    if undirected:
        edges |= {(v, u) for u, v in edges}
    full = {u for u in range(n) if all((u, v) in edges for v in range(n))}
    src = torch.tensor([u for u in range(n) if u not in full] * 3, dtype=torch.int64)
    sampler = StrictNegativeSampler(g, k=k, undirected=undirected)
    neg_src, neg_dst = sampler(src, torch.Generator().manual_seed(seed))
    assert neg_src.tolist() == src.repeat_interleave(k).tolist()
    assert not any(pair in edges for pair in zip(neg_src.tolist(), neg_dst.tolist()))


def test_strict_negatives_full_source_raises():
    g = Graph.from_edges([(0, 0), (0, 1), (0, 2)], 3)
    with pytest.raises(ValueError, match=r"src vertices \[0\] still drew only edges"):
        StrictNegativeSampler(g, max_rounds=5)(torch.tensor([0, 1]))


def _counts(dst: torch.Tensor, n: int) -> np.ndarray:
    return torch.bincount(dst, minlength=n).numpy()


def test_uniform_negatives_distribution():
    n, draws = 7, 14000
    sampler = UniformNegativeSampler(n, k=4)
    _, dst = sampler(torch.zeros(draws // 4, dtype=torch.int64), torch.Generator().manual_seed(0))
    expected = sampler.probabilities().numpy() * draws
    assert chisquare(_counts(dst, n), expected).pvalue > P_MIN
    skewed = np.linspace(1, 2, n) / np.linspace(1, 2, n).sum() * draws
    assert chisquare(_counts(dst, n), skewed).pvalue < P_MIN


def test_degree_negatives_distribution():
    # in-degrees 0, 1, 2, 4, 8: P(v) = deg^0.75 / sum
    dst = torch.tensor([1] + [2] * 2 + [3] * 4 + [4] * 8)
    g = Graph(torch.zeros_like(dst), dst, 5)
    sampler = DegreeNegativeSampler(g, k=2, power=0.75)
    deg = np.array([0, 1, 2, 4, 8], dtype=np.float64)
    probs = deg**0.75 / (deg**0.75).sum()
    torch.testing.assert_close(sampler.probabilities(), torch.from_numpy(probs))
    draws = 20000
    _, neg = sampler(torch.zeros(draws // 2, dtype=torch.int64), torch.Generator().manual_seed(1))
    counts = _counts(neg, 5)
    assert counts[0] == 0
    assert chisquare(counts[1:], probs[1:] * draws).pvalue > P_MIN
    linear = deg[1:] / deg.sum() * draws  # power 1 is a different distribution: rejected
    assert chisquare(counts[1:], linear).pvalue < P_MIN


def test_strict_negatives_distribution_is_conditioned():
    # vertex 0 is joined to 1 and 2: its negatives are uniform over {0, 3, 4, 5}
    g = Graph.from_edges([(0, 1), (0, 2), (3, 4)], 6)
    sampler = StrictNegativeSampler(g, k=4)
    draws = 12000
    _, dst = sampler(torch.zeros(draws // 4, dtype=torch.int64), torch.Generator().manual_seed(2))
    counts = _counts(dst, 6)
    assert counts[1] == counts[2] == 0
    assert chisquare(counts[[0, 3, 4, 5]], np.full(4, draws / 4)).pvalue > P_MIN


def test_negative_sampler_validation():
    g = _ring_undirected()
    with pytest.raises(ValueError, match="k \\(negatives per positive edge\\) must be >= 1"):
        UniformNegativeSampler(5, k=0)
    with pytest.raises(TypeError, match="k \\(negatives per positive edge\\) must be an int"):
        UniformNegativeSampler(5, k=1.5)
    with pytest.raises(ValueError, match="num_nodes must be an int >= 1"):
        UniformNegativeSampler(0)
    with pytest.raises(ValueError, match="power must be >= 0"):
        DegreeNegativeSampler(g, power=-1)
    with pytest.raises(ValueError, match="g must have edges"):
        DegreeNegativeSampler(Graph(torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64), 3))
    with pytest.raises(TypeError, match="src must be a 1-D int64 tensor"):
        UniformNegativeSampler(5)(torch.tensor([0.0]))
    with pytest.raises(IndexError, match=r"src must lie in \[0, num_nodes=5\)"):
        UniformNegativeSampler(5)(torch.tensor([5]))
    with pytest.raises(ValueError, match="base must sample over num_nodes=12"):
        StrictNegativeSampler(g, base=UniformNegativeSampler(5))
    with pytest.raises(TypeError, match="base must be a UniformNegativeSampler"):
        StrictNegativeSampler(g, base=object())


# --------------------------------------------------------------- decoders
def test_decoders_against_formulas():
    torch.manual_seed(0)
    a, b = torch.randn(5, 4, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    torch.testing.assert_close(DotProduct()(a, b), torch.einsum("kf,kf->k", a, b))
    bil = Bilinear(4).double()
    torch.testing.assert_close(bil(a, b), DotProduct()(a, b))  # identity start
    with torch.no_grad():
        bil.weight.copy_(torch.randn(4, 4, dtype=torch.float64))
    torch.testing.assert_close(bil(a, b), torch.einsum("kf,fg,kg->k", a, bil.weight, b))


def test_mlp_decoder_shapes_and_symmetry():
    torch.manual_seed(0)
    a, b = torch.randn(6, 4), torch.randn(6, 4)
    had = MLPDecoder(4, hidden_features=8)
    assert had(a, b).shape == (6,)
    torch.testing.assert_close(had(a, b), had(b, a))
    cat = MLPDecoder(4, hidden_features=8, combine="concat")
    lin1 = cat.mlp(torch.cat([a, b], -1)).squeeze(-1)
    torch.testing.assert_close(cat(a, b), lin1)


def test_decoder_validation():
    with pytest.raises(ValueError, match=r"h_src and h_dst must both be \[K, F\]"):
        DotProduct()(torch.zeros(3, 2), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="must have F=4 columns"):
        Bilinear(4)(torch.zeros(3, 2), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="features must be an int >= 1"):
        Bilinear(0)
    with pytest.raises(ValueError, match="combine must be one of"):
        MLPDecoder(4, combine="sum")


# ---------------------------------------------------------------- metrics
@pytest.mark.parametrize("seed", range(5))
def test_auc_ap_match_sklearn_with_ties(seed):
    gen = torch.Generator().manual_seed(seed)
    # scores rounded to one decimal: many ties within and across the classes
    pos = (torch.rand(40, generator=gen, dtype=torch.float64) + 0.2).round(decimals=1)
    neg = torch.rand(60, generator=gen, dtype=torch.float64).round(decimals=1)
    y = np.r_[np.ones(40), np.zeros(60)]
    s = torch.cat([pos, neg]).numpy()
    assert auc(pos, neg) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert average_precision(pos, neg) == pytest.approx(average_precision_score(y, s), abs=1e-12)


@given(st.lists(st.integers(0, 5), min_size=1, max_size=12), st.lists(st.integers(0, 5), min_size=1, max_size=12))
@settings(max_examples=80, deadline=None)
def test_auc_ap_property_sklearn(pos, neg):
    p, q = torch.tensor(pos, dtype=torch.float64), torch.tensor(neg, dtype=torch.float64)
    y, s = np.r_[np.ones(len(pos)), np.zeros(len(neg))], np.r_[pos, neg].astype(np.float64)
    assert auc(p, q) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert average_precision(p, q) == pytest.approx(average_precision_score(y, s), abs=1e-12)


def test_hits_and_mrr_hand_computed_shared_negatives():
    pos = torch.tensor([0.9, 0.5, 0.3])
    neg = torch.tensor([0.8, 0.5, 0.1, 0.0])
    # negatives >= each positive: 0, 2 (0.8 and the tied 0.5), 2; strictly above: 0, 1, 2
    assert hits_at_k(pos, neg, 1) == pytest.approx(1 / 3)
    assert hits_at_k(pos, neg, 2) == pytest.approx(1 / 3)  # the tie at 0.5 is a miss, as OGB
    assert hits_at_k(pos, neg, 3) == pytest.approx(1.0)
    assert hits_at_k(pos, neg, 10) == 1.0  # fewer than k negatives
    # ranks 1, 1 + (1 + 2) / 2 = 2.5, 3
    assert mrr(pos, neg) == pytest.approx((1 + 1 / 2.5 + 1 / 3) / 3)


def test_hits_and_mrr_hand_computed_per_positive_negatives():
    pos = torch.tensor([0.5, 0.2])
    neg = torch.tensor([[0.6, 0.5, 0.1], [0.1, 0.0, 0.05]])
    # ranks: 1 + (1 + 2) / 2 = 2.5 and 1
    assert mrr(pos, neg) == pytest.approx((1 / 2.5 + 1) / 2)
    assert hits_at_k(pos, neg, 1) == pytest.approx(0.5)
    assert hits_at_k(pos, neg, 3) == pytest.approx(1.0)


def test_hits_and_mrr_match_ogb_evaluator():
    pytest.importorskip("ogb")
    gen = torch.Generator().manual_seed(0)
    pos, neg = torch.rand(50, generator=gen).round(decimals=1), torch.rand(200, generator=gen).round(decimals=1)
    assert hits_at_k(pos, neg, 50) == pytest.approx(ogb_link_eval("ogbl-collab", pos, neg)["hits@50"])
    assert hits_at_k(pos, neg, 20) == pytest.approx(ogb_link_eval("ogbl-ddi", pos, neg)["hits@20"])
    neg2 = torch.rand(50, 30, generator=gen).round(decimals=1)
    ref = ogb_link_eval("ogbl-citation2", pos, neg2)
    assert mrr(pos, neg2) == pytest.approx(ref["mrr"])
    assert hits_at_k(pos, neg2, 10) == pytest.approx(ref["hits@10"])


def test_metrics_validation():
    p, q = torch.tensor([0.5]), torch.tensor([0.1, 0.2])
    with pytest.raises(TypeError, match="pos must be a float tensor"):
        auc(torch.tensor([1]), q)
    with pytest.raises(ValueError, match="neg must be a non-empty 1-D tensor"):
        average_precision(p, torch.zeros(0))
    with pytest.raises(ValueError, match="a 2-D neg must have one row per positive"):
        mrr(p, torch.zeros(2, 3))
    with pytest.raises(ValueError, match="k must be >= 1"):
        hits_at_k(p, q, 0)
    with pytest.raises(TypeError, match="k must be an int"):
        hits_at_k(p, q, 1.0)
    with pytest.raises(ValueError, match="name must be an OGB link dataset"):
        ogb_link_eval("ogbn-arxiv", p, q)


# ------------------------------------------------------------------ loader
def test_link_loader_pairs_index_the_output_rows():
    g = _ring_undirected(20, 8)
    s = split_edges(g, seed=0)
    neg = StrictNegativeSampler(s.train_graph, k=2, undirected=True)
    loader = link_neighbor_loader(s.train_graph, s.train_pos, [3, 2], batch_size=5, negative_sampler=neg, seed=1)
    seen = []
    edges = _pairs(s.train_graph.edge_index)
    for batch in loader:
        b = batch.edge_ids.numel()
        ends = batch.blocks.seeds[batch.pair]  # [2, B (1 + k)] global ids
        torch.testing.assert_close(ends[:, :b], s.train_pos[:, batch.edge_ids])
        torch.testing.assert_close(ends[0, b:], ends[0, :b].repeat_interleave(2))
        assert not any(p in edges for p in zip(*ends[:, b:].tolist()))
        torch.testing.assert_close(batch.label, torch.cat([torch.ones(b), torch.zeros(2 * b)]))
        assert batch.blocks.seeds.unique().numel() == batch.blocks.seeds.numel()
        assert batch.blocks.blocks[-1].num_nodes == batch.blocks.seeds.numel()
        seen.append(batch.edge_ids)
    assert sorted(torch.cat(seen).tolist()) == list(range(s.train_pos.shape[1]))


def test_link_loader_is_reproducible_and_feeds_a_layer():
    from gnnkit.nn import SAGEConv

    g = _ring_undirected(20, 8)
    s = split_edges(g, seed=0)
    a = [b.pair for b in link_neighbor_loader(s.train_graph, s.train_pos, [2], batch_size=6, seed=3)]
    b = [b.pair for b in link_neighbor_loader(s.train_graph, s.train_pos, [2], batch_size=6, seed=3)]
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y)
    conv = SAGEConv(3, 4)
    batch = next(iter(link_neighbor_loader(s.train_graph, s.train_pos, [2], batch_size=6, seed=3)))
    h = conv(batch.blocks.blocks[0], batch.blocks.input_data["x"])  # [U, 4]
    logits = DotProduct()(h[batch.pair[0]], h[batch.pair[1]])
    assert logits.shape == batch.label.shape


def _batch_tensors(batch) -> list[torch.Tensor]:
    mb = batch.blocks
    return [batch.pair, batch.label, batch.edge_ids, mb.seeds, mb.input_nodes, *mb.edge_ids,
            *(t for b in mb.blocks for t in (b.src, b.dst))]


def test_link_loader_prefetch_thread_gives_the_same_batches():
    g = _ring_undirected(30, 12)
    s = split_edges(g, seed=0)
    kw = dict(batch_size=7, seed=4, negative_sampler=UniformNegativeSampler(g.num_nodes, k=2))
    for threaded, serial in zip(link_neighbor_loader(s.train_graph, s.train_pos, [3, 2], **kw),
                                link_neighbor_loader(s.train_graph, s.train_pos, [3, 2], prefetch_thread=False, **kw)):
        for a, b in zip(_batch_tensors(threaded), _batch_tensors(serial), strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("num_workers", [0, 1])
def test_link_loader_builds_block_layouts_in_the_sampler(num_workers):
    g = _ring_undirected(30, 12)
    s = split_edges(g, seed=0)
    # a worker process's batch comes back pickled: its layouts must survive the trip
    batch = next(iter(link_neighbor_loader(s.train_graph, s.train_pos, [3, 2], batch_size=8, prefetch_thread=False,
                                           num_workers=num_workers)))
    blocks = batch.blocks.blocks
    # the in-CSR of every block (forward) and the out-CSR of the blocks that carry gradients are cached already
    assert all("csr_in" in b._cache for b in blocks)
    assert all("csr_out" in b._cache for b in blocks[1:])
    assert "csr_out" not in blocks[0]._cache  # built lazily, only when the input asks for a gradient


def test_link_loader_prebuilt_layouts_leave_the_step_unchanged():
    from gnnkit.nn import SAGEConv

    g = _ring_undirected(30, 12)
    s = split_edges(g, seed=0)
    batch = next(iter(link_neighbor_loader(s.train_graph, s.train_pos, [3, 2], batch_size=8, seed=2)))
    # the same blocks built afresh, with no cached layout
    fresh = [Graph.block(b.src, b.dst, b.num_nodes, b.num_src_nodes) for b in batch.blocks.blocks]
    torch.manual_seed(0)
    layers = torch.nn.ModuleList([SAGEConv(3, 4), SAGEConv(4, 4)])
    grads = []
    for blocks in (batch.blocks.blocks, fresh):
        x = batch.blocks.input_data["x"].clone().requires_grad_()  # a gradient through the first block too
        h = x
        for block, layer in zip(blocks, layers):
            h = layer(block, h)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(DotProduct()(h[batch.pair[0]], h[batch.pair[1]]),
                                                                    batch.label)
        grads.append(torch.autograd.grad(loss, [x, *layers.parameters()]))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_link_loader_validation():
    g = _ring_undirected()
    with pytest.raises(ValueError, match=r"edges must be a \[2, K\] tensor"):
        link_neighbor_loader(g, torch.zeros(3, 2, dtype=torch.int64), [2], 4)
    with pytest.raises(TypeError, match="edges must be int64"):
        link_neighbor_loader(g, torch.zeros(2, 2), [2], 4)
    with pytest.raises(IndexError, match=r"edges must lie in \[0, num_nodes=12\)"):
        link_neighbor_loader(g, torch.tensor([[0], [12]]), [2], 4)
    with pytest.raises(ValueError, match="prefetch_factor must be an int >= 1"):
        link_neighbor_loader(g, torch.tensor([[0], [1]]), [2], 4, prefetch_factor=0)


# ----------------------------------------------------------------- example
# seeded runs give AUC 0.878 (full-graph GAE, 20 epochs) and 0.817 (sampled, 1 epoch) with 1 or
# 2 threads; the floors leave room for other BLAS builds but fail on a broken model or split
@pytest.mark.parametrize("mode,min_auc", [([], 0.85), (["--sampled", "--epochs", "1"], 0.75)])
def test_link_prediction_example_quick(mode, min_auc):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "link_prediction.py"), "--quick", *mode],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    last = out.stdout.strip().splitlines()[-1]
    match = re.fullmatch(r"test auc: (\d\.\d{4})  test ap: (\d\.\d{4})", last)
    assert match, last
    assert float(match.group(1)) > min_auc
