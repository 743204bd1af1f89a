"""bfloat16: the storage kernels, the reference, the autocast policy, the layers, ``gnnkit.precision`` and ``--precision``.

Tolerances. A bfloat16 number keeps 8 significant bits, so one rounding moves a value by at most
``2^-9`` of itself. The ops accumulate in float32 and round each output once, so an op on inputs
that are already bfloat16 is within ``2^-8`` (one rounding, with room for float32 accumulation) of
the same maths in float64 on the same (widened) inputs: ``OP_TOL``. A backward that divides
first (mean) or chains two ops rounds twice, and a weight gradient sums rounded products, whose
cancellation makes the error relative to the terms, not to the sum: gradients are held to
``2^-7`` of themselves plus ``2^-7`` of the gradient tensor's largest magnitude (:func:`_grad_close`). A layer under autocast rounds its
input, its weights, its GEMM output and its sparse output (up to 5 roundings in a row, plus
bfloat16 GEMM accumulation): ``LAYER_TOL`` is 2^-5 of the output's largest magnitude.
"""
from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile
from torch.testing import assert_close

import gnnkit.precision as precision
from gnnkit import Graph, ops
from gnnkit.cli.train import build_parser, train
from gnnkit.nn import GATConv, GCNConv, GINConv, SAGEConv
from gnnkit.ops import _dispatch, reference

from conftest import random_graph, tie_free

bf16, f32, f64 = torch.bfloat16, torch.float32, torch.float64
OP_TOL = dict(rtol=2**-8, atol=2**-12)
needs_kernels = pytest.mark.skipif(not _dispatch.HAS_KERNELS, reason=f"compiled kernels unavailable: {_dispatch.KERNEL_ERROR}")


def _graph() -> Graph:
    """11 vertices, 40 unsorted edges with duplicates and self-loops, plus an isolated vertex (10)."""
    g = random_graph(10, 40, seed=3)
    return Graph(g.src, g.dst, 11)


def _b(t: torch.Tensor) -> torch.Tensor:
    """``t`` rounded to bfloat16: the input both sides of a comparison start from."""
    return t.to(bf16)


def _grad_close(got: torch.Tensor, want: torch.Tensor) -> None:
    assert_close(got.to(f64), want, rtol=2**-7, atol=2**-7 * want.abs().max().item())


def _check_op(fn, inputs: list[torch.Tensor], dy: torch.Tensor, fwd_tol: dict = OP_TOL) -> None:
    """``fn`` on bfloat16 inputs against ``fn`` in float64 on the same rounded values: output dtype, value, gradients."""
    lo = [_b(t).requires_grad_(True) for t in inputs]
    hi = [t.to(bf16).to(f64).requires_grad_(True) for t in inputs]
    out_lo, out_hi = fn(*lo), fn(*hi)
    assert out_lo.dtype == bf16
    assert_close(out_lo.to(f64), out_hi, **fwd_tol)
    dy_b = _b(dy)
    grads_lo = torch.autograd.grad(out_lo, lo, dy_b)
    grads_hi = torch.autograd.grad(out_hi, hi, dy_b.to(f64))
    for got, want in zip(grads_lo, grads_hi):
        assert got.dtype == bf16
        _grad_close(got, want)


# ----------------------------------------------------------------------------- ops
@needs_kernels
@pytest.mark.parametrize("reduce", ["sum", "mean"])
@pytest.mark.parametrize("weights", ["none", "shared", "per_head"])
def test_spmm_bf16_matches_float64_forward_and_gradients(reduce, weights):
    g, gen = _graph(), torch.Generator().manual_seed(0)
    x = torch.randn(11, 2, 5, generator=gen)
    w = {"none": None, "shared": torch.rand(40, 1, generator=gen) + 0.5, "per_head": torch.rand(40, 2, generator=gen) + 0.5}[weights]
    dy = torch.randn(11, 2, 5, generator=gen)
    inputs = [x] if w is None else [x, w]
    _check_op(lambda x, w=None: ops.spmm(g, x, w, reduce), inputs, dy)


