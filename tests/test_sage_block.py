"""Tests for gnnkit/nn/_sage_block.py: GraphSAGE on a sampled block as one autograd node.

Checked against a dense float64 formula (forward and the gradient of every input), against
SAGEConv's composed path with the same weights, with gradcheck/gradgradcheck, and on blocks
with isolated destinations, duplicate edges and no edges at all.
"""
from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

import gnnkit.nn.sage as sage_module
from gnnkit import Graph
from gnnkit.data.sampling import NeighborSampler
from gnnkit.nn import SAGEConv
from gnnkit.nn._sage_block import sage_block, sage_block_applies

F64 = torch.float64


def _block(seed: int, num_src: int = 9, num_dst: int = 4, num_edges: int = 20) -> Graph:
    """A block whose last destination has no in-edges and whose edges repeat."""
    gen = torch.Generator().manual_seed(seed)
    src = torch.randint(0, num_src, (num_edges,), generator=gen)
    dst = torch.randint(0, num_dst - 1, (num_edges,), generator=gen).sort().values  # grouped, like a sampled block
    src[1] = src[0]
    dst[1] = dst[0]  # a duplicate edge
    return Graph.block(src, dst, num_dst, num_src)


def _dense(g: Graph, x, w_l, w_r, b, reduce):
    """``x_dst W_rᵀ + (D⁻¹) A x W_lᵀ + b`` with a dense ``[N, S]`` adjacency (tiny graphs only)."""
    a = torch.zeros(g.num_nodes, g.num_src_nodes, dtype=x.dtype).index_put_((g.dst, g.src), torch.ones(g.num_edges, dtype=x.dtype), accumulate=True)
    if reduce == "mean":
        a = a / a.sum(1, keepdim=True).clamp(min=1)
    return x[: g.num_nodes] @ w_r.t() + a @ x @ w_l.t() + b


def _leaves(seed: int, num_src: int, fin: int, fout: int):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=gen, dtype=F64, requires_grad=True)
            for shape in ((num_src, fin), (fout, fin), (fout, fin), (fout,))]


@pytest.mark.parametrize("reduce", ["mean", "sum"])
@pytest.mark.parametrize("fin,fout", [(5, 7), (7, 3)])  # aggregate first, project first
def test_sage_block_equals_dense_formula_with_gradients(reduce, fin, fout):
    g = _block(0)
    x, w_l, w_r, b = _leaves(1, g.num_src_nodes, fin, fout)
    out = sage_block(g, x, w_l, w_r, b, reduce)
    ref = _dense(g, x, w_l, w_r, b, reduce)
    assert_close(out, ref)
    dy = torch.randn_like(ref)
    for got, want in zip(torch.autograd.grad(out, (x, w_l, w_r, b), dy), torch.autograd.grad(ref, (x, w_l, w_r, b), dy)):
        assert_close(got, want)


@pytest.mark.parametrize("reduce", ["mean", "sum"])
@pytest.mark.parametrize("fin,fout", [(3, 4), (4, 2)])
def test_sage_block_gradcheck_and_double_backward(reduce, fin, fout):
    g = _block(2, num_src=6, num_dst=3, num_edges=8)
    x, w_l, w_r, b = _leaves(3, g.num_src_nodes, fin, fout)
    fn = lambda *t: sage_block(g, *t, reduce)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, w_l, w_r, b))
    assert torch.autograd.gradgradcheck(fn, (x, w_l, w_r, b))


def test_sage_block_input_without_grad_gives_weight_gradients_only():
    g = _block(4)
    x, w_l, w_r, b = _leaves(5, g.num_src_nodes, 5, 7)
    x = x.detach()  # the first layer's features need no gradient
    out = sage_block(g, x, w_l, w_r, b)
    ref = _dense(g, x, w_l, w_r, b, "mean")
    for got, want in zip(torch.autograd.grad(out.sum(), (w_l, w_r, b)), torch.autograd.grad(ref.sum(), (w_l, w_r, b))):
        assert_close(got, want)


def test_sage_block_without_edges_is_the_root_term():
    g = Graph.block(torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64), 2, 5)
    x, w_l, w_r, b = _leaves(6, 5, 3, 4)
    out = sage_block(g, x, w_l, w_r, b)
    assert_close(out, x[:2] @ w_r.t() + b)
    (dx,) = torch.autograd.grad(out.sum(), (x,))
    assert_close(dx[2:], torch.zeros(3, 3, dtype=F64))


def _assert_fast_equals_composed(monkeypatch, run) -> None:
    """``run()`` (output, gradients) agrees with the block fast path and with SAGEConv's composed path."""
    fast, fast_grads = run()
    monkeypatch.setattr(sage_module, "sage_block_applies", lambda g, x: False)
    slow, slow_grads = run()
    assert_close(fast, slow)
    for a, b in zip(fast_grads, slow_grads):
        assert_close(a, b)


