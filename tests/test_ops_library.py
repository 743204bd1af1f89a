"""The eager fast path of the custom ops (``gnnkit.ops._library``): it skips the dispatcher, never the maths.

Outside tracing, an op's Function runs the op's implementation directly instead of calling the
``torch.library`` op, and with gradients off (inference, a backward without ``create_graph``) no
Function node is made at all. These tests check that both give bit-for-bit what the dispatcher
path gives (forward and every gradient, double backward included), and that tracers and profilers
still see the opaque ``gnnkit::`` ops.
"""
import pytest
import torch
from conftest import tie_free
from torch.fx.experimental.proxy_tensor import make_fx
from torch.testing import assert_close

from gnnkit import Graph, ops
from gnnkit.ops import _dispatch, _library

N, FEAT = 6, 3


def tiny_graph() -> Graph:
    """6 vertices: a multi-edge, a self-loop, a vertex without in-edges and an isolated one."""
    return Graph(torch.tensor([0, 1, 2, 2, 3, 0, 4, 0, 2]), torch.tensor([1, 2, 0, 1, 1, 1, 2, 1, 2]), N)


@pytest.fixture(params=["kernel", "reference"])
def backend(request, monkeypatch):
    if request.param == "reference":
        monkeypatch.setattr(_dispatch, "lookup", lambda op, t: _dispatch.TABLE[(op, "reference")])
    return request.param


def _inputs(g: Graph) -> dict[str, torch.Tensor]:
    return {"x": tie_free((N, FEAT)).requires_grad_(True), "y": tie_free((N, FEAT), seed=1).requires_grad_(True),
            "w": (torch.rand(g.num_edges, generator=torch.Generator().manual_seed(2), dtype=torch.float64) + 0.5
                  ).requires_grad_(True),
            "m": tie_free((g.num_edges, FEAT), seed=3).requires_grad_(True),
            "s": tie_free((g.num_edges, 2), seed=4).requires_grad_(True)}


CASES = {
    "spmm_sum_weighted": lambda g, t: ops.spmm(g, t["x"], t["w"]),
    "spmm_mean": lambda g, t: ops.spmm(g, t["x"], reduce="mean"),
    "spmm_max_weighted": lambda g, t: ops.spmm(g, t["x"], t["w"], reduce="max"),
    "segment_reduce_sum": lambda g, t: ops.segment_reduce(g, t["m"]),
    "segment_reduce_min": lambda g, t: ops.segment_reduce(g, t["m"], reduce="min"),
    "sddmm_dot": lambda g, t: ops.sddmm(g, t["x"], t["y"]),
    "edge_softmax": lambda g, t: ops.edge_softmax(g, t["s"]),
}


def _run(case: str, create_graph: bool) -> tuple[torch.Tensor, ...]:
    """Output, first gradients of every input and (with ``create_graph``) one second derivative."""
    g = tiny_graph()
    t = _inputs(g)
    out = CASES[case](g, t)
    leaves = [v for v in t.values()]
    grads = torch.autograd.grad((out * out).sum(), leaves, allow_unused=True, create_graph=create_graph)
    grads = [torch.zeros_like(v) if d is None else d for v, d in zip(leaves, grads)]
    second = ()
    if create_graph:
        total = sum((d * d).sum() for d in grads if d.requires_grad)
        second = tuple(torch.zeros_like(v) if d is None else d
                       for v, d in zip(leaves, torch.autograd.grad(total, leaves, allow_unused=True)))
    return (out.detach(), *(d.detach() for d in grads), *second)


@pytest.mark.parametrize("create_graph", [False, True])
@pytest.mark.parametrize("case", sorted(CASES))
def test_fast_path_equals_dispatcher_path_in_output_and_gradients(case, create_graph, backend, monkeypatch):
    fast = _run(case, create_graph)
    monkeypatch.setattr(_library, "_plain_tensors", lambda args: False)  # every call through the custom op
    checked = _run(case, create_graph)
    for a, b in zip(fast, checked):
        assert_close(a, b, rtol=0, atol=0)


def test_fast_path_is_taken_in_eager_mode(monkeypatch):
    g, x = tiny_graph(), tie_free((N, FEAT)).requires_grad_(True)
    calls = []
    monkeypatch.setattr(_library.SpMM, "_impl", staticmethod(lambda *a: calls.append("impl") or _library._spmm(*a)))
    with torch.no_grad():  # no Function node: the implementation alone
        ops.spmm(g, x)
    assert calls == ["impl"]
    assert ops.spmm(g, x).grad_fn is not None  # with gradients on, the Function records the node


def test_no_grad_output_equals_grad_output():
    g, x = tiny_graph(), tie_free((N, FEAT))
    with torch.no_grad():
        out = ops.spmm(g, x, reduce="max")
    assert out.grad_fn is None
    assert_close(out, ops.spmm(g, x.requires_grad_(True), reduce="max").detach(), rtol=0, atol=0)


def test_make_fx_still_records_the_opaque_custom_op():
    g = tiny_graph()
    g.csr_in()  # built by data-dependent code, so before tracing (as before torch.compile)
    traced = make_fx(lambda x: ops.spmm(g, x))(tie_free((N, FEAT)))
    assert "gnnkit.spmm" in traced.code


def test_profiler_still_names_the_custom_op():
    g, x = tiny_graph(), tie_free((N, FEAT)).requires_grad_(True)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        ops.spmm(g, x).sum().backward()
        with torch.no_grad():
            ops.spmm(g, x)
    names = [e.key for e in prof.key_averages() if e.key == "gnnkit::spmm"]
    counts = {e.key: e.count for e in prof.key_averages()}
    assert names and counts["gnnkit::spmm"] == 3  # forward, backward (A^T dy) and the no-grad call