@needs_kernels
def test_spmm_bf16_every_tile_width_matches_float64():
    # the kernel splits a row into tiles of 128, 120, ..., 8, 4 and 1 features: widths hitting each of them
    g, gen = _graph(), torch.Generator().manual_seed(17)
    w = torch.rand(40, generator=gen) + 0.5
    for width in (*range(1, 137, 5), 256, 300):
        x = _b(torch.randn(11, width, generator=gen))
        want = ops.spmm(g, x.to(f64), w.to(f64), "mean")
        assert_close(ops.spmm(g, x, w, "mean").to(f64), want, **OP_TOL)


@needs_kernels
@pytest.mark.parametrize("heads, features", [(3, 64), (5, 32), (9, 16)])
def test_spmm_bf16_per_head_weights_in_head_groups_match_float64(heads, features):
    # widths 64/32/16 take the kernel's grouped-heads pass (128 accumulators), the odd head the per-head one
    g, gen = _graph(), torch.Generator().manual_seed(16)
    x, w = torch.randn(11, heads, features, generator=gen), torch.rand(40, heads, generator=gen) + 0.5
    _check_op(lambda x, w: ops.spmm(g, x, w, "mean"), [x, w], torch.randn(11, heads, features, generator=gen))


@needs_kernels
@pytest.mark.parametrize("reduce", ["max", "min"])
def test_spmm_bf16_max_min_matches_float64(reduce):
    # tie-free values stay distinct in bfloat16 (spacing 0.1 > the bfloat16 step below 8), so the winners agree
    g = _graph()
    x = tie_free((11, 2, 3), seed=1).float()
    w = torch.rand(40, 2, generator=torch.Generator().manual_seed(2)) + 0.5
    dy = torch.randn(11, 2, 3, generator=torch.Generator().manual_seed(3))
    _check_op(lambda x: ops.spmm(g, x, None, reduce), [x], dy)
    _check_op(lambda x, w: ops.spmm(g, x, w, reduce), [x, w], dy)


@needs_kernels
def test_spmm_bf16_reads_float32_weights_and_returns_their_gradient_in_float32():
    g, gen = _graph(), torch.Generator().manual_seed(4)
    x, w = _b(torch.randn(11, 6, generator=gen)).requires_grad_(True), (torch.rand(40, generator=gen) + 0.5).requires_grad_(True)
    out = ops.spmm(g, x, w)
    assert out.dtype == bf16
    x64, w64 = x.detach().to(f64).requires_grad_(True), w.detach().to(f64).requires_grad_(True)
    ref = ops.spmm(g, x64, w64)
    assert_close(out.to(f64), ref, **OP_TOL)
    dy = _b(torch.randn(11, 6, generator=gen))
    gx, gw = torch.autograd.grad(out, (x, w), dy)
    rx, rw = torch.autograd.grad(ref, (x64, w64), dy.to(f64))
    assert gx.dtype == bf16 and gw.dtype == f32
    _grad_close(gx, rx)
    _grad_close(gw, rw)


@needs_kernels
@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "min"])
def test_segment_reduce_bf16_matches_float64(reduce):
    g = _graph()
    m = tie_free((40, 4), seed=5).float()
    _check_op(lambda m: ops.segment_reduce(g, m, reduce), [m], torch.randn(11, 4, generator=torch.Generator().manual_seed(6)))


@needs_kernels
def test_sddmm_dot_bf16_matches_float64():
    g, gen = _graph(), torch.Generator().manual_seed(7)
    a, b = torch.randn(11, 3, 8, generator=gen), torch.randn(11, 3, 8, generator=gen)
    _check_op(lambda a, b: ops.sddmm(g, a, b), [a, b], torch.randn(40, 3, generator=gen))


@needs_kernels
def test_edge_softmax_bf16_matches_float64():
    g, gen = _graph(), torch.Generator().manual_seed(8)
    score = 3 * torch.randn(40, 2, generator=gen)
    _check_op(lambda s: ops.edge_softmax(g, s), [score], torch.randn(40, 2, generator=gen))


def test_gather_bf16_is_exact():
    g = _graph()
    x = _b(torch.randn(11, 3))
    out = ops.gather(g, x, "dst")
    assert out.dtype == bf16 and torch.equal(out, x[g.dst])


