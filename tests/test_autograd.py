"""Full autograd of the sparse ops and layers: double backward, torch.func, torch.compile and autocast.

The ops are ``torch.library`` custom ops whose backward passes are built from the same ops
(``gnnkit.ops._library``); these tests check that second derivatives are right (``gradgradcheck``
on tiny float64 graphs with an isolated vertex, a vertex without in-edges, multi-edges and a
self-loop), that ``torch.compile(fullgraph=True)`` traces the layers without a graph break and
agrees with eager, and that ``torch.autocast("cpu", torch.bfloat16)`` runs every op and layer.
"""
import pytest
import torch
import torch.nn.functional as F
from conftest import dense_adjacency, tie_free
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.func import functional_call
from torch.testing import assert_close

from gnnkit import Graph, ops
from gnnkit.nn import GATConv, GCNConv, GINConv, SAGEConv
from gnnkit.ops import _dispatch, _library

N, H, FEAT = 6, 2, 3


def tiny_graph() -> Graph:
    """6 vertices: 0 -> 1 three times (multi-edge), a self-loop on 2, vertex 3 without in-edges, 5 isolated."""
    src = torch.tensor([0, 1, 2, 2, 3, 0, 4, 0, 2])
    dst = torch.tensor([1, 2, 0, 1, 1, 1, 2, 1, 2])
    return Graph(src, dst, N)


@pytest.fixture(params=["kernel", "reference"])
def backend(request, monkeypatch):
    """Run the ops on the compiled kernels (when they built) and on the pure-PyTorch reference."""
    if request.param == "reference":
        monkeypatch.setattr(_dispatch, "lookup", lambda op, t: _dispatch.TABLE[(op, "reference")])
    return request.param


def rand(*shape: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=gen, dtype=torch.float64).requires_grad_(True)


def weight(kind: str | None, num_edges: int) -> torch.Tensor | None:
    """Edge weights in (0.5, 1.5): positive, so a weight never flips which edge wins a max/min."""
    if kind is None:
        return None
    gen = torch.Generator().manual_seed(1)
    shape = (num_edges,) if kind == "[E]" else (num_edges, H)
    return (torch.rand(*shape, generator=gen, dtype=torch.float64) + 0.5).requires_grad_(True)


# ------------------------------------------------------------------------ ops, twice
@pytest.mark.parametrize("reduce", ops.REDUCES)
@pytest.mark.parametrize("wkind", [None, "[E]", "[E,H]"])
def test_spmm_gradgradcheck(reduce, wkind, backend):
    g = tiny_graph()
    x = tie_free((N, H, FEAT)).requires_grad_(True)
    w = weight(wkind, g.num_edges)
    inputs = (x,) if w is None else (x, w)
    assert torch.autograd.gradgradcheck(lambda *t: ops.spmm(g, t[0], t[1] if len(t) > 1 else None, reduce), inputs)


@pytest.mark.parametrize("reduce", ops.REDUCES)
def test_segment_reduce_gradgradcheck(reduce, backend):
    g = tiny_graph()
    m = tie_free((g.num_edges, H, FEAT)).requires_grad_(True)
    assert torch.autograd.gradgradcheck(lambda m: ops.segment_reduce(g, m, reduce), (m,))


@pytest.mark.parametrize("op", ["dot", "add", "sub", "mul"])
@pytest.mark.parametrize("heads", [False, True])
def test_sddmm_gradgradcheck(op, heads, backend):
    g = tiny_graph()
    shape = (N, H, FEAT) if heads else (N, FEAT)
    a, b = rand(*shape, seed=0), rand(*shape, seed=1)
    assert torch.autograd.gradgradcheck(lambda a, b: ops.sddmm(g, a, b, op=op), (a, b))


@pytest.mark.parametrize("shape", ["[E]", "[E,H]"])
def test_edge_softmax_gradgradcheck(shape, backend):
    g = tiny_graph()
    score = rand(g.num_edges) if shape == "[E]" else rand(g.num_edges, H)
    assert torch.autograd.gradgradcheck(lambda s: ops.edge_softmax(g, s), (score,))


def test_edge_softmax_backward_gradgradcheck_in_both_inputs(backend):
    # the VJP op itself, so its registered double backward is checked in y and in the gradient
    g = tiny_graph()
    y, dy = rand(g.num_edges, H, seed=0), rand(g.num_edges, H, seed=1)
    topo = _library.topology(g, False)
    assert torch.autograd.gradcheck(lambda y, dy: _library.edge_softmax_backward_op(y, dy, *topo), (y, dy))
    assert torch.autograd.gradgradcheck(lambda y, dy: _library.edge_softmax_backward_op(y, dy, *topo), (y, dy))


