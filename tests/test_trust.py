"""Issue 14's correctness cases: id ownership, id-arithmetic overflow, NaN/Inf rules, loader and dtype checks.

Cases that segfault the compiled kernels on a broken build run in a subprocess, so a crash
fails the test instead of killing pytest. Graphs with ``num_nodes >= 2**32`` use a handful
of edges and ``num_nodes = 2**40``: any ``[num_nodes]`` allocation (8 TB) would fail, so a
passing transform proves it allocates nothing of that size.
"""
from __future__ import annotations

import gzip
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gnnkit import Graph, ops
from gnnkit.data.ogb import load_ogb_node
from gnnkit.graph.idkeys import combined_key, key_fits, lexsort_ids, unique_id_pairs
from gnnkit.nn import GATConv, GCNConv, GINConv, SAGEConv
from gnnkit.ops import _dispatch, reference

HUGE = 2**40  # num_nodes of the overflow tests: ids * HUGE overflows int64, a [HUGE] tensor cannot be allocated
NAN, INF = float("nan"), float("inf")


def _run(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter with this process's import path; a segfault shows as rc -11."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          timeout=120)


def _this_checkouts_kernels() -> bool:
    """Whether ``gnnkit_kernels`` is this checkout's ``kernels/`` (an editable install elsewhere maps it to
    another tree, whose compiled kernel is not the source these tests check)."""
    import gnnkit
    import gnnkit_kernels.cpu

    return Path(gnnkit_kernels.cpu.SOURCE).resolve() == (Path(gnnkit.__file__).resolve().parents[1] / "kernels" / "cpu" / "gnnkit_cpu.cpp")


def _kernels() -> bool:
    return bool(_dispatch.HAS_KERNELS) and _this_checkouts_kernels()


needs_kernels = pytest.mark.skipif(
    not _kernels(), reason="compiled CPU kernels unavailable, or gnnkit_kernels is not this checkout's kernels/"
)


# ------------------------------------------------------------------ ownership
@pytest.mark.parametrize("kind", ["tensor", "numpy"])
def test_graph_ids_caller_write_after_construction_cannot_reach_kernel(kind):
    # on a graph that kept the caller's memory, the huge id reaches the kernel's gather: a segfault
    proc = _run(f"""
        import numpy as np, torch
        from gnnkit import Graph, ops
        src = {"torch.tensor([0, 1, 2, 3])" if kind == "tensor" else "np.array([0, 1, 2, 3])"}
        dst = {"torch.tensor([1, 2, 3, 0])" if kind == "tensor" else "np.array([1, 2, 3, 0])"}
        g = Graph(src, dst, 4)
        src[0] = 10**12
        x = torch.arange(8, dtype=torch.float32).view(4, 2)
        out = ops.spmm(g, x)
        assert g.src.tolist() == [0, 1, 2, 3], g.src
        assert out.tolist() == x.roll(1, 0).tolist(), out
        print("OK")
    """)
    assert proc.returncode == 0 and "OK" in proc.stdout, (proc.returncode, proc.stderr[-2000:])


def test_graph_ids_inplace_write_into_g_src_raises():
    proc = _run("""
        import torch
        from gnnkit import Graph, ops
        g = Graph(torch.tensor([0, 1, 2, 3]), torch.tensor([1, 2, 3, 0]), 4)
        g.src[0] = 10**12
        for call in (lambda: ops.spmm(g, torch.ones(4, 2)), lambda: g.csr_out(), lambda: ops.edge_softmax(g, torch.ones(4))):
            try:
                call()
            except RuntimeError as exc:
                assert "modified in place" in str(exc), exc
            else:
                raise SystemExit("no error")
        print("OK")
    """)
    assert proc.returncode == 0 and "OK" in proc.stdout, (proc.returncode, proc.stderr[-2000:])


def test_graph_ids_inplace_write_after_layout_is_cached_raises():
    g = Graph(torch.tensor([0, 1, 2]), torch.tensor([1, 2, 0]), 3)
    ops.spmm(g, torch.ones(3, 1))  # builds and caches csr_in, whose indices alias g.src
    g.src[0] = 2
    with pytest.raises(RuntimeError, match="g.src or g.dst was modified in place"):
        ops.spmm(g, torch.ones(3, 1))
    with pytest.raises(RuntimeError, match="modified in place"):
        g.reverse().csr_in()


def test_graph_ids_copy_only_when_shared():
    src = torch.tensor([0, 1, 2])
    g = Graph(src, src.clone(), 3)
    assert g.src.data_ptr() != src.data_ptr()
    g32 = Graph(src.int(), src.int(), 3)  # the int64 conversion is already a private copy
    assert g32.src.dtype == torch.int64
    arr = np.array([0, 1, 2])
    assert not np.shares_memory(Graph(arr, arr, 3).src.numpy(), arr)
    view = torch.arange(6)[::2]  # non-contiguous: .contiguous() copies, and the result still must not alias
    assert Graph(view, view, 6).src.untyped_storage().data_ptr() != view.untyped_storage().data_ptr()


def test_graph_batch_sizes_are_copied():
    bn, be = torch.tensor([2, 1]), torch.tensor([1, 1])
    g = Graph(torch.tensor([0, 2]), torch.tensor([1, 2]), 3, bn, be)
    bn[0], be[0] = 3, 2  # would make unbatch() cut graph 0 at the wrong place
    parts = g.unbatch()
    assert [p.num_nodes for p in parts] == [2, 1] and [p.num_edges for p in parts] == [1, 1]


def test_generator_to_graph_shares_indices_read_only():
    from gnnkit.data.generators import chung_lu, dedupe_csr

    c = chung_lu(50, 200, seed=1)
    g = c.to_graph()
    assert g.src.data_ptr() == c.indices.ctypes.data  # zero-copy: the graph owns the array now
    with pytest.raises(ValueError, match="read-only"):
        c.indices[0] = 10**12
    with pytest.raises(ValueError, match="read-only"):
        dedupe_csr(c)  # compacts indices in place: would rewrite the graph's sources


def test_graph_ids_pickled_graph_is_usable_and_still_guarded():
    import copy
    import pickle

    g = Graph(torch.tensor([0, 1, 2]), torch.tensor([1, 2, 0]), 3)
    g.src.add_(0)  # bumps the counter here; the copies start with their own counters
    for h in (pickle.loads(pickle.dumps(g, protocol=2)), copy.deepcopy(g)):
        h.src.share_memory_()  # what a loader worker's queue does to a batch's tensors
        torch.testing.assert_close(ops.spmm(h, torch.eye(3)), torch.eye(3).roll(1, 0))
        h.dst[0] = 2
        with pytest.raises(RuntimeError, match="modified in place"):
            ops.spmm(h, torch.eye(3))


def test_graph_ids_inference_mode_graph_works():
    with torch.inference_mode():
        g = Graph(torch.tensor([0, 1]), torch.tensor([1, 0]), 2)
        out = ops.spmm(g, torch.tensor([[1.0], [2.0]]))
    torch.testing.assert_close(out, torch.tensor([[2.0], [1.0]]))


# ------------------------------------------------------------------ overflow
# dst 2**23 makes dst * HUGE exactly 2**63: a single key wraps to the most negative int64 and sorts first
_IDS = [4_500_000_001, 3, 4_500_000_001, 7, 4_499_999_999, HUGE - 1, 3, 5]
_DST = [4_500_000_000, 4_500_000_000, 4_500_000_000, 3, 3, 0, 4_500_000_000, 2**23]
_E = len(_IDS)


def _pairs(g: Graph) -> list[tuple[int, int]]:
    return list(zip(g.dst.tolist(), g.src.tolist()))


def test_coalesce_ids_above_2_32_are_exact():
    g = Graph(torch.tensor(_IDS), torch.tensor(_DST), HUGE, edata={"w": torch.arange(float(_E))})
    c = g.coalesce()
    expected = sorted(set(zip(_DST, _IDS)))
    assert _pairs(c) == expected
    # rows of duplicates are summed: (4.5e9, 4_500_000_001) are edges 0 and 2, (4.5e9, 3) edges 1 and 6
    merged = {p: 0.0 for p in expected}
    for d, s, w in zip(_DST, _IDS, range(_E)):
        merged[(d, s)] += w
    assert c.edata["w"].tolist() == [merged[p] for p in expected]


def test_to_undirected_ids_above_2_32_are_exact():
    g = Graph(torch.tensor(_IDS), torch.tensor(_DST), HUGE)
    u = g.to_undirected()
    both = set(zip(_DST, _IDS)) | set(zip(_IDS, _DST))
    assert _pairs(u) == sorted(both)


def test_sort_by_dst_ids_above_2_32_is_lexicographic_and_stable():
    g = Graph(torch.tensor(_IDS), torch.tensor(_DST), HUGE, edata={"i": torch.arange(_E)})
    s = g.sort_by_dst()
    order = sorted(range(_E), key=lambda i: (_DST[i], _IDS[i], i))
    assert s.edata["i"].tolist() == order


def test_subgraph_ids_above_2_32_without_a_num_nodes_table():
    g = Graph(torch.tensor(_IDS), torch.tensor(_DST), HUGE)
    nodes = torch.tensor([4_500_000_000, 3, 4_500_000_001])
    sub, node_ids, edge_ids = g.subgraph(nodes)
    keep = [i for i in range(_E) if _IDS[i] in nodes.tolist() and _DST[i] in nodes.tolist()]
    assert edge_ids.tolist() == keep
    pos = {v: i for i, v in enumerate(nodes.tolist())}
    assert sub.src.tolist() == [pos[_IDS[i]] for i in keep] and sub.dst.tolist() == [pos[_DST[i]] for i in keep]
    with pytest.raises(ValueError, match="duplicate ids"):
        g.subgraph(torch.tensor([3, 7, 3]))


def test_neighbor_sampler_huge_num_nodes_clear_error_and_relabel_hint_works():
    from gnnkit.data.sampling import NeighborSampler

    g = Graph(torch.tensor(_IDS), torch.tensor(_DST), HUGE)
    with pytest.raises(ValueError, match=r"num_nodes=1099511627776: sampling needs .* relabel the graph"):
        NeighborSampler(g, [2])
    used = torch.unique(torch.cat([g.src, g.dst]))
    small, node_ids, _ = g.subgraph(used)  # the hint of the message: O(E) memory, then sampling works
    batch = NeighborSampler(small, [-1]).sample(torch.tensor([int((node_ids == 4_500_000_000).nonzero())]))
    assert sorted(node_ids[batch.input_nodes].tolist()) == [3, 4_500_000_000, 4_500_000_001]


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(0, 12), st.data())
def test_subgraph_search_path_equals_table_path(n, e, data):
    from gnnkit.graph.graph import _relabel_search, _relabel_table

    ids = st.lists(st.integers(0, n - 1), min_size=e, max_size=e)
    src, dst = torch.tensor(data.draw(ids), dtype=torch.int64), torch.tensor(data.draw(ids), dtype=torch.int64)
    nodes = torch.tensor(data.draw(st.lists(st.integers(0, n - 1), unique=True, max_size=n)), dtype=torch.int64)
    for t in (src, dst):
        assert torch.equal(_relabel_search(nodes)(t), _relabel_table(nodes, n)(t))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 2), st.integers(0, 4)), max_size=20),
       st.sampled_from([(5, 3, 5), (2**40, 3, 2**40)]))