def _sampled_batch(seed: int):
    """A generator and a 2-layer sampled batch (fan-outs 4, 3) of 5 seeds on a random 40-vertex graph."""
    gen = torch.Generator().manual_seed(seed)
    src, dst = torch.randint(0, 40, (200,), generator=gen), torch.randint(0, 40, (200,), generator=gen)
    return gen, NeighborSampler(Graph(src, dst, 40), [4, 3], seed=0).sample(torch.arange(5), 0)


@pytest.mark.parametrize("fin,fout", [(6, 8), (8, 3)])
def test_sageconv_on_sampled_blocks_equals_composed_path(monkeypatch, fin, fout):
    """A 2-layer SAGE on real sampled blocks: the fast path and SAGEConv's composed path agree (float64)."""
    gen, batch = _sampled_batch(7)
    layers = [SAGEConv(fin, fout).double(), SAGEConv(fout, fout).double()]
    x0 = torch.randn(batch.blocks[0].num_src_nodes, fin, generator=gen, dtype=F64, requires_grad=True)
    params = [x0] + [p for layer in layers for p in layer.parameters()]

    def run():
        h = x0
        for layer, block in zip(layers, batch.blocks):
            h = torch.relu(layer(block, h))
        return h, torch.autograd.grad(h.square().sum(), params)

    assert sage_block_applies(batch.blocks[0], x0)
    _assert_fast_equals_composed(monkeypatch, run)


def test_sage_block_used_on_a_whole_graph_not_under_autocast():
    g = Graph(torch.tensor([0, 1]), torch.tensor([1, 0]), 2)
    assert sage_block_applies(g, torch.randn(2, 3))
    block = _block(8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not sage_block_applies(block, torch.randn(block.num_src_nodes, 3))


def test_sage_block_bad_reduce_and_shapes():
    g = _block(9)
    x, w_l, w_r, b = _leaves(10, g.num_src_nodes, 3, 4)
    with pytest.raises(ValueError, match="reduce must be 'sum' or 'mean'.*'max'"):
        sage_block(g, x, w_l, w_r, b, "max")
    with pytest.raises(ValueError, match=r"x must be \[num_src_nodes=9, F\].*x \(8, 3\)"):
        sage_block(g, x[:8], w_l, w_r, b)
    with pytest.raises(ValueError, match=r"w_l \(4, 3\), w_r \(4, 2\)"):
        sage_block(g, x, w_l, w_r[:, :2], b)


def test_sage_block_output_does_not_keep_the_block_and_its_data_alive():
    import gc
    import weakref

    g = _block(11)
    g.srcdata["x"] = torch.randn(g.num_src_nodes, 5, dtype=F64)  # a sampled block carries its batch's features
    x, w_l, w_r, b = _leaves(12, g.num_src_nodes, 5, 7)
    out = sage_block(g, x, w_l, w_r, b)
    out.sum().backward(retain_graph=True)
    out.sum().backward()  # a retained graph backpropagates twice
    ref = weakref.ref(g)
    del g
    gc.collect()
    assert ref() is None  # the output's autograd node holds tensors, not the block (nor its data)


ACTS = {"relu": torch.relu, "elu": torch.nn.functional.elu}


@pytest.mark.parametrize("act", ["relu", "elu"])
@pytest.mark.parametrize("fin,fout", [(5, 7), (7, 3)])
def test_sage_block_fused_activation_equals_dense_formula_with_gradients(act, fin, fout):
    g = _block(13)
    x, w_l, w_r, b = _leaves(14, g.num_src_nodes, fin, fout)
    out = sage_block(g, x, w_l, w_r, b, "mean", act)
    ref = ACTS[act](_dense(g, x, w_l, w_r, b, "mean"))
    assert_close(out, ref)
    assert (out < 0).any() if act == "elu" else (out == 0).any()  # both branches of the activation are exercised
    dy = torch.randn_like(ref)
    dy_before = dy.clone()
    for got, want in zip(torch.autograd.grad(out, (x, w_l, w_r, b), dy), torch.autograd.grad(ref, (x, w_l, w_r, b), dy)):
        assert_close(got, want)
    assert torch.equal(dy, dy_before)  # the caller's gradient is read, never written


@pytest.mark.parametrize("act", ["relu", "elu"])
def test_sage_block_fused_activation_gradcheck_and_double_backward(act):
    g = _block(15, num_src=6, num_dst=3, num_edges=8)
    x, w_l, w_r, b = _leaves(16, g.num_src_nodes, 3, 4)
    fn = lambda *t: sage_block(g, *t, "sum", act)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, w_l, w_r, b))
    assert torch.autograd.gradgradcheck(fn, (x, w_l, w_r, b))