@needs_kernels
def test_bf16_kernel_rounds_to_nearest_even_like_torch():
    # one in-edge per vertex: out = round(w * x) computed in float32, the conversion torch's .to(bfloat16) does
    n = 4096
    g = Graph(torch.arange(n), torch.arange(n), n)
    gen = torch.Generator().manual_seed(9)
    x = _b(torch.randn(n, 1, generator=gen) * 10)
    x[:3, 0] = torch.tensor([float("nan"), float("inf"), -float("inf")])
    w = torch.rand(n, generator=gen) * 3 + 0.1
    want = (w.view(-1, 1) * x.float()).to(bf16)
    got = ops.spmm(g, x, w)
    assert torch.equal(got.view(torch.int16)[3:], want.view(torch.int16)[3:])  # bit for bit
    assert got[0].isnan().all() and got[1].item() == float("inf") and got[2].item() == -float("inf")


@needs_kernels
def test_bf16_kernels_agree_with_bf16_reference():
    g, gen = _graph(), torch.Generator().manual_seed(10)
    x, w = _b(torch.randn(11, 2, 4, generator=gen)), _b(torch.rand(40, 2, generator=gen))
    impl = {k: _dispatch.TABLE[(k, "cpu")] for k in _dispatch.CPU_OPS}
    for reduce in ("sum", "max"):
        got, want = impl["spmm"](g, x, w, reduce)[0], reference.spmm(g, x, w, reduce)[0]
        assert got.dtype == want.dtype == bf16
        assert_close(got.float(), want.float(), rtol=2**-7, atol=0)  # each rounds once from float32 sums
    s = impl["segment_softmax"](g, w)
    assert_close(s.float(), reference.segment_softmax(g, w).float(), rtol=2**-7, atol=2**-12)
    assert_close(impl["sddmm_dot"](g, x, x).float(), reference.sddmm_dot(g, x, x).float(), rtol=2**-7, atol=2**-12)


def test_reference_computes_bf16_in_float32():
    g, gen = _graph(), torch.Generator().manual_seed(11)
    x = _b(torch.randn(11, 1, 300, generator=gen))
    w = _b(torch.rand(40, 1, generator=gen))
    out, _ = reference.spmm(g, x, w, "sum")
    want = reference.spmm(g, x.double(), w.double(), "sum")[0]
    assert out.dtype == bf16
    assert_close(out.double(), want, **OP_TOL)


@needs_kernels
def test_float32_and_float64_paths_keep_their_dtype_and_accuracy():
    g, gen = _graph(), torch.Generator().manual_seed(12)
    x, w = torch.randn(11, 7, generator=gen), torch.rand(40, generator=gen)
    for dtype, tol in ((f32, dict(rtol=1e-6, atol=1e-6)), (f64, dict(rtol=1e-12, atol=1e-12))):
        out = ops.spmm(g, x.to(dtype), w.to(dtype), "mean")
        assert out.dtype == dtype
        assert_close(out.double(), reference.spmm(g, x.double().unsqueeze(1), w.double().view(-1, 1), "mean")[0].view(11, 7), **tol)
    with torch.autocast("cpu", dtype=bf16):  # autocast casts float32 only, as torch does
        assert ops.spmm(g, x.double(), w.double()).dtype == f64


# ----------------------------------------------------------------- autocast policy
def test_autocast_policy_of_each_op():
    g, gen = _graph(), torch.Generator().manual_seed(13)
    x, score = torch.randn(11, 4, generator=gen), torch.randn(40, 2, generator=gen)
    with torch.autocast("cpu", dtype=bf16):
        assert ops.spmm(g, x).dtype == bf16
        assert ops.spmm(g, x, reduce="mean").dtype == bf16
        assert ops.spmm(g, x, torch.rand(40)).dtype == bf16  # float32 weights read as they are
        assert ops.segment_reduce(g, torch.randn(40, 3), "sum").dtype == bf16
        assert ops.sddmm(g, x, x).dtype == bf16
        assert ops.spmm(g, x, reduce="max").dtype == f32  # near-ties: max/min keep float32 input
        assert ops.edge_softmax(g, score).dtype == f32  # float32 scores stay float32, as torch.softmax
        assert ops.edge_softmax(g, score.to(bf16)).dtype == bf16
        assert ops.gcn_norm(g).dtype == f32
    assert ops.spmm(g, x).dtype == f32  # outside autocast nothing is cast


def test_autocast_input_casts_float32_cpu_tensors_only_under_bf16_autocast():
    x = torch.randn(3, 2)
    assert ops.autocast_input(x) is x
    with torch.autocast("cpu", dtype=bf16):
        assert ops.autocast_input(x).dtype == bf16
        assert ops.autocast_input(x.double()).dtype == f64
    with torch.autocast("cpu", dtype=torch.float16):
        assert ops.autocast_input(x) is x


