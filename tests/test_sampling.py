"""Neighbour sampling, Cluster-GCN batches and the multi-process loader."""
import gc
import itertools
import os
import pickle
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
import torch
from scipy.stats import chi2

from conftest import random_graph
from gnnkit import Graph, ops
from gnnkit.nn import GATConv, GCNConv, SAGEConv
from gnnkit.data.sampling import ClusterGCNSampler, DataLoader, MiniBatch, NeighborSampler, batch_generator

# A fixed seed makes each statistical test deterministic; the 0.999 quantile means a
# correct sampler fails one seed in a thousand, a biased one (tested below) fails.
CHI2_QUANTILE = 0.999


def _global_edges(batch: MiniBatch, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
    b = batch.blocks[layer]
    return batch.input_nodes[b.src], batch.input_nodes[b.dst]


def _graphs():
    unsorted = random_graph(60, 400, seed=1)  # duplicates and self-loops, edges not by dst
    sorted_ = random_graph(80, 500, seed=2).sort_by_dst()  # csr_in().eid is None
    return [unsorted, sorted_]


# ------------------------------------------------------------------ structure
@pytest.mark.parametrize("g", _graphs())
@pytest.mark.parametrize("fanouts", [[3, 2], [5, -1, 1], [-1]])
def test_blocks_hold_real_edges_with_their_edge_ids(g, fanouts):
    batch = NeighborSampler(g, fanouts).sample(torch.tensor([5, 0, 17, 33]), generator=0)
    assert len(batch.blocks) == len(fanouts) == len(batch.edge_ids)
    for layer, eid in enumerate(batch.edge_ids):
        src, dst = _global_edges(batch, layer)
        torch.testing.assert_close(g.src[eid], src, rtol=0, atol=0)
        torch.testing.assert_close(g.dst[eid], dst, rtol=0, atol=0)


@pytest.mark.parametrize("fanout", [1, 3, 7])
def test_each_destination_gets_min_fanout_in_degree_distinct_in_neighbours(fanout):
    g = random_graph(200, 1500, seed=3).coalesce()  # no parallel edges: distinct edges = distinct neighbours
    batch = NeighborSampler(g, [fanout, fanout]).sample(torch.arange(0, 200, 7), generator=1)
    indeg = g.in_degrees()
    for layer in range(2):
        src, dst = _global_edges(batch, layer)
        dst_nodes = batch.dst_nodes(layer)
        counts = torch.bincount(batch.blocks[layer].dst, minlength=dst_nodes.numel())
        torch.testing.assert_close(counts, torch.clamp(indeg[dst_nodes], max=fanout), rtol=0, atol=0)
        pairs = torch.stack([dst, src], 1)
        assert torch.unique(pairs, dim=0).shape[0] == pairs.shape[0]


def test_duplicate_edges_are_distinct_draws_but_never_the_same_edge_twice():
    # vertex 0 has 6 in-edges, all from vertex 1: a fan-out of 4 takes 4 different edges
    g = Graph(torch.ones(6, dtype=torch.int64), torch.zeros(6, dtype=torch.int64), 2)
    batch = NeighborSampler(g, [4]).sample([0], generator=0)
    assert batch.edge_ids[0].unique().numel() == 4
    assert batch.input_nodes.tolist() == [0, 1]


def test_seeds_first_and_layers_chain():
    g = random_graph(300, 3000, seed=4)
    seeds = torch.tensor([10, 3, 250, 99, 7])
    batch = NeighborSampler(g, [4, 3, 2]).sample(seeds, generator=2)
    assert torch.equal(batch.seeds, seeds)
    assert torch.equal(batch.input_nodes[: seeds.numel()], seeds)
    assert batch.input_nodes.unique().numel() == batch.input_nodes.numel()
    assert batch.blocks[-1].num_nodes == seeds.numel()
    for layer, b in enumerate(batch.blocks):
        assert b.is_bipartite or b.num_src_nodes == b.num_nodes
        if layer + 1 < len(batch.blocks):  # block l's destinations are block l+1's sources
            assert b.num_nodes == batch.blocks[layer + 1].num_src_nodes
            assert torch.equal(batch.dst_nodes(layer), batch.src_nodes(layer + 1))
        # the sources are exactly the destinations plus the sampled in-neighbours
        src, _ = _global_edges(batch, layer)
        expected = set(batch.dst_nodes(layer).tolist()) | set(src.tolist())
        assert set(batch.src_nodes(layer).tolist()) == expected
        assert torch.equal(batch.src_nodes(layer)[: b.num_nodes], batch.dst_nodes(layer))
        assert bool((b.dst[1:] >= b.dst[:-1]).all())  # grouped by destination


def test_vertex_without_in_edges_and_empty_graph():
    g = Graph(torch.tensor([0, 1]), torch.tensor([1, 2]), 5)  # vertices 0, 3, 4 have no in-edges
    batch = NeighborSampler(g, [2, 2]).sample([3, 2], generator=0)
    assert batch.input_nodes.tolist() == [3, 2, 1, 0]
    assert [b.num_edges for b in batch.blocks] == [2, 1]
    empty = Graph(torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64), 4)
    batch = NeighborSampler(empty, [3]).sample(torch.tensor([1, 2]))
    assert batch.blocks[0].num_edges == 0 and batch.input_nodes.tolist() == [1, 2]
    batch = NeighborSampler(g, [2]).sample(torch.zeros(0, dtype=torch.int64))
    assert batch.blocks[0].num_nodes == 0 and batch.input_nodes.numel() == 0


