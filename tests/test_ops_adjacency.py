"""Tests for gnnkit.ops.NormalizedAdjacency / spmm_adjacency: the compact GCN matrix against the Graph path."""
from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from gnnkit import Graph
from gnnkit.nn import GCNConv
from gnnkit.ops import NormalizedAdjacency, spmm_adjacency


def random_graph(seed: int, n: int = 12, e: int = 40, undirected: bool = False) -> Graph:
    gen = torch.Generator().manual_seed(seed)
    src, dst = torch.randint(n - 1, (e,), generator=gen), torch.randint(n - 1, (e,), generator=gen)  # n-1 isolated
    if undirected:
        src, dst = torch.cat([src, dst]), torch.cat([dst, src])
    return Graph(src, dst, n)


def dense_gcn_matrix(g: Graph, loops: bool, normalize: bool) -> torch.Tensor:
    """The float64 oracle: ``D^-1/2 (A + I) D^-1/2`` with loops only where missing (tiny graphs only)."""
    a = torch.zeros(g.num_nodes, g.num_nodes, dtype=torch.float64)
    a.index_put_((g.dst, g.src), torch.ones(g.num_edges, dtype=torch.float64), accumulate=True)
    if loops:
        a.fill_diagonal_(1.0)
    if normalize:
        d = a.sum(1)
        dinv = torch.where(d > 0, d.clamp(min=1e-300).pow(-0.5), torch.zeros_like(d))
        a = dinv[:, None] * a * dinv[None, :]
    return a


@pytest.mark.parametrize("undirected", [False, True])
@pytest.mark.parametrize("loops,normalize", [(True, True), (False, True), (True, False), (False, False)])
def test_adjacency_matches_dense_forward_and_gradient(undirected, loops, normalize):
    g = random_graph(0, undirected=undirected)
    adj = NormalizedAdjacency.from_graph(g, add_self_loops=loops, normalize=normalize, dtype=torch.float64)
    a = dense_gcn_matrix(g, loops, normalize)
    x = torch.randn(g.num_nodes, 5, dtype=torch.float64, requires_grad=True)
    dy = torch.randn(g.num_nodes, 5, dtype=torch.float64)
    out = spmm_adjacency(adj, x)
    (dx,) = torch.autograd.grad(out, x, dy)
    assert_close(out, a @ x, rtol=0, atol=1e-12)
    assert_close(dx, a.t() @ dy, rtol=0, atol=1e-12)


def test_adjacency_symmetric_shares_transpose():
    assert NormalizedAdjacency.from_graph(random_graph(1, undirected=True)).is_symmetric
    assert not NormalizedAdjacency.from_graph(random_graph(1)).is_symmetric


def test_adjacency_int32_ids_and_bytes():
    g = random_graph(2, undirected=True)
    adj = NormalizedAdjacency.from_graph(g)
    assert adj.indices.dtype == torch.int32
    # one CSR: 8 (N + 1) + (4 + 4) nnz bytes, the transpose shared
    assert adj.nbytes == 8 * (g.num_nodes + 1) + 8 * adj.nnz


def test_adjacency_from_csr_equals_from_graph():
    g = random_graph(3)
    cin = g.csr_in()
    a, b = NormalizedAdjacency.from_graph(g), NormalizedAdjacency.from_csr(cin.indptr, cin.indices.numpy())
    for name in ("indptr", "indices", "values", "t_indptr", "t_indices", "t_values"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name


@pytest.mark.parametrize("undirected", [False, True])
def test_gcnconv_adjacency_equals_graph_gradients(undirected):
    g = random_graph(4, undirected=undirected)
    conv = GCNConv(6, 3).double()
    x = torch.randn(g.num_nodes, 6, dtype=torch.float64, requires_grad=True)
    grads = []
    for graph in (g, NormalizedAdjacency.from_graph(g, dtype=torch.float64)):
        out = conv(graph, x)
        grads.append((out, *torch.autograd.grad(out.square().sum(), [x, *conv.parameters()])))
    for a, b in zip(*grads):
        assert_close(a, b, rtol=0, atol=1e-12)


def test_adjacency_bfloat16_input_computes_in_float32():
    adj = NormalizedAdjacency.from_graph(random_graph(5, undirected=True))
    x = torch.randn(adj.num_nodes, 4)
    out = spmm_adjacency(adj, x.bfloat16())
    assert out.dtype == torch.bfloat16
    # one rounding of the input and one of the output: relative error about 2 * 2^-8
    assert_close(out.float(), spmm_adjacency(adj, x), rtol=2e-2, atol=2e-2)


def test_adjacency_validation():
    with pytest.raises(TypeError, match="indptr must be a 1-D int64"):
        NormalizedAdjacency.from_csr(torch.tensor([0, 1], dtype=torch.int32), torch.tensor([0]))
    with pytest.raises(TypeError, match="indices must be a 1-D int32 or int64"):
        NormalizedAdjacency.from_csr(torch.tensor([0, 1]), torch.tensor([0.0]))
    with pytest.raises(ValueError, match="indptr must start at 0"):
        NormalizedAdjacency.from_csr(torch.tensor([0, 2]), torch.tensor([0]))
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 1\)"):
        NormalizedAdjacency.from_csr(torch.tensor([0, 1]), torch.tensor([3]))
    with pytest.raises(TypeError, match="dtype must be a floating-point"):
        NormalizedAdjacency.from_csr(torch.tensor([0, 1]), torch.tensor([0]), dtype=torch.int64)
    with pytest.raises(TypeError, match="g must be a gnnkit.Graph"):
        NormalizedAdjacency.from_graph("graph")
    with pytest.raises(ValueError, match="one vertex set"):
        NormalizedAdjacency.from_graph(Graph(torch.tensor([0]), torch.tensor([0]), 1, num_src_nodes=2))
    adj = NormalizedAdjacency.from_graph(random_graph(6))
    with pytest.raises(TypeError, match="adj must be a NormalizedAdjacency"):
        spmm_adjacency(random_graph(6), torch.randn(12, 2))
    with pytest.raises(TypeError, match="x must be a floating-point"):
        spmm_adjacency(adj, torch.ones(12, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"x must have shape \[N=12\]"):
        spmm_adjacency(adj, torch.randn(11, 2))
    conv = GCNConv(2, 2)
    with pytest.raises(ValueError, match="edge_weight must be None"):
        conv(adj, torch.randn(12, 2), torch.ones(adj.nnz))
    with pytest.raises(ValueError, match="built with add_self_loops=True"):
        GCNConv(2, 2, add_self_loops=False)(adj, torch.randn(12, 2))