def test_gcn_norm_bf16_sums_degrees_in_float32():
    # a vertex with 300 in-edges: 300 is not a bfloat16 number (the step there is 2), float32 sums it exactly
    n = 301
    g = Graph(torch.arange(1, n), torch.zeros(n - 1, dtype=torch.int64), n)
    w = ops.gcn_norm(g, dtype=bf16)
    assert w.dtype == bf16
    assert_close(w.double(), ops.gcn_norm(g, dtype=f64), rtol=2**-8, atol=0)


# --------------------------------------------------------------------------- layers
def _layer(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return {
        "gcn": lambda: GCNConv(12, 6),
        "gcn_wide": lambda: GCNConv(6, 12),
        "sage_mean": lambda: SAGEConv(12, 6),
        "sage_wide": lambda: SAGEConv(6, 12, reduce="sum"),
        "sage_max": lambda: SAGEConv(12, 6, reduce="max"),
        "gat": lambda: GATConv(12, 4, heads=2),
        "gin": lambda: GINConv(torch.nn.Linear(12, 6), train_eps=True),
    }[name]()


@needs_kernels
@pytest.mark.parametrize("name", ["gcn", "gcn_wide", "sage_mean", "sage_wide", "sage_max", "gat", "gin"])
def test_layer_under_bf16_autocast_matches_float64(name):
    g = _graph()
    layer = _layer(name)
    width = 6 if name in ("gcn_wide", "sage_wide") else 12
    x = torch.randn(11, width, generator=torch.Generator().manual_seed(14))
    ref_layer = _layer(name).double()
    ref_layer.load_state_dict({k: v.double() for k, v in layer.state_dict().items()})
    xr = x.double().requires_grad_(True)
    ref = ref_layer(g, xr)
    xl = x.clone().requires_grad_(True)
    with torch.autocast("cpu", dtype=bf16):
        out = layer(g, xl)
    if name != "sage_max":  # sum/mean layers stay in bfloat16 to their output; max/min run in float32 (ops.spmm)
        assert out.dtype == bf16
    scale = ref.abs().max().item()
    tol = dict(rtol=0, atol=2**-5 * scale)
    assert_close(out.double(), ref, **tol)
    dy = torch.randn(ref.shape, generator=torch.Generator().manual_seed(15), dtype=f64)
    grads = torch.autograd.grad(out.double(), (xl, *layer.parameters()), dy)
    ref_grads = torch.autograd.grad(ref, (xr, *ref_layer.parameters()), dy)
    for got, want in zip(grads, ref_grads):
        assert got.dtype == f32  # the leaves keep float32 gradients under autocast
        assert_close(got.double(), want, rtol=0, atol=2**-5 * max(want.abs().max().item(), 1e-3))


def _conversions(workload: str) -> list[tuple[tuple, str, str]]:
    """``(shape, from, to)`` of every dtype conversion of an [N, *] or [E, *] tensor in one autocast training step."""
    g = _graph()
    torch.manual_seed(0)
    layers = {
        "gcn": (GCNConv(24, 16), GCNConv(16, 5)),
        "sage": (SAGEConv(24, 16), SAGEConv(16, 5)),
        "gat": (GATConv(24, 8, heads=2), GATConv(16, 5)),
    }[workload]
    x, y = torch.randn(11, 24), torch.randint(0, 5, (11,))

    def step() -> None:
        with torch.autocast("cpu", dtype=bf16):
            loss = F.cross_entropy(layers[1](g, layers[0](g, x).relu()), y)
        loss.backward()

    step()  # layouts, norms and self-loops cached outside the profile
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        step()
    found = []
    for ev in prof.events():
        shape = ev.input_shapes[0] if ev.input_shapes else []
        if ev.name == "aten::copy_" and len(shape) >= 2 and shape[0] in (g.num_nodes, g.num_edges) and ev.input_dtypes[0] != ev.input_dtypes[1]:
            found.append((tuple(shape), ev.input_dtypes[1], ev.input_dtypes[0]))
    return found


@pytest.mark.parametrize("workload", ["gcn", "sage", "gat"])
def test_autocast_step_has_no_float32_round_trips(workload):
    # allowed: the input cast [N, 24] (once), the loss's float32 logits [N, 5] and their gradient's cast back,
    # and GAT's [N, H] per-vertex score halves (index_select's backward accumulates them in float32)
    heads = {"gcn": 0, "sage": 0, "gat": 2}[workload]
    allowed = {((11, 24), "float", "c10::BFloat16"), ((11, 5), "c10::BFloat16", "float"), ((11, 5), "float", "c10::BFloat16")}
    seen = _conversions(workload)
    unexpected = [c for c in seen if c not in allowed and not (heads and c[0][1:] in ((heads,), (1,)) and c[0][0] == 11)]
    assert unexpected == []
    assert sum(c == ((11, 24), "float", "c10::BFloat16") for c in seen) == 1  # the input is cast once


# ---------------------------------------------------------------- gnnkit.precision
def test_resolve_precision_keeps_bf16_on_a_bf16_cpu(monkeypatch):
    monkeypatch.setattr(precision, "cpu_bf16_flags", lambda: ("avx512_bf16",))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert precision.resolve_precision("bf16") == "bf16"
        assert precision.resolve_precision("fp32") == "fp32"


def test_resolve_precision_falls_back_to_fp32_with_one_warning_naming_the_flag(monkeypatch):
    monkeypatch.setattr(precision, "cpu_bf16_flags", lambda: ())
    with pytest.warns(RuntimeWarning, match=r"--precision bf16: this CPU has no bfloat16 arithmetic .*training in fp32") as rec:
        assert precision.resolve_precision("bf16", "cpu", "--precision") == "fp32"
    assert len(rec) == 1


def test_precision_validation():
    with pytest.raises(ValueError, match=r"precision must be one of \('fp32', 'bf16'\), got 'fp16'"):
        precision.resolve_precision("fp16")
    with pytest.raises(ValueError, match=r"precision must be one of \('fp32', 'bf16'\), got 'half'"):
        precision.autocast("half")


def test_cpu_bf16_support_names_capability_and_flags(monkeypatch):
    monkeypatch.setattr(precision, "cpu_bf16_flags", lambda: ("amx_bf16",))
    text = precision.cpu_bf16_support()
    assert text.startswith(f"torch CPU capability {torch.backends.cpu.get_cpu_capability()}") and text.endswith("amx_bf16")


def test_autocast_context_follows_precision():
    with precision.autocast("bf16"):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == bf16
    with precision.autocast("fp32"):
        assert not torch.is_autocast_enabled("cpu")


# --------------------------------------------------------------------- --precision
def _cli(*extra: str):
    return build_parser().parse_args(["train", "--model", "gcn", "--epochs", "3", "--quiet", *extra])


def test_train_precision_bf16_runs_the_training_forward_under_autocast(monkeypatch):
    monkeypatch.setattr(precision, "cpu_bf16_flags", lambda: ("avx512_bf16",))
    seen = []
    real = ops.spmm

    def spy(g, x, *args, **kwargs):
        out = real(g, x, *args, **kwargs)
        seen.append((torch.is_autocast_enabled("cpu"), out.dtype))
        return out

    monkeypatch.setattr(ops, "spmm", spy)
    acc = train(_cli("--precision", "bf16"))
    assert 0.0 <= acc <= 1.0
    assert (True, bf16) in seen  # training steps ran the sparse ops in bfloat16
    assert (False, f32) in seen  # evaluation runs in float32


def test_train_precision_fp32_never_autocasts(monkeypatch):
    seen = []
    real = ops.spmm
    monkeypatch.setattr(ops, "spmm", lambda g, x, *a, **k: (seen.append(torch.is_autocast_enabled("cpu")), real(g, x, *a, **k))[1])
    train(_cli())
    assert seen and not any(seen)


def test_train_precision_bf16_falls_back_on_a_cpu_without_bf16(monkeypatch):
    monkeypatch.setattr(precision, "cpu_bf16_flags", lambda: ())
    with pytest.warns(RuntimeWarning, match="--precision bf16") as rec:
        args = _cli("--precision", "bf16")
        acc = train(args)
    assert args.precision == "fp32" and 0.0 <= acc <= 1.0
    assert sum("--precision" in str(w.message) for w in rec) == 1


def test_train_precision_rejects_other_values(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--precision", "fp16"])
    assert "invalid choice: 'fp16'" in capsys.readouterr().err
