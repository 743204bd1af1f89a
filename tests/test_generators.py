"""Chunked power-law generators: sizes, degree tails, CSR correctness, bounded memory, seeds."""
import tracemalloc

import numpy as np
import pytest
import torch

from gnnkit.data.generators import (CSRGraph, chung_lu, chung_lu_edge_chunks, dedupe_csr, power_law_weights, rmat,
                                    symmetrize_csr)
from gnnkit.data.generators import _rmat_chunk


def _hill(degrees: np.ndarray, k: int) -> float:
    """Hill's estimator of the tail exponent gamma of P(d) ~ d^-gamma from the k largest degrees."""
    d = np.sort(degrees)[::-1][: k + 1].astype(np.float64)
    return 1.0 + k / np.log(d[:k] / d[k]).sum()


def _pairs(g: CSRGraph) -> np.ndarray:
    """Sorted (dst, src) keys of every edge, duplicates kept."""
    dst = np.repeat(np.arange(g.num_nodes), g.in_degrees())
    return np.sort(dst * g.num_nodes + g.indices)


def _check_csr(g: CSRGraph, num_nodes: int, num_edges: int) -> None:
    assert g.indptr.shape == (num_nodes + 1,) and g.indices.shape == (num_edges,)
    assert g.indptr[0] == 0 and g.indptr[-1] == num_edges and (np.diff(g.indptr) >= 0).all()
    assert g.indices.dtype == np.int64 and g.indices.min() >= 0 and g.indices.max() < num_nodes


@pytest.mark.parametrize("make", [chung_lu, rmat])
def test_exact_sizes_and_a_valid_csr(make):
    g = make(5000, 40000, seed=1, chunk_size=7000)  # several chunks, the last one short
    _check_csr(g, 5000, 40000)
    assert make(10, 0).num_edges == 0


@pytest.mark.parametrize("exponent", [2.2, 2.5, 3.0])
def test_chung_lu_degrees_have_the_requested_power_law_tail(exponent):
    g = chung_lu(200_000, 2_000_000, exponent=exponent, seed=0)
    # Hill on the top 1% of degrees; at this size the estimate lies within 0.15 of gamma
    # (seeds 0-9 give |error| < 0.06), while a uniform random graph's Poisson tail gives ~15
    assert abs(_hill(g.in_degrees(), 2000) - exponent) < 0.15
    assert abs(_hill(g.out_degrees(), 2000) - exponent) < 0.15
    uniform = np.bincount(np.random.default_rng(0).integers(0, 200_000, 2_000_000), minlength=200_000)
    assert _hill(uniform, 2000) > 8


def test_rmat_is_heavy_tailed_and_its_two_pass_csr_holds_exactly_the_drawn_edges():
    n, e, chunk = 1 << 12, 30_000, 8192
    g = rmat(n, e, seed=3, chunk_size=chunk, permute=False)
    src, dst = [], []
    for i, start in enumerate(range(0, e, chunk)):
        s, d = _rmat_chunk(np.random.default_rng([3, i]), min(chunk, e - start), 12, 0.57, 0.19, 0.19)
        src.append(s)
        dst.append(d)
    src, dst = np.concatenate(src), np.concatenate(dst)
    np.testing.assert_array_equal(_pairs(g), np.sort(dst * n + src))
    big = rmat(1 << 16, 1_000_000, seed=0)
    assert _hill(big.in_degrees(), 1000) < 4  # a power-law-like tail, not Poisson


def test_power_law_weights_cap_the_largest_weight():
    w = power_law_weights(10_000, 2.5)
    assert abs(w.sum() - 1) < 1e-12 and (np.diff(w) <= 0).all()
    assert w[0] / w.mean() == pytest.approx(100, rel=0.05)  # sqrt(N)
    assert power_law_weights(10_000, 2.5, max_weight_ratio=10)[0] * 10_000 == pytest.approx(10, rel=0.05)


@pytest.mark.parametrize("make", [chung_lu, rmat])
def test_seed_reproduces_the_graph(make):
    a, b, c = make(3000, 20000, seed=5), make(3000, 20000, seed=5), make(3000, 20000, seed=6)
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert not np.array_equal(a.indices, c.indices)


