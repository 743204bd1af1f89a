"""Sparse ops: (a) dense float64 oracle, (b) kernel vs reference, (c) gradcheck, (d) hand-computed cases,
(e) non-contiguous inputs; plus stability, permutation properties, bad input and the no-kernel fallback."""
import json
import math
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from gnnkit import Graph, ops
from gnnkit.ops import _dispatch, reference

from conftest import DEVICES, dense_adjacency, random_graph, tie_free

REDUCES = ("sum", "mean", "max", "min")
f64 = torch.float64
needs_kernels = pytest.mark.skipif(not _dispatch.HAS_KERNELS, reason=f"compiled kernels unavailable: {_dispatch.KERNEL_ERROR}")


@pytest.fixture(params=["dispatch", "reference"])
def backend(request, monkeypatch):
    """Run the public ops on their default path (compiled kernels where built), or force the reference."""
    if request.param == "reference":
        _dispatch.load_kernels("cpu")  # loaded now, so a first op cannot re-register them mid-test
        for key in [k for k in _dispatch.TABLE if k[1] != "reference"]:
            monkeypatch.delitem(_dispatch.TABLE, key)
    return request.param


def t(*values):
    return torch.tensor(values, dtype=torch.int64)


def gen(seed):
    return torch.Generator().manual_seed(seed)


def mixed_graph(seed: int = 0) -> Graph:
    """10 vertices, 27 unsorted edges including a duplicated pair (2 -> 5) and a self-loop (4 -> 4).

    Vertex 9 has no edges at all, so it aggregates to 0; others may lack in-edges too.
    """
    g = random_graph(9, 24, seed)
    return Graph(torch.cat([g.src, t(2, 2, 4)]), torch.cat([g.dst, t(5, 5, 4)]), 10)


def bipartite_graph(seed: int = 0) -> Graph:
    """8 source vertices, 6 destination vertices, 20 edges."""
    return random_graph(6, 20, seed, num_src_nodes=8)


def positive_weights(shape, seed=0):
    return torch.rand(shape, dtype=f64, generator=gen(seed)) + 0.5


# ------------------------------------------------------------------ dense oracles
def nhf(v):
    """``[R]``, ``[R, F]`` or ``[R, H, F]`` as ``[R, H, F]``."""
    return v.reshape(v.shape[0], 1, 1) if v.dim() == 1 else v.unsqueeze(1) if v.dim() == 2 else v


def onehot(index, n):
    """``[len(index), n]`` float64 selection matrix: row i picks entry ``index[i]``."""
    return F.one_hot(index, n).to(f64)


def dense_segment(g, m3, reduce):
    """``[E, H, F] -> [N, H, F]`` via the dense ``[N, E]`` incidence matrix of destinations."""
    inc = onehot(g.dst, g.num_nodes).t()  # [N, E]
    if reduce in ("sum", "mean"):
        out = torch.einsum("ne,ehf->nhf", inc, m3)
        return out / inc.sum(1).clamp(min=1).view(-1, 1, 1) if reduce == "mean" else out
    mask = inc.bool()[:, :, None, None]  # [N, E, 1, 1]
    fill = torch.tensor(float("-inf") if reduce == "max" else float("inf"), dtype=f64)
    cand = torch.where(mask, m3.unsqueeze(0), fill)  # [N, E, H, F]
    red = cand.amax(1) if reduce == "max" else cand.amin(1)
    return torch.where(mask.any(1), red, torch.zeros((), dtype=f64))  # no in-edges: 0


def dense_spmm(g, x, w, reduce):
    """Sum/mean as ``A @ x`` per head with the dense adjacency; max/min over the dense incidence."""
    x3 = nhf(x)
    s, h, _ = x3.shape
    w2 = torch.ones(g.num_edges, 1, dtype=f64) if w is None else w.reshape(g.num_edges, -1)  # [E, 1 | H]
    if reduce in ("sum", "mean"):
        out = torch.stack([dense_adjacency(g, w2[:, k % w2.shape[1]]) @ x3[:, k] for k in range(h)], 1)  # [N, H, F]
        if reduce == "mean":
            out = out / dense_adjacency(g).sum(1).clamp(min=1).view(-1, 1, 1)
    else:
        vals = torch.einsum("es,shf->ehf", onehot(g.src, s), x3) * w2.unsqueeze(-1)  # [E, H, F] messages
        out = dense_segment(g, vals, reduce)
    return out.reshape((g.num_nodes,) + tuple(x.shape[1:]))


def dense_sddmm(g, xs, xd, op):
    a = torch.einsum("es,s...->e...", onehot(g.src, g.num_src_nodes), xs)  # [E, ...]
    b = torch.einsum("en,n...->e...", onehot(g.dst, g.num_nodes), xd)
    return {"dot": lambda: (a * b).sum(-1), "add": lambda: a + b, "sub": lambda: a - b, "mul": lambda: a * b}[op]()


def dense_edge_softmax(g, score):
    s2 = score.reshape(g.num_edges, -1)  # [E, H]
    inc = onehot(g.dst, g.num_nodes).t().bool()  # [N, E]
    has = inc.any(1, keepdim=True)
    out = []
    for k in range(s2.shape[1]):
        logits = torch.where(inc, s2[:, k].unsqueeze(0), torch.tensor(float("-inf"), dtype=f64))  # [N, E]
        logits = torch.where(has, logits, torch.zeros((), dtype=f64))  # rows without edges: no -inf-only rows
        out.append((torch.softmax(logits, 1) * inc).sum(0))  # [E]: each edge's entry in its row
    return torch.stack(out, 1).reshape(score.shape)


def dense_gcn_spmm(g, x, w):
    """``D^-1/2 A D^-1/2 x`` with weighted in-degrees ``D`` (row sums of ``A[dst, src]``); degree 0 -> 0."""
    a = dense_adjacency(g, w)
    deg = a.sum(1)
    pos = deg != 0
    dinv = torch.where(pos, torch.where(pos, deg, torch.ones_like(deg)).pow(-0.5), torch.zeros_like(deg))
    return (dinv.view(-1, 1) * a * dinv.view(1, -1)) @ x


def check_against_dense(op, dense, inputs, dtype, device="cpu", seed=0):
    """``op(*inputs)`` in ``dtype`` on ``device`` against ``dense(*inputs)`` in float64 on the CPU:
    the value and the gradient of every tensor input, for one random upstream gradient."""
    ref_in = [None if v is None else v.detach().to(f64).requires_grad_() for v in inputs]
    expected = dense(*ref_in)
    gy = torch.randn(expected.shape, dtype=f64, generator=gen(seed))
    leaves = [v for v in ref_in if v is not None]
    exp_grads = torch.autograd.grad(expected, leaves, gy, allow_unused=True)
    test_in = [None if v is None else v.detach().to(device, dtype).requires_grad_() for v in inputs]
    out = op(*test_in)
    got_grads = torch.autograd.grad(out, [v for v in test_in if v is not None], gy.to(device, dtype), allow_unused=True)
    assert out.dtype == dtype and out.device.type == device
    assert_close(out.detach().cpu(), expected.detach().to(dtype))
    for i, (got, exp) in enumerate(zip(got_grads, exp_grads)):
        got = torch.zeros_like(leaves[i], dtype=dtype) if got is None else got.cpu()
        exp = torch.zeros_like(leaves[i]) if exp is None else exp
        assert_close(got, exp.to(dtype), msg=lambda m: f"gradient of input {i}: {m}")


