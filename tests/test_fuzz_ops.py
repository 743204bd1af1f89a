"""Fuzz every public sparse op and the core layers: the dispatched kernel path equals the reference.

Hypothesis draws small graphs with the shapes that break kernels: hub vertices, parallel edges,
self-loops, isolated and trailing vertices, zero edges, zero vertices, bipartite vertex sets,
int32/int64 and strided id tensors. Features come in float32/float64 and in every memory
layout a caller can hand over (contiguous, transposed, column-strided, storage-offset,
stride-0 broadcast). Each case runs twice, once as dispatched (the compiled CPU kernels where
they are built) and once with the dispatch table pointed at :mod:`gnnkit.ops.reference`; the
outputs and the gradients of every input must agree to float tolerance, or both runs must raise
the same error. Integer and bool features must raise a ``TypeError`` naming the argument.

Features are finite here: the NaN/Inf rules have their own regression tests. The ``fast``
variants run derandomised with a small budget (the file runs in well under a minute on one
core); the ``slow``-marked variants draw many more random cases.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gnnkit import Graph, ops
from gnnkit.nn import GATConv, GCNConv, GINConv, SAGEConv
from gnnkit.ops import _dispatch

FAST = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SLOW = settings(max_examples=1500, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
BUDGETS = [pytest.param(FAST, id="fast"), pytest.param(SLOW, id="slow", marks=pytest.mark.slow)]

FLOATS = (torch.float32, torch.float64)
NON_FLOATS = (torch.int32, torch.int64, torch.uint8, torch.bool)
LAYOUTS = ("contiguous", "transposed", "strided", "offset", "broadcast")
# The CPU kernel tiles features by 8, 4, 2 and 1 cache lines (16 float32 / 8 float64 each), then by 4,
# then one at a time: widths that land on each tile and on the tails.
WIDTHS = st.sampled_from((1, 2, 3, 4, 5, 8, 16, 17, 33, 64, 130))
THREADS = st.sampled_from((1, 2))  # 2: the kernels' threaded row split (rows > 32 only)
# float32 sums of up to ~40 terms of size <= 4 in another order: a few ulps of the largest partial sum
TOL = {torch.float32: dict(rtol=1e-5, atol=1e-4), torch.float64: dict(rtol=1e-10, atol=1e-10)}


# ------------------------------------------------------------------ strategies
@st.composite
def graphs(draw: Callable, bipartite: bool | None = False, max_nodes: int | None = None) -> Graph:
    """A small graph; ``bipartite=None`` draws either kind.

    ``max_nodes=None`` draws the bound: mostly 9, sometimes 80, beyond the kernels' 32-row
    grain, so that a two-thread case splits the rows between threads.
    """
    if bipartite is None:
        bipartite = draw(st.booleans())
    if max_nodes is None:
        max_nodes = draw(st.sampled_from((9, 9, 9, 80)))
    n = draw(st.integers(0, max_nodes))
    ns = draw(st.integers(0, max_nodes)) if bipartite else n
    pairs: list[tuple[int, int]] = []
    if n and ns:
        pairs += draw(st.lists(st.tuples(st.integers(0, ns - 1), st.integers(0, n - 1)), max_size=2 * max_nodes))
        if draw(st.booleans()):  # a hub: many in-edges and out-edges on one vertex
            hub = draw(st.integers(0, min(n, ns) - 1))
            k = draw(st.integers(1, 24))
            others_src = draw(st.lists(st.integers(0, ns - 1), min_size=k, max_size=k))
            others_dst = draw(st.lists(st.integers(0, n - 1), min_size=k, max_size=k))
            pairs += [(u, hub) for u in others_src] + [(hub, v) for v in others_dst]
        if pairs and draw(st.booleans()):  # parallel edges
            pairs += draw(st.lists(st.sampled_from(pairs), max_size=6))
        if not bipartite and draw(st.booleans()):  # self-loops
            pairs += [(v, v) for v in draw(st.lists(st.integers(0, n - 1), max_size=4))]
        pairs = draw(st.permutations(pairs))  # edges in no particular order
    extra = draw(st.integers(0, 3))  # trailing isolated vertices: ids never seen in src/dst
    n, ns = n + extra, ns + (extra if not bipartite else draw(st.integers(0, 3)))
    id_dtype = draw(st.sampled_from((torch.int32, torch.int64)))
    src = torch.tensor([p[0] for p in pairs], dtype=id_dtype)
    dst = torch.tensor([p[1] for p in pairs], dtype=id_dtype)
    if draw(st.booleans()):  # strided ids: every other element of a longer tensor
        src = torch.stack([src, torch.zeros_like(src)], 1).reshape(-1)[::2]
        dst = torch.stack([dst, torch.zeros_like(dst)], 1).reshape(-1)[::2]
    return Graph(src, dst, n, num_src_nodes=ns if bipartite else None)


def make_tensor(shape: tuple[int, ...], dtype: torch.dtype, layout: str, seed: int, ties: bool) -> torch.Tensor:
    """Finite values in [-4, 4] with the given memory layout; ``ties`` rounds them so max/min tie."""
    gen = torch.Generator().manual_seed(seed)
    full = (torch.rand(shape if layout != "broadcast" else (1,) + tuple(shape[1:]), generator=gen,
                       dtype=torch.float64) * 8 - 4)
    if ties:
        full = full.round()
    if dtype.is_floating_point:
        full = full.to(dtype)
    else:
        full = full.abs().to(dtype) if dtype != torch.bool else full > 0
    if layout == "contiguous" or len(shape) == 0:
        return full.contiguous()
    if layout == "broadcast":
        return full.expand(shape)
    if layout == "transposed" and len(shape) >= 2:
        return full.transpose(0, -1).contiguous().transpose(0, -1)
    if layout == "strided":
        wide = torch.stack([full, torch.zeros_like(full)], -1)  # [..., 2]: every other element is ours
        return wide[..., 0]
    # "offset" (and "transposed" on 1-D): a view starting one row into a larger storage
    bigger = torch.cat([torch.zeros((1,) + tuple(shape[1:]), dtype=full.dtype), full])
    return bigger[1:]


@st.composite
def features(draw: Callable, shape: tuple[int, ...], dtype: torch.dtype | None = None) -> torch.Tensor:
    dtype = draw(st.sampled_from(FLOATS)) if dtype is None else dtype
    return make_tensor(shape, dtype, draw(st.sampled_from(LAYOUTS)), draw(st.integers(0, 2**31 - 1)), draw(st.booleans()))


# ------------------------------------------------------------------ the comparison
@contextlib.contextmanager
def reference_path() -> Iterator[None]:
    """Point the dispatch table's CPU entries at the reference ops while the block runs."""
    _dispatch.load_kernels("cpu")
    saved = {key: impl for key, impl in _dispatch.TABLE.items() if key[1] == "cpu"}
    try:
        _dispatch.TABLE.update({(op, "cpu"): _dispatch.TABLE[(op, "reference")] for op, _ in saved})
        yield
    finally:
        _dispatch.TABLE.update(saved)


