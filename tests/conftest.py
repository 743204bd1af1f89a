"""Shared helpers: seeded random graphs and the dense oracle adjacency (tests only)."""
import pytest
import torch

from gnnkit import Graph


def random_graph(num_nodes: int, num_edges: int, seed: int = 0, num_src_nodes: int | None = None) -> Graph:
    gen = torch.Generator().manual_seed(seed)
    ns = num_nodes if num_src_nodes is None else num_src_nodes
    src = torch.randint(0, max(ns, 1), (num_edges,), generator=gen)
    dst = torch.randint(0, max(num_nodes, 1), (num_edges,), generator=gen)
    return Graph(src, dst, num_nodes, num_src_nodes=num_src_nodes)


def dense_adjacency(g: Graph, w: torch.Tensor | None = None, dtype=torch.float64) -> torch.Tensor:
    """``A[dst, src] = sum of w over parallel edges`` — an oracle for tests, never library code."""
    a = torch.zeros(g.num_nodes, g.num_src_nodes, dtype=dtype)
    vals = torch.ones(g.num_edges, dtype=dtype) if w is None else w.to(dtype)
    a.index_put_((g.dst, g.src), vals, accumulate=True)
    return a


@pytest.fixture
def graph_factory():
    return random_graph