@pytest.mark.parametrize("side", ["src", "dst"])
def test_gather_gradgradcheck(side):
    g = tiny_graph()
    assert torch.autograd.gradgradcheck(lambda x: ops.gather(g, x, side) ** 2, (rand(N, FEAT),))


@pytest.mark.parametrize("reduce", ops.REDUCES)
def test_spmm_bipartite_gradgradcheck(reduce):
    g = Graph(torch.tensor([0, 4, 4, 2, 1]), torch.tensor([0, 0, 1, 1, 2]), 3, num_src_nodes=5)  # dst 2 has one edge
    x, w = tie_free((5, FEAT)).requires_grad_(True), weight("[E]", g.num_edges)
    assert torch.autograd.gradgradcheck(lambda x, w: ops.spmm(g, x, w, reduce), (x, w))


@st.composite
def small_graphs(draw) -> Graph:
    """Up to 5 vertices and 8 edges, zero edges, duplicates and self-loops included."""
    n = draw(st.integers(1, 5))
    edges = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=8))
    return Graph([u for u, _ in edges], [v for _, v in edges], n)


@settings(max_examples=15, deadline=None)
@given(g=small_graphs(), reduce=st.sampled_from(["sum", "mean"]))
def test_spmm_second_derivative_on_random_small_graphs_equals_dense(g, reduce):
    # f(x, w) = sum((A_w x)^2) with A_w the (mean-normalised) weighted adjacency; compare the
    # gradient of <grad_x f, v> in x and w with the same dense float64 formula
    x, v = rand(g.num_nodes, FEAT, seed=0), rand(g.num_nodes, FEAT, seed=1).detach()
    w = (torch.rand(g.num_edges, dtype=torch.float64) + 0.5).requires_grad_(True)

    def dense(x, w):
        a = dense_adjacency(g, w)
        if reduce == "mean":
            a = a / g.in_degrees().clamp(min=1).to(a.dtype)[:, None]
        return a @ x

    results = []
    for f in (lambda x, w: ops.spmm(g, x, w, reduce), dense):
        (gx,) = torch.autograd.grad(f(x, w).pow(2).sum(), x, create_graph=True)
        results.append(torch.autograd.grad((gx * v).sum(), (x, w), allow_unused=True, materialize_grads=True))
    for got, want in zip(*results):
        assert_close(got, want)


@pytest.mark.parametrize(
    "op, args",
    [
        ("spmm", lambda g: (rand(N, H, FEAT), weight("[E,H]", g.num_edges), "sum")),
        ("spmm", lambda g: (tie_free((N, H, FEAT)).requires_grad_(True), weight("[E]", g.num_edges).detach()[:, None].requires_grad_(True), "max")),
        ("segment_reduce", lambda g: (rand(g.num_edges, H, FEAT), "mean")),
        ("sddmm_dot", lambda g: (rand(N, H, FEAT, seed=0), rand(N, H, FEAT, seed=1))),
        ("edge_softmax", lambda g: (rand(g.num_edges, H),)),
    ],
)
def test_custom_op_passes_opcheck(op, args):
    # schema, fake (meta) implementation, autograd registration and aliasing, as torch.compile relies on them;
    # the ops take weights as [E, Hw] and node data as [N, H, F] (the public ops reshape to that)
    g = tiny_graph()
    a = args(g)
    *tensors, last = a
    if isinstance(last, str):  # the reduce comes after the topology
        full = (*tensors, *_library.topology(g, True), last)
    else:
        full = (*a, *_library.topology(g, True))
    torch.library.opcheck(getattr(torch.ops.gnnkit, op).default, full)


# --------------------------------------------------------------------- torch.func
def test_spmm_hessian_vector_product_with_torch_func_equals_dense():
    # f(x) = sum((A x)^3): H v = A^T (6 (A x) * (A v)), from grad of grad (no vmap or forward AD needed)
    g = tiny_graph()
    w = weight("[E]", g.num_edges).detach()
    x, v = rand(N, FEAT, seed=0).detach(), rand(N, FEAT, seed=1).detach()

    def f(x):
        return (ops.spmm(g, x, w) ** 3).sum()

    hvp = torch.func.grad(lambda x: (torch.func.grad(f)(x) * v).sum())(x)
    a = dense_adjacency(g, w)
    assert_close(hvp, a.t() @ (6 * (a @ x) * (a @ v)))