def test_sage_block_output_changed_in_place_is_caught_in_backward():
    """The fused ReLU's backward reads the output: changing it in place must fail loudly, not differentiate wrongly."""
    g = _block(17)
    x, w_l, w_r, b = _leaves(18, g.num_src_nodes, 5, 7)
    out = sage_block(g, x, w_l, w_r, b, "mean", "relu")
    out.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


@pytest.mark.parametrize("activation", ["relu", "elu", "gelu"])  # gelu: applied after the block, not fused
@pytest.mark.parametrize("normalize", [False, True])
def test_sageconv_activation_on_blocks_equals_composed_path(monkeypatch, activation, normalize):
    gen, batch = _sampled_batch(19)
    layers = [SAGEConv(6, 8, activation=activation, normalize=normalize).double(), SAGEConv(8, 3).double()]
    x0 = torch.randn(batch.blocks[0].num_src_nodes, 6, generator=gen, dtype=F64, requires_grad=True)
    params = [x0] + [p for layer in layers for p in layer.parameters()]

    def run():
        h = layers[1](batch.blocks[1], layers[0](batch.blocks[0], x0))
        return h, torch.autograd.grad(h.square().sum(), params)

    _assert_fast_equals_composed(monkeypatch, run)
    # and the composed path is the activation of the plain layer, normalised after it
    plain = SAGEConv(6, 8).double()
    plain.load_state_dict(layers[0].state_dict())
    want = ACTS.get(activation, torch.nn.functional.gelu)(plain(batch.blocks[0], x0))
    want = torch.nn.functional.normalize(want, dim=-1) if normalize else want
    assert_close(layers[0](batch.blocks[0], x0), want)


@pytest.mark.parametrize("act", ["relu", "elu"])
@pytest.mark.parametrize("fin,fout", [(4, 6), (6, 4)])  # aggregate first (fused into multi_linear), project first
def test_sageconv_activation_on_a_full_graph(act, fin, fout):
    g = Graph(torch.tensor([0, 1, 2, 2, 4, 3]), torch.tensor([1, 2, 0, 1, 3, 4]), 5)
    conv = SAGEConv(fin, fout, activation=act).double()
    x = torch.randn(5, fin, dtype=F64, requires_grad=True)
    plain = SAGEConv(fin, fout).double()
    plain.load_state_dict(conv.state_dict())
    out, ref = conv(g, x), ACTS[act](plain(g, x))
    assert_close(out, ref)
    dy = torch.randn_like(out)
    got = torch.autograd.grad(out, [x, *conv.parameters()], dy)
    want = torch.autograd.grad(ref, [x, *plain.parameters()], dy)
    for a, b in zip(got, want):
        assert_close(a, b)
    assert f"activation={act!r}" in repr(conv)


def test_sageconv_activation_bad_names():
    with pytest.raises(ValueError, match="activation must be one of .*got 'swish'"):
        SAGEConv(4, 5, activation="swish")
    with pytest.raises(ValueError, match=r"act must be None or one of \('relu', 'elu'\), got 'gelu'"):
        sage_block(_block(20), *_leaves(21, 9, 3, 4), "mean", "gelu")


@pytest.mark.parametrize("reduce", ["mean", "sum"])
@pytest.mark.parametrize("fin,fout,act", [(5, 7, "relu"), (7, 3, None), (6, 4, "elu")])  # aggregate / project first
def test_sage_block_on_a_whole_graph_equals_composed_path(monkeypatch, reduce, fin, fout, act):
    """On a whole graph (root term = all of x) the node equals SAGEConv's composed path, forward and every gradient."""
    gen = torch.Generator().manual_seed(23)
    src, dst = torch.randint(0, 30, (90,), generator=gen), torch.randint(0, 29, (90,), generator=gen)
    g = Graph(src, dst, 30)  # vertex 29 has no in-edges; duplicates and self-loops happen
    conv = SAGEConv(fin, fout, reduce=reduce, activation=act).double()
    x = torch.randn(30, fin, generator=gen, dtype=F64, requires_grad=True)
    params = [x, *conv.parameters()]

    def run():
        h = conv(g, x)
        return h, torch.autograd.grad(h.square().sum(), params)

    assert sage_block_applies(g, x)
    _assert_fast_equals_composed(monkeypatch, run)


def test_sage_block_on_a_whole_graph_gradcheck():
    g = Graph(torch.tensor([0, 1, 2, 2, 3]), torch.tensor([1, 2, 0, 1, 1]), 4)
    x, w_l, w_r, b = _leaves(24, 4, 3, 2)
    fn = lambda *t: sage_block(g, *t, "mean", "elu")  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, w_l, w_r, b))
    assert torch.autograd.gradgradcheck(fn, (x, w_l, w_r, b))