def test_lexsort_ids_matches_python_sort_on_both_paths(rows, sizes):
    cols = [torch.tensor([r[i] for r in rows], dtype=torch.int64) for i in range(3)]
    if sizes[0] > 5:  # the same order with ids shifted into the range where one key would overflow
        cols = [cols[0] + (2**40 - 5), cols[1], cols[2] + (2**40 - 5)]
    perm = lexsort_ids(cols, sizes)
    expected = sorted(range(len(rows)), key=lambda i: (rows[i], i))
    assert perm.tolist() == expected


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), max_size=15), st.booleans())
def test_unique_id_pairs_matches_python_set_on_both_paths(rows, huge):
    shift, size = (2**40 - 4, 2**40) if huge else (0, 4)
    major = torch.tensor([r[0] + shift for r in rows], dtype=torch.int64)
    minor = torch.tensor([r[1] + shift for r in rows], dtype=torch.int64)
    mu, nu, inv = unique_id_pairs(major, minor, size, size)
    uniq = sorted(set(zip(major.tolist(), minor.tolist())))
    assert list(zip(mu.tolist(), nu.tolist())) == uniq
    assert [uniq[i] for i in inv.tolist()] == list(zip(major.tolist(), minor.tolist()))


def test_key_fits_boundary_and_combined_key_error():
    assert key_fits((2**32, 2**31)) and not key_fits((2**32, 2**31 + 1))
    assert key_fits((3_037_000_499, 3_037_000_499)) and not key_fits((3_037_000_500, 3_037_000_500))
    with pytest.raises(ValueError, match="do not fit one int64 key"):
        combined_key([torch.zeros(1, dtype=torch.int64)] * 2, (2**40, 2**40), "test")