def test_spmm_vjp_of_vjp_in_the_weights_equals_dense():
    g = tiny_graph()
    x, w = rand(N, FEAT).detach(), weight("[E]", g.num_edges).detach()
    dy, u = rand(N, FEAT, seed=2).detach(), rand(N, FEAT, seed=3).detach()

    def grad_x(w):  # d<spmm(g, x, w)^2, dy>/dx, a function of the weights
        _, vjp = torch.func.vjp(lambda x: ops.spmm(g, x, w) ** 2, x)
        return vjp(dy)[0]

    _, vjp2 = torch.func.vjp(grad_x, w)
    (dw,) = vjp2(u)

    def dense(w):
        a = dense_adjacency(g, w)
        return (u * (a.t() @ (2 * (a @ x) * dy))).sum()

    w_leaf = w.clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(dense(w_leaf), w_leaf)
    assert_close(dw, expected)


# ---------------------------------------------------------------------- layers
def _layers() -> dict:
    torch.manual_seed(0)
    return {
        "gcn": GCNConv(FEAT, 2),
        "sage_mean": SAGEConv(FEAT, 2),
        "sage_max": SAGEConv(FEAT, 2, reduce="max"),
        "gat": GATConv(FEAT, 2, heads=H),
        "gin": GINConv(torch.nn.Linear(FEAT, 2), train_eps=True),
    }


@pytest.mark.parametrize("name", ["gcn", "sage_mean", "sage_max", "gat", "gin"])
def test_layer_gradgradcheck_in_input_and_parameters(name):
    g = tiny_graph()
    layer = _layers()[name].double()
    names = [n for n, _ in layer.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_(True) for p in layer.parameters())
    x = tie_free((N, FEAT)).requires_grad_(True)

    def f(x, *p):
        return functional_call(layer, dict(zip(names, p)), (g, x))

    assert torch.autograd.gradgradcheck(f, (x, *params))