# ============================================================ (a) dense float64 oracle
XW_SHAPES = [  # (x shape after N, edge_weight shape after E); H = 3 for [N, H, F] x
    ((), None), ((), ()), ((), (1,)),
    ((4,), None), ((4,), ()), ((4,), (1,)),
    ((3, 2), None), ((3, 2), ()), ((3, 2), (1,)), ((3, 2), (3,)),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, f64])
@pytest.mark.parametrize("xshape, wshape", XW_SHAPES)
@pytest.mark.parametrize("reduce", REDUCES)
def test_spmm_matches_dense(reduce, xshape, wshape, dtype, device, backend):
    g = mixed_graph(1)
    x = tie_free((10,) + xshape, seed=2)
    w = None if wshape is None else positive_weights((27,) + wshape, seed=3)
    gd = g.to(device)
    check_against_dense(lambda x, w: ops.spmm(gd, x, w, reduce), lambda x, w: dense_spmm(g, x, w, reduce), [x, w], dtype, device)


@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("wshape", [None, (), (3,)])
def test_spmm_bipartite_matches_dense(reduce, wshape, backend):
    g = bipartite_graph(4)
    x = tie_free((8, 3, 2), seed=5)
    w = None if wshape is None else positive_weights((20,) + wshape, seed=6)
    out = ops.spmm(g, x, w, reduce)
    assert out.shape == (6, 3, 2)
    check_against_dense(lambda x, w: ops.spmm(g, x, w, reduce), lambda x, w: dense_spmm(g, x, w, reduce), [x, w], f64)


@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("needs", ["x", "w"])
def test_spmm_gradient_of_one_input_only(reduce, needs, backend):
    g = mixed_graph(7)
    x, w = tie_free((10, 3, 2), seed=8), positive_weights((27, 3), seed=9)
    xg, wg = x.clone().requires_grad_(needs == "x"), w.clone().requires_grad_(needs == "w")
    gy = torch.randn(10, 3, 2, dtype=f64, generator=gen(10))
    (got,) = torch.autograd.grad(ops.spmm(g, xg, wg, reduce), [xg if needs == "x" else wg], gy)
    xr, wr = x.clone().requires_grad_(), w.clone().requires_grad_()
    exp = torch.autograd.grad(dense_spmm(g, xr, wr, reduce), [xr if needs == "x" else wr], gy)[0]
    assert_close(got, exp)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, f64])
@pytest.mark.parametrize("mshape", [(), (4,), (3, 2)])
@pytest.mark.parametrize("reduce", REDUCES)
def test_segment_reduce_matches_dense(reduce, mshape, dtype, device, backend):
    g = mixed_graph(11)
    m = tie_free((27,) + mshape, seed=12)
    gd = g.to(device)

    def dense(m):
        return dense_segment(g, nhf(m), reduce).reshape((10,) + mshape)

    check_against_dense(lambda m: ops.segment_reduce(gd, m, reduce), dense, [m], dtype, device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, f64])
@pytest.mark.parametrize("op, shape", [("dot", (4,)), ("dot", (3, 2)), ("dot", (1, 5))]
                         + [(op, s) for op in ("add", "sub", "mul") for s in ((), (4,), (3, 2))])
@pytest.mark.parametrize("bipartite", [False, True])
def test_sddmm_matches_dense(op, shape, bipartite, dtype, device, backend):
    g = bipartite_graph(13) if bipartite else mixed_graph(13)
    xs = torch.randn((g.num_src_nodes,) + shape, dtype=f64, generator=gen(14))
    xd = torch.randn((g.num_nodes,) + shape, dtype=f64, generator=gen(15))
    gd = g.to(device)
    out = ops.sddmm(gd, xs.to(device, dtype), xd.to(device, dtype), op)
    expected_shape = {(4,): (g.num_edges,), (3, 2): (g.num_edges, 3), (1, 5): (g.num_edges, 1)}[shape] if op == "dot" \
        else (g.num_edges,) + shape
    assert out.shape == expected_shape
    check_against_dense(lambda a, b: ops.sddmm(gd, a, b, op), lambda a, b: dense_sddmm(g, a, b, op), [xs, xd], dtype, device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, f64])
@pytest.mark.parametrize("shape", [(27,), (27, 3)])
def test_edge_softmax_matches_dense(shape, dtype, device, backend):
    g = mixed_graph(16)
    s = torch.randn(shape, dtype=f64, generator=gen(17)) * 3
    gd = g.to(device)
    check_against_dense(lambda s: ops.edge_softmax(gd, s), lambda s: dense_edge_softmax(g, s), [s], dtype, device)
    assert ops.segment_softmax is ops.edge_softmax


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("side", ["src", "dst"])
@pytest.mark.parametrize("shape", [(), (4,), (3, 2)])
@pytest.mark.parametrize("bipartite", [False, True])
def test_gather_matches_dense(side, shape, bipartite, device):
    g = bipartite_graph(18) if bipartite else mixed_graph(18)
    rows, index = (g.num_src_nodes, g.src) if side == "src" else (g.num_nodes, g.dst)
    x = torch.randn((rows,) + shape, dtype=f64, generator=gen(19))
    gd = g.to(device)
    check_against_dense(lambda x: ops.gather(gd, x, side), lambda x: torch.einsum("er,r...->e...", onehot(index, rows), x),
                        [x], f64, device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, f64])