def test_dedupe_matches_unique_and_sorts_rows():
    g = chung_lu(2000, 60_000, seed=2, exponent=2.1)  # hubs: many parallel edges
    expected = np.unique(_pairs(g))
    expected = expected[expected // 2000 != expected % 2000]  # no self-loops
    d = dedupe_csr(CSRGraph(g.indptr.copy(), g.indices.copy()), chunk_size=5000)
    assert d.num_edges < g.num_edges
    np.testing.assert_array_equal(_pairs(d), expected)
    np.testing.assert_array_equal(np.repeat(np.arange(2000), d.in_degrees()) * 2000 + d.indices, expected)  # rows sorted
    kept = dedupe_csr(CSRGraph(g.indptr.copy(), g.indices.copy()), remove_self_loops=False, chunk_size=5000)
    assert kept.num_edges == np.unique(_pairs(g)).size


def test_symmetrize_gives_a_symmetric_simple_graph():
    g = rmat(1500, 20_000, seed=4)
    s = symmetrize_csr(g, chunk_size=3000)
    dst = np.repeat(np.arange(1500), s.in_degrees())
    forward = np.sort(dst * 1500 + s.indices)
    backward = np.sort(s.indices * 1500 + dst)
    np.testing.assert_array_equal(forward, backward)
    src0, dst0 = g.indices, np.repeat(np.arange(1500), g.in_degrees())
    expected = np.unique(np.r_[dst0 * 1500 + src0, src0 * 1500 + dst0])
    np.testing.assert_array_equal(forward, expected[expected // 1500 != expected % 1500])


def test_to_graph_shares_indices_and_keeps_the_edges():
    c = chung_lu(1000, 8000, seed=7)
    g = c.to_graph()
    assert g.num_nodes == 1000 and g.num_edges == 8000
    assert g.src.data_ptr() == c.indices.ctypes.data  # no copy of the [E] sources
    csr = g.csr_in()
    assert csr.eid is None and csr.indices.data_ptr() == g.src.data_ptr()
    torch.testing.assert_close(csr.indptr, torch.from_numpy(c.indptr), rtol=0, atol=0)


@pytest.mark.parametrize("make,per_node", [(chung_lu, 32), (rmat, 48)])
def test_peak_memory_is_the_output_plus_linear_tables_never_dense(make, per_node):
    n, e, chunk = 300_000, 3_000_000, 1 << 18
    tracemalloc.start()  # numpy reports its buffers to tracemalloc
    try:
        g = make(n, e, seed=1, chunk_size=chunk)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # output + O(N) weight/count tables + O(chunk) temporaries; a dense [N, N] bool would be 9e10 bytes
    assert peak <= g.nbytes + per_node * n + 64 * chunk
    assert peak < n * n / 1000


@pytest.mark.parametrize("call,exc,match", [
    (lambda: chung_lu(0, 10), ValueError, "num_nodes must be >= 1, got 0"),
    (lambda: chung_lu(10, -1), ValueError, "num_edges must be >= 0, got -1"),
    (lambda: chung_lu(10.0, 5), TypeError, "num_nodes must be an int"),
    (lambda: chung_lu(10, 5, exponent=2.0), ValueError, r"exponent must be > 2"),
    (lambda: chung_lu(10, 5, chunk_size=0), ValueError, "chunk_size must be an int >= 1"),
    (lambda: chung_lu(10, 5, max_weight_ratio=0.5), ValueError, "max_weight_ratio must be >= 1"),
    (lambda: rmat(10, 5, a=1.2), ValueError, r"a must lie in \[0, 1\]"),
    (lambda: rmat(10, 5, a=0.5, b=0.3, c=0.3), ValueError, "a \\+ b \\+ c must be <= 1"),
])
def test_bad_arguments(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_chung_lu_edge_chunks_follow_the_weights():
    from scipy import stats

    n, e = 50, 200_000
    chunks = list(chung_lu_edge_chunks(n, e, seed=3, chunk_size=70_000))
    assert [c[0].size for c in chunks] == [70_000, 70_000, 60_000]
    perm = np.random.default_rng([3, 1 << 41]).permutation(n)  # the stream's id shuffle
    p = power_law_weights(n, 2.5)
    for end in (0, 1):
        counts = np.bincount(np.concatenate([c[end] for c in chunks]), minlength=n)[perm]  # [N] by weight rank
        # the closed-form draw integrates the weight over [i - 1/2, i + 1/2), the weights take the midpoint:
        # at 200k draws a chi-square test cannot tell them apart (p-value far above 1e-6)
        assert stats.chisquare(counts, p * e).pvalue > 1e-6


def test_chung_lu_edge_chunks_replay_and_dtype():
    a = list(chung_lu_edge_chunks(1000, 5000, seed=1, chunk_size=1500, dtype=np.int32))
    b = list(chung_lu_edge_chunks(1000, 5000, seed=1, chunk_size=1500, dtype=np.int32))
    assert all(np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1]) for x, y in zip(a, b))
    assert a[0][0].dtype == np.int32 and int(np.concatenate([s for s, _ in a]).max()) < 1000
    with pytest.raises(ValueError, match=r"exponent must be > 2"):
        next(chung_lu_edge_chunks(10, 10, exponent=2.0))
