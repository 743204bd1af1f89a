"""Sparse ops: dense float64 oracle, kernel vs reference, gradcheck, hand-computed cases, bad input."""
import os
import subprocess
import sys

import pytest
import torch
from torch.testing import assert_close

from gnnkit import Graph, ops
from gnnkit.ops import _dispatch, reference

from conftest import dense_adjacency, random_graph

REDUCES = ("sum", "mean", "max", "min")
needs_kernels = pytest.mark.skipif(not _dispatch.HAS_KERNELS, reason=f"compiled kernels unavailable: {_dispatch.KERNEL_ERROR}")


def dense_spmm(g, x, w, reduce):
    """Oracle on dense float64 tensors: explicit [N, S] masks, no sparse code involved."""
    n, s = g.num_nodes, g.num_src_nodes
    x3 = x.reshape(s, -1, x.shape[-1] if x.dim() == 3 else (x.shape[-1] if x.dim() == 2 else 1)).double()
    h = x3.shape[1]
    w2 = torch.ones(g.num_edges, 1, dtype=torch.float64) if w is None else w.reshape(g.num_edges, -1).double()
    if reduce in ("sum", "mean"):
        out = torch.stack([dense_adjacency(g, w2[:, min(k, w2.shape[1] - 1)]) @ x3[:, k] for k in range(h)], 1)
        if reduce == "mean":
            out = out / g.in_degrees().clamp(min=1).double().view(-1, 1, 1)
        return out.reshape((n,) + tuple(x.shape[1:]))
    # max/min: the per-edge values, compared densely per destination
    vals = x3[g.src] * w2.unsqueeze(-1)  # [E, H, F]
    mask = (g.dst.view(-1, 1) == torch.arange(n).view(1, -1))  # [E, N]
    fill = float("-inf") if reduce == "max" else float("inf")
    cand = torch.where(mask.view(*mask.shape, 1, 1), vals.unsqueeze(1), torch.full((), fill, dtype=torch.float64))
    red = cand.amax(0) if reduce == "max" else cand.amin(0)
    red = torch.where(torch.isinf(red), torch.zeros_like(red), red)
    return red.reshape((n,) + tuple(x.shape[1:]))


def no_ties_graph(n=9, e=40, seed=0, **kw):
    return random_graph(n, e, seed, **kw)


# ---------------------------------------------------------------- spmm forward
@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("xshape, wshape", [((1,), None), ((5,), None), ((5,), (1,)), ((5,), ()), ((3, 4), (3,)), ((3, 4), (1,))])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_spmm_matches_dense(reduce, xshape, wshape, dtype):
    g = no_ties_graph(11, 50, seed=1)
    x = torch.randn((11,) + xshape, dtype=dtype) if xshape != (1,) else torch.randn(11, dtype=dtype)
    w = None if wshape is None else torch.rand((g.num_edges,) + wshape, dtype=dtype) + 0.1
    assert_close(ops.spmm(g, x, w, reduce).double(), dense_spmm(g, x, w, reduce), check_dtype=False,
                 **({} if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-5)))  # float32 sums of ~5 terms


@pytest.mark.parametrize("reduce", REDUCES)
def test_spmm_gradients_match_dense(reduce):
    g = no_ties_graph(10, 45, seed=2)
    x = torch.randn(10, 2, 3, dtype=torch.float64, requires_grad=True)
    w = (torch.rand(45, 2, dtype=torch.float64) + 0.1).requires_grad_()
    gy = torch.randn(10, 2, 3, dtype=torch.float64)
    gx, gw = torch.autograd.grad(ops.spmm(g, x, w, reduce), (x, w), gy)
    x2, w2 = x.detach().clone().requires_grad_(), w.detach().clone().requires_grad_()
    ex, ew = torch.autograd.grad(dense_spmm(g, x2, w2, reduce), (x2, w2), gy)
    assert_close(gx, ex)
    assert_close(gw, ew)


@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("wshape", [None, (), (2,)])
def test_spmm_gradcheck(reduce, wshape):
    g = no_ties_graph(7, 25, seed=3)
    x = torch.randn(7, 2, 3, dtype=torch.float64, requires_grad=True)
    if wshape is None:
        assert torch.autograd.gradcheck(lambda x: ops.spmm(g, x, None, reduce), (x,))
    else:
        w = (torch.rand((25,) + wshape, dtype=torch.float64) + 0.1).requires_grad_()
        assert torch.autograd.gradcheck(lambda x, w: ops.spmm(g, x, w, reduce), (x, w))