def test_multiview_union_order_ids_above_2_32():
    from gnnkit import MultiViewGraph

    a = Graph(torch.tensor([HUGE - 1, 5]), torch.tensor([7, HUGE - 2]), HUGE)
    b = Graph(torch.tensor([HUGE - 3, 6]), torch.tensor([7, 7]), HUGE)
    mvg = MultiViewGraph({"a": a, "b": b})
    u = mvg.union()
    rows = sorted([(7, 0, HUGE - 1), (HUGE - 2, 0, 5), (7, 1, HUGE - 3), (7, 1, 6)])
    assert list(zip(u.dst.tolist(), mvg.edge_view.tolist(), u.src.tolist())) == rows


# ------------------------------------------------------------------ NaN / Inf
def _graph(seed: int, n: int = 7, e: int = 40) -> Graph:
    gen = torch.Generator().manual_seed(seed)
    return Graph(torch.randint(0, n, (e,), generator=gen), torch.randint(0, n, (e,), generator=gen), n)


def _permuted(g: Graph, seed: int) -> tuple[Graph, torch.Tensor]:
    perm = torch.randperm(g.num_edges, generator=torch.Generator().manual_seed(seed))
    return Graph(g.src[perm], g.dst[perm], g.num_nodes), perm


def _dense_reduce(g: Graph, vals: torch.Tensor, reduce: str) -> torch.Tensor:
    """Per destination torch.amax/amin/sum/mean over its messages (a loop over 7 vertices, test-only)."""
    out = torch.zeros((g.num_nodes,) + vals.shape[1:], dtype=vals.dtype)
    fn = {"max": lambda t: t.amax(0), "min": lambda t: t.amin(0), "sum": lambda t: t.sum(0), "mean": lambda t: t.mean(0)}
    for v in range(g.num_nodes):
        rows = vals[g.dst == v]
        if rows.shape[0]:
            out[v] = fn[reduce](rows)
    return out


