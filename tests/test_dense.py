"""gnnkit.nn._dense.multi_linear: equals sum(F.linear) + b, forward and backward."""
import pytest
import torch
import torch.nn.functional as F

from gnnkit.nn._dense import multi_linear


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("bias", [True, False])
def test_multi_linear_gradcheck(k, bias):
    g = torch.Generator().manual_seed(k)
    xs = [torch.randn(5, 3 + i, dtype=torch.float64, generator=g, requires_grad=True) for i in range(k)]
    ws = [torch.randn(4, 3 + i, dtype=torch.float64, generator=g, requires_grad=True) for i in range(k)]
    b = torch.randn(4, dtype=torch.float64, generator=g, requires_grad=True) if bias else None
    torch.autograd.gradcheck(lambda *a: multi_linear(a[:k], a[k : 2 * k], a[2 * k] if bias else None), (*xs, *ws, *([b] if bias else [])))


def test_multi_linear_large_matches_f_linear():
    # large enough for the 2 MB-page buffers (> 8 MB output)
    torch.manual_seed(0)
    x1, x2 = torch.randn(40_000, 64, requires_grad=True), torch.randn(40_000, 32, requires_grad=True)
    w1, w2 = torch.randn(80, 64, requires_grad=True), torch.randn(80, 32, requires_grad=True)
    b = torch.randn(80, requires_grad=True)
    out = multi_linear([x1, x2], [w1, w2], b)
    ref = F.linear(x1, w1) + F.linear(x2, w2) + b
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-4)
    gy = torch.randn_like(out)
    got = torch.autograd.grad(out, (x1, x2, w1, w2, b), gy)
    exp = torch.autograd.grad(ref, (x1, x2, w1, w2, b), gy)
    for a, e in zip(got, exp):
        torch.testing.assert_close(a, e, rtol=1e-4, atol=1e-2)


def test_multi_linear_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"xs\[1\]"):
        multi_linear([torch.randn(3, 2), torch.randn(4, 2)], [torch.randn(5, 2), torch.randn(5, 2)])
    with pytest.raises(ValueError, match="equal length"):
        multi_linear([torch.randn(3, 2)], [])


@pytest.mark.parametrize("act", ["relu", "elu"])
def test_multi_linear_fused_activation_equals_activation_after_with_double_backward(act):
    g = torch.Generator().manual_seed(7)
    xs = [torch.randn(6, 3 + i, dtype=torch.float64, generator=g, requires_grad=True) for i in range(2)]
    ws = [torch.randn(4, 3 + i, dtype=torch.float64, generator=g, requires_grad=True) for i in range(2)]
    b = torch.randn(4, dtype=torch.float64, generator=g, requires_grad=True)
    fn = {"relu": F.relu, "elu": F.elu}[act]
    out = multi_linear(xs, ws, b, act)
    ref = fn(F.linear(xs[0], ws[0]) + F.linear(xs[1], ws[1]) + b)
    torch.testing.assert_close(out, ref)
    assert (out == 0).any() if act == "relu" else (out < 0).any()  # both branches exercised
    gy = torch.randn_like(out)
    gy_before = gy.clone()
    for a, e in zip(torch.autograd.grad(out, (*xs, *ws, b), gy), torch.autograd.grad(ref, (*xs, *ws, b), gy)):
        torch.testing.assert_close(a, e)
    assert torch.equal(gy, gy_before)  # the caller's gradient is never written
    f = lambda *a: multi_linear(a[:2], a[2:4], a[4], act)  # noqa: E731
    assert torch.autograd.gradcheck(f, (*xs, *ws, b))
    assert torch.autograd.gradgradcheck(f, (*xs, *ws, b))


def test_multi_linear_fused_activation_on_large_buffers_and_bad_act():
    torch.manual_seed(1)
    x, w = torch.randn(40_000, 64, requires_grad=True), torch.randn(80, 64, requires_grad=True)  # 2 MB-page output
    out = multi_linear([x], [w], None, "relu")
    ref = F.linear(x, w).relu()
    torch.testing.assert_close(out, ref)
    gy = torch.randn_like(out)
    for a, e in zip(torch.autograd.grad(out, (x, w), gy), torch.autograd.grad(ref, (x, w), gy)):
        torch.testing.assert_close(a, e, rtol=1e-4, atol=1e-2)
    with pytest.raises(ValueError, match=r"act must be None or one of \('relu', 'elu'\), got 'tanh'"):
        multi_linear([x], [w], None, "tanh")


@pytest.mark.parametrize("act", [None, "relu"])
def test_multi_linear_under_autocast_runs_in_bfloat16_like_matmul(act):
    """Under CPU autocast the node casts as autocast casts a matmul and keeps its fused bias and activation."""
    torch.manual_seed(2)
    x1, x2 = torch.randn(3000, 48, requires_grad=True), torch.randn(3000, 16, requires_grad=True)
    w1, w2, b = torch.randn(64, 48, requires_grad=True), torch.randn(64, 16, requires_grad=True), torch.randn(64, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = multi_linear([x1, x2], [w1, w2], b, act)
        ref = x1 @ w1.t() + x2 @ w2.t() + b.to(torch.bfloat16)
        # ReLU by our output's sign: where bf16 rounding puts the two sums on either side of 0 the masks
        # would differ, which is rounding, not the gradient under test
        ref = ref if act is None else ref * (out > 0)
    assert out.dtype == ref.dtype == torch.bfloat16
    # two bf16 roundings (the first product, then the accumulation) against one per product: a bf16 ulp or two
    torch.testing.assert_close(out, ref, rtol=2e-2, atol=5e-2)
    gy = torch.randn_like(out)
    got = torch.autograd.grad(out, (x1, x2, w1, w2, b), gy)
    want = torch.autograd.grad(ref, (x1, x2, w1, w2, b), gy)
    for a, e in zip(got, want):
        assert a.dtype == e.dtype == torch.float32  # the casts are differentiable: float32 leaves get float32 grads
        torch.testing.assert_close(a, e)  # the same bf16 products: float32 tolerance