def test_spmm_bipartite_gradcheck():
    g = random_graph(4, 20, seed=4, num_src_nodes=9)
    x = torch.randn(9, 3, dtype=torch.float64, requires_grad=True)
    w = torch.rand(20, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w: ops.spmm(g, x, w), (x, w))
    assert_close(ops.spmm(g, x, w), dense_adjacency(g, w) @ x)


# ------------------------------------------------------------ kernel vs reference
@needs_kernels
@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("heads, hw", [(1, 0), (1, 1), (4, 1), (4, 4)])
def test_kernel_equals_reference(reduce, heads, hw):
    g = random_graph(60, 700, seed=5)  # random order: the CSR carries a permutation
    x = torch.randn(60, heads, 37, dtype=torch.float64)  # 37: register tiles plus a ragged tail
    w = None if hw == 0 else torch.randn(700, hw, dtype=torch.float64)
    out_k, arg_k = _dispatch.TABLE[("spmm", "cpu")](g, x, w, reduce)
    out_r, arg_r = _dispatch.TABLE[("spmm", "reference")](g, x, w, reduce)
    assert_close(out_k, out_r)
    if reduce in ("max", "min"):
        assert torch.equal(arg_k, arg_r)
    m = torch.randn(700, heads, 5, dtype=torch.float64)
    sk, ak = _dispatch.TABLE[("segment_reduce", "cpu")](g, m, reduce)
    sr, ar = _dispatch.TABLE[("segment_reduce", "reference")](g, m, reduce)
    assert_close(sk, sr)
    assert (ak is None and ar is None) or torch.equal(ak, ar)


@needs_kernels
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kernel_sddmm_and_softmax_equal_reference(dtype):
    g = random_graph(40, 300, seed=6)
    a, b = torch.randn(40, 3, 20, dtype=dtype), torch.randn(40, 3, 20, dtype=dtype)
    assert_close(_dispatch.TABLE[("sddmm_dot", "cpu")](g, a, b), reference.sddmm_dot(g, a, b))
    s, gr = torch.randn(300, 3, dtype=dtype), torch.randn(300, 3, dtype=dtype)
    y = _dispatch.TABLE[("segment_softmax", "cpu")](g, s)
    assert_close(y, reference.segment_softmax(g, s))
    assert_close(_dispatch.TABLE[("segment_softmax_backward", "cpu")](g, y, gr), reference.segment_softmax_backward(g, y, gr))


@needs_kernels
def test_high_degree_row_and_float32_large_features():
    hub = torch.zeros(5000, dtype=torch.long)
    g = Graph(torch.arange(5000) % 300, hub, 300)  # one row of 5000 entries
    x = torch.randn(300, 300)
    assert_close(_dispatch.TABLE[("spmm", "cpu")](g, x.view(300, 1, 300), None, "sum")[0],
                 reference.spmm(g, x.view(300, 1, 300), None, "sum")[0], rtol=1e-4, atol=1e-4)  # 5000-term float32 sums


# ---------------------------------------------------------------- other ops
@pytest.mark.parametrize("op", ["dot", "add", "sub", "mul"])
def test_sddmm_matches_dense_and_gradcheck(op):
    g = random_graph(8, 30, seed=7, num_src_nodes=6 if op == "dot" else None)
    shape = (2, 3) if op == "dot" else (4,)
    xs = torch.randn((g.num_src_nodes,) + shape, dtype=torch.float64, requires_grad=True)
    xd = torch.randn((8,) + shape, dtype=torch.float64, requires_grad=True)
    out = ops.sddmm(g, xs, xd, op)
    a, b = xs[g.src], xd[g.dst]
    expected = {"dot": (a * b).sum(-1), "add": a + b, "sub": a - b, "mul": a * b}[op]
    assert_close(out, expected)
    assert torch.autograd.gradcheck(lambda s, d: ops.sddmm(g, s, d, op), (xs, xd))


def test_sddmm_dot_2d_returns_one_score_per_edge():
    g = random_graph(5, 12, seed=8)
    x = torch.randn(5, 4, dtype=torch.float64)
    assert_close(ops.sddmm(g, x, x), (x[g.src] * x[g.dst]).sum(-1))


@pytest.mark.parametrize("shape", [(40,), (40, 3)])
def test_edge_softmax_sums_to_one_and_gradcheck(shape):
    g = random_graph(10, 40, seed=9)
    s = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    y = ops.edge_softmax(g, s)
    sums = torch.zeros((10,) + shape[1:], dtype=torch.float64).index_add_(0, g.dst, y.detach())
    has = g.in_degrees() > 0
    assert_close(sums[has], torch.ones_like(sums[has]))
    assert (sums[~has] == 0).all()
    assert torch.autograd.gradcheck(lambda s: ops.edge_softmax(g, s), (s,))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_edge_softmax_is_stable_for_huge_scores(dtype):
    g = Graph([0, 1, 2], [2, 2, 2], 3)
    y = ops.edge_softmax(g, torch.tensor([1e4, 1e4 - 1.0, -1e4], dtype=dtype))
    e = torch.exp(torch.tensor(-1.0, dtype=torch.float64)).item()
    assert_close(y, torch.tensor([1 / (1 + e), e / (1 + e), 0.0], dtype=dtype))