@needs_kernels
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "min"])
@pytest.mark.parametrize("order", [0, 1, 2])
def test_spmm_nan_inf_kernel_equals_reference_and_torch(dtype, reduce, order):
    from gnnkit.ops import _cpu

    g, _ = _permuted(_graph(3), order)
    x = torch.randn(7, 2, 3, dtype=dtype, generator=torch.Generator().manual_seed(1))
    x[2, 0, 1], x[3, 1, 2], x[4, 0, 0], x[5, 1, 0] = NAN, INF, -INF, NAN
    w = torch.randn(g.num_edges, 2, dtype=dtype, generator=torch.Generator().manual_seed(2))
    kout, karg = _cpu.spmm(g, x, w, reduce)
    rout, rarg = reference.spmm(g, x, w, reduce)
    dense = _dense_reduce(g, x[g.src] * w.unsqueeze(-1), reduce)
    torch.testing.assert_close(kout, dense, equal_nan=True)
    torch.testing.assert_close(rout, dense, equal_nan=True)
    if karg is not None:  # the winner: the smallest edge id holding the extreme (or the first NaN)
        assert torch.equal(karg, rarg)
        won = (kout.isnan() & (karg >= 0))
        assert bool(won.any())
        heads, feats = won.nonzero()[:, 1], won.nonzero()[:, 2]
        winners = karg[won]
        assert bool((x[g.src[winners], heads, feats] * w[winners, heads]).isnan().all())


@needs_kernels
@pytest.mark.parametrize("reduce", ["max", "min"])
def test_spmm_max_nan_propagates_through_public_op_in_any_edge_order(reduce):
    x = torch.randn(7, 4, generator=torch.Generator().manual_seed(0))
    x[1, 2] = NAN
    base = _graph(5)
    for seed in range(6):
        g, _ = _permuted(base, seed)
        assert _dispatch.backend("spmm", x) == "cpu"
        out = ops.spmm(g, x, reduce=reduce)
        has = torch.zeros(7, dtype=torch.bool)
        has[g.dst[g.src == 1]] = True  # destinations with an in-edge from the NaN vertex
        assert torch.equal(out[:, 2].isnan(), has)
        assert not bool(out[:, [0, 1, 3]].isnan().any())


