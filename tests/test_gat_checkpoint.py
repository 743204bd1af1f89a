"""Tests for the hand-written GAT checkpoint (gnnkit/nn/_gat_checkpoint.py) and GNN's choice of it."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import DEVICES
from torch.testing import assert_close

from gnnkit import GNN, Graph, GNNConfig, ops
from gnnkit.models import gnn as gnn_module
from gnnkit.nn import GATConv
from gnnkit.nn._gat_checkpoint import gat_layer_checkpointed
from gnnkit.nn._gcn_checkpoint import mask_scale


def random_graph(seed: int, n: int = 12, e: int = 30) -> Graph:
    gen = torch.Generator().manual_seed(seed)
    src, dst = torch.randint(n - 1, (e,), generator=gen), torch.randint(n - 1, (e,), generator=gen)  # n-1 isolated
    return Graph(torch.cat([src, dst]), torch.cat([dst, src]), n)


def reference(g: Graph, x: torch.Tensor, conv: GATConv, p: float, p_att: float, seed: int, att_seed: int,
              act: str | None) -> torch.Tensor:
    """The layer with plain autograd ops and explicit masks, drawn as the checkpoint draws them (one block)."""
    xd = x * mask_scale(x, 0, p, seed, x.dtype) if p else x  # [N, F]
    h = (xd @ conv.lin.weight.t()).view(-1, conv.heads, conv.out_features)  # [N, H, F']
    a_src, a_dst = (xd @ conv.attention_projection().t()).split(conv.heads, dim=1)  # [N, H] each
    alpha = ops.edge_softmax(g, F.leaky_relu(ops.sddmm(g, a_src, a_dst, op="add"), conv.negative_slope))  # [E, H]
    if p_att:
        cols = [mask_scale(alpha[:, k].detach(), 0, p_att, att_seed + k, x.dtype) for k in range(conv.heads)]
        alpha = alpha * torch.stack(cols, 1)  # [E, H]
    out = ops.spmm(g, h, alpha)  # [N, H, F']
    out = out.reshape(x.shape[0], -1) if conv.concat else out.mean(1)
    if conv.bias is not None:
        out = out + conv.bias
    return {"relu": F.relu, "elu": F.elu, None: lambda t: t}[act](out)


def checkpointed(g: Graph, x: torch.Tensor, conv: GATConv, p: float, p_att: float, seed: int, att_seed: int,
                 act: str | None) -> torch.Tensor:
    return gat_layer_checkpointed(g, x, conv.lin.weight, conv.attention_projection(), conv.bias, conv.heads, conv.concat,
                                  conv.negative_slope, p, p_att, seed, att_seed, act, x.dtype)


def outputs_and_grads(fn, g, x, conv, *args) -> list[torch.Tensor]:
    out = fn(g, x, conv, *args)
    ct = torch.randn(out.shape, dtype=out.dtype, generator=torch.Generator().manual_seed(0)).to(out.device)  # generic
    return [out, *torch.autograd.grad((out * ct).sum(), [x, *conv.parameters()])]


@pytest.mark.parametrize("p, p_att", [(0.0, 0.0), (0.4, 0.0), (0.0, 0.5), (0.3, 0.6)])
@pytest.mark.parametrize("concat", [True, False])
@pytest.mark.parametrize("act", [None, "relu", "elu"])
@pytest.mark.parametrize("device", DEVICES)
def test_checkpoint_equals_reference_with_its_masks(p, p_att, concat, act, device):
    g = random_graph(0).add_self_loops(only_missing=True).to(device)
    torch.manual_seed(1)
    conv = GATConv(5, 4, heads=3, concat=concat).double().to(device)
    torch.nn.init.normal_(conv.bias)  # a nonzero bias, so its place before the activation is tested
    x = torch.randn(g.num_nodes, 5, dtype=torch.float64, device=device, requires_grad=True)
    got = outputs_and_grads(checkpointed, g, x, conv, p, p_att, 11, 22, act)
    want = outputs_and_grads(reference, g, x, conv, p, p_att, 11, 22, act)
    names = ["out", "x", *(n for n, _ in conv.named_parameters())]
    for name, u, v in zip(names, got, want):
        assert_close(u, v, rtol=0, atol=1e-12, msg=lambda m, name=name: f"{name}: {m}")  # same masks, same maths


@pytest.mark.parametrize("concat", [True, False])
def test_checkpoint_equals_gatconv_without_dropout(concat):
    g = random_graph(1)
    torch.manual_seed(2)
    conv = GATConv(6, 3, heads=2, concat=concat).double().train()
    torch.nn.init.normal_(conv.bias)
    x = torch.randn(g.num_nodes, 6, dtype=torch.float64, requires_grad=True)
    got = outputs_and_grads(checkpointed, g.add_self_loops(only_missing=True), x, conv, 0.0, 0.0, 0, 0, None)
    want = outputs_and_grads(lambda g, x, conv, *_: conv(g, x), g, x, conv)
    for u, v in zip(got, want):
        assert_close(u, v, rtol=0, atol=1e-12)


@pytest.mark.parametrize("slope", [0.0, -0.5])
def test_checkpoint_other_slopes(slope):
    # backward takes the LeakyReLU's branch from the score's sign, which its output gives only for slope > 0
    g = random_graph(3).add_self_loops(only_missing=True)
    torch.manual_seed(4)
    conv = GATConv(5, 3, heads=2, negative_slope=slope).double()
    x = torch.randn(g.num_nodes, 5, dtype=torch.float64, requires_grad=True)
    for u, v in zip(outputs_and_grads(checkpointed, g, x, conv, 0.2, 0.3, 1, 2, "relu"),
                    outputs_and_grads(reference, g, x, conv, 0.2, 0.3, 1, 2, "relu")):
        assert_close(u, v, rtol=0, atol=1e-12)


def test_checkpoint_gradcheck():
    g = random_graph(2, n=5, e=6).add_self_loops(only_missing=True)
    gen = torch.Generator().manual_seed(3)
    x, w, w_att, b = (torch.randn(*s, dtype=torch.float64, generator=gen, requires_grad=True)
                      for s in ((5, 3), (4, 3), (4, 3), (4,)))
    # ELU is smooth (ReLU's kink is left to the reference comparison above); with dropout the masks are a
    # function of the seeds, so the layer is a deterministic function of its inputs and gradcheck applies too
    for act, p, p_att in ((None, 0.0, 0.0), ("elu", 0.0, 0.0), ("elu", 0.3, 0.4)):
        fn = lambda x, w, w_att, b: gat_layer_checkpointed(g, x, w, w_att, b, 2, True, 0.2, p, p_att, 1, 2, act,  # noqa: E731
                                                           torch.float64)
        assert torch.autograd.gradcheck(fn, (x, w, w_att, b))


def test_checkpoint_zero_in_degree():
    # no self-loops: vertices 3 and 4 have no in-edges (4 has no edges at all), so they get act(bias)
    g = Graph(torch.tensor([0, 1, 2, 3, 0]), torch.tensor([1, 2, 0, 0, 2]), 5)
    torch.manual_seed(4)
    conv = GATConv(3, 2, heads=2, add_self_loops=False).double()
    torch.nn.init.normal_(conv.bias)
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    got = outputs_and_grads(checkpointed, g, x, conv, 0.2, 0.3, 5, 6, "relu")
    want = outputs_and_grads(reference, g, x, conv, 0.2, 0.3, 5, 6, "relu")
    for u, v in zip(got, want):
        assert_close(u, v, rtol=0, atol=1e-12)
    assert_close(got[0][3:], conv.bias.detach().relu().expand(2, -1))
    assert got[1][4].abs().sum() == 0  # an isolated vertex's input reaches nothing


def config(**kw) -> GNNConfig:
    base = dict(model="gat", in_features=5, out_features=3, hidden_features=4, num_layers=3, heads=2, out_heads=2,
                dropout=0.0, checkpoint=True)
    base.update(kw)
    return GNNConfig(**base)


def step(model: GNN, g, x: torch.Tensor, seed: int) -> list[torch.Tensor]:
    model.train()
    torch.manual_seed(seed)
    out = model(g, x)
    return [out, *torch.autograd.grad(out.double().pow(2).sum(), [x, *model.parameters()], allow_unused=True)]


@pytest.mark.parametrize("activation", ["relu", "elu"])
def test_gnn_checkpoint_equals_plain(activation):
    g = random_graph(5)
    x = torch.randn(g.num_nodes, 5, dtype=torch.float64, requires_grad=True)
    torch.manual_seed(6)
    plain = GNN(config(checkpoint=False, activation=activation)).double()
    fused = GNN(config(activation=activation)).double()
    fused.load_state_dict(plain.state_dict())
    assert fused._fused_gat(fused._per_layer(g), x)
    for a, b in zip(step(plain, g, x, 7), step(fused, g, x, 7)):
        assert_close(a, b, rtol=0, atol=1e-12)


def test_gnn_checkpoint_dropout_equals_reference_with_its_seeds():
    g = random_graph(8)
    p = 0.4
    x = torch.randn(g.num_nodes, 5, dtype=torch.float64, requires_grad=True)
    torch.manual_seed(9)
    model = GNN(config(dropout=p)).double()
    got = step(model, g, x, 10)
    torch.manual_seed(10)
    seeds = [[int(s) for s in torch.randint(0, 1 << 62, (2,))] for _ in model.layers]
    h, loops = x, g.add_self_loops(only_missing=True)
    for i, (conv, (seed, att_seed)) in enumerate(zip(model.layers, seeds)):
        h = reference(loops, h, conv, p, p, seed, att_seed, "relu" if i < len(seeds) - 1 else None)
    want = [h, *torch.autograd.grad(h.pow(2).sum(), [x, *model.parameters()])]
    for a, b in zip(got, want):
        assert_close(a, b, rtol=0, atol=1e-12)


def test_gnn_checkpoint_bfloat16_storage_within_tolerance():
    g = random_graph(11)
    x = torch.randn(g.num_nodes, 5)
    torch.manual_seed(12)
    ref = GNN(config(checkpoint=False))
    low = GNN(config(feature_dtype="bfloat16"))
    low.load_state_dict(ref.state_dict())
    a, b = step(ref, g, x.requires_grad_(), 0), step(low, g, x.bfloat16().requires_grad_(), 0)
    assert b[0].dtype == torch.float32 and b[1].dtype == torch.bfloat16
    # as tests/test_models_memory.py::test_feature_dtype_within_tolerance: activations rounded to 8 bits
    assert (a[0] - b[0]).norm() <= 5e-2 * a[0].norm()
    ga, gb = torch.cat([t.flatten() for t in a[2:]]), torch.cat([t.flatten() for t in b[2:]])
    assert (ga - gb).norm() <= 5e-2 * ga.norm()


def test_gnn_checkpoint_keeps_no_edge_tensor():
    g = random_graph(13, n=40, e=200)
    loops = g.add_self_loops(only_missing=True)
    model = GNN(config(dropout=0.5, feature_dtype="bfloat16")).train()
    saved = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append(tuple(t.shape))
        return t

    x = torch.randn(g.num_nodes, 5).bfloat16()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(g, x)
    out.sum().backward()
    assert saved and all(loops.num_edges not in s for s in saved)  # [N, ·] and parameters only, no [E, ·]
    widths = [s[1] for s in saved if s[0] == g.num_nodes]
    # per layer its input, lse [N, H] and (before an activation) its output, which is the next layer's input
    assert sorted(widths) == sorted([5, 2, 8] + [8, 2, 8] + [8, 2])


@pytest.mark.parametrize("change, fused", [
    ({}, True),
    ({"checkpoint": False}, False),
    ({"norm": "layer"}, False),
    ({"residual": True}, False),
    ({"activation": "gelu"}, False),
    ({"model": "sage"}, False),
])
def test_gnn_selects_checkpoint_only_where_it_applies(monkeypatch, change, fused):
    calls = []
    real = gnn_module.gat_layer_checkpointed
    monkeypatch.setattr(gnn_module, "gat_layer_checkpointed", lambda *a, **k: calls.append(1) or real(*a, **k))
    g = random_graph(14)
    model = GNN(config(**change))
    x = torch.randn(g.num_nodes, 5)
    model.train()(g, x).sum().backward()
    assert len(calls) == (3 if fused else 0)
    calls.clear()
    model.eval()(g, x)  # inference never takes it
    with torch.no_grad():
        model.train()(g, x)
    assert calls == []


def test_gnn_checkpoint_falls_back_where_the_function_does_not_describe_the_model(monkeypatch):
    calls = []
    real = gnn_module.gat_layer_checkpointed
    monkeypatch.setattr(gnn_module, "gat_layer_checkpointed", lambda *a, **k: calls.append(1) or real(*a, **k))
    g = random_graph(15)
    model = GNN(config(num_layers=2)).train()
    x = torch.randn(g.num_nodes, 5)

    def fused(graphs) -> bool:
        calls.clear()
        model(graphs, x).sum().backward()
        return len(calls) == 2

    assert fused(g) and fused([g, g])  # one graph, or the same graph for every layer
    assert not fused([g, random_graph(15)])  # one graph per layer: GATConv adds each one's loops
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not fused(g)  # autocast casts inside GATConv, which the Function does not
    model.layers[0].add_self_loops = False  # a layer without its self-loops
    assert not fused(g)