@pytest.mark.parametrize("reduce", REDUCES)
def test_segment_reduce_gradcheck_and_dense(reduce):
    g = no_ties_graph(6, 20, seed=10)
    m = torch.randn(20, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda m: ops.segment_reduce(g, m, reduce), (m,))
    e2n = torch.zeros(6, 20, dtype=torch.float64)
    e2n[g.dst, torch.arange(20)] = 1
    if reduce == "sum":
        assert_close(ops.segment_reduce(g, m, reduce), e2n @ m)


def test_gather_and_gcn_norm():
    g = Graph([0, 1, 1], [1, 2, 0], 4)
    x = torch.arange(8.0).view(4, 2)
    assert torch.equal(ops.gather(g, x), x[[0, 1, 1]]) and torch.equal(ops.gather(g, x, "dst"), x[[1, 2, 0]])
    gl = g.add_self_loops()
    w = ops.gcn_norm(gl)
    deg = torch.bincount(gl.dst, minlength=4).double()
    assert_close(w.double(), (deg[gl.src] * deg[gl.dst]).rsqrt())
    assert ops.gcn_norm(gl) is w  # cached on the graph


# ------------------------------------------------------------ hand-computed table
def test_hand_computed_cases():
    # edges: 0->1 (w 2), 0->1 duplicate (w 3), 1->1 self-loop (w 1), 2->0 (w -1); vertex 3 isolated
    g = Graph([0, 0, 1, 2], [1, 1, 1, 0], 4)
    x = torch.tensor([[1.0, -2.0], [10.0, 4.0], [3.0, 0.5], [7.0, 7.0]], requires_grad=True)
    w = torch.tensor([2.0, 3.0, 1.0, -1.0], requires_grad=True)
    table = {
        "sum": [[-3.0, -0.5], [15.0, -6.0], [0, 0], [0, 0]],
        "mean": [[-3.0, -0.5], [5.0, -2.0], [0, 0], [0, 0]],
        "max": [[-3.0, -0.5], [10.0, 4.0], [0, 0], [0, 0]],
        "min": [[-3.0, -0.5], [2.0, -6.0], [0, 0], [0, 0]],
    }
    for reduce, expected in table.items():
        out = ops.spmm(g, x, w, reduce)
        assert_close(out, torch.tensor(expected), msg=reduce)
        gx, gw = torch.autograd.grad(out.sum(), (x, w))
        assert (gx[3] == 0).all(), reduce  # isolated vertex 3 has no out-edges either: zero gradient
    # max gradient goes to the winning edge only: column 0 of vertex 1 is won by the self-loop (10*1)
    gx, gw = torch.autograd.grad(ops.spmm(g, x, w, "max")[1, 0], (x, w))
    assert gx.tolist() == [[0, 0], [1.0, 0], [0, 0], [0, 0]] and gw.tolist() == [0, 0, 10.0, 0]
    # zero edges
    empty = Graph([], [], 3)
    for reduce in REDUCES:
        assert (ops.spmm(empty, torch.randn(3, 2), reduce=reduce) == 0).all()
    assert ops.edge_softmax(empty, torch.zeros(0)).shape == (0,)


def test_non_contiguous_inputs_give_the_same_result():
    g = random_graph(12, 40, seed=11)
    base = torch.randn(6, 12, dtype=torch.float64)
    x_nc = base.t()  # [12, 6], non-contiguous
    w_nc = torch.rand(2, 40, dtype=torch.float64)[0]  # strided view
    assert not x_nc.is_contiguous()
    for reduce in REDUCES:
        assert_close(ops.spmm(g, x_nc, w_nc, reduce), ops.spmm(g, x_nc.contiguous(), w_nc.clone(), reduce))
    s_nc = torch.randn(3, 40, dtype=torch.float64).t()
    assert_close(ops.edge_softmax(g, s_nc), ops.edge_softmax(g, s_nc.contiguous()))