def _run(fn: Callable[..., Any], inputs: list[torch.Tensor]) -> tuple[Any, list[torch.Tensor | None]] | Exception:
    """``fn(*leaves)`` and the gradients of a fixed random projection of its output, or the exception."""
    leaves = [t.detach().clone().requires_grad_(t.is_floating_point()) for t in inputs]
    try:
        out = fn(*leaves)
    except Exception as exc:  # compared, not swallowed: the other path must raise the same
        return exc
    outs = out if isinstance(out, tuple) else (out,)
    loss = sum((o * torch.linspace(-1, 1, o.numel(), dtype=o.dtype).view(o.shape)).sum() for o in outs if o.numel())
    grads: list[torch.Tensor | None] = [None] * len(leaves)
    need = [t for t in leaves if t.requires_grad]
    if torch.is_tensor(loss) and loss.requires_grad and need:
        got = iter(torch.autograd.grad(loss, need, allow_unused=True))
        grads = [next(got) if t.requires_grad else None for t in leaves]
    return tuple(o.detach() for o in outs), grads


@contextlib.contextmanager
def num_threads(n: int) -> Iterator[None]:
    """``n`` torch threads, and every kernel call of any size split across them (no work floor)."""
    from gnnkit.ops import _cpu

    before, floor = torch.get_num_threads(), _cpu._WORK_PER_THREAD
    torch.set_num_threads(n)
    _cpu._WORK_PER_THREAD = 1  # fuzz graphs are tiny: without this they would all run on one thread
    try:
        yield
    finally:
        torch.set_num_threads(before)
        _cpu._WORK_PER_THREAD = floor