def _dense_gcn(a_norm: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    return a_norm @ x @ weight.t() + bias


def test_gradient_penalty_training_step_equals_dense_gcn():
    # loss = task loss + ||d out / d x||^2: the penalty's gradient needs the second derivative of spmm
    g = tiny_graph()
    torch.manual_seed(0)
    layer = GCNConv(FEAT, 2).double()
    with torch.no_grad():
        layer.bias.normal_()
    x = rand(N, FEAT)
    target = torch.tensor([0, 1, 1, 0, 1, 0])

    def step(forward):
        out = forward(x)
        (dx,) = torch.autograd.grad(out.pow(2).sum(), x, create_graph=True)
        loss = F.cross_entropy(out, target) + 0.1 * dx.pow(2).sum()
        return torch.autograd.grad(loss, (layer.lin.weight, layer.bias))

    gl = g.add_self_loops(only_missing=True)
    a_norm = dense_adjacency(gl, ops.gcn_norm(gl, dtype=torch.float64))
    got = step(lambda x: layer(g, x))
    expected = step(lambda x: _dense_gcn(a_norm, x, layer.lin.weight, layer.bias))
    for a, b in zip(got, expected):
        assert_close(a, b)


# ------------------------------------------------------------------ torch.compile
def _compile_case(name: str):
    torch.manual_seed(0)
    layer = {"gcn": GCNConv(8, 4), "sage": SAGEConv(8, 4), "gat": GATConv(8, 4, heads=2)}[name]
    g = tiny_graph()
    x = torch.randn(N, 8, requires_grad=True)
    return layer, g, x


def _forward_and_grads(layer, g, x):
    out = layer(g, x)
    grads = torch.autograd.grad(out.pow(2).sum(), (x, *layer.parameters()))
    return out.detach(), grads


@pytest.mark.parametrize("name", ["gcn", "sage", "gat"])
def test_compile_fullgraph_matches_eager(name):
    # fullgraph=True raises on any graph break, so a pass proves gnnkit traces as one graph
    torch._dynamo.reset()
    layer, g, x = _compile_case(name)
    out, grads = _forward_and_grads(layer, g, x)
    compiled = torch.compile(layer, backend="aot_eager", fullgraph=True)
    out_c, grads_c = _forward_and_grads(compiled, g, x)
    assert_close(out_c, out)
    for a, b in zip(grads_c, grads):
        assert_close(a, b)


@pytest.mark.slow
def test_compile_inductor_gcn_matches_eager():
    torch._dynamo.reset()
    layer, g, x = _compile_case("gcn")
    out, grads = _forward_and_grads(layer, g, x)
    out_c, grads_c = _forward_and_grads(torch.compile(layer, fullgraph=True), g, x)
    assert_close(out_c, out)
    for a, b in zip(grads_c, grads):
        assert_close(a, b)


# ------------------------------------------------------------------------ autocast
# bfloat16 keeps 8 bits of mantissa: a relative error of 2^-8 per rounding, a few roundings deep
BF16_TOL = dict(atol=5e-2, rtol=5e-2)


def _bf16_op_cases(g: Graph) -> dict:
    x = torch.randn(N, H, FEAT)
    return {
        "spmm_sum": (lambda x, w: ops.spmm(g, x, w), (x, torch.rand(g.num_edges) + 0.5)),
        "spmm_mean": (lambda x: ops.spmm(g, x, reduce="mean"), (x,)),
        "spmm_max": (lambda x: ops.spmm(g, x, reduce="max"), (x,)),
        "spmm_min": (lambda x, w: ops.spmm(g, x, w, reduce="min"), (x, torch.rand(g.num_edges, H) + 0.5)),
        "segment_reduce": (lambda m: ops.segment_reduce(g, m, "sum"), (torch.randn(g.num_edges, FEAT),)),
        "sddmm_dot": (lambda a, b: ops.sddmm(g, a, b), (x, torch.randn(N, H, FEAT))),
        "sddmm_add": (lambda a, b: ops.sddmm(g, a, b, op="add"), (x, torch.randn(N, H, FEAT))),
        "edge_softmax": (lambda s: ops.edge_softmax(g, s), (torch.randn(g.num_edges, H),)),
        "gather": (lambda x: ops.gather(g, x), (x,)),
    }


@pytest.mark.parametrize("case", ["spmm_sum", "spmm_mean", "spmm_max", "spmm_min", "segment_reduce", "sddmm_dot",
                                  "sddmm_add", "edge_softmax", "gather"])
def test_bf16_op_output_dtype_is_the_inputs_and_close_to_float32(case):
    # documented rule: a bfloat16 input is computed in float32 and returned as bfloat16; the
    # gradients come back in each input's dtype
    torch.manual_seed(0)
    g = tiny_graph()
    fn, inputs = _bf16_op_cases(g)[case]
    ref_in = [t.clone().requires_grad_(True) for t in inputs]
    low_in = [t.to(torch.bfloat16).requires_grad_(True) for t in inputs]
    ref = fn(*ref_in)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = fn(*low_in)
    assert out.dtype == torch.bfloat16
    assert_close(out.float(), ref, **BF16_TOL)
    dy = torch.randn_like(ref)
    ref_grads = torch.autograd.grad(ref, ref_in, dy)
    grads = torch.autograd.grad(out, low_in, dy.to(torch.bfloat16))
    for got, want in zip(grads, ref_grads):
        assert got.dtype == torch.bfloat16
        assert_close(got.float(), want, **BF16_TOL)


def test_bf16_spmm_takes_float32_weights_other_pairs_under_autocast_only():
    g = tiny_graph()
    x, w = torch.randn(N, FEAT, dtype=torch.bfloat16), torch.rand(g.num_edges)
    out = ops.spmm(g, x, w)  # bfloat16 features read float32 weights (the gcn_norm weights) as they are
    assert out.dtype == torch.bfloat16
    assert_close(out.float(), ops.spmm(g, x.float(), w), **BF16_TOL)
    with pytest.raises(TypeError, match="edge_weight dtype torch.bfloat16 differs from x dtype torch.float32"):
        ops.spmm(g, x.float(), w.bfloat16())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = ops.spmm(g, x.float(), w.bfloat16())
    assert out.dtype == torch.bfloat16


@pytest.mark.parametrize("name", ["gcn", "sage_mean", "sage_max", "gat", "gin"])
def test_autocast_bf16_layer_forward_and_backward_close_to_float32(name):
    g = tiny_graph()
    layer = _layers()[name]
    x = torch.randn(N, FEAT, requires_grad=True)
    ref = layer(g, x)
    ref_grads = torch.autograd.grad(ref.pow(2).sum(), (x, *layer.parameters()))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = layer(g, x)
    grads = torch.autograd.grad(out.float().pow(2).sum(), (x, *layer.parameters()))
    assert_close(out.float(), ref, **BF16_TOL)
    for got, want in zip(grads, ref_grads):
        assert got.dtype == want.dtype  # parameters and x keep float32 gradients under autocast
        assert_close(got, want, **BF16_TOL)


def test_compiled_bf16_gcn_matches_eager_bf16():
    torch._dynamo.reset()
    layer, g, x = _compile_case("gcn")
    compiled = torch.compile(layer, backend="aot_eager", fullgraph=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, grads = _forward_and_grads(layer, g, x)
        out_c, grads_c = _forward_and_grads(compiled, g, x)
    assert_close(out_c, out)
    for a, b in zip(grads_c, grads):
        assert_close(a, b)