def _dense_softmax(g: Graph, score: torch.Tensor) -> torch.Tensor:
    out = torch.zeros_like(score)
    for v in range(g.num_nodes):
        rows = g.dst == v
        if bool(rows.any()):
            s = score[rows]
            # a fully masked row (all -inf) gives zeros by gnnkit's rule; torch.softmax would give NaN
            masked = (s == -INF).all(0)
            out[rows] = torch.where(masked, torch.zeros_like(s), torch.softmax(s, 0))
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("order", [0, 1, 2])
@pytest.mark.parametrize("path", ["kernel", "reference"])
def test_edge_softmax_nan_inf_rows_follow_torch_softmax(dtype, order, path):
    if path == "kernel" and not _kernels():
        pytest.skip("compiled CPU kernels unavailable")
    from gnnkit.ops import _cpu

    g = _graph(4)
    score = torch.randn(g.num_edges, 3, dtype=dtype, generator=torch.Generator().manual_seed(6))
    dst = g.dst.tolist()
    first = {v: dst.index(v) for v in set(dst)}
    v0, v1, v2 = sorted(first)[:3]
    score[first[v0], 0] = NAN  # one NaN in a row: the whole row is NaN
    score[first[v1], 1] = INF  # +inf: the whole row is NaN, as torch.softmax
    score[g.dst == v2, 2] = -INF  # all -inf: zeros
    score[first[v0], 2] = -INF  # one -inf among finite scores: weight 0, others normal
    g, perm = _permuted(g, order)
    score = score[perm].contiguous()
    impl = _cpu.segment_softmax if path == "kernel" else reference.segment_softmax
    out = impl(g, score)
    torch.testing.assert_close(out, _dense_softmax(g, score), equal_nan=True)
    assert bool(out[g.dst == v0, 0].isnan().all()) and bool(out[g.dst == v1, 1].isnan().all())


@needs_kernels
def test_edge_softmax_nan_and_inf_rows_equal_dgl():
    pytest.importorskip("dgl")
    from dgl.nn.functional import edge_softmax as dgl_edge_softmax

    g = _graph(8)
    score = torch.randn(g.num_edges, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    score[0, 0], score[1, 1] = NAN, INF
    torch.testing.assert_close(ops.edge_softmax(g, score), dgl_edge_softmax(g.to_dgl(), score), equal_nan=True)


@needs_kernels
@pytest.mark.parametrize("reduce", ["max", "min"])
def test_spmm_max_min_nan_equals_pyg_scatter(reduce):
    pyg_utils = pytest.importorskip("torch_geometric.utils")
    g = _graph(9)
    x = torch.randn(7, 3, generator=torch.Generator().manual_seed(4))
    x[0, 1], x[5, 2] = NAN, NAN
    expected = pyg_utils.scatter(x[g.src], g.dst, dim=0, dim_size=g.num_nodes, reduce=reduce)
    torch.testing.assert_close(ops.spmm(g, x, reduce=reduce), expected, equal_nan=True)


@needs_kernels
def test_edge_softmax_nan_public_op_whole_row():
    g = Graph(torch.tensor([0, 1, 2, 0]), torch.tensor([1, 1, 1, 2]), 3)
    out = ops.edge_softmax(g, torch.tensor([0.5, NAN, 1.0, 2.0]))
    assert out[:3].isnan().all() and out[3].item() == 1.0


def test_gat_attention_nan_source_makes_its_destinations_nan():
    g = Graph(torch.tensor([0, 1, 2, 0]), torch.tensor([1, 1, 2, 2]), 3)
    x = torch.ones(3, 1, 2)
    a_src = torch.tensor([[0.1], [NAN], [0.3]])
    out = ops.gat_attention(g, x, a_src, torch.zeros(3, 1))
    assert out[1].isnan().all() and not out[2].isnan().any() and out[0].eq(0).all()


# ------------------------------------------------------------------ dtype checks
@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool, torch.complex64])
def test_ops_non_float_features_raise_type_error_naming_the_argument(dtype):
    g = Graph(torch.tensor([0, 1]), torch.tensor([1, 0]), 2)
    with pytest.raises(TypeError, match=r"x must be a floating-point tensor, got dtype"):
        ops.spmm(g, torch.ones(2, 3, dtype=dtype))
    with pytest.raises(TypeError, match=r"m must be a floating-point tensor"):
        ops.segment_reduce(g, torch.ones(2, 3, dtype=dtype))
    with pytest.raises(TypeError, match=r"score must be a floating-point tensor"):
        ops.edge_softmax(g, torch.ones(2, dtype=dtype))
    with pytest.raises(TypeError, match=r"edge_weight must be a floating-point tensor"):
        ops.spmm(g, torch.ones(2, 3), torch.ones(2, dtype=dtype))


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.complex64])
@pytest.mark.parametrize("make", [lambda: GCNConv(3, 2), lambda: SAGEConv(3, 2), lambda: GATConv(3, 2),
                                  lambda: GINConv(torch.nn.Linear(3, 2))])