@pytest.mark.parametrize("self_loops", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_gcn_norm_matches_dense(weighted, self_loops, dtype, device, backend):
    g = mixed_graph(20)
    if self_loops:
        g = g.add_self_loops()
    x = torch.randn(10, 4, dtype=f64, generator=gen(21))
    w = positive_weights((g.num_edges,), seed=22) if weighted else None
    gd = g.to(device)

    def op(x, w):
        norm = ops.gcn_norm(gd, w, dtype=dtype)  # dtype applies when w is None
        assert norm.shape == (g.num_edges,) and norm.dtype == dtype
        return ops.spmm(gd, x, norm)

    check_against_dense(op, lambda x, w: dense_gcn_spmm(g, x, w), [x, w], dtype, device)


def test_gcn_norm_values_and_cache():
    g = mixed_graph(23).add_self_loops()
    w = ops.gcn_norm(g)
    deg = torch.bincount(g.dst, minlength=10).double()
    assert_close(w, (deg[g.src] * deg[g.dst]).rsqrt().float())
    assert ops.gcn_norm(g) is w  # cached on the immutable graph
    assert ops.gcn_norm(g, dtype=f64).dtype == f64 and ops.gcn_norm(g, dtype=f64) is not w


# ============================================================ (b) kernel vs reference
def kernel_graphs():
    """Layouts the kernels treat differently: a permuted CSR, the identity (eid None), trailing vertices
    without in-edges, a bipartite source side and zero edges."""
    unsorted = random_graph(60, 400, seed=30)
    base = random_graph(60, 400, seed=31)
    return {
        "unsorted": unsorted,
        "sorted": unsorted.sort_by_dst(),
        "isolated": Graph(base.src, base.dst, 75),
        "bipartite": random_graph(50, 300, seed=32, num_src_nodes=80),
        "no_edges": Graph([], [], 20),
    }


KERNEL_GRAPHS = list(kernel_graphs())


def impl(op, kind):
    return _dispatch.TABLE[(op, kind)]


@needs_kernels
@pytest.mark.parametrize("graph", KERNEL_GRAPHS)
@pytest.mark.parametrize("dtype", [torch.float32, f64])
@pytest.mark.parametrize("heads, hw", [(1, 0), (1, 1), (4, 1), (4, 4)])  # hw = 0: no edge weights
@pytest.mark.parametrize("reduce", REDUCES)
def test_kernel_spmm_equals_reference(reduce, heads, hw, dtype, graph):
    g = kernel_graphs()[graph]
    for f in (1, 37, 130):  # 37 and 130: whole register tiles plus ragged tails, for both dtypes
        x = torch.randn(g.num_src_nodes, heads, f, dtype=dtype, generator=gen(f))
        w = None if hw == 0 else torch.randn(g.num_edges, hw, dtype=dtype, generator=gen(f + 1))
        out_k, arg_k = impl("spmm", "cpu")(g, x, w, reduce)
        out_r, arg_r = impl("spmm", "reference")(g, x, w, reduce)
        assert out_k.shape == (g.num_nodes, heads, f) and out_k.dtype == dtype
        assert_close(out_k, out_r)
        if reduce in ("max", "min"):
            assert torch.equal(arg_k, arg_r), f"F={f}"
        else:
            assert arg_k is None and arg_r is None


@needs_kernels
@pytest.mark.parametrize("graph", KERNEL_GRAPHS)
@pytest.mark.parametrize("dtype", [torch.float32, f64])
@pytest.mark.parametrize("reduce", REDUCES)
def test_kernel_segment_reduce_equals_reference(reduce, dtype, graph):
    g = kernel_graphs()[graph]
    for h, f in ((1, 1), (3, 5), (2, 40)):
        m = torch.randn(g.num_edges, h, f, dtype=dtype, generator=gen(h * f))
        out_k, arg_k = impl("segment_reduce", "cpu")(g, m, reduce)
        out_r, arg_r = impl("segment_reduce", "reference")(g, m, reduce)
        assert_close(out_k, out_r)
        assert (arg_k is None and arg_r is None) if reduce in ("sum", "mean") else torch.equal(arg_k, arg_r)


@needs_kernels
@pytest.mark.parametrize("reduce", ["max", "min"])
@pytest.mark.parametrize("weighted", [False, True])
def test_kernel_max_min_ties_pick_the_same_edge_as_reference(reduce, weighted):
    # small integer values: most rows have ties, and both must pick the lowest edge id
    g = random_graph(30, 600, seed=33)
    x = torch.randint(-2, 3, (30, 2, 3), generator=gen(34)).to(f64)
    w = torch.randint(1, 3, (600, 2), generator=gen(35)).to(f64) if weighted else None
    out_k, arg_k = impl("spmm", "cpu")(g, x, w, reduce)
    out_r, arg_r = impl("spmm", "reference")(g, x, w, reduce)
    assert torch.equal(out_k, out_r) and torch.equal(arg_k, arg_r)
    m = torch.randint(-1, 2, (600, 2, 3), generator=gen(36)).to(torch.float32)
    assert all(torch.equal(a, b) for a, b in zip(impl("segment_reduce", "cpu")(g, m, reduce),
                                                 impl("segment_reduce", "reference")(g, m, reduce)))


@needs_kernels
@pytest.mark.parametrize("graph", KERNEL_GRAPHS)
@pytest.mark.parametrize("dtype", [torch.float32, f64])
def test_kernel_sddmm_and_softmax_equal_reference(dtype, graph):
    g = kernel_graphs()[graph]
    for h, f in ((1, 1), (3, 20), (2, 70)):
        a = torch.randn(g.num_src_nodes, h, f, dtype=dtype, generator=gen(h))
        b = torch.randn(g.num_nodes, h, f, dtype=dtype, generator=gen(f))
        assert_close(impl("sddmm_dot", "cpu")(g, a, b), impl("sddmm_dot", "reference")(g, a, b))
        s = torch.randn(g.num_edges, h, dtype=dtype, generator=gen(h + f)) * 5
        dy = torch.randn(g.num_edges, h, dtype=dtype, generator=gen(100 * h + f))
        y = impl("segment_softmax", "cpu")(g, s)
        assert_close(y, impl("segment_softmax", "reference")(g, s))
        assert_close(impl("segment_softmax_backward", "cpu")(g, y, dy), impl("segment_softmax_backward", "reference")(g, y, dy))


@needs_kernels
def test_kernel_softmax_of_all_minus_inf_row_equals_reference():
    g = Graph([0, 1, 2, 0], [1, 1, 2, 0], 3)
    s = torch.tensor([[float("-inf")], [float("-inf")], [0.0], [float("-inf")]], dtype=f64)
    y = impl("segment_softmax", "cpu")(g, s)
    assert torch.equal(y, impl("segment_softmax", "reference")(g, s))
    assert y.view(-1).tolist() == [0.0, 0.0, 1.0, 0.0]


@needs_kernels
def test_kernel_high_degree_row_equals_reference():
    # one destination with 5000 in-edges (the prefetch distance and thread chunks span rows)
    g = Graph(torch.arange(5000) % 300, torch.cat([torch.zeros(4990, dtype=torch.int64), torch.arange(1, 11)]), 300)
    x = torch.randn(300, 1, 300, dtype=f64, generator=gen(37))
    w = torch.randn(5000, 1, dtype=f64, generator=gen(38))
    for reduce in REDUCES:
        out_k, arg_k = impl("spmm", "cpu")(g, x, w, reduce)
        out_r, arg_r = impl("spmm", "reference")(g, x, w, reduce)
        assert_close(out_k, out_r)
        assert arg_k is None or torch.equal(arg_k, arg_r)
    assert_close(impl("sddmm_dot", "cpu")(g, x, x), impl("sddmm_dot", "reference")(g, x, x))


@needs_kernels
def test_dispatch_routes_by_dtype():
    x = torch.zeros(2, 1, 1)
    assert _dispatch.backend("spmm", x) == "cpu" and _dispatch.backend("spmm", x.double()) == "cpu"
    assert _dispatch.backend("spmm", x.half()) == "reference" and _dispatch.backend("spmm", x.bfloat16()) == "cpu"
    assert _dispatch.lookup("spmm", x.half()) is reference.spmm


def test_reference_handles_dtypes_without_kernels():
    g = mixed_graph(39)
    x = torch.randint(-8, 9, (10, 4), generator=gen(40)).double()  # small integers: bfloat16 sums are exact
    for reduce in REDUCES:
        out = ops.spmm(g, x.to(torch.bfloat16), reduce=reduce)
        assert out.dtype == torch.bfloat16
        assert_close(out, dense_spmm(g, x.double(), None, reduce).to(torch.bfloat16))


# ============================================================ (c) gradcheck
def gradcheck(fn, *inputs):
    assert torch.autograd.gradcheck(fn, inputs)


@pytest.mark.parametrize("wshape", [None, (), (1,), (2,)])
@pytest.mark.parametrize("reduce", REDUCES)
def test_spmm_gradcheck(reduce, wshape, backend):
    g = random_graph(6, 16, seed=41)
    x = tie_free((6, 2, 3), seed=42).requires_grad_()
    if wshape is None:
        gradcheck(lambda x: ops.spmm(g, x, None, reduce), x)
    else:
        w = positive_weights((16,) + wshape, seed=43).requires_grad_()
        gradcheck(lambda x, w: ops.spmm(g, x, w, reduce), x, w)


@pytest.mark.parametrize("reduce", REDUCES)
def test_spmm_gradcheck_1d_and_bipartite(reduce, backend):
    g = random_graph(6, 16, seed=44)
    gradcheck(lambda x, w: ops.spmm(g, x, w, reduce), tie_free((6,), seed=45).requires_grad_(),
              positive_weights((16,), seed=46).requires_grad_())
    b = random_graph(4, 14, seed=47, num_src_nodes=7)
    gradcheck(lambda x, w: ops.spmm(b, x, w, reduce), tie_free((7, 3), seed=48).requires_grad_(),
              positive_weights((14,), seed=49).requires_grad_())


@pytest.mark.parametrize("mshape", [(), (3,), (2, 3)])
@pytest.mark.parametrize("reduce", REDUCES)
def test_segment_reduce_gradcheck(reduce, mshape, backend):
    g = random_graph(6, 16, seed=50)
    gradcheck(lambda m: ops.segment_reduce(g, m, reduce), tie_free((16,) + mshape, seed=51).requires_grad_())


@pytest.mark.parametrize("shape", [(), (3,), (2, 3)])
@pytest.mark.parametrize("op", ["dot", "add", "sub", "mul"])
def test_sddmm_gradcheck(op, shape, backend):
    if op == "dot" and shape == ():
        pytest.skip("dot needs [N, F] or [N, H, F]; the rejection is tested in test_bad_input_is_rejected")
    g = random_graph(6, 16, seed=52, num_src_nodes=5)
    xs = torch.randn((5,) + shape, dtype=f64, generator=gen(53)).requires_grad_()
    xd = torch.randn((6,) + shape, dtype=f64, generator=gen(54)).requires_grad_()
    gradcheck(lambda a, b: ops.sddmm(g, a, b, op), xs, xd)


@pytest.mark.parametrize("shape", [(16,), (16, 3)])
def test_edge_softmax_gradcheck(shape, backend):
    g = random_graph(6, 16, seed=55)
    gradcheck(lambda s: ops.edge_softmax(g, s), torch.randn(shape, dtype=f64, generator=gen(56)).requires_grad_())


@pytest.mark.parametrize("side", ["src", "dst"])
def test_gather_gradcheck(side):
    g = random_graph(6, 16, seed=57)
    gradcheck(lambda x: ops.gather(g, x, side), torch.randn(6, 3, dtype=f64, generator=gen(58)).requires_grad_())


def test_gcn_norm_gradcheck():
    g = random_graph(6, 16, seed=59)  # some vertices have no in-edges: their weight stays 0
    gradcheck(lambda w: ops.gcn_norm(g, w), positive_weights((16,), seed=60).requires_grad_())


# ============================================================ (d) hand-computed cases
def hand_graph():
    """0->1 (w 2), 0->1 again (w 3), 1->1 self-loop (w 1), 2->0 (w -1); vertices 2 and 3 get no in-edges,
    vertex 3 has no edges at all."""
    g = Graph([0, 0, 1, 2], [1, 1, 1, 0], 4)
    x = torch.tensor([[1.0, -2.0], [10.0, 4.0], [3.0, 0.5], [7.0, 7.0]], dtype=f64)
    w = torch.tensor([2.0, 3.0, 1.0, -1.0], dtype=f64)
    return g, x, w


# Messages w*x[src]: e0 [2, -4], e1 [3, -6], e2 [10, 4], e3 [-3, -0.5].
SPMM_TABLE = {
    # reduce: (output, d sum(out) / dx, d sum(out) / dw)
    "sum": ([[-3.0, -0.5], [15.0, -6.0], [0, 0], [0, 0]],
            [[5.0, 5.0], [1.0, 1.0], [-1.0, -1.0], [0, 0]],
            [-1.0, -1.0, 14.0, 3.5]),
    "mean": ([[-3.0, -0.5], [5.0, -2.0], [0, 0], [0, 0]],
             [[5 / 3, 5 / 3], [1 / 3, 1 / 3], [-1.0, -1.0], [0, 0]],
             [-1 / 3, -1 / 3, 14 / 3, 3.5]),
    "max": ([[-3.0, -0.5], [10.0, 4.0], [0, 0], [0, 0]],  # vertex 1: the self-loop wins both columns
            [[0, 0], [1.0, 1.0], [-1.0, -1.0], [0, 0]],
            [0, 0, 14.0, 3.5]),
    "min": ([[-3.0, -0.5], [2.0, -6.0], [0, 0], [0, 0]],  # vertex 1: column 0 from e0, column 1 from the duplicate e1
            [[2.0, 3.0], [0, 0], [-1.0, -1.0], [0, 0]],
            [1.0, -2.0, 0, 3.5]),
}


@pytest.mark.parametrize("reduce", REDUCES)
def test_spmm_hand_computed(reduce, backend):
    g, x, w = hand_graph()
    out_expected, gx_expected, gw_expected = SPMM_TABLE[reduce]
    x, w = x.requires_grad_(), w.requires_grad_()
    out = ops.spmm(g, x, w, reduce)
    assert_close(out, torch.tensor(out_expected, dtype=f64))
    gx, gw = torch.autograd.grad(out.sum(), (x, w))
    assert_close(gx, torch.tensor(gx_expected, dtype=f64))
    assert_close(gw, torch.tensor(gw_expected, dtype=f64))


@pytest.mark.parametrize("reduce", REDUCES)
def test_spmm_and_segment_reduce_rows_without_in_edges_have_zero_gradient(reduce, backend):
    g, x, w = hand_graph()
    x, w = x.requires_grad_(), w.requires_grad_()
    dy = torch.zeros(4, 2, dtype=f64)
    dy[2:] = 1.0  # only the rows of vertices 2 and 3 (no in-edges) receive a gradient
    gx, gw = torch.autograd.grad(ops.spmm(g, x, w, reduce), (x, w), dy)
    assert torch.equal(gx, torch.zeros_like(x)) and torch.equal(gw, torch.zeros_like(w))
    m = torch.randn(4, 2, dtype=f64, generator=gen(61)).requires_grad_()
    out = ops.segment_reduce(g, m, reduce)
    assert torch.equal(out[2:], torch.zeros(2, 2, dtype=f64))
    (gm,) = torch.autograd.grad(out, m, dy)
    assert torch.equal(gm, torch.zeros_like(m))


@pytest.mark.parametrize("reduce, out_expected, gm_expected", [
    # m = [2, -1, 5, 4] on edges into [1, 1, 1, 0]
    ("sum", [4.0, 6.0, 0, 0], [1.0, 1.0, 1.0, 1.0]),
    ("mean", [4.0, 2.0, 0, 0], [1 / 3, 1 / 3, 1 / 3, 1.0]),
    ("max", [4.0, 5.0, 0, 0], [0, 0, 1.0, 1.0]),
    ("min", [4.0, -1.0, 0, 0], [0, 1.0, 0, 1.0]),
])
def test_segment_reduce_hand_computed(reduce, out_expected, gm_expected, backend):
    g, _, _ = hand_graph()
    m = torch.tensor([2.0, -1.0, 5.0, 4.0], dtype=f64, requires_grad=True)
    out = ops.segment_reduce(g, m, reduce)
    assert_close(out, torch.tensor(out_expected, dtype=f64))
    assert_close(torch.autograd.grad(out.sum(), m)[0], torch.tensor(gm_expected, dtype=f64))


def test_edge_softmax_hand_computed(backend):
    g, _, _ = hand_graph()
    s = torch.tensor([2.0, 2.0, 2.0 + math.log(2.0), 7.0], dtype=f64, requires_grad=True)
    y = ops.edge_softmax(g, s)
    assert_close(y, torch.tensor([0.25, 0.25, 0.5, 1.0], dtype=f64))  # the duplicate edge counts twice
    # d <y, c> / ds = y * (c - sum_row(y * c)); row 1: sum = 0.25 + 0.5 + 1.5 = 2.25
    (gs,) = torch.autograd.grad(y, s, torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=f64))
    assert_close(gs, torch.tensor([-0.3125, -0.0625, 0.375, 0.0], dtype=f64))


