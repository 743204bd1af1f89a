"""Tests for GNN's memory-saving options: checkpointed layers, reduced-precision storage, GCN's compact adjacency."""
from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from gnnkit import GNN, Graph, GNNConfig
from gnnkit.ops import NormalizedAdjacency


def random_graph(seed: int, n: int = 14, e: int = 40) -> Graph:
    gen = torch.Generator().manual_seed(seed)
    src, dst = torch.randint(n - 1, (e,), generator=gen), torch.randint(n - 1, (e,), generator=gen)  # n-1 isolated
    return Graph(torch.cat([src, dst]), torch.cat([dst, src]), n)


def step_grads(model: GNN, g, x: torch.Tensor, seed: int) -> list[torch.Tensor]:
    """Output and parameter gradients of one training step, dropout drawn from ``seed``."""
    model.train()
    model.zero_grad()
    torch.manual_seed(seed)
    out = model(g, x)
    out.float().pow(2).sum().backward()
    return [out.detach()] + [p.grad.clone() for p in model.parameters()]


def config(model: str, **kw) -> GNNConfig:
    base = dict(model=model, in_features=5, out_features=3, hidden_features=4, num_layers=3, heads=2, dropout=0.3)
    base.update(kw)
    return GNNConfig(**base)


@pytest.mark.parametrize("model", ["gcn", "sage", "gat"])
@pytest.mark.parametrize("extra", [{}, {"norm": "batch", "residual": True}])
def test_checkpoint_gradients_equal_plain(model, extra):
    if model == "gat" and not extra:
        # a ReLU GAT without norm or residual takes the hand-written checkpoint, whose masks come from
        # seeds (tests/test_gat_checkpoint.py); GELU keeps this test on torch.utils.checkpoint
        extra = {"activation": "gelu"}
    g = random_graph(0)
    x = torch.randn(g.num_nodes, 5, dtype=torch.float64)
    torch.manual_seed(1)
    plain = GNN(config(model, **extra)).double()
    ckpt = GNN(config(model, checkpoint=True, **extra)).double()
    ckpt.load_state_dict(plain.state_dict())
    for a, b in zip(step_grads(plain, g, x, seed=7), step_grads(ckpt, g, x, seed=7)):
        assert_close(a, b, rtol=0, atol=1e-12)  # same dropout masks, same maths


@pytest.mark.parametrize("model", ["gcn", "sage", "gat"])
@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_feature_dtype_within_tolerance(model, dtype):
    g = random_graph(2)
    x = torch.randn(g.num_nodes, 5)
    torch.manual_seed(3)
    ref = GNN(config(model, dropout=0.0))
    low = GNN(config(model, dropout=0.0, feature_dtype=dtype, checkpoint=True))
    low.load_state_dict(ref.state_dict())
    a, b = step_grads(ref, g, x, 0), step_grads(low, g, x.to(getattr(torch, dtype)), 0)
    assert b[0].dtype == torch.float32  # the last layer's output stays in the parameters' dtype
    # inputs and two hidden activations rounded once each to 8 (bf16) / 11 (fp16) significant bits:
    # relative errors of a few 2^-8 (bf16) or 2^-11 (fp16); gradients are compared as one vector, since
    # a parameter whose gradient nearly cancels (GAT's last attention vector) has no scale of its own
    tol = 5e-2 if dtype == "bfloat16" else 1e-2
    assert (a[0] - b[0]).norm() <= tol * a[0].norm()
    ga, gb = torch.cat([t.flatten() for t in a[1:]]), torch.cat([t.flatten() for t in b[1:]])
    assert (ga - gb).norm() <= tol * ga.norm()


def test_gnn_takes_normalized_adjacency_for_gcn():
    g = random_graph(4)
    x = torch.randn(g.num_nodes, 5, dtype=torch.float64)
    torch.manual_seed(5)
    model = GNN(config("gcn")).double()
    adj = NormalizedAdjacency.from_graph(g, dtype=torch.float64)
    for a, b in zip(step_grads(model, g, x, 9), step_grads(model, adj, x, 9)):
        assert_close(a, b, rtol=0, atol=1e-12)