def assert_same(fn: Callable[..., Any], *inputs: torch.Tensor, threads: int = 1) -> Any:
    """Run ``fn`` on the kernel and the reference path: equal outputs and gradients, or the same error."""
    with num_threads(threads):
        kernel = _run(fn, list(inputs))
    with reference_path():
        ref = _run(fn, list(inputs))
    if isinstance(kernel, Exception) or isinstance(ref, Exception):
        assert type(kernel) is type(ref) and str(kernel) == str(ref), f"kernel: {kernel!r}\nreference: {ref!r}"
        return kernel
    (k_out, k_grads), (r_out, r_grads) = kernel, ref
    for k, r in zip(k_out, r_out):
        torch.testing.assert_close(k, r, **TOL.get(k.dtype, {}))
    for k, r in zip(k_grads, r_grads):
        assert (k is None) == (r is None)
        if k is not None:
            torch.testing.assert_close(k, r, **TOL[k.dtype])
    return k_out


def _tie_free_reduce(reduce: str, x: torch.Tensor) -> bool:
    # max/min gradients route to one winning edge; with tied values either winner is right, so the
    # gradients are only comparable when the inputs have no ties
    return reduce in ("sum", "mean") or x.detach().reshape(-1).unique().numel() == x.numel()


# ------------------------------------------------------------------ ops
@st.composite
def spmm_cases(draw: Callable):
    g = draw(graphs(bipartite=None))
    dtype = draw(st.sampled_from(FLOATS))
    heads, f = draw(st.integers(1, 3)), draw(WIDTHS)
    shape = draw(st.sampled_from([(g.num_src_nodes,), (g.num_src_nodes, f), (g.num_src_nodes, heads, f)]))
    x = draw(features(shape, dtype))
    h = shape[1] if len(shape) == 3 else 1
    w_shape = draw(st.sampled_from([None, (g.num_edges,), (g.num_edges, 1), (g.num_edges, h)]))
    w = None if w_shape is None else draw(features(w_shape, dtype))
    return g, x, w, draw(st.sampled_from(ops.REDUCES)), draw(THREADS)


def _fuzz_spmm(case) -> None:
    g, x, w, reduce, threads = case
    if not _tie_free_reduce(reduce, x if w is None else torch.cat([x.reshape(-1), w.reshape(-1)])):
        x = x + torch.arange(x.numel(), dtype=x.dtype).view(x.shape) * 1e-3  # break ties, keep the layout's values apart
    if w is None:
        out = assert_same(lambda x: ops.spmm(g, x, reduce=reduce), x, threads=threads)
    else:
        out = assert_same(lambda x, w: ops.spmm(g, x, w, reduce=reduce), x, w, threads=threads)
    assert out[0].shape == (g.num_nodes,) + tuple(x.shape[1:])


@pytest.mark.parametrize("budget", BUDGETS)
def test_fuzz_spmm_matches_reference(budget):
    budget(given(spmm_cases())(_fuzz_spmm))()


@st.composite
def segment_cases(draw: Callable):
    g = draw(graphs(bipartite=None))
    f = draw(WIDTHS)
    m = draw(features(draw(st.sampled_from([(g.num_edges,), (g.num_edges, f), (g.num_edges, 2, f)]))))
    return g, m, draw(st.sampled_from(ops.REDUCES)), draw(THREADS)