def test_edge_softmax_all_minus_inf_row_gives_zero_weights(backend):
    g = Graph([0, 1, 2], [1, 1, 2], 3)
    s = torch.tensor([float("-inf"), float("-inf"), 0.0], dtype=f64, requires_grad=True)
    y = ops.edge_softmax(g, s)
    assert y.tolist() == [0.0, 0.0, 1.0]
    (gs,) = torch.autograd.grad(y, s, torch.ones(3, dtype=f64))
    assert gs.tolist() == [0.0, 0.0, 0.0]


def test_sddmm_hand_computed(backend):
    g, x, _ = hand_graph()
    xs, xd = x.clone().requires_grad_(), (x * 2).requires_grad_()
    # <x[src], 2 x[dst]>: e0, e1: 2 * (10 - 8) = 4; e2: 2 * (100 + 16) = 232; e3: 2 * (3 - 1) = 4
    out = ops.sddmm(g, xs, xd)
    assert_close(out, torch.tensor([4.0, 4.0, 232.0, 4.0], dtype=f64))
    gs, gd = torch.autograd.grad(out.sum(), (xs, xd))
    # d/dxs[u] = sum over out-edges of 2 x[dst]; d/dxd[v] = sum over in-edges of x[src]
    assert_close(gs, torch.tensor([[40.0, 16.0], [20.0, 8.0], [2.0, -4.0], [0, 0]], dtype=f64))
    assert_close(gd, torch.tensor([[3.0, 0.5], [12.0, 0.0], [0, 0], [0, 0]], dtype=f64))
    assert_close(ops.sddmm(g, x, x, "sub"), torch.tensor([[-9.0, -6.0], [-9.0, -6.0], [0, 0], [2.0, 2.5]], dtype=f64))
    assert_close(ops.sddmm(g, x, x, "mul")[3], torch.tensor([3.0, -1.0], dtype=f64))