def test_memory_options_validation():
    with pytest.raises(ValueError, match="feature_dtype must be one of"):
        config("gcn", feature_dtype="int8")
    adj = NormalizedAdjacency.from_graph(random_graph(6))
    with pytest.raises(TypeError, match="model='gcn' takes it"):
        GNN(config("sage"))(adj, torch.randn(14, 5))


def fused_config(**kw) -> GNNConfig:
    base = dict(model="gcn", in_features=5, out_features=3, hidden_features=8, num_layers=3, dropout=0.0, checkpoint=True)
    base.update(kw)
    return GNNConfig(**base)


def test_fused_gcn_checkpoint_equals_plain_gradients():
    # widths 5 -> 8 (aggregates first), 8 -> 8 and 8 -> 3 (project first); x requires grad for both dx paths
    for g in (random_graph(7), Graph(torch.tensor([0, 1, 2, 5]), torch.tensor([1, 2, 0, 4]), 14)):  # undirected, directed
        x = torch.randn(g.num_nodes, 5, dtype=torch.float64, requires_grad=True)
        torch.manual_seed(8)
        plain = GNN(fused_config(checkpoint=False)).double()
        fused = GNN(fused_config()).double()
        fused.load_state_dict(plain.state_dict())
        adj = NormalizedAdjacency.from_graph(g, dtype=torch.float64)
        results = []
        for model, graph in ((plain, g), (fused, adj)):
            out = model.train()(graph, x)
            results.append([out, *torch.autograd.grad(out.pow(2).sum(), [x, *model.parameters()])])
        for a, b in zip(*results):
            assert_close(a, b, rtol=0, atol=1e-12)


def test_fused_gcn_dropout_matches_dense_reference_with_its_masks():
    from gnnkit.nn._gcn_checkpoint import mask_scale

    g = random_graph(9)
    p = 0.4
    x = torch.randn(g.num_nodes, 5, dtype=torch.float64, requires_grad=True)
    model = GNN(fused_config(dropout=p)).double().train()
    adj = NormalizedAdjacency.from_graph(g, dtype=torch.float64)
    torch.manual_seed(10)
    out = model(adj, x)
    got = torch.autograd.grad(out.pow(2).sum(), [x, *model.parameters()])
    torch.manual_seed(10)
    seeds = [int(torch.randint(0, 1 << 62, ())) for _ in model.layers]
    a = torch.zeros(g.num_nodes, g.num_nodes, dtype=torch.float64)
    cols = torch.repeat_interleave(torch.arange(g.num_nodes), adj.t_indptr.diff())  # the transposed CSR's rows: sources
    a.index_put_((adj.t_indices.long(), cols), adj.t_values, accumulate=True)  # duplicate edges add up
    h = x
    for i, (layer, seed) in enumerate(zip(model.layers, seeds)):  # the dense float64 formula with the layer's masks
        h = a @ (h * mask_scale(h, 0, p, seed, torch.float64)) @ layer.lin.weight.t() + layer.bias
        h = h.relu() if i < len(seeds) - 1 else h
    want = torch.autograd.grad(h.pow(2).sum(), [x, *model.parameters()])
    assert_close(out, h, rtol=0, atol=1e-12)
    for u, v in zip(got, want):
        assert_close(u, v, rtol=0, atol=1e-12)


def test_fused_gcn_bfloat16_storage_within_tolerance():
    g = random_graph(11)
    x = torch.randn(g.num_nodes, 5)
    torch.manual_seed(12)
    ref = GNN(fused_config(checkpoint=False))
    low = GNN(fused_config(feature_dtype="bfloat16"))
    low.load_state_dict(ref.state_dict())
    a = step_grads(ref, g, x, 0)
    b = step_grads(low, NormalizedAdjacency.from_graph(g), x.bfloat16(), 0)
    assert (a[0] - b[0]).norm() <= 5e-2 * a[0].norm()  # as test_feature_dtype_within_tolerance
    ga, gb = torch.cat([t.flatten() for t in a[1:]]), torch.cat([t.flatten() for t in b[1:]])
    assert (ga - gb).norm() <= 5e-2 * ga.norm()