def test_replace_draws_exactly_fanout_real_edges():
    g = random_graph(100, 300, seed=5)
    batch = NeighborSampler(g, [6], replace=True).sample(torch.arange(100), generator=3)
    counts = torch.bincount(batch.blocks[0].dst, minlength=100)
    torch.testing.assert_close(counts, torch.where(g.in_degrees() > 0, 6, 0), rtol=0, atol=0)
    torch.testing.assert_close(g.src[batch.edge_ids[0]], _global_edges(batch, 0)[0], rtol=0, atol=0)


def test_from_csr_matches_the_graph_sampler():
    g = random_graph(120, 900, seed=6)
    csr = g.csr_in()
    a = NeighborSampler(g, [3, 3]).sample(torch.arange(0, 120, 5), generator=7)
    b = NeighborSampler.from_csr(csr.indptr, csr.indices, [3, 3], eid=csr.eid).sample(torch.arange(0, 120, 5), generator=7)
    assert torch.equal(a.input_nodes, b.input_nodes)
    for x, y, ex, ey in zip(a.blocks, b.blocks, a.edge_ids, b.edge_ids):
        assert x.equal(y) and torch.equal(ex, ey)


# ---------------------------------------------------------- matches full graph
def _two_layer(layers, graphs, x):
    h = torch.relu(layers[0](graphs[0], x))
    return layers[1](graphs[1], h)


@pytest.mark.parametrize("fanout", [-1, "max_degree"])
@pytest.mark.parametrize("aggr", ["mean", "sum", "max"])
def test_sage_on_blocks_equals_full_graph_at_the_seeds(fanout, aggr):
    torch.manual_seed(0)
    g = random_graph(150, 1200, seed=7)
    k = int(g.in_degrees().max()) if fanout == "max_degree" else -1
    x = torch.randn(150, 12, dtype=torch.float64)
    layers = [SAGEConv(12, 16, reduce=aggr).double(), SAGEConv(16, 5, reduce=aggr).double()]
    seeds = torch.tensor([0, 149, 42, 7, 88, 120])
    batch = NeighborSampler(g, [k, k]).sample(seeds, generator=0)
    full = _two_layer(layers, [g, g], x)[seeds]
    sampled = _two_layer(layers, batch.blocks, x[batch.input_nodes])
    torch.testing.assert_close(sampled, full)