def test_gather_hand_computed():
    g, x, _ = hand_graph()
    assert ops.gather(g, x).tolist() == [[1.0, -2.0], [1.0, -2.0], [10.0, 4.0], [3.0, 0.5]]
    assert ops.gather(g, x, "dst").tolist() == [[10.0, 4.0], [10.0, 4.0], [10.0, 4.0], [1.0, -2.0]]


def test_gcn_norm_hand_computed():
    g, _, _ = hand_graph()
    # unweighted in-degrees [1, 3, 0, 0]: 1/sqrt(1*3) for 0->1, 1/3 for 1->1, 0 for 2->0 (vertex 2 has degree 0)
    assert_close(ops.gcn_norm(g, dtype=f64), torch.tensor([1 / math.sqrt(3), 1 / math.sqrt(3), 1 / 3, 0.0], dtype=f64))
    # weights [2, 3, 1, 4]: weighted in-degrees [4, 6, 0, 0]
    w = torch.tensor([2.0, 3.0, 1.0, 4.0], dtype=f64, requires_grad=True)
    norm = ops.gcn_norm(g, w)
    assert_close(norm, torch.tensor([2 / math.sqrt(24), 3 / math.sqrt(24), 1 / 6, 0.0], dtype=f64))


def test_gcn_norm_degree_zero_has_zero_not_nan_gradient(backend):
    # both edges weigh 0, so vertex 1 has weighted degree 0: its weights are 0, and so is their gradient
    g = Graph([0, 1], [1, 1], 2)
    w = torch.zeros(2, dtype=f64, requires_grad=True)
    norm = ops.gcn_norm(g, w)
    (gw,) = torch.autograd.grad(norm.sum(), w)
    assert norm.tolist() == [0.0, 0.0] and gw.tolist() == [0.0, 0.0]