# ---------------------------------------------------------------- properties
def test_edge_permutation_invariance_and_node_permutation_equivariance():
    g = random_graph(15, 60, seed=12)
    x, w = torch.randn(15, 4, dtype=torch.float64), torch.rand(60, dtype=torch.float64)
    for reduce in REDUCES:
        out = ops.spmm(g, x, w, reduce)
        pe = torch.randperm(60, generator=torch.Generator().manual_seed(1))
        assert_close(ops.spmm(Graph(g.src[pe], g.dst[pe], 15), x, w[pe], reduce), out)
        pn = torch.randperm(15, generator=torch.Generator().manual_seed(2))  # new id of old vertex i is inv[i]
        inv = torch.argsort(pn)
        gp = Graph(inv[g.src], inv[g.dst], 15)
        assert_close(ops.spmm(gp, x[pn], w, reduce), out[pn])


# ------------------------------------------------------------------- bad input
@pytest.mark.parametrize("call, error, match", [
    (lambda g, x: ops.spmm(g, x.long()), TypeError, "x must be a floating-point tensor, got dtype torch.int64"),
    (lambda g, x: ops.spmm(g, x[:3]), ValueError, r"x must have shape .* num_nodes = 5, got \(3, 2\)"),
    (lambda g, x: ops.spmm(g, x, reduce="prod"), ValueError, "reduce must be one of .* got 'prod'"),
    (lambda g, x: ops.spmm(g, x, torch.ones(3)), ValueError, r"edge_weight must have shape \[E\], \[E, 1\] or \[E, H\]"),
    (lambda g, x: ops.spmm(g, x, torch.ones(6, dtype=torch.float64)), TypeError, "edge_weight dtype torch.float64 differs"),
    (lambda g, x: ops.spmm(g, x, torch.ones(6, dtype=torch.long)), TypeError, "edge_weight must be a floating-point"),
    (lambda g, x: ops.spmm("g", x), TypeError, "g must be a gnnkit.Graph, got str"),
    (lambda g, x: ops.spmm(g, [1.0]), TypeError, "x must be a torch.Tensor, got list"),
    (lambda g, x: ops.segment_reduce(g, x), ValueError, r"m must have shape .* E = num_edges = 6"),
    (lambda g, x: ops.sddmm(g, x, x, op="div"), ValueError, "op must be 'dot', 'add', 'sub' or 'mul', got 'div'"),
    (lambda g, x: ops.sddmm(g, x, x[:, :1]), ValueError, "same feature shape"),
    (lambda g, x: ops.sddmm(g, x[:2], x[:2], op="add"), ValueError, "x_src must have 5 rows"),
    (lambda g, x: ops.sddmm(g, x[:, 0], x[:, 0]), ValueError, r"sddmm dot needs x_src \[N, F\] or \[N, H, F\]"),
    (lambda g, x: ops.edge_softmax(g, torch.zeros(4)), ValueError, r"score must have shape \[E\] or \[E, H\] with E = 6"),
    (lambda g, x: ops.gather(g, x, side="mid"), ValueError, "side must be 'src' or 'dst', got 'mid'"),
    (lambda g, x: ops.gather(g, x[:2]), ValueError, "x must have 5 rows"),
    (lambda g, x: ops.gcn_norm(g, torch.ones(2)), ValueError, r"edge_weight must have shape \[E=6\]"),
    (lambda g, x: ops.gcn_norm(Graph([0], [0], 1, num_src_nodes=2)), ValueError, "needs one vertex set"),
])
def test_bad_input_is_rejected(call, error, match):
    g = random_graph(5, 6, seed=13)
    with pytest.raises(error, match=match):
        call(g, torch.randn(5, 2))


_PROBE = (
    "import warnings, torch\n"
    "with warnings.catch_warnings(record=True) as w:\n"
    "    warnings.simplefilter('always')\n"
    "    from gnnkit import Graph, ops\n"
    "    from gnnkit.ops import _dispatch\n"
    "g = Graph([0, 1, 2], [1, 2, 0], 3)\n"
    "print(_dispatch.HAS_KERNELS, sum('pure-PyTorch reference' in str(x.message) for x in w))\n"
    "print(ops.spmm(g, torch.tensor([[1.0], [2.0], [4.0]])).view(-1).tolist())\n"
)


@pytest.mark.parametrize("env, warnings", [
    ({"GNNKIT_DISABLE_KERNELS": "1"}, 0),  # asked for: no warning
    ({"PATH": "", "CXX": "", "GNNKIT_CACHE_DIR": None}, 1),  # no compiler, nothing cached: one clear warning
])
def test_reference_path_without_kernels(env, warnings, tmp_path):
    full = dict(os.environ)
    for k, v in env.items():
        full[k] = str(tmp_path / "cache") if v is None else v
    proc = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, env=full, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == [f"False {warnings}", "[4.0, 1.0, 2.0]"]