def _fuzz_segment_reduce(case) -> None:
    g, m, reduce, threads = case
    if not _tie_free_reduce(reduce, m):
        m = m + torch.arange(m.numel(), dtype=m.dtype).view(m.shape) * 1e-3
    assert_same(lambda m: ops.segment_reduce(g, m, reduce=reduce), m, threads=threads)


@pytest.mark.parametrize("budget", BUDGETS)
def test_fuzz_segment_reduce_matches_reference(budget):
    budget(given(segment_cases())(_fuzz_segment_reduce))()


@st.composite
def sddmm_cases(draw: Callable):
    g = draw(graphs(bipartite=None))
    dtype = draw(st.sampled_from(FLOATS))
    f = draw(WIDTHS)
    tail = draw(st.sampled_from([(f,), (2, f)]))
    xs = draw(features((g.num_src_nodes,) + tail, dtype))
    xd = draw(features((g.num_nodes,) + tail, dtype))
    return g, xs, xd, draw(st.sampled_from(("dot", "add", "sub", "mul"))), draw(THREADS)


def _fuzz_sddmm(case) -> None:
    g, xs, xd, op, threads = case
    out = assert_same(lambda a, b: ops.sddmm(g, a, b, op=op), xs, xd, threads=threads)
    expect = (g.num_edges,) + ((xs.shape[1],) if xs.dim() == 3 else ()) if op == "dot" else (g.num_edges,) + tuple(xs.shape[1:])
    assert out[0].shape == expect


@pytest.mark.parametrize("budget", BUDGETS)
def test_fuzz_sddmm_matches_reference(budget):
    budget(given(sddmm_cases())(_fuzz_sddmm))()


@st.composite
def softmax_cases(draw: Callable):
    g = draw(graphs(bipartite=None))
    return g, draw(features(draw(st.sampled_from([(g.num_edges,), (g.num_edges, 3)])))), draw(THREADS)


def _fuzz_edge_softmax(case) -> None:
    g, score, threads = case
    (alpha,) = assert_same(lambda s: ops.edge_softmax(g, s), score, threads=threads)
    # each destination with in-edges sums to one per head
    a2 = alpha.reshape(g.num_edges, 1 if alpha.dim() == 1 else alpha.shape[1])
    sums = a2.new_zeros(g.num_nodes, a2.shape[1]).index_add_(0, g.dst, a2)
    has_in = torch.bincount(g.dst, minlength=g.num_nodes) > 0
    torch.testing.assert_close(sums[has_in], torch.ones_like(sums[has_in]), **TOL[alpha.dtype])


@pytest.mark.parametrize("budget", BUDGETS)
def test_fuzz_edge_softmax_matches_reference(budget):
    budget(given(softmax_cases())(_fuzz_edge_softmax))()


@st.composite
def gather_cases(draw: Callable):
    g = draw(graphs(bipartite=None))
    side = draw(st.sampled_from(("src", "dst")))
    rows = g.num_src_nodes if side == "src" else g.num_nodes
    dtype = draw(st.sampled_from(FLOATS + NON_FLOATS))  # a copy: any dtype is valid
    x = make_tensor((rows, 3), dtype, draw(st.sampled_from(LAYOUTS)), draw(st.integers(0, 2**31)), False)
    return g, x, side


def _fuzz_gather(case) -> None:
    g, x, side = case
    out = ops.gather(g, x, side=side)
    torch.testing.assert_close(out, x[g.src if side == "src" else g.dst], rtol=0, atol=0)
    if x.is_floating_point():
        assert_same(lambda x: ops.gather(g, x, side=side), x)


@pytest.mark.parametrize("budget", BUDGETS)
def test_fuzz_gather_matches_indexing(budget):
    budget(given(gather_cases())(_fuzz_gather))()


@st.composite
def norm_cases(draw: Callable):
    g = draw(graphs(bipartite=False))
    w = draw(st.none() | features((g.num_edges,), torch.float64))
    return g, None if w is None else w.abs() + 0.1  # positive weights: degrees > 0 where there are edges