@pytest.mark.parametrize("num_nodes", [0, 3])
def test_zero_edges(num_nodes, backend):
    g = Graph([], [], num_nodes)
    x = torch.randn(num_nodes, 2, dtype=f64, generator=gen(62)).requires_grad_()
    w = torch.zeros(0, dtype=f64, requires_grad=True)
    for reduce in REDUCES:
        out = ops.spmm(g, x, w, reduce)
        assert torch.equal(out, torch.zeros(num_nodes, 2, dtype=f64))
        gx, gw = torch.autograd.grad(out, (x, w), torch.ones_like(out))
        assert torch.equal(gx, torch.zeros_like(x)) and gw.shape == (0,)
        m = torch.zeros(0, 2, 3, dtype=f64, requires_grad=True)
        assert torch.equal(ops.segment_reduce(g, m, reduce), torch.zeros(num_nodes, 2, 3, dtype=f64))
    assert ops.edge_softmax(g, torch.zeros(0, dtype=f64)).shape == (0,)
    assert ops.edge_softmax(g, torch.zeros(0, 4, dtype=f64)).shape == (0, 4)
    assert ops.sddmm(g, x, x).shape == (0,) and ops.sddmm(g, x, x, "add").shape == (0, 2)
    assert ops.gather(g, x).shape == (0, 2) and ops.gcn_norm(g).shape == (0,)


# ============================================================ (e) non-contiguous inputs
def noncontig(v, how):
    """A non-contiguous tensor equal to ``v``: transposed storage, or every other element."""
    if how == "transposed":
        out = v.movedim(0, -1).contiguous().movedim(-1, 0) if v.dim() > 1 else v
    else:
        out = torch.stack([v, torch.full_like(v, float("nan"))], -1)[..., 0]  # stride 2 in the last dim
    if how == "strided" or (v.dim() > 1 and min(v.shape) > 1):  # a transposed [E, 1] is still contiguous
        assert not out.is_contiguous()
    assert torch.equal(out, v)
    return out


def check_noncontig(op, inputs, how, seed=0):
    """Same value and gradients for non-contiguous inputs and a non-contiguous upstream gradient."""
    dense_in = [None if v is None else v.clone().requires_grad_() for v in inputs]
    out = op(*dense_in)
    gy = torch.randn(out.shape, dtype=out.dtype, generator=gen(seed))
    grads = torch.autograd.grad(out, [v for v in dense_in if v is not None], gy)
    nc_in = [None if v is None else noncontig(v.clone(), how).requires_grad_() for v in inputs]
    nc_out = op(*nc_in)
    nc_grads = torch.autograd.grad(nc_out, [v for v in nc_in if v is not None], noncontig(gy, how))
    assert_close(nc_out, out)
    for a, b in zip(nc_grads, grads):
        assert_close(a, b)


@pytest.mark.parametrize("how", ["transposed", "strided"])
@pytest.mark.parametrize("xshape, wshape", [((4,), ()), ((3, 2), (3,)), ((3, 2), (1,))])
@pytest.mark.parametrize("reduce", REDUCES)
def test_spmm_non_contiguous(reduce, xshape, wshape, how, backend):
    g = mixed_graph(63)
    x, w = tie_free((10,) + xshape, seed=64), positive_weights((27,) + wshape, seed=65)
    check_noncontig(lambda x, w: ops.spmm(g, x, w, reduce), [x, w], how)


@pytest.mark.parametrize("how", ["transposed", "strided"])
@pytest.mark.parametrize("reduce", REDUCES)
def test_segment_reduce_non_contiguous(reduce, how, backend):
    check_noncontig(lambda m: ops.segment_reduce(mixed_graph(66), m, reduce), [tie_free((27, 3, 2), seed=67)], how)


@pytest.mark.parametrize("how", ["transposed", "strided"])
@pytest.mark.parametrize("op", ["dot", "add", "sub", "mul"])
def test_sddmm_non_contiguous(op, how, backend):
    xs, xd = torch.randn(10, 3, 4, dtype=f64, generator=gen(68)), torch.randn(10, 3, 4, dtype=f64, generator=gen(69))
    check_noncontig(lambda a, b: ops.sddmm(mixed_graph(70), a, b, op), [xs, xd], how)


@pytest.mark.parametrize("how", ["transposed", "strided"])
def test_edge_softmax_gather_and_gcn_norm_non_contiguous(how, backend):
    g = mixed_graph(71)
    check_noncontig(lambda s: ops.edge_softmax(g, s), [torch.randn(27, 3, dtype=f64, generator=gen(72))], how)
    check_noncontig(lambda s: ops.edge_softmax(g, s), [torch.randn(27, dtype=f64, generator=gen(73))], "strided")
    check_noncontig(lambda x: ops.gather(g, x, "dst"), [torch.randn(10, 3, dtype=f64, generator=gen(74))], how)
    check_noncontig(lambda w: ops.gcn_norm(g, w), [positive_weights((27,), seed=75)], "strided")


# ============================================================ numerical stability
@pytest.mark.parametrize("dtype", [torch.float32, f64])
def test_edge_softmax_is_stable_for_huge_scores(dtype, backend):
    g = Graph([0, 1, 2, 0, 1], [2, 2, 2, 1, 0], 3)
    s = torch.tensor([[1e4, -1e4], [1e4 - 1.0, -1e4 - 1.0], [-1e4, 1e4], [1e4, -1e4], [-1e4, 1e4]], dtype=dtype,
                     requires_grad=True)
    y = ops.edge_softmax(g, s)  # exp(1e4) overflows both dtypes: only the max-shift keeps this finite
    p = 1 / (1 + math.exp(-1.0))  # vertex 2, column 0: scores 1e4 and 1e4 - 1 share the mass, -1e4 gets none
    expected = [[p, 0.0], [1 - p, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, 1.0]]
    assert_close(y, torch.tensor(expected, dtype=dtype))
    assert_close(ops.edge_softmax(g, s[:, 0]), y[:, 0])
    (gs,) = torch.autograd.grad(y, s, torch.arange(10, dtype=dtype).view(5, 2))
    assert torch.isfinite(gs).all()
    # column 0, vertex 2: y = [p, 1 - p, 0] with c = [0, 2, 4]: grad = y * (c - (2 - 2p))
    assert_close(gs[:3, 0], torch.tensor([p * (2 * p - 2), (1 - p) * 2 * p, 0.0], dtype=dtype))


# ============================================================ permutation properties
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("reduce", REDUCES)
def test_spmm_is_invariant_to_edge_permutation(reduce, seed, backend):
    g = random_graph(15, 60, seed=76 + seed)
    x, w = tie_free((15, 2, 3), seed=seed), positive_weights((60, 2), seed=seed)
    gy = torch.randn(15, 2, 3, dtype=f64, generator=gen(seed))
    pe = torch.randperm(60, generator=gen(100 + seed))
    xa, wa = x.clone().requires_grad_(), w.clone().requires_grad_()
    out = ops.spmm(g, xa, wa, reduce)
    gxa, gwa = torch.autograd.grad(out, (xa, wa), gy)
    xb, wb = x.clone().requires_grad_(), w[pe].clone().requires_grad_()
    out_p = ops.spmm(Graph(g.src[pe], g.dst[pe], 15), xb, wb, reduce)
    gxb, gwb = torch.autograd.grad(out_p, (xb, wb), gy)
    assert_close(out_p, out)
    assert_close(gxb, gxa)
    assert_close(gwb, gwa[pe])  # each weight's gradient moves with its edge


