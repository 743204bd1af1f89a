"""The native (C++) neighbour sampler: same distribution as the numpy path, reproducible for any thread count."""
import itertools
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chi2, chi2_contingency

from conftest import random_graph
from gnnkit import Graph
from gnnkit.data import _native_sampling as native
from gnnkit.data.sampling import NeighborSampler
from test_sampling import CHI2_QUANTILE, _chi2_stat, _global_edges, _star_graph

pytestmark = pytest.mark.skipif(native.library() is None, reason="the CPU kernels could not be built")

# (backend, threads): the numpy path, and the native one on one and two threads
ENGINES = [("numpy", 1), ("native", 1), ("native", 2)]


@pytest.fixture(autouse=True)
def _threads_on_tiny_work(monkeypatch):
    # calls below 2^14 edges run on one thread; the test graphs are tiny, so lift that floor
    # to make num_threads=2 really split the destination chunks between two threads
    monkeypatch.setattr(native, "_EDGES_PER_THREAD", 1)


def _subset_counts(backend: str, threads: int, degree: int, fanout: int, num_dst: int, generator: int) -> np.ndarray:
    """How often each ``fanout``-subset of ``degree`` neighbours was drawn, over ``num_dst`` destinations."""
    g = _star_graph(num_dst, degree)
    sampler = NeighborSampler(g, [fanout], backend=backend, num_threads=threads)
    batch = sampler.sample(torch.arange(degree, degree + num_dst), generator=generator)
    picked = batch.input_nodes[batch.blocks[0].src].view(num_dst, fanout).numpy()  # [D, k]
    subsets = {s: i for i, s in enumerate(itertools.combinations(range(degree), fanout))}
    return np.bincount([subsets[tuple(sorted(row))] for row in picked], minlength=len(subsets))


@pytest.mark.parametrize("backend,threads", ENGINES)
def test_every_subset_equally_likely(backend, threads):
    counts = _subset_counts(backend, threads, degree=7, fanout=3, num_dst=6000, generator=21)  # 35 subsets
    assert _chi2_stat(counts) < chi2.ppf(CHI2_QUANTILE, counts.size - 1)


def test_native_and_numpy_draw_the_same_subset_distribution():
    # a contingency test of the three engines' subset counts: one distribution
    table = np.stack([_subset_counts(b, t, degree=6, fanout=2, num_dst=5000, generator=22) for b, t in ENGINES])
    assert chi2_contingency(table).pvalue > 1 - CHI2_QUANTILE


@pytest.mark.parametrize("threads", [1, 2])
def test_large_fanout_is_uniform_and_distinct(threads):
    # fanout > 32 takes the mark-array branch of Floyd's algorithm
    degree, fanout, num_dst = 50, 40, 600
    g = _star_graph(num_dst, degree)
    batch = NeighborSampler(g, [fanout], backend="native", num_threads=threads).sample(
        torch.arange(degree, degree + num_dst), generator=23)
    picked = batch.input_nodes[batch.blocks[0].src].view(num_dst, fanout).numpy()
    assert all(np.unique(row).size == fanout for row in picked)
    assert _chi2_stat(np.bincount(picked.ravel(), minlength=degree)) < chi2.ppf(CHI2_QUANTILE, degree - 1)


@pytest.mark.parametrize("threads", [1, 2])
def test_with_replacement_is_uniform(threads):
    g = _star_graph(3000, 7)
    batch = NeighborSampler(g, [4], replace=True, backend="native", num_threads=threads).sample(
        torch.arange(7, 3007), generator=24)
    assert batch.blocks[0].num_edges == 3000 * 4
    per_neighbour = np.bincount(batch.input_nodes[batch.blocks[0].src].numpy(), minlength=7)
    assert _chi2_stat(per_neighbour) < chi2.ppf(CHI2_QUANTILE, 6)


def _equal(a, b) -> bool:
    return (torch.equal(a.input_nodes, b.input_nodes) and all(x.equal(y) for x, y in zip(a.blocks, b.blocks))
            and all(torch.equal(x, y) for x, y in zip(a.edge_ids, b.edge_ids)))


def test_a_seed_reproduces_the_batch_on_one_and_two_threads():
    g = random_graph(3000, 40000, seed=5)
    seeds = torch.arange(0, 3000, 5)
    one = NeighborSampler(g, [6, 4, 3], backend="native", num_threads=1)
    two = NeighborSampler(g, [6, 4, 3], backend="native", num_threads=2)
    a, b, c = one.sample(seeds, generator=7), two.sample(seeds, generator=7), two.sample(seeds, generator=7)
    assert _equal(a, b) and _equal(b, c)
    assert not _equal(a, one.sample(seeds, generator=8))


