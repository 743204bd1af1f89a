"""Triton kernels (kernels/triton, bound in gnnkit.ops._triton) against gnnkit.ops.reference.

They run on the CPU in Triton's interpreter (``TRITON_INTERPRET=1``), so CI needs no GPU:
every kernel equals the reference forward, and backward both through the public ops'
autograd Functions (``_dispatch.use_triton_for_cpu`` routes the dispatch table's CPU entries to the
kernels) and through the fused attention's own backward. A subprocess compiles every
kernel variant for sm_90 with Triton's real compiler, which also needs no GPU.

The interpreter mode is fixed when triton is first imported. This module imports it with
``TRITON_INTERPRET=1`` and restores the variable at once, so no other module sees it; where
triton was already imported compiled (gnnkit imports it at the first op on a CUDA tensor),
the module runs itself again in a fresh interpreter-mode process instead.

Graphs are tiny (the interpreter runs every program in Python): 14 vertices with empty
rows, self-loops, a duplicated edge and a hub with 19 in-edges, which the ``split``
layout cuts into chunks of 8 entries and tiles of 4 entries and 4 features.
"""
import contextlib
import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

if importlib.util.find_spec("triton") is None:
    pytest.skip("triton is not installed (pip install 'gnnkit[triton]')", allow_module_level=True)

from gnnkit import Graph, ops  # noqa: E402
from gnnkit.ops import _dispatch, reference  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
REDUCES = ("sum", "mean", "max", "min")
f64 = torch.float64
H, FEAT = 2, 3


def _import_interpreted():
    """``gnnkit.ops._triton`` on an interpreter-mode triton, or None when a compiled triton is loaded."""
    import importlib

    if "triton" in sys.modules:
        import triton.language as tl
        from triton.runtime.interpreter import InterpretedFunction

        if not isinstance(tl.zeros, InterpretedFunction):
            return None
    saved = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1"
    try:
        with contextlib.suppress(ImportError):  # imported lazily at the first launch otherwise, and it checks the mode then
            import triton.experimental.gluon  # noqa: F401
        return importlib.import_module("gnnkit.ops._triton")
    finally:
        if saved is None:
            del os.environ["TRITON_INTERPRET"]
        else:
            os.environ["TRITON_INTERPRET"] = saved


T = _import_interpreted()
IN_PROCESS = T is not None and T.INTERPRETED


@pytest.fixture(autouse=True)
def _interpreter(request):
    if not IN_PROCESS and request.node.name != "test_all_in_an_interpreter_subprocess":
        pytest.skip("a compiled-mode triton is loaded: test_all_in_an_interpreter_subprocess runs these")


def test_all_in_an_interpreter_subprocess():
    if IN_PROCESS:
        pytest.skip("triton runs in interpreter mode in this process")
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    proc = subprocess.run([sys.executable, "-m", "pytest", __file__, "-q", "-p", "no:cacheprovider"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]


# ------------------------------------------------------------------- graphs
def hub_graph(sort: bool = False) -> Graph:
    """14 vertices, 42 edges in random order: hub 3 has 19 in-edges (one a self-loop),
    5 -> 5 and 7 -> 7 are self-loops, 1 -> 2 appears twice, and 9, 12, 13 have no in-edges."""
    gen = torch.Generator().manual_seed(0)
    src = torch.randint(0, 14, (24,), generator=gen)
    dst = torch.randint(0, 14, (24,), generator=gen)
    keep = (dst != 9) & (dst != 12) & (dst != 13) & (dst != 3)
    src, dst = src[keep], dst[keep]
    hub_src = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 0, 1, 2, 9, 13])
    src = torch.cat([src, hub_src, torch.tensor([5, 7, 1, 1])])
    dst = torch.cat([dst, torch.full((19,), 3), torch.tensor([5, 7, 2, 2])])
    perm = torch.randperm(src.numel(), generator=gen)
    g = Graph(src[perm], dst[perm], 14)
    return g.sort_by_dst() if sort else g