def test_segment_reduce_and_edge_softmax_are_edge_permutation_invariant(backend):
    g = random_graph(12, 50, seed=79)
    pe = torch.randperm(50, generator=gen(80))
    gp = Graph(g.src[pe], g.dst[pe], 12)
    m = tie_free((50, 3), seed=81)
    for reduce in REDUCES:
        assert_close(ops.segment_reduce(gp, m[pe], reduce), ops.segment_reduce(g, m, reduce))
    s = torch.randn(50, 2, dtype=f64, generator=gen(82))
    assert_close(ops.edge_softmax(gp, s[pe]), ops.edge_softmax(g, s)[pe])


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("reduce", REDUCES)
def test_spmm_is_equivariant_to_node_permutation(reduce, seed, backend):
    g = random_graph(15, 60, seed=83 + seed)
    x, w = tie_free((15, 2, 3), seed=seed), positive_weights((60, 2), seed=seed)
    gy = torch.randn(15, 2, 3, dtype=f64, generator=gen(seed))
    # new vertex j is old vertex p[j], so an old id i becomes inv[i]
    p = torch.randperm(15, generator=gen(200 + seed))
    inv = torch.argsort(p)
    gp = Graph(inv[g.src], inv[g.dst], 15)
    xa = x.clone().requires_grad_()
    out = ops.spmm(g, xa, w, reduce)
    (gxa,) = torch.autograd.grad(out, xa, gy)
    xb = x[p].clone().requires_grad_()
    out_p = ops.spmm(gp, xb, w, reduce)
    (gxb,) = torch.autograd.grad(out_p, xb, gy[p])
    assert_close(out_p, out[p])
    assert_close(gxb, gxa[p])


def test_edge_softmax_and_sddmm_are_equivariant_to_node_permutation(backend):
    g = random_graph(12, 50, seed=86)
    p = torch.randperm(12, generator=gen(87))
    gp = Graph(torch.argsort(p)[g.src], torch.argsort(p)[g.dst], 12)  # edge order unchanged
    s = torch.randn(50, 2, dtype=f64, generator=gen(88))
    assert_close(ops.edge_softmax(gp, s), ops.edge_softmax(g, s))
    x = torch.randn(12, 2, 4, dtype=f64, generator=gen(89))
    assert_close(ops.sddmm(gp, x[p], x[p]), ops.sddmm(g, x, x))


# ============================================================ bad input
META = "meta"  # a second device on every machine: tensors there carry shapes but no data


@pytest.mark.parametrize("call, error, match", [
    # the graph argument
    (lambda g, x: ops.spmm("g", x), TypeError, "g must be a gnnkit.Graph, got str"),
    (lambda g, x: ops.segment_reduce(None, x), TypeError, "g must be a gnnkit.Graph, got NoneType"),
    (lambda g, x: ops.sddmm(g.edge_index, x, x), TypeError, "g must be a gnnkit.Graph, got Tensor"),
    (lambda g, x: ops.edge_softmax((g.src, g.dst), x), TypeError, "g must be a gnnkit.Graph, got tuple"),
    (lambda g, x: ops.gather(0, x), TypeError, "g must be a gnnkit.Graph, got int"),
    (lambda g, x: ops.gcn_norm([g]), TypeError, "g must be a gnnkit.Graph, got list"),
    # spmm
    (lambda g, x: ops.spmm(g, x, reduce="prod"), ValueError, r"reduce must be one of \('sum', 'mean', 'max', 'min'\), got 'prod'"),
    (lambda g, x: ops.spmm(g, [1.0]), TypeError, "x must be a torch.Tensor, got list"),
    (lambda g, x: ops.spmm(g, x.long()), TypeError, "x must be a floating-point tensor, got dtype torch.int64; cast with .float()"),
    (lambda g, x: ops.spmm(g, x.to(META)), ValueError, "x is on meta but the graph is on cpu; move one with .to"),
    (lambda g, x: ops.spmm(g, x[:3]), ValueError, r"x must have shape \[N\], \[N, F\] or \[N, H, F\] with N = num_nodes = 5, got \(3, 2\)"),
    (lambda g, x: ops.spmm(g, x.view(5, 1, 1, 2)), ValueError, r"x must have shape .* got \(5, 1, 1, 2\)"),
    (lambda g, x: ops.spmm(g, torch.tensor(1.0)), ValueError, r"x must have shape .* got \(\)"),
    (lambda g, x: ops.spmm(Graph([0], [0], 2, num_src_nodes=3), x), ValueError, r"N = num_src_nodes = 3, got \(5, 2\)"),
    (lambda g, x: ops.spmm(g, x, [1.0] * 6), TypeError, "edge_weight must be a torch.Tensor, got list"),
    (lambda g, x: ops.spmm(g, x, torch.ones(6, dtype=torch.long)), TypeError, "edge_weight must be a floating-point tensor"),
    (lambda g, x: ops.spmm(g, x, torch.ones(6, device=META)), ValueError, "edge_weight is on meta but the graph is on cpu"),
    (lambda g, x: ops.spmm(g, x, torch.ones(3)), ValueError,
     r"edge_weight must have shape \[E\], \[E, 1\] or \[E, H\] with E = 6 and H = 1 .* got \(3,\)"),
    (lambda g, x: ops.spmm(g, x, torch.ones(6, 2)), ValueError, r"with E = 6 and H = 1 .* got \(6, 2\)"),
    (lambda g, x: ops.spmm(g, x.view(5, 2, 1), torch.ones(6, 3)), ValueError, r"with E = 6 and H = 2 .* got \(6, 3\)"),
    (lambda g, x: ops.spmm(g, x, torch.ones(6, 1, 1)), ValueError, r"edge_weight must have shape .* got \(6, 1, 1\)"),
    (lambda g, x: ops.spmm(g, x, torch.ones(6, dtype=f64)), TypeError, "edge_weight dtype torch.float64 differs from x dtype torch.float32"),
    # segment_reduce
    (lambda g, x: ops.segment_reduce(g, torch.ones(6), reduce="any"), ValueError, "reduce must be one of .* got 'any'"),
    (lambda g, x: ops.segment_reduce(g, torch.ones(6, dtype=torch.int32)), TypeError, "m must be a floating-point tensor"),
    (lambda g, x: ops.segment_reduce(g, "m"), TypeError, "m must be a torch.Tensor, got str"),
    (lambda g, x: ops.segment_reduce(g, torch.ones(6, device=META)), ValueError, "m is on meta but the graph is on cpu"),
    (lambda g, x: ops.segment_reduce(g, x), ValueError, r"m must have shape \[E\], \[E, F\] or \[E, H, F\] with E = num_edges = 6, got \(5, 2\)"),
    (lambda g, x: ops.segment_reduce(g, torch.ones(6, 1, 1, 1)), ValueError, r"m must have shape .* got \(6, 1, 1, 1\)"),
    # sddmm
    (lambda g, x: ops.sddmm(g, x, x, op="div"), ValueError, "op must be 'dot', 'add', 'sub' or 'mul', got 'div'"),
    (lambda g, x: ops.sddmm(g, x.long(), x), TypeError, "x_src must be a floating-point tensor"),
    (lambda g, x: ops.sddmm(g, x, x.long()), TypeError, "x_dst must be a floating-point tensor"),
    (lambda g, x: ops.sddmm(g, x, None), TypeError, "x_dst must be a torch.Tensor, got NoneType"),
    (lambda g, x: ops.sddmm(g, x, x[:, :1]), ValueError, r"same feature shape, got \(5, 2\) and \(5, 1\)"),
    (lambda g, x: ops.sddmm(g, x[:2], x[:2], op="add"), ValueError, r"x_src must have 5 rows \(its side of the graph\), got \(2, 2\)"),
    (lambda g, x: ops.sddmm(g, x, x[:2], op="mul"), ValueError, r"x_dst must have 5 rows"),
    (lambda g, x: ops.sddmm(g, x.to(META), x, op="sub"), ValueError, "x_src is on meta but the graph is on cpu"),
    (lambda g, x: ops.sddmm(g, x[:, 0], x[:, 0]), ValueError, r"sddmm dot needs x_src \[N, F\] or \[N, H, F\], got \(5,\)"),
    (lambda g, x: ops.sddmm(g, x.view(5, 1, 1, 2), x.view(5, 1, 1, 2)), ValueError, r"sddmm dot needs x_src .* got \(5, 1, 1, 2\)"),
    (lambda g, x: ops.sddmm(g, x, x.double()), TypeError, "x_src dtype torch.float32 differs from x_dst dtype torch.float64"),
    (lambda g, x: ops.sddmm(g, x[:3], x[:3]), ValueError, r"x_src must have shape .* N = num_nodes = 5, got \(3, 2\)"),
    (lambda g, x: ops.sddmm(g, x, x.to(META)), ValueError, "x_dst is on meta but the graph is on cpu"),
    # edge_softmax
    (lambda g, x: ops.edge_softmax(g, torch.zeros(6, dtype=torch.long)), TypeError, "score must be a floating-point tensor"),
    (lambda g, x: ops.edge_softmax(g, torch.zeros(6, device=META)), ValueError, "score is on meta but the graph is on cpu"),
    (lambda g, x: ops.edge_softmax(g, torch.zeros(4)), ValueError, r"score must have shape \[E\] or \[E, H\] with E = 6, got \(4,\)"),
    (lambda g, x: ops.edge_softmax(g, torch.zeros(6, 2, 1)), ValueError, r"score must have shape .* got \(6, 2, 1\)"),
    # gather
    (lambda g, x: ops.gather(g, x, side="mid"), ValueError, "side must be 'src' or 'dst', got 'mid'"),
    (lambda g, x: ops.gather(g, x.tolist()), TypeError, "x must be a torch.Tensor, got list"),
    (lambda g, x: ops.gather(g, x[:2]), ValueError, r"x must have 5 rows \(the src side of the graph\), got \(2, 2\)"),
    (lambda g, x: ops.gather(Graph([0], [0], 2, num_src_nodes=3), x[:2], "src"), ValueError, "x must have 3 rows"),
    (lambda g, x: ops.gather(g, x.to(META)), ValueError, "x is on meta but the graph is on cpu"),
    # gcn_norm
    (lambda g, x: ops.gcn_norm(g, torch.ones(2)), ValueError, r"edge_weight must have shape \[E=6\], got \(2,\)"),
    (lambda g, x: ops.gcn_norm(g, torch.ones(6, 1)), ValueError, r"edge_weight must have shape \[E=6\], got \(6, 1\)"),
    (lambda g, x: ops.gcn_norm(g, torch.ones(6, dtype=torch.long)), TypeError, "edge_weight must be a floating-point tensor"),
    (lambda g, x: ops.gcn_norm(g, torch.ones(6, device=META)), ValueError, "edge_weight is on meta but the graph is on cpu"),
    (lambda g, x: ops.gcn_norm(Graph([0], [0], 1, num_src_nodes=2)), ValueError, "gcn_norm needs one vertex set"),
])
def test_bad_input_is_rejected(call, error, match):
    g = random_graph(5, 6, seed=90)
    with pytest.raises(error, match=match):
        call(g, torch.randn(5, 2, generator=gen(91)))