def test_gcn_and_gat_run_on_blocks_and_match_full_graph():
    torch.manual_seed(1)
    g = random_graph(100, 700, seed=8).add_self_loops(only_missing=True)
    w = ops.gcn_norm(g, dtype=torch.float64)  # full-graph normalisation, gathered per block edge
    x = torch.randn(100, 8, dtype=torch.float64)
    seeds = torch.tensor([3, 50, 99])
    batch = NeighborSampler(g, [-1, -1]).sample(seeds)
    gcn = [GCNConv(a, b, add_self_loops=False, normalize=False).double() for a, b in ((8, 8), (8, 4))]
    full = gcn[1](g, torch.relu(gcn[0](g, x, w)), w)[seeds]
    h = torch.relu(gcn[0](batch.blocks[0], x[batch.input_nodes], w[batch.edge_ids[0]]))
    torch.testing.assert_close(gcn[1](batch.blocks[1], h, w[batch.edge_ids[1]]), full)
    gat = [GATConv(8, 4, heads=2, add_self_loops=False).double(), GATConv(8, 3, heads=1, add_self_loops=False).double()]
    torch.testing.assert_close(_two_layer(gat, batch.blocks, x[batch.input_nodes]), _two_layer(gat, [g, g], x)[seeds])


# ---------------------------------------------------------------- statistics
def _star_graph(num_dst: int, degree: int) -> Graph:
    """Vertices ``degree .. degree + num_dst - 1`` each have in-neighbours ``0 .. degree - 1``."""
    src = torch.arange(degree).repeat(num_dst)
    dst = torch.arange(degree, degree + num_dst).repeat_interleave(degree)
    return Graph(src, dst, degree + num_dst)


def _chi2_stat(counts: np.ndarray) -> float:
    expected = counts.sum() / counts.size
    return float(((counts - expected) ** 2 / expected).sum())


@pytest.mark.parametrize("degree,fanout", [(10, 3), (4, 3), (200, 5)])
def test_without_replacement_is_uniform_over_neighbours_and_subsets(degree, fanout):
    num_dst = 4000
    g = _star_graph(num_dst, degree)
    batch = NeighborSampler(g, [fanout]).sample(torch.arange(degree, degree + num_dst), generator=11)
    picked = batch.input_nodes[batch.blocks[0].src].view(num_dst, fanout).numpy()  # [D, k] neighbour ids
    per_neighbour = np.bincount(picked.ravel(), minlength=degree)
    assert _chi2_stat(per_neighbour) < chi2.ppf(CHI2_QUANTILE, degree - 1)
    if degree <= 10:  # every k-subset equally likely (120 subsets for (10, 3), 4 for (4, 3))
        subsets = {s: i for i, s in enumerate(itertools.combinations(range(degree), fanout))}
        ids = np.array([subsets[tuple(sorted(row))] for row in picked])
        per_subset = np.bincount(ids, minlength=len(subsets))
        assert _chi2_stat(per_subset) < chi2.ppf(CHI2_QUANTILE, len(subsets) - 1)


def test_with_replacement_is_uniform():
    g = _star_graph(3000, 7)
    batch = NeighborSampler(g, [4], replace=True).sample(torch.arange(7, 3007), generator=12)
    per_neighbour = np.bincount(batch.input_nodes[batch.blocks[0].src].numpy(), minlength=7)
    assert _chi2_stat(per_neighbour) < chi2.ppf(CHI2_QUANTILE, 6)


def test_chi2_check_rejects_a_biased_sampler():
    # the statistic has power: always taking the first k neighbours (a plausible bug) fails it
    counts = np.bincount(np.tile(np.arange(3), 4000), minlength=10)
    assert _chi2_stat(counts) > chi2.ppf(CHI2_QUANTILE, 9)