def _fuzz_gcn_norm(case) -> None:
    g, w = case
    # dense float64 oracle: w_e / sqrt(d_src d_dst), degrees summed at the destination, 0 at degree 0
    ww = torch.ones(g.num_edges, dtype=torch.float64) if w is None else w.double()
    deg = torch.zeros(g.num_nodes, dtype=torch.float64).index_add_(0, g.dst, ww)
    dinv = torch.where(deg > 0, deg.clamp(min=1e-300) ** -0.5, torch.zeros_like(deg))
    expect = dinv[g.src] * ww * dinv[g.dst]
    got = ops.gcn_norm(g, w, dtype=torch.float64) if w is None else ops.gcn_norm(g, w)
    torch.testing.assert_close(got, expect, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("budget", BUDGETS)
def test_fuzz_gcn_norm_matches_dense_formula(budget):
    budget(given(norm_cases())(_fuzz_gcn_norm))()


# ------------------------------------------------------------------ bad dtypes
@st.composite
def non_float_cases(draw: Callable):
    g = draw(graphs(bipartite=False, max_nodes=5))
    bad = make_tensor((g.num_nodes, 2), draw(st.sampled_from(NON_FLOATS)), "contiguous", 0, False)
    bad_e = make_tensor((g.num_edges,), bad.dtype, "contiguous", 1, False)
    good = torch.rand(g.num_nodes, 2)
    calls = {
        "spmm x": (lambda: ops.spmm(g, bad), "x"),
        "spmm edge_weight": (lambda: ops.spmm(g, good, bad_e), "edge_weight"),
        "segment_reduce": (lambda: ops.segment_reduce(g, make_tensor((g.num_edges, 2), bad.dtype, "contiguous", 2, False)), "m"),
        "sddmm": (lambda: ops.sddmm(g, bad, bad), "x_src"),
        "sddmm add": (lambda: ops.sddmm(g, bad, bad, op="add"), "x_src"),
        "edge_softmax": (lambda: ops.edge_softmax(g, bad_e), "score"),
        "gcn_norm": (lambda: ops.gcn_norm(g, bad_e), "edge_weight"),
    }
    return calls[draw(st.sampled_from(sorted(calls)))], bad.dtype


def _fuzz_non_float(case) -> None:
    (call, name), dtype = case
    with pytest.raises(TypeError, match=rf"{name} must be a floating-point tensor, got dtype {dtype}"):
        call()


@pytest.mark.parametrize("budget", BUDGETS)
def test_fuzz_non_float_inputs_raise_type_error(budget):
    budget(given(non_float_cases())(_fuzz_non_float))()


# ------------------------------------------------------------------ layers
@st.composite
def layer_cases(draw: Callable):
    g = draw(graphs(bipartite=False))
    dtype = draw(st.sampled_from(FLOATS))
    fin, fout = draw(st.integers(1, 20)), draw(st.integers(1, 20))
    kind = draw(st.sampled_from(("gcn", "sage", "gat", "gin")))
    reduce = draw(st.sampled_from(ops.REDUCES))
    torch.manual_seed(draw(st.integers(0, 2**31)))
    if kind == "gcn":
        layer = GCNConv(fin, fout, add_self_loops=draw(st.booleans()))
    elif kind == "sage":
        layer = SAGEConv(fin, fout, reduce=reduce)
    elif kind == "gat":
        layer = GATConv(fin, fout, heads=draw(st.integers(1, 2)), add_self_loops=draw(st.booleans()))
    else:
        layer = GINConv(torch.nn.Linear(fin, fout), reduce=reduce, train_eps=True)
    return g, layer.to(dtype), draw(features((g.num_nodes, fin), dtype)), kind, reduce


def _fuzz_layer(case) -> None:
    g, layer, x, kind, reduce = case
    if kind in ("sage", "gin") and not _tie_free_reduce(reduce, x):
        x = x + torch.arange(x.numel(), dtype=x.dtype).view(x.shape) * 1e-3
    params = list(layer.parameters())
    out = assert_same(lambda x: layer(g, x), x)  # output and the gradient of x
    # the parameters' gradients accumulate on the module itself: run each path once more and compare them
    grads = {}
    for name, ctx in (("kernel", contextlib.nullcontext()), ("reference", reference_path())):
        for p in params:
            p.grad = None
        with ctx:
            y = layer(g, x)
            y.sum().backward() if y.requires_grad else None
        grads[name] = [None if p.grad is None else p.grad.clone() for p in params]
    for k, r in zip(grads["kernel"], grads["reference"]):
        assert (k is None) == (r is None)
        if k is not None:
            torch.testing.assert_close(k, r, **TOL[k.dtype])
    assert out[0].shape[0] == g.num_nodes


@pytest.mark.parametrize("budget", BUDGETS)
def test_fuzz_layers_match_reference(budget):
    budget(given(layer_cases())(_fuzz_layer))()


# Found by this file: GCNConv and GATConv hand integer/bool x straight to nn.Linear, which raises torch's
# RuntimeError "mat1 and mat2 must have the same dtype" instead of a TypeError naming x.
@pytest.mark.parametrize("layer", ["gcn", "sage", "gat", "gin"])
@pytest.mark.parametrize("dtype", [torch.int64, torch.bool])
def test_fuzz_layers_non_float_features_raise_type_error(layer, dtype):
    g = Graph(torch.tensor([0, 1, 2]), torch.tensor([1, 2, 0]), 3)
    module = {"gcn": lambda: GCNConv(2, 2), "sage": lambda: SAGEConv(2, 2), "gat": lambda: GATConv(2, 2),
              "gin": lambda: GINConv(torch.nn.Linear(2, 2))}[layer]()
    with pytest.raises(TypeError, match=rf"x must be a floating-point tensor, got dtype {dtype}"):
        module(g, torch.ones(3, 2, dtype=dtype))


def test_fuzz_reference_path_switches_the_dispatch():
    # the comparison is only worth something if the two runs take different code
    x = torch.rand(3, 2)
    expect = "cpu" if _dispatch.HAS_KERNELS else "reference"
    assert _dispatch.backend("spmm", x) == expect
    with reference_path():
        assert _dispatch.backend("spmm", x) == "reference"
    assert _dispatch.backend("spmm", x) == expect


# Found by this file: gcn_norm's dtype argument is not checked. dtype=torch.bool returns all-ones weights
# (True + True stays True in the degree sum), int64 silently returns float32 and complex64 complex weights.
@pytest.mark.parametrize("dtype", [torch.bool, torch.int64, torch.complex64])
def test_fuzz_found_gcn_norm_non_float_dtype_raises_type_error(dtype):
    g = Graph(torch.tensor([0, 1, 2, 2]), torch.tensor([1, 2, 0, 0]), 4)
    with pytest.raises(TypeError, match="dtype"):
        ops.gcn_norm(g, dtype=dtype)


@st.composite
def low_precision_cases(draw: Callable):
    g = draw(graphs(bipartite=None, max_nodes=9))
    dtype = draw(st.sampled_from((torch.float16, torch.bfloat16)))
    x = make_tensor((g.num_src_nodes, draw(WIDTHS)), dtype, draw(st.sampled_from(LAYOUTS)),
                    draw(st.integers(0, 2**31)), draw(st.booleans()))
    return g, x, draw(st.sampled_from(ops.REDUCES))


def _fuzz_low_precision(case) -> None:
    g, x, reduce = case
    # float16/bfloat16 run on the reference path: it must equal the float64 result to the dtype's precision
    # (inputs are exact in both; the error is the rounding of up to ~40 partial sums of size <= 4)
    got = ops.spmm(g, x, reduce=reduce)
    expect = ops.spmm(g, x.double(), reduce=reduce)
    assert got.dtype == x.dtype
    eps = torch.finfo(x.dtype).eps
    torch.testing.assert_close(got.double(), expect, rtol=8 * eps, atol=200 * eps)


@pytest.mark.parametrize("budget", BUDGETS)
def test_fuzz_spmm_low_precision_matches_float64(budget):
    budget(given(low_precision_cases())(_fuzz_low_precision))()