# ============================================================ no compiled kernels
_PROBE = """
import json, warnings, torch
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from gnnkit import Graph, ops
    from gnnkit.ops import _dispatch
    g = Graph({src}, {dst}, {n})
    x = torch.tensor({x}, dtype=torch.float64)
    w = torch.tensor({w}, dtype=torch.float64)
    out = {{r: ops.spmm(g, x, w, r).tolist() for r in ("sum", "mean", "max", "min")}}
json.dump({{
    "has_kernels": _dispatch.HAS_KERNELS,
    "kernel_error": _dispatch.KERNEL_ERROR,
    "cpu_entries": sorted(op for op, kind in _dispatch.TABLE if kind == "cpu"),
    "warnings": [[c.category.__name__, str(c.message)] for c in caught if issubclass(c.category, RuntimeWarning)],
    "out": out,
}}, __import__("sys").stdout)
"""


def run_probe(env_changes, tmp_path):
    g = random_graph(12, 40, seed=92)
    x = torch.randn(12, 3, dtype=f64, generator=gen(93))
    w = positive_weights((40,), seed=94)
    code = _PROBE.format(src=g.src.tolist(), dst=g.dst.tolist(), n=12, x=x.tolist(), w=w.tolist())
    env = dict(os.environ)
    env.pop("GNNKIT_DISABLE_KERNELS", None)
    env.update({k: str(tmp_path / "cache") if v is None else v for k, v in env_changes.items()})
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    for reduce in REDUCES:  # the same numbers as this process (kernels here, where they were built)
        assert_close(torch.tensor(result["out"][reduce], dtype=f64), ops.spmm(g, x, w, reduce), msg=reduce)
    assert result["has_kernels"] is False and result["cpu_entries"] == []
    return result


def test_disabled_kernels_use_the_reference_path(tmp_path):
    result = run_probe({"GNNKIT_DISABLE_KERNELS": "1"}, tmp_path)
    assert result["kernel_error"] == "disabled by GNNKIT_DISABLE_KERNELS=1"
    # an explicit opt-out is not a failure: _dispatch warns only when the kernels could not be built
    assert result["warnings"] == []


def test_missing_compiler_warns_and_uses_the_reference_path(tmp_path):
    # no compiler on PATH, none in $CXX, and an empty build cache: the kernels cannot be built
    result = run_probe({"PATH": "", "CXX": "", "GNNKIT_CACHE_DIR": None}, tmp_path)
    assert "no C++ compiler found" in result["kernel_error"]
    assert len(result["warnings"]) == 1
    category, message = result["warnings"][0]
    assert category == "RuntimeWarning"
    assert "pure-PyTorch reference ops" in message and "no C++ compiler found" in message