def test_new_vertices_are_numbered_by_first_occurrence():
    g = random_graph(400, 3000, seed=6)
    batch = NeighborSampler(g, [5], backend="native", num_threads=2).sample(torch.arange(0, 400, 9), generator=1)
    src, d = batch.blocks[0].src.numpy(), batch.blocks[0].num_nodes
    new = src[src >= d]
    _, first = np.unique(new, return_index=True)
    assert np.array_equal(new[np.sort(first)], np.arange(d, batch.blocks[0].num_src_nodes))


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 40), st.integers(0, 200), st.lists(st.sampled_from([1, 2, 3, 5, 33, -1]), min_size=1, max_size=3),
       st.booleans(), st.integers(1, 2), st.integers(0, 2**32))
def test_blocks_are_real_edges_within_fanout_without_repeats(n, e, fanouts, replace, threads, seed):
    rng = np.random.default_rng(seed)
    g = Graph(torch.from_numpy(rng.integers(0, n, e)), torch.from_numpy(rng.integers(0, n, e)), n)
    seeds = torch.from_numpy(rng.permutation(n)[: max(1, n // 3)])
    batch = NeighborSampler(g, fanouts, replace=replace, backend="native", num_threads=threads).sample(seeds, seed)
    indeg = g.in_degrees()
    assert torch.equal(batch.input_nodes[: seeds.numel()], seeds)
    assert torch.unique(batch.input_nodes).numel() == batch.input_nodes.numel()
    for layer, fanout in enumerate(fanouts):
        src, dst = _global_edges(batch, layer)
        eid = batch.edge_ids[layer]
        assert torch.equal(g.src[eid], src) and torch.equal(g.dst[eid], dst)  # every edge is in the graph
        deg = indeg[batch.dst_nodes(layer)]
        counts = torch.bincount(batch.blocks[layer].dst, minlength=deg.numel())
        want = deg if fanout == -1 else (torch.where(deg > 0, fanout, 0) if replace else deg.clamp(max=fanout))
        assert torch.equal(counts, want)
        if not replace:  # no edge twice in one vertex's sample
            assert torch.unique(eid).numel() == eid.numel()


@pytest.mark.parametrize("fanouts", [[-1], [-1, -1]])
def test_all_neighbours_equals_the_numpy_path_as_edge_sets(fanouts):
    g = random_graph(100, 700, seed=7)
    seeds = torch.tensor([3, 50, 7, 99])
    a = NeighborSampler(g, fanouts, backend="native").sample(seeds, 0)
    b = NeighborSampler(g, fanouts, backend="numpy").sample(seeds, 0)
    for layer in range(len(fanouts)):
        assert sorted(a.edge_ids[layer].tolist()) == sorted(b.edge_ids[layer].tolist())
    assert set(a.input_nodes.tolist()) == set(b.input_nodes.tolist())


def test_bad_backend_and_threads():
    g = random_graph(10, 20, seed=1)
    with pytest.raises(ValueError, match="backend must be one of"):
        NeighborSampler(g, [2], backend="cuda")
    with pytest.raises(ValueError, match="num_threads must be an int >= 1"):
        NeighborSampler(g, [2], num_threads=0)


def test_unavailable_library_falls_back_to_numpy_or_raises_for_native(monkeypatch):
    monkeypatch.setattr(native, "_state", [None])  # as after a failed build
    g = random_graph(50, 300, seed=2)
    auto = NeighborSampler(g, [3, 3], backend="auto").sample(torch.arange(10), generator=3)
    numpy_ = NeighborSampler(g, [3, 3], backend="numpy").sample(torch.arange(10), generator=3)
    assert _equal(auto, numpy_)
    with pytest.raises(RuntimeError, match="backend='native' needs the compiled CPU kernels"):
        NeighborSampler(g, [3], backend="native")


def test_no_compiler_warns_once_and_samples_with_numpy(tmp_path):
    # a fresh process with an empty kernel cache and no compiler on PATH
    code = textwrap.dedent("""
        import warnings, torch
        from gnnkit import Graph
        from gnnkit.data.sampling import NeighborSampler
        g = Graph(torch.tensor([0, 1, 2, 3]), torch.tensor([1, 2, 3, 0]), 4)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(2):
                batch = NeighborSampler(g, [1]).sample([0, 2], generator=0)
        msgs = [str(w.message) for w in caught if "native neighbour sampling unavailable" in str(w.message)]
        print(len(msgs), batch.blocks[0].num_edges)
    """)
    env = dict(os.environ, GNNKIT_CACHE_DIR=str(tmp_path), PATH=str(tmp_path), CXX="")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1", "2"]


def test_native_calls_refuse_arrays_of_the_wrong_type():
    # the ctypes boundary: an int32 or strided array would be read as int64 out of bounds in C
    lib = native.library()
    table = np.full(10, -1, dtype=np.int32)
    dst = np.arange(2, dtype=np.int64)
    with pytest.raises(TypeError, match="C-contiguous int64"):
        native.relabel(lib, table, dst, np.arange(4, dtype=np.int32))
    with pytest.raises(TypeError, match="C-contiguous int64"):
        native.relabel(lib, table, dst, np.arange(8, dtype=np.int64)[::2])
    with pytest.raises(TypeError, match="C-contiguous int32"):
        native.relabel(lib, table.astype(np.int64), dst, np.arange(4, dtype=np.int64))


def _int32_and_int64_samplers(g, fanouts, replace, threads):
    csr = g.csr_in()
    kw = dict(replace=replace, backend="native", num_threads=threads)
    wide = NeighborSampler.from_csr(csr.indptr, csr.indices, fanouts, **kw)
    narrow = NeighborSampler.from_csr(csr.indptr.numpy(), csr.indices.numpy().astype(np.int32), fanouts, **kw)
    return wide, narrow


@pytest.mark.parametrize("fanouts,replace", [([6, 4, 3], False), ([40, -1], False), ([3, 5], True)])
@pytest.mark.parametrize("threads", [1, 2])
def test_an_int32_csr_samples_natively_like_int64_bit_for_bit(fanouts, replace, threads):
    wide, narrow = _int32_and_int64_samplers(random_graph(500, 6000, seed=9), fanouts, replace, threads)
    assert narrow._indices.dtype == np.int32 and narrow._native_library() is not None  # kept int32, not copied
    seeds = torch.arange(0, 500, 7)
    for generator in range(3):
        assert _equal(wide.sample(seeds, generator=generator), narrow.sample(seeds, generator=generator))


@pytest.mark.parametrize("threads", [1, 2])
def test_an_int32_csr_draws_every_subset_equally_likely(threads):
    degree, fanout, num_dst = 7, 3, 6000
    g = _star_graph(num_dst, degree)
    _, narrow = _int32_and_int64_samplers(g, [fanout], False, threads)
    batch = narrow.sample(torch.arange(degree, degree + num_dst), generator=25)
    picked = batch.input_nodes[batch.blocks[0].src].view(num_dst, fanout).numpy()  # [D, k]
    subsets = {s: i for i, s in enumerate(itertools.combinations(range(degree), fanout))}
    counts = np.bincount([subsets[tuple(sorted(row))] for row in picked], minlength=len(subsets))
    assert _chi2_stat(counts) < chi2.ppf(CHI2_QUANTILE, counts.size - 1)


def test_an_int32_csr_falls_back_to_numpy_on_kernels_without_the_int32_entry(monkeypatch):
    _, narrow = _int32_and_int64_samplers(random_graph(30, 120, seed=1), [3], False, 1)
    narrow.backend = "auto"
    monkeypatch.setattr(native, "supports", lambda lib, dtype: dtype == np.int64)  # a kernels build before it
    assert narrow._native_library() is None
    assert narrow.sample(torch.arange(5), 0).blocks[0].num_edges > 0


def test_native_sample_layer_refuses_indices_it_cannot_read():
    # int32 picks the int32 entry point, anything else the int64 one; a strided view is refused by both
    lib = native.library()
    indptr, dst = np.array([0, 2, 4], dtype=np.int64), np.arange(2, dtype=np.int64)
    with pytest.raises(TypeError, match="C-contiguous int64"):
        native.sample_layer(lib, indptr, np.array([1, 0, 1, 0], dtype=np.int16), dst, 2, False, 0, 1)
    with pytest.raises(TypeError, match="C-contiguous int32"):
        native.sample_layer(lib, indptr, np.array([1, 0, 0, 0, 1, 0, 0, 0], dtype=np.int32)[::2], dst, 2, False, 0, 1)


def test_from_csr_check_false_skips_the_scans_but_not_the_end_points():
    indptr, bad = np.array([0, 2, 3], dtype=np.int64), np.array([0, 9, 1], dtype=np.int32)  # 9 >= N = 2
    with pytest.raises(IndexError, match="indices must lie in"):
        NeighborSampler.from_csr(indptr, bad, [2])
    s = NeighborSampler.from_csr(indptr, bad, [2], check=False)  # the caller vouches: no O(E) scan
    assert s._indices is bad
    with pytest.raises(ValueError, match="indptr must be non-decreasing from 0 to len"):
        NeighborSampler.from_csr(np.array([0, 2, 4], dtype=np.int64), bad, [2], check=False)
    with pytest.raises(ValueError, match="indptr must be non-decreasing"):
        NeighborSampler.from_csr(np.array([0, 3, 2, 3], dtype=np.int64), np.zeros(3, np.int32), [2])