def test_layers_non_float_features_raise_type_error_naming_x(make, dtype):
    g = Graph(torch.tensor([0, 1]), torch.tensor([1, 0]), 2)
    with pytest.raises(TypeError, match=r"^x must be a floating-point tensor, got dtype"):
        make()(g, torch.ones(2, 3, dtype=dtype))


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.complex64])
def test_mpnn_and_multiview_non_float_features_raise_type_error_naming_x(dtype):
    from gnnkit import MultiViewGraph
    from gnnkit.nn import MPNN, MultiViewConv

    g = Graph(torch.tensor([0, 1]), torch.tensor([1, 0]), 2)
    with pytest.raises(TypeError, match=r"^x must be a floating-point tensor, got dtype"):
        MPNN(3, 4, 2)(g, torch.ones(2, 3, dtype=dtype))
    with pytest.raises(TypeError, match=r"^x must be a floating-point tensor, got dtype"):
        MultiViewConv(3, 2, num_views=1)(MultiViewGraph({"a": g}), torch.ones(2, 3, dtype=dtype))


def test_layers_non_float_pair_input_names_the_side():
    g = Graph(torch.tensor([0, 1]), torch.tensor([1, 0]), 2, num_src_nodes=3)
    with pytest.raises(TypeError, match=r"^x_dst must be a floating-point tensor"):
        SAGEConv(3, 2)(g, (torch.ones(3, 3), torch.ones(2, 3, dtype=torch.int64)))


# ------------------------------------------------------------------ loaders
def _papers(tmp_path: Path, **fields) -> Path:
    raw = tmp_path / "ogbn_papers100M" / "raw"
    raw.mkdir(parents=True)
    data = dict(edge_index=np.array([[0, 1, 2], [1, 2, 3]]), node_feat=np.ones((4, 2), np.float32),
                num_nodes_list=np.array([4]), num_edges_list=np.array([3]), node_year=np.array([1, 2, 3, 4]))
    labels = fields.pop("node_label", np.array([[1.0], [2.0], [3.0], [4.0]]))
    data.update(fields)
    np.savez(raw / "data.npz", **data)
    np.savez(raw / "node-label.npz", node_label=labels)
    split = tmp_path / "ogbn_papers100M" / "split" / "time"
    split.mkdir(parents=True)
    for part, ids in (("train", [0]), ("valid", [2]), ("test", [3])):
        with gzip.open(split / f"{part}.csv.gz", "wt") as fh:
            np.savetxt(fh, np.array(ids), fmt="%d")
    return tmp_path


@pytest.mark.parametrize("fields, match", [
    (dict(node_feat=np.array([["1.5", "2"]] * 4)), r"'node_feat' must have a dtype of kind 'biuf'"),
    (dict(node_feat=np.ones(4, np.float32)), r"'node_feat' must have 2 dimension"),
    (dict(node_feat=np.ones((3, 2), np.float32)), r"'node_feat' must have 4 rows"),
    (dict(node_label=np.array([["1"], ["2"], ["3"], ["4"]])), r"'node_label' must have a dtype of kind 'biuf'"),
    (dict(node_label=np.ones((5, 1))), r"'node_label' must have 4 rows"),
    (dict(node_year=np.array(["1999"] * 4)), r"'node_year' must have a dtype of kind 'biuf'"),
    (dict(node_year=np.arange(3)), r"'node_year' must have 4 rows"),
    (dict(edge_index=np.array([[0, 1, 9], [1, 2, 3]])), r"'edge_index' row 0 \(sources\) holds ids in \[0, 9\]"),
])
def test_ogb_binary_loader_checks_every_array_before_use(tmp_path, fields, match):
    with pytest.raises(ValueError, match=match):
        load_ogb_node("ogbn-papers100M", _papers(tmp_path, **fields))


def test_ogb_binary_loader_valid_file_loads(tmp_path):
    ds = load_ogb_node("ogbn-papers100M", _papers(tmp_path))
    assert ds.graph.num_edges == 3 and ds.x.dtype == torch.float32 and ds.y.tolist() == [1, 2, 3, 4]