# ------------------------------------------------------------- reproducibility
def test_a_seed_reproduces_a_batch_and_the_default_generator_advances():
    g = random_graph(500, 5000, seed=9)
    seeds = torch.arange(0, 500, 3)
    s = NeighborSampler(g, [5, 5], seed=123)
    a, b = s.sample(seeds, generator=1), s.sample(seeds, generator=1)
    assert torch.equal(a.input_nodes, b.input_nodes) and all(x.equal(y) for x, y in zip(a.blocks, b.blocks))
    c = s.sample(seeds, generator=np.random.default_rng(2))
    assert not torch.equal(a.input_nodes, c.input_nodes)
    first, second = s.sample(seeds), s.sample(seeds)
    assert not torch.equal(first.edge_ids[0], second.edge_ids[0])
    again = NeighborSampler(g, [5, 5], seed=123)
    assert torch.equal(again.sample(seeds).edge_ids[0], first.edge_ids[0])


def _same_batches(xs, ys) -> bool:
    if len(xs) != len(ys):
        return False
    for x, y in zip(xs, ys):
        if not torch.equal(x.input_nodes, y.input_nodes) or not all(a.equal(b) for a, b in zip(x.blocks, y.blocks)):
            return False
    return True


def test_loader_with_two_workers_yields_the_batches_of_zero_workers():
    g = random_graph(2000, 20000, seed=10)
    sampler = NeighborSampler(g, [4, 4])
    items = torch.arange(0, 2000, 2)
    serial = list(DataLoader(sampler, items, batch_size=64, num_workers=0, seed=5))
    workers = list(DataLoader(sampler, items, batch_size=64, num_workers=2, seed=5))
    assert len(serial) == 16 and _same_batches(serial, workers)
    assert torch.equal(torch.sort(torch.cat([b.seeds for b in serial])).values, items)  # every seed once


def test_loader_epochs_reshuffle_and_resume_continues_the_sequence():
    g = random_graph(300, 2000, seed=11)
    loader = DataLoader(NeighborSampler(g, [3]), torch.arange(300), batch_size=32, seed=1, drop_last=True)
    assert len(loader) == 9
    epoch0, epoch1 = list(loader), list(loader)  # iter() advances the epoch
    assert not torch.equal(epoch0[0].seeds, epoch1[0].seeds)
    assert all(b.batch_size == 32 for b in epoch0)
    assert _same_batches(list(loader.epoch_batches(1, start=4)), epoch1[4:])
    loader.set_epoch(0)
    assert _same_batches(list(loader), epoch0)
    ordered = list(DataLoader(NeighborSampler(g, [3]), torch.arange(300), batch_size=100, shuffle=False))
    assert torch.equal(ordered[1].seeds, torch.arange(100, 200))


# ------------------------------------------------------------------ prefetching
def _prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "gnnkit-prefetch"]


@pytest.mark.parametrize("prefetch_factor", [1, 3])
def test_prefetch_thread_yields_the_batches_without_it(prefetch_factor):
    g = random_graph(600, 5000, seed=12)
    g.ndata["x"] = torch.randn(600, 4)
    sampler = NeighborSampler(g, [4, 3])
    plain = DataLoader(sampler, torch.arange(0, 600, 2), batch_size=32, seed=3, prefetch_thread=False)
    ahead = DataLoader(sampler, torch.arange(0, 600, 2), batch_size=32, seed=3, prefetch_factor=prefetch_factor)
    for _ in range(2):  # two epochs, reshuffled
        a, b = list(plain), list(ahead)
        assert len(a) == 10 and _same_batches(a, b)
        assert all(torch.equal(x.input_data["x"], y.input_data["x"]) for x, y in zip(a, b))
    assert not _prefetch_threads()


class _FailingSampler:
    """Samples like ``inner`` but raises on the batch whose first item is ``bad``."""

    def __init__(self, inner: NeighborSampler, bad: int) -> None:
        self.inner, self.bad = inner, bad

    def sample(self, items, generator=None):
        if int(items[0]) == self.bad:
            raise RuntimeError(f"sampling failed at item {self.bad}")
        return self.inner.sample(items, generator)


def test_prefetch_thread_raises_a_sampler_error_at_its_batch_and_stops():
    sampler = _FailingSampler(NeighborSampler(random_graph(100, 600, seed=13), [2]), bad=40)
    got = []
    with pytest.raises(RuntimeError, match="sampling failed at item 40"):
        for batch in DataLoader(sampler, torch.arange(100), batch_size=10, shuffle=False):
            got.append(int(batch.seeds[0]))
    assert got == [0, 10, 20, 30]
    assert not _prefetch_threads()