def bipartite_graph() -> Graph:
    """10 source vertices, 6 destinations (5 has no in-edges), 21 edges."""
    gen = torch.Generator().manual_seed(1)
    src = torch.randint(0, 10, (21,), generator=gen)
    dst = torch.randint(0, 5, (21,), generator=gen)
    return Graph(src, dst, 6, num_src_nodes=10)


def no_edges() -> Graph:
    return Graph(torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64), 5)


GRAPHS = {"hub": hub_graph, "sorted": lambda: hub_graph(sort=True), "bipartite": bipartite_graph, "no_edges": no_edges}

# Launch layouts: the defaults (int32 indices, one program per row), and int64 indices with
# rows split into chunks of 8 entries, 4-entry tiles and 4-feature tiles (D = 6 spans two).
LAYOUTS = {
    "default": {},
    "split": dict(index_dtype=torch.int64, chunk=8, block_e=4, block_f=4),
}


@pytest.fixture(params=list(LAYOUTS))
def layout(request):
    if not IN_PROCESS:
        yield request.param
        return
    with T.tuning(**LAYOUTS[request.param]):
        yield request.param


def randn(*shape, dtype=torch.float32, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def weight(g: Graph, hw: int | None, dtype=torch.float32, seed=1):
    return None if hw is None else torch.rand(g.num_edges, hw, generator=torch.Generator().manual_seed(seed), dtype=dtype) + 0.5


def leaf(t: torch.Tensor) -> torch.Tensor:
    return t.detach().clone().requires_grad_(True)


# --------------------------------------------------------------- schedule
def test_schedule_splits_the_hub_into_ordered_chunks():
    g = hub_graph()
    with T.tuning(chunk=8):
        s = T.schedule(g)
    deg = g.in_degrees()
    assert int(deg[3]) == 19 and int(deg.max()) == 19
    rows = s.chunk_row.long()
    assert rows.tolist() == sorted(rows.tolist())
    assert (rows == 3).sum() == 3  # ceil(19 / 8)
    assert s.split_row.tolist() == [3] and s.split_ptr.tolist() == [0, 3] and s.num_slots == 3
    assert s.chunk_slot[rows == 3].tolist() == [0, 1, 2] and (s.chunk_slot[rows != 3] == -1).all()
    assert s.chunk_begin[rows == 3].tolist() == [int(g.csr_in().indptr[3]) + k for k in (0, 8, 16)]
    assert (rows == 9).sum() == 1  # an empty row still has a chunk: it writes the zeros
    assert s.indices.dtype == torch.int32  # everything fits


def test_index_dtype_is_int64_beyond_int32_and_forcing_int32_is_rejected():
    assert T.index_dtype(1000, 10, 10) == torch.int32
    assert T.index_dtype(2**31, 10, 10) == torch.int64  # more than 2^31 - 1 edges: int64 offsets
    assert T.index_dtype(2**31 - 20, 100, 10) == torch.int64  # chunk numbers reach nnz + rows
    assert T.index_dtype(10, 10, 2**31 + 1) == torch.int64
    with T.tuning(index_dtype=torch.int32), pytest.raises(ValueError, match="int32 indices cannot address a graph with 2147483648 edges"):
        T.index_dtype(2**31, 10, 10)
    with T.tuning(index_dtype=torch.int16), pytest.raises(ValueError, match="index_dtype must be torch.int32 or torch.int64"):
        T.index_dtype(10, 10, 10)


def test_grid_beyond_the_cuda_limit_is_rejected():
    assert T._grid(2**31 - 1, "spmm") == (2**31 - 1,)
    with pytest.raises(ValueError, match="spmm needs 2147483648 programs, more than CUDA's grid limit"):
        T._grid(2**31, "spmm")


# -------------------------------------------------------------------- spmm
@pytest.mark.parametrize("hw", [None, 1, H])  # no weights, one per edge, one per edge and head
@pytest.mark.parametrize("reduce", REDUCES)
def test_spmm_equals_reference(reduce, hw, layout):
    g = hub_graph()
    x, w = randn(g.num_src_nodes, H, FEAT), weight(g, hw)
    out, arg = T.spmm(g, x, w, reduce)
    ref, ref_arg = reference.spmm(g, x, w, reduce)
    assert_close(out, ref)  # float32 sums in another order: assert_close's float32 tolerance
    if reduce in ("max", "min"):  # same winner, ties (the duplicated 1 -> 2) to the smaller edge id
        assert torch.equal(arg, ref_arg)
    else:
        assert arg is None


@pytest.mark.parametrize("graph", ["sorted", "bipartite", "no_edges"])
@pytest.mark.parametrize("reduce", ["sum", "max"])
def test_spmm_other_graphs_equal_reference(reduce, graph, layout):
    g = GRAPHS[graph]()
    x, w = randn(g.num_src_nodes, H, FEAT), weight(g, H)
    out, arg = T.spmm(g, x, w, reduce)
    ref, ref_arg = reference.spmm(g, x, w, reduce)
    assert_close(out, ref)
    if reduce == "max":
        assert torch.equal(arg, ref_arg)


@pytest.mark.parametrize("reduce", REDUCES)
def test_spmm_backward_through_ops_equals_reference(reduce, layout):
    """``ops.spmm``'s autograd Function on the Triton kernels (backward: spmm on g.reverse() and
    sddmm for the weights, or the arg scatter for max/min) equals autograd through the reference."""
    g = hub_graph()
    x, w = randn(g.num_src_nodes, H, FEAT, dtype=f64), weight(g, H, f64)
    dy = randn(g.num_nodes, H, FEAT, dtype=f64, seed=2)
    xk, wk = leaf(x), leaf(w)
    with _dispatch.use_triton_for_cpu():
        assert _dispatch.lookup("spmm", xk) is T.spmm
        out = ops.spmm(g, xk, wk, reduce)
        out.backward(dy)
    xr, wr = leaf(x), leaf(w)
    ref, _ = reference.spmm(g, xr, wr, reduce)
    ref.backward(dy)
    assert_close(out, ref)
    assert_close(xk.grad, xr.grad)
    assert_close(wk.grad, wr.grad)


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_spmm_gradients_composed_as_ops_backward_does(reduce, shared, layout):
    """dx = spmm(g.reverse(), dy / deg) and dw = sddmm_dot(g, x, dy / deg), from the kernels directly."""
    g = hub_graph()
    x, w = randn(g.num_src_nodes, H, FEAT, dtype=f64), weight(g, 1 if shared else H, f64)
    dy = randn(g.num_nodes, H, FEAT, dtype=f64, seed=2)
    xr, wr = leaf(x), leaf(w)
    reference.spmm(g, xr, wr, reduce)[0].backward(dy)
    if reduce == "mean":
        dy = dy / g.in_degrees().clamp(min=1).to(f64).view(-1, 1, 1)
    dx, _ = T.spmm(g.reverse(), dy, w, "sum")
    dw = T.sddmm_dot(g, x, dy)
    if shared:
        dw = dw.sum(1, keepdim=True)
    assert_close(dx, xr.grad)
    assert_close(dw, wr.grad)


def test_spmm_float16_accumulates_in_float32():
    g = hub_graph()
    x = randn(g.num_nodes, H, FEAT)
    out, _ = T.spmm(g, x.half(), None, "sum")
    assert out.dtype == torch.float16
    assert_close(out.float(), reference.spmm(g, x, None, "sum")[0], atol=1e-2, rtol=1e-2)  # float16 rounding of x and out


# ---------------------------------------------------------- segment_reduce
@pytest.mark.parametrize("reduce", REDUCES)
def test_segment_reduce_equals_reference_forward_and_backward(reduce, layout):
    g = hub_graph()
    m = randn(g.num_edges, H, FEAT, dtype=f64)
    dy = randn(g.num_nodes, H, FEAT, dtype=f64, seed=2)
    out, arg = T.segment_reduce(g, m, reduce)
    ref, ref_arg = reference.segment_reduce(g, m, reduce)
    assert_close(out, ref)
    if arg is not None:
        assert torch.equal(arg, ref_arg)
    mk, mr = leaf(m), leaf(m)
    with _dispatch.use_triton_for_cpu():
        ops.segment_reduce(g, mk, reduce).backward(dy)
    reference.segment_reduce(g, mr, reduce)[0].backward(dy)
    assert_close(mk.grad, mr.grad)


# ------------------------------------------------------------------- sddmm
@pytest.mark.parametrize("graph", ["hub", "bipartite", "no_edges"])
def test_sddmm_dot_equals_reference_forward_and_backward(graph, layout):
    g = GRAPHS[graph]()
    a, b = randn(g.num_src_nodes, H, FEAT, dtype=f64), randn(g.num_nodes, H, FEAT, dtype=f64, seed=1)
    assert_close(T.sddmm_dot(g, a, b), reference.sddmm_dot(g, a, b))
    dout = randn(g.num_edges, H, dtype=f64, seed=2)
    ak, bk, ar, br = leaf(a), leaf(b), leaf(a), leaf(b)
    with _dispatch.use_triton_for_cpu():
        out = ops.sddmm(g, ak, bk)
        out.backward(dout)
    reference.sddmm_dot(g, ar, br).backward(dout)
    assert_close(ak.grad, ar.grad)
    assert_close(bk.grad, br.grad)


@pytest.mark.parametrize("op", ["add", "sub", "mul"])
def test_sddmm_elementwise_equals_gathers(op, layout):
    g = hub_graph()
    a, b = randn(g.num_nodes, H, FEAT), randn(g.num_nodes, H, FEAT, seed=1)
    expect = {"add": torch.add, "sub": torch.sub, "mul": torch.mul}[op](a[g.src], b[g.dst])  # [E, H, F]
    assert_close(T.sddmm(g, a, b, op), expect)


# ------------------------------------------------------------- edge softmax
@pytest.mark.parametrize("graph", ["hub", "sorted", "no_edges"])
def test_edge_softmax_equals_reference_forward_and_backward(graph, layout):
    g = GRAPHS[graph]()
    s = randn(g.num_edges, H, dtype=f64) * 3
    grad = randn(g.num_edges, H, dtype=f64, seed=2)
    y = T.segment_softmax(g, s)
    assert_close(y, reference.segment_softmax(g, s))
    assert_close(T.segment_softmax_backward(g, y, grad), reference.segment_softmax_backward(g, y, grad))
    sk, sr = leaf(s), leaf(s)
    with _dispatch.use_triton_for_cpu():
        ops.edge_softmax(g, sk).backward(grad)
    reference.segment_softmax(g, sr).backward(grad)
    assert_close(sk.grad, sr.grad)


def test_edge_softmax_of_an_all_minus_inf_row_is_zero_like_reference(layout):
    g = hub_graph()
    s = randn(g.num_edges, H)
    s[g.dst == 3] = float("-inf")  # the hub, split into chunks in the split layout
    y = T.segment_softmax(g, s)
    assert_close(y, reference.segment_softmax(g, s))
    assert (y[g.dst == 3] == 0).all()


# --------------------------------------------------------- fused attention
def gat_reference(g, x, a_src, a_dst, slope, scale):
    """The unfused composition GATConv runs: sddmm add -> LeakyReLU -> edge softmax -> dropout -> spmm."""
    score = F.leaky_relu(a_src[g.src] + a_dst[g.dst], slope)  # [E, H]
    alpha = reference.segment_softmax(g, score)  # [E, H]
    return reference.spmm(g, x, alpha * scale, "sum")[0]  # [N, H, F]


@pytest.mark.parametrize("graph, dropout", [("hub", 0.0), ("hub", 0.5), ("sorted", 0.0), ("bipartite", 0.0), ("no_edges", 0.0)])
def test_gat_fused_equals_reference_forward_and_backward(graph, dropout, layout):
    g = GRAPHS[graph]()
    ns, n, seed = g.num_src_nodes, g.num_nodes, 11
    x, a_src, a_dst = randn(ns, H, FEAT, dtype=f64), randn(ns, H, dtype=f64, seed=1), randn(n, H, dtype=f64, seed=2)
    dout = randn(n, H, FEAT, dtype=f64, seed=3)
    out, lse = T.gat_forward(g, x, a_src, a_dst, 0.2, dropout, seed)
    scale = T.dropout_mask(g.num_edges, H, dropout, seed, "cpu", f64)
    xr, sr, dr = leaf(x), leaf(a_src), leaf(a_dst)
    ref = gat_reference(g, xr, sr, dr, 0.2, scale)
    ref.backward(dout)
    dx, da_src, da_dst = T.gat_backward(g, x, a_src, a_dst, out, lse, dout, 0.2, dropout, seed)
    # the kernels get the slope as a float32 argument: 0.2 is off by 3e-9 relative
    tol = dict(rtol=1e-6, atol=1e-6)
    assert_close(out, ref.detach(), **tol)
    assert_close(dx, xr.grad, **tol)
    assert_close(da_src, sr.grad, **tol)
    assert_close(da_dst, dr.grad, **tol)
    has_in = g.in_degrees() > 0
    if has_in.any():
        score = F.leaky_relu(a_src[g.src] + a_dst[g.dst], 0.2)
        lse_ref = torch.stack([torch.logsumexp(score[g.dst == v], 0) for v in has_in.nonzero().view(-1).tolist()])
        assert_close(lse[has_in], lse_ref, **tol)


def test_gat_fused_equals_the_gatconv_layer():
    """What the fused op would replace in GATConv.forward gives the layer's own output."""
    from gnnkit.nn import GATConv

    torch.manual_seed(0)
    g = hub_graph()
    conv = GATConv(5, FEAT, heads=H).eval()
    x = randn(g.num_nodes, 5)
    with torch.no_grad():
        expect = conv(g, x)
        gl = g.add_self_loops(only_missing=True)
        h = conv.lin(x).view(-1, H, FEAT)  # [N, H, F]
        a_src, a_dst = (h * conv.att_src).sum(-1), (h * conv.att_dst).sum(-1)  # [N, H] each
        out, _ = T.gat_forward(gl, h, a_src, a_dst, conv.negative_slope, 0.0, 0)
    assert_close(out.reshape(-1, H * FEAT) + conv.bias, expect)


@pytest.mark.skipif(not hasattr(ops, "gat_attention"), reason="gnnkit.ops.gat_attention is not wired in yet (docs/kernels.md, Wiring)")
@pytest.mark.parametrize("kernels", ["triton", "reference"])
def test_gat_attention_op_equals_the_unfused_composition(kernels):
    """The public op's autograd Function, on the Triton kernels or on its reference twin."""
    g = hub_graph()
    x, a_src, a_dst = randn(14, H, FEAT, dtype=f64), randn(14, H, dtype=f64, seed=1), randn(14, H, dtype=f64, seed=2)
    dout = randn(14, H, FEAT, dtype=f64, seed=3)
    leaves = [leaf(t) for t in (x, a_src, a_dst)]
    if kernels == "triton":
        with _dispatch.use_triton_for_cpu():
            assert _dispatch.lookup("gat_forward", x) is T.gat_forward
            out = ops.gat_attention(g, *leaves, 0.2, 0.0)
            out.backward(dout)
    else:
        assert _dispatch.lookup("gat_forward", x) is reference.gat_forward
        out = ops.gat_attention(g, *leaves, 0.2, 0.0)
        out.backward(dout)
    refs = [leaf(t) for t in (x, a_src, a_dst)]
    ref = gat_reference(g, *refs, 0.2, 1.0)
    ref.backward(dout)
    tol = dict(rtol=1e-6, atol=1e-6)  # the kernels get the slope as float32
    assert_close(out, ref.detach(), **tol)
    for mine, theirs in zip(leaves, refs):
        assert_close(mine.grad, theirs.grad, **tol)


def test_dropout_mask_is_reproducible_and_unbiased():
    a = T.dropout_mask(1000, 4, 0.3, 5, "cpu")
    assert torch.equal(a, T.dropout_mask(1000, 4, 0.3, 5, "cpu"))
    assert not torch.equal(a, T.dropout_mask(1000, 4, 0.3, 6, "cpu"))
    kept = a[a != 0]
    assert_close(kept, torch.full_like(kept, 1 / 0.7))  # kept weights are scaled by 1 / (1 - p)
    assert 0.27 < (a == 0).float().mean() < 0.33  # 4000 Bernoulli(0.3) draws: 0.3 +- 4.5 sigma
    assert (T.dropout_mask(10, 2, 0.0, 5, "cpu") == 1).all()


def test_gat_rejects_bad_input():
    g = hub_graph()
    x, a = randn(g.num_nodes, H, FEAT), randn(g.num_nodes, H)
    with pytest.raises(ValueError, match=r"a_dst must have shape \[14, 2\], got \[14, 3\]"):
        T.gat_forward(g, x, a, randn(g.num_nodes, 3), 0.2, 0.0, 0)
    with pytest.raises(ValueError, match=r"dropout must lie in \[0, 1\), got 1.0"):
        T.gat_forward(g, x, a, a, 0.2, 1.0, 0)


# ------------------------------------------------------- non-finite values
# The rules of gnnkit.ops's docstring: a NaN message makes a max/min NaN (arg: the smallest edge id
# holding a NaN), a NaN or +inf score makes its softmax row NaN, an all -inf row gives zeros. Each
# input is shuffled into several edge orders, so a NaN falls in different tiles and chunks of the hub.
NAN, INF = float("nan"), float("inf")
# the interpreter runs the kernels in numpy, which warns at the intended inf * 0 and inf - inf
IEEE_WARNINGS = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")


def shuffled(g: Graph, order: int) -> tuple[Graph, torch.Tensor]:
    """``g`` with its edges in a random order (order 0 keeps it), and the permutation."""
    if order == 0:
        perm = torch.arange(g.num_edges)
    else:
        perm = torch.randperm(g.num_edges, generator=torch.Generator().manual_seed(order))
    return Graph(g.src[perm], g.dst[perm], g.num_nodes, num_src_nodes=g.num_src_nodes), perm


def non_finite_x() -> torch.Tensor:
    """``[14, H, F]`` features of hub_graph with NaN, +inf and -inf at sources of several rows (the hub among them)."""
    x = randn(14, H, FEAT)
    x[1, 0, 0] = NAN  # into 1, 3 (twice) and 2 (the duplicated 1 -> 2: two NaN messages tie)
    x[13, 1, 2] = NAN  # into 1 and 3 (twice)
    x[4, 0, 1] = INF  # into 0, 3 and 4 (three times)
    x[9, 1, 0] = -INF  # into 3 (twice), 4, 5 and 11
    x[7, 0, 2] = INF  # into 1, 3 and 7; 7 -> 1 has weight 0 for head 0 below: inf * 0 is a NaN message
    return x


def non_finite_w(g: Graph, perm: torch.Tensor) -> torch.Tensor:
    """``[E, H]`` weights that follow each edge through ``perm``; 7 -> 1 has weight 0 for head 0,
    2 -> 7 weight +inf for head 1."""
    w = weight(hub_graph(), H)[perm]
    w[(g.src == 7) & (g.dst == 1), 0] = 0.0
    w[(g.src == 2) & (g.dst == 7), 1] = INF
    return w


@IEEE_WARNINGS
@pytest.mark.parametrize("order", [0, 1, 2])
@pytest.mark.parametrize("hw", [None, H])
@pytest.mark.parametrize("reduce", ["max", "min"])
def test_spmm_max_min_nan_inf_equal_reference_in_any_edge_order(reduce, hw, order, layout):
    g, perm = shuffled(hub_graph(), order)
    x = non_finite_x()
    w = None if hw is None else non_finite_w(g, perm)
    out, arg = T.spmm(g, x, w, reduce)
    ref, ref_arg = reference.spmm(g, x, w, reduce)
    assert_close(out, ref, equal_nan=True)  # NaN and +/-inf at the same positions, finite values close
    assert torch.equal(arg, ref_arg)  # the winner of a NaN output: the smallest edge id holding a NaN
    assert bool(out[3, 0, 0].isnan()) and bool(out[2, 0, 0].isnan()) and bool(out[3, 1, 2].isnan())
    if hw is not None:
        assert bool(out[1, 0, 2].isnan())  # the inf * 0 message


@IEEE_WARNINGS
@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("reduce", ["max", "min"])
def test_segment_reduce_max_min_nan_inf_equal_reference_in_any_edge_order(reduce, order, layout):
    g, perm = shuffled(hub_graph(), order)
    m = randn(g.num_edges, H, FEAT)[perm]
    hub = (g.dst == 3).nonzero().view(-1)  # [19] edge ids into the hub
    m[hub[[2, 11]], 0, 1] = NAN  # two NaN messages (in different chunks of the split layout): the smaller id wins
    m[hub[5], 1, 0], m[hub[6], 1, 0] = INF, -INF
    out, arg = T.segment_reduce(g, m, reduce)
    ref, ref_arg = reference.segment_reduce(g, m, reduce)
    assert_close(out, ref, equal_nan=True)
    assert torch.equal(arg, ref_arg)
    assert bool(out[3, 0, 1].isnan()) and int(arg[3, 0, 1]) == int(hub[[2, 11]].min())


@IEEE_WARNINGS
@pytest.mark.parametrize("order", [0, 1, 2])
def test_edge_softmax_nan_inf_rows_equal_reference_in_any_edge_order(order, layout):
    base = hub_graph()
    score = randn(base.num_edges, H, dtype=f64) * 3
    hub = (base.dst == 3).nonzero().view(-1)
    score[hub[7], 0] = NAN  # the hub's row, head 0: all NaN
    score[hub[12], 1] = -INF  # one -inf among finite scores: weight 0, the rest a normal softmax
    score[(base.dst == 11).nonzero().view(-1)[2], 1] = INF  # row 11, head 1: all NaN, as torch.softmax
    score[base.dst == 4, 0] = -INF  # row 4, head 0: all -inf, zeros
    g, perm = shuffled(base, order)
    score = score[perm]
    y = T.segment_softmax(g, score)
    assert_close(y, reference.segment_softmax(g, score), equal_nan=True)
    assert bool(y[g.dst == 3, 0].isnan().all()) and bool(y[g.dst == 11, 1].isnan().all())
    assert bool((y[g.dst == 4, 0] == 0).all()) and not bool(y[g.dst == 3, 1].isnan().any())


@IEEE_WARNINGS
@pytest.mark.parametrize("order", [0, 1, 2])
def test_gat_forward_nan_inf_equals_reference_in_any_edge_order(order, layout):
    """The fused forward (``ops.gat_attention``'s kernel): the softmax rule, then the IEEE weighted sum."""
    g, _ = shuffled(hub_graph(), order)
    x, a_src, a_dst = randn(14, H, FEAT, dtype=f64), randn(14, H, dtype=f64, seed=1), randn(14, H, dtype=f64, seed=2)
    a_src[13, 0] = NAN  # rows 1 and 3 (the hub), head 0: NaN
    a_src[11, 1] = INF  # rows 3, 5 and 11, head 1: NaN (exp(inf - inf))
    a_src[8, 1] = -INF  # 8 -> 10 is row 10's only edge: all -inf, zeros; 8 -> 3 gets weight 0
    a_dst[4, 0] = -INF  # row 4, head 0: every score -inf, zeros
    x[9, 0, 1] = INF  # 9 -> 4 under weight 0: 0 * inf is NaN in the weighted sum, as in the reference
    out, lse = T.gat_forward(g, x, a_src, a_dst, 0.2, 0.0, 0)
    ref, ref_lse = reference.gat_forward(g, x, a_src, a_dst, 0.2, 0.0, 0)
    tol = dict(rtol=1e-6, atol=1e-6, equal_nan=True)  # the kernels get the slope as float32
    assert_close(out, ref, **tol)
    assert_close(lse, ref_lse, **tol)
    assert bool(out[[1, 3], 0].isnan().all()) and bool(out[[3, 5, 11], 1].isnan().all())
    assert bool((out[10, 1] == 0).all()) and bool(out[4, 0, 1].isnan()) and bool((out[4, 0, [0, 2]] == 0).all())


# ------------------------------------------------------ the binding boundary
def test_non_contiguous_inputs_and_other_weight_dtypes_are_handled():
    g = hub_graph()
    x = randn(FEAT, g.num_nodes, H).permute(1, 2, 0)  # [N, H, F], not contiguous
    w = weight(g, H, f64).t().contiguous().t()  # [E, H] float64, column-major
    assert not x.is_contiguous() and not w.is_contiguous()
    out, _ = T.spmm(g, x, w, "sum")
    assert_close(out, reference.spmm(g, x.contiguous(), w.float().contiguous(), "sum")[0])
    s = randn(H, g.num_edges).t()
    assert_close(T.segment_softmax(g, s), reference.segment_softmax(g, s.contiguous()))
    a, b = randn(g.num_nodes, FEAT, H).transpose(1, 2), randn(g.num_nodes, H, FEAT, seed=1)
    assert_close(T.sddmm_dot(g, a, b.double()), reference.sddmm_dot(g, a.contiguous(), b))  # x_dst cast to x_src.dtype


def test_bad_dtypes_and_shapes_are_rejected():
    g = hub_graph()
    with pytest.raises(TypeError, match="x must be float16, bfloat16, float32 or float64 for the Triton kernels, got torch.int64"):
        T.spmm(g, torch.ones(g.num_nodes, H, FEAT, dtype=torch.int64), None, "sum")
    with pytest.raises(TypeError, match="edge weight must be a floating-point tensor, got torch.int64"):
        T.spmm(g, randn(g.num_nodes, H, FEAT), torch.ones(g.num_edges, 1, dtype=torch.int64), "sum")
    with pytest.raises(ValueError, match=r"x must have shape \[14, H, F\], got \[14, 6\]"):
        T.spmm(g, randn(g.num_nodes, H * FEAT), None, "sum")
    with pytest.raises(ValueError, match=r"edge weight must have shape \[E=42, 1 or H=2\], got \[42, 3\]"):
        T.spmm(g, randn(g.num_nodes, H, FEAT), randn(g.num_edges, 3), "sum")
    with pytest.raises(ValueError, match="reduce must be one of"):
        T.spmm(g, randn(g.num_nodes, H, FEAT), None, "prod")


def test_use_for_cpu_restores_the_dispatch_table():
    before = dict(_dispatch.TABLE)
    with _dispatch.use_triton_for_cpu():
        assert _dispatch.TABLE[("segment_softmax", "cpu")] is T.segment_softmax
    assert _dispatch.TABLE == before


# --------------------------------------------- compiled mode, in a subprocess
COMPILED_CHECKS = textwrap.dedent("""
    import os, sys
    import torch
    import gnnkit
    from gnnkit.ops import _dispatch
    assert "triton" not in sys.modules, "import gnnkit imported triton; it must wait for the first CUDA op"
    if not torch.cuda.is_available():
        assert _dispatch.TRITON_ERROR == "no CUDA device" and ("spmm", "cuda") not in _dispatch.TABLE
        assert "triton" not in sys.modules, "gnnkit imported triton on a machine without CUDA"
    else:
        assert _dispatch.HAS_TRITON, _dispatch.TRITON_ERROR
        assert _dispatch.TABLE[("spmm", "cuda")].__module__ == "gnnkit.ops._triton"
    from gnnkit.ops import _triton
    assert not _triton.INTERPRETED
    g = gnnkit.Graph([0, 1], [1, 0], 2)
    try:
        _triton.spmm(g, torch.ones(2, 1, 1), None, "sum")
    except ValueError as exc:
        assert "set TRITON_INTERPRET=1" in str(exc)
    else:
        raise AssertionError("CPU tensors were accepted without the interpreter")
    from gnnkit_kernels.triton import aot
    sys.exit(aot.main(["--arch", "90", "--workers", "2"]))
""")


def test_kernels_compile_for_sm90_without_a_gpu():
    """Triton's compiler (frontend, MLIR passes, bundled ptxas) accepts every kernel variant.

    Also: without CUDA gnnkit never imports triton, and CPU tensors are refused outside the interpreter.
    """
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env.setdefault("TRITON_DEFAULT_FP_FUSION", "1")
    proc = subprocess.run([sys.executable, "-c", COMPILED_CHECKS], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert "variants compiled for sm_90" in proc.stdout