def test_leaving_the_loop_early_stops_the_prefetch_thread():
    loader = DataLoader(NeighborSampler(random_graph(200, 1000, seed=14), [2]), torch.arange(200), batch_size=4)
    for i, _ in enumerate(loader):
        if i == 2:
            break
    assert not _prefetch_threads()  # the abandoned generator was closed, its thread joined


@pytest.mark.parametrize("stop", ["KeyboardInterrupt", "SIGINT"])
def test_interrupting_a_prefetched_epoch_exits_without_hanging(stop):
    # the consumer stops while the thread is blocked on a full queue; the process must end promptly
    code = textwrap.dedent(f"""
        import os, signal, time, torch
        from gnnkit import Graph
        from gnnkit.data.sampling import DataLoader, NeighborSampler
        g = Graph(torch.arange(1000) % 97, torch.arange(1000) % 89, 100)
        loader = DataLoader(NeighborSampler(g, [3]), torch.arange(100), batch_size=2, prefetch_factor=2)
        for i, batch in enumerate(loader):
            time.sleep(0.05)  # the thread fills the queue meanwhile
            if i == 3:
                if {stop!r} == "SIGINT":
                    os.kill(os.getpid(), signal.SIGINT)
                    time.sleep(5)
                raise KeyboardInterrupt
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "KeyboardInterrupt" in proc.stderr


def test_minibatch_and_sampler_pickle():
    g = random_graph(50, 200, seed=12)
    s = NeighborSampler(g, [2, 2])
    batch = s.sample([1, 2, 3], generator=batch_generator(0, 0, 0))
    again = pickle.loads(pickle.dumps(batch))
    assert torch.equal(again.input_nodes, batch.input_nodes) and again.blocks[0].equal(batch.blocks[0])
    s2 = pickle.loads(pickle.dumps(s))
    assert torch.equal(s2.sample([1, 2, 3], generator=4).input_nodes, s.sample([1, 2, 3], generator=4).input_nodes)


# ------------------------------------------------------------------ Cluster-GCN
def test_cluster_batches_are_induced_subgraphs_covering_every_vertex():
    g = random_graph(90, 700, seed=13)
    assignment = torch.arange(90) % 6
    sampler = ClusterGCNSampler(g, 6, assignment=assignment)
    assert sampler.part_sizes().tolist() == [15] * 6
    batches = list(DataLoader(sampler, torch.arange(6), batch_size=2, seed=0))
    assert len(batches) == 3
    assert torch.equal(torch.sort(torch.cat([b.node_ids for b in batches])).values, torch.arange(90))
    for b in batches:
        assert set(assignment[b.node_ids].tolist()) == set(b.parts.tolist())
        sub, nodes, eids = g.subgraph(b.node_ids)
        assert torch.equal(nodes, b.node_ids)
        assert torch.equal(torch.sort(eids).values, torch.sort(b.edge_ids).values)
        torch.testing.assert_close(b.node_ids[b.graph.src], g.src[b.edge_ids], rtol=0, atol=0)
        torch.testing.assert_close(b.node_ids[b.graph.dst], g.dst[b.edge_ids], rtol=0, atol=0)
        GCNConv(3, 2)(b.graph, torch.randn(b.graph.num_nodes, 3))  # square: full GCN normalisation works


@pytest.mark.parametrize("method", ["random", "contiguous", "metis"])
def test_cluster_sampler_uses_the_partitioner(method):
    partition = pytest.importorskip("gnnkit.partition")
    if method == "metis":
        pytest.importorskip("pymetis")
    g = random_graph(80, 500, seed=14)
    sampler = ClusterGCNSampler(g, 4, method=method, seed=3)
    expected = partition.partition(g, 4, method=method, seed=3).assignment
    nodes = sampler.sample([2]).node_ids
    assert torch.equal(torch.sort(nodes).values, torch.nonzero(expected == 2).view(-1))


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("fanouts,exc,match", [
    ([0], ValueError, r"fanouts\[0\] must be >= 1, or -1"),
    ([5, -2], ValueError, r"fanouts\[1\] must be >= 1, or -1"),
    ([], ValueError, "at least one layer"),
    (3, TypeError, "sequence of ints"),
    ([2.5], TypeError, r"fanouts\[0\] must be an int"),
    ([True], TypeError, r"fanouts\[0\] must be an int"),
])
def test_bad_fanouts(fanouts, exc, match):
    with pytest.raises(exc, match=match):
        NeighborSampler(random_graph(5, 5), fanouts)


def test_bad_seeds():
    s = NeighborSampler(random_graph(10, 30), [2])
    with pytest.raises(IndexError, match=r"seeds must lie in \[0, num_nodes=10\)"):
        s.sample([3, 10])
    with pytest.raises(IndexError, match="seeds must lie in"):
        s.sample(torch.tensor([-1]))
    with pytest.raises(ValueError, match="seeds must be distinct"):
        s.sample([1, 2, 1])
    with pytest.raises(TypeError, match="seeds must hold integer"):
        s.sample(torch.tensor([1.0]))
    with pytest.raises(ValueError, match="seeds must be 1-D"):
        s.sample(torch.tensor([[1, 2]]))
    with pytest.raises(TypeError, match="generator must be"):
        s.sample([1], generator="abc")
    s.sample([1, 2])  # the failed calls left the relabelling table clean
    assert s.sample([2, 1], generator=0).input_nodes[:2].tolist() == [2, 1]


def test_bad_graph_and_csr():
    with pytest.raises(TypeError, match="g must be a gnnkit.Graph"):
        NeighborSampler(torch.zeros(3), [1])
    with pytest.raises(ValueError, match="g must have one vertex set"):
        NeighborSampler(random_graph(4, 6, num_src_nodes=5), [1])
    with pytest.raises(ValueError, match="indptr must be non-decreasing"):
        NeighborSampler.from_csr([0, 2, 1], [0, 1], [1])
    with pytest.raises(IndexError, match="indices must lie in"):
        NeighborSampler.from_csr([0, 1, 2], [0, 5], [1])
    with pytest.raises(ValueError, match="eid must have one entry"):
        NeighborSampler.from_csr([0, 1, 2], [0, 1], [1], eid=[0])


def test_bad_loader_arguments():
    s = NeighborSampler(random_graph(10, 30), [2])
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        DataLoader(s, torch.arange(10), batch_size=0)
    with pytest.raises(TypeError, match="batch_size must be an int"):
        DataLoader(s, torch.arange(10), batch_size=2.0)
    with pytest.raises(ValueError, match="num_workers must be an int >= 0"):
        DataLoader(s, torch.arange(10), batch_size=2, num_workers=-1)
    with pytest.raises(ValueError, match="items must not be empty"):
        DataLoader(s, torch.zeros(0, dtype=torch.int64), batch_size=2)
    with pytest.raises(TypeError, match="sampler must have a sample"):
        DataLoader(object(), torch.arange(10), batch_size=2)
    with pytest.raises(ValueError, match=r"start must lie in \[0, 5\]"):
        DataLoader(s, torch.arange(10), batch_size=2).epoch_batches(0, start=6)
    with pytest.raises(IndexError, match="seeds must lie in"):  # a bad item surfaces when its batch is drawn
        next(iter(DataLoader(s, torch.tensor([3, 12]), batch_size=2)))
    with pytest.raises(ValueError, match="prefetch_factor must be an int >= 1"):
        DataLoader(s, torch.arange(10), batch_size=2, prefetch_factor=0)


def test_bad_cluster_arguments():
    g = random_graph(10, 30)
    with pytest.raises(ValueError, match=r"num_parts must lie in \[1, num_nodes=10\], got 0"):
        ClusterGCNSampler(g, 0, assignment=torch.zeros(10, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"num_parts must lie in \[1, num_nodes=10\], got 11"):
        ClusterGCNSampler(g, 11, assignment=torch.zeros(10, dtype=torch.int64))
    with pytest.raises(ValueError, match="assignment must have one part id per vertex"):
        ClusterGCNSampler(g, 2, assignment=torch.zeros(9, dtype=torch.int64))
    with pytest.raises(IndexError, match="assignment must lie in"):
        ClusterGCNSampler(g, 2, assignment=torch.full((10,), 2))
    s = ClusterGCNSampler(g, 2, assignment=torch.arange(10) % 2)
    with pytest.raises(IndexError, match="parts must lie in"):
        s.sample([2])
    with pytest.raises(ValueError, match="parts must be distinct"):
        s.sample([1, 1])


# ------------------------------------------------------------ benchmarks stay runnable
def _benchmark(name: str):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def bench_graph(tmp_path):
    """A small CSR in the sampling benchmark's ``.npz`` layout."""
    csr = random_graph(3000, 30000, seed=15).sort_by_dst().csr_in()
    path = tmp_path / "g.npz"
    np.savez(path, indptr=csr.indptr.numpy(), indices=csr.indices.numpy())
    return path


def test_sampling_benchmark_times_gnnkit(bench_graph):
    result = _benchmark("sampling").run_engine("gnnkit", "sage-2x[25,10]-b1024", bench_graph, batches=2)
    assert result["seeds_per_s"] > 0 and result["mean_input_nodes"] >= 1024


@pytest.mark.parametrize("engine", ["gnnkit", "dgl"])
def test_sampling_benchmark_times_the_loader_with_features(bench_graph, engine):
    if engine == "dgl":
        pytest.importorskip("dgl")
    result = _benchmark("sampling").run_engine(engine, "loader+x128-sage-2x[25,10]-b1024", bench_graph, batches=2)
    assert result["seeds_per_s"] > 0 and result["mean_input_nodes"] >= 1024  # rows of blocks[0].srcdata["x"]


@pytest.mark.parametrize("engine", ["gnnkit", "dgl"])
def test_sampling_benchmark_trains_the_products_workload(bench_graph, engine):
    if engine == "dgl":
        pytest.importorskip("dgl")
    result = _benchmark("sampling").run_engine(engine, "products-sage-3x[15,10,5]", bench_graph, batches=1)
    assert result["epoch_s"] == pytest.approx(193 * result["s_per_batch"]) and result["mean_input_nodes"] >= 1024


def test_memory_model_formula_adds_up():
    predict = _benchmark("memory_model").predict
    n, e = 1000, 20000
    p = predict(n, e, [8, 32, 4], blocks=[(500, 100, 900), (100, 10, 90)])
    assert p["graph"] == 16 * e + 8 * n and p["data"] == 4 * n * 8 + 8 * n
    acts = 4 * n * (32 + 8) + 4 * n * (4 + 4)
    assert p["full"] == acts + 8 * n + 16 * e + 8 * n + max(16 * e, 8 * n * 32)
    assert p["sampled"] > 4 * n + 4 * 500 * 8


@pytest.mark.slow
def test_sampling_benchmark_quick_against_dgl():
    pytest.importorskip("dgl")
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "sampling.py"
    proc = subprocess.run([sys.executable, str(script), "--quick", "--workloads", "sage-2x[25,10]-b1024"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| sage-2x[25,10]-b1024 |" in proc.stdout and "gnnkit/DGL" in proc.stdout


@pytest.mark.slow
def test_memory_model_quick_run():
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "memory_model.py"
    proc = subprocess.run([sys.executable, str(script), "--quick"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "**peak RSS, full training**" in proc.stdout and "**peak RSS, sampled training**" in proc.stdout


def test_minibatch_to_device_keeps_everything():
    g = random_graph(40, 200, seed=16)
    batch = NeighborSampler(g, [3, 3]).sample([1, 5], generator=0)
    moved = batch.to("cpu")
    assert torch.equal(moved.input_nodes, batch.input_nodes) and moved.blocks[1].equal(batch.blocks[1])
    assert [b.num_src_nodes for b in moved.blocks] == [b.num_src_nodes for b in batch.blocks]


# ------------------------------------------------------------ gather buffers
def test_gather_reuses_a_freed_batchs_buffer_and_never_a_live_one():
    n = 40_000
    gen = np.random.default_rng(17)
    x = torch.randn(n, 128)  # a batch's [S_0, 128] float32 rows take > 8 MB: 2 MB pages, pooled
    sampler = NeighborSampler.from_csr(np.arange(0, 10 * n + 1, 10), gen.integers(0, n, 10 * n), [10, 5],
                                       ndata={"x": x})
    a = sampler.sample(np.arange(1000), 0)
    b = sampler.sample(np.arange(1000, 2000), 1)
    assert a.input_data["x"].nbytes > 8 << 20
    ptr_a, ptr_b = a.input_data["x"].data_ptr(), b.input_data["x"].data_ptr()
    assert ptr_a != ptr_b  # both alive: separate buffers
    del a
    gc.collect()
    c = sampler.sample(np.arange(2000, 3000), 2)
    assert c.input_data["x"].data_ptr() == ptr_a  # the freed batch's mapping, sizes rounded to share it
    for batch in (b, c):  # and every batch holds its own rows
        assert torch.equal(batch.input_data["x"], x[batch.input_nodes])


def test_gather_pool_keeps_as_many_buffers_as_were_live_at_once():
    # a prefetch thread holds several batches at once (the caller's, the queued ones, the one being
    # sampled): once they are freed, the next as many batches reuse their mappings, none is faulted anew
    n = 40_000
    gen = np.random.default_rng(5)
    x = torch.randn(n, 128)
    sampler = NeighborSampler.from_csr(np.arange(0, 10 * n + 1, 10), gen.integers(0, n, 10 * n), [10, 5],
                                       ndata={"x": x})
    held = [sampler.sample(np.arange(1000 * i, 1000 * (i + 1)), i) for i in range(4)]
    ptrs = {b.input_data["x"].data_ptr() for b in held}
    assert len(ptrs) == 4 and all(b.input_data["x"].nbytes > 8 << 20 for b in held)
    del held
    gc.collect()
    again = [sampler.sample(np.arange(1000 * i, 1000 * (i + 1)), 10 + i) for i in range(4, 8)]
    assert {b.input_data["x"].data_ptr() for b in again} == ptrs
    for batch in again:
        assert torch.equal(batch.input_data["x"], x[batch.input_nodes])
    pool = sampler._gather_buffers._pool
    assert pool.live_bytes == sum(pool.size_for(b.input_data["x"].nbytes) for b in again)
    del again, batch
    gc.collect()
    assert pool.live_bytes == 0 and pool.bytes <= pool.peak_live_bytes


def test_gather_pool_rounds_sizes_up_by_at_most_a_sixteenth():
    from gnnkit.ops import _cpu

    pool = _cpu._BufferPool(0, round_up=True)
    for nbytes in (8 << 20, (8 << 20) + 1, 208_412_000, 3 * (1 << 27) - 5):
        size = pool.size_for(nbytes)
        assert nbytes <= size <= nbytes * 17 // 16 + 1
    assert pool.size_for(208_400_000) == pool.size_for(208_412_000)  # neighbouring batch sizes share a mapping
    assert _cpu._BufferPool(0).size_for(208_412_000) == 208_412_000  # the ops pool keeps exact sizes


def test_sampler_pickles_without_its_gather_pool():
    n = 40_000
    x = torch.randn(n, 128)
    sampler = NeighborSampler.from_csr(np.arange(0, 4 * n + 1, 4), np.arange(4 * n) % n, [3], ndata={"x": x})
    first = sampler.sample(np.arange(5000), 0)
    clone = pickle.loads(pickle.dumps(sampler))
    again = clone.sample(np.arange(5000), 0)
    assert torch.equal(first.input_data["x"], again.input_data["x"])
