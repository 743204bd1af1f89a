"""Sparse matrices of a graph's simple views, shared by every metric of :mod:`gnnkit.brain.metrics`.

The conventions (stated once here, cited by each metric):

- *directed simple graph*: ``A[src, dst] = 1`` for every distinct pair, self-loops dropped;
  weighted ``W[src, dst]`` = the sum of the weights of parallel edges (the COO rule);
- *undirected view*: an edge ``{u, v}`` wherever ``u -> v`` or ``v -> u`` exists; weighted
  ``W_u = max(W, W^T)``, so a graph stored in both directions with one weight per pair is
  the symmetric matrix the Brain Connectivity Toolbox takes;
- a zero weight is no edge (bctpy binarises ``W != 0``).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from ...graph import Graph
from ...graph.idkeys import combined_key
from .._validate import as_edge_tensor, check_int, rng_from


def simple_pairs(graph: Graph, directed: bool) -> tuple[np.ndarray, np.ndarray]:
    """Unique ``(src, dst)`` pairs without self-loops; both orders for the undirected view."""
    src, dst = graph.src.cpu().numpy(), graph.dst.cpu().numpy()
    if not directed:
        src, dst = np.concatenate([src, dst]), np.concatenate([dst, src])
    keep = src != dst
    n = max(graph.num_nodes, 1)
    key = np.unique(combined_key((src[keep].astype(np.int64), dst[keep]), (n, n), "brain metrics"))
    return key // n, key % n


def adjacency(graph: Graph, directed: bool) -> sp.csr_matrix:
    """Binary simple adjacency ``A[src, dst]`` as scipy CSR (symmetric for ``directed=False``)."""
    s, d = simple_pairs(graph, directed)
    n = graph.num_nodes
    return sp.csr_matrix((np.ones(s.size, dtype=np.float64), (s, d)), shape=(n, n))


def check_weight(weight: Any, graph: Graph, name: str = "weight", nonnegative: bool = True) -> np.ndarray:
    """``[E]`` float64 numpy weights, finite (and >= 0 unless ``nonnegative=False``)."""
    w = as_edge_tensor(weight, graph.num_edges, name).detach().cpu().double().numpy()
    if w.size and not np.isfinite(w).all():
        raise ValueError(f"{name} must be finite{' and >= 0' if nonnegative else ''}, got a non-finite value at edge "
                         f"{int(np.flatnonzero(~np.isfinite(w))[0])}")
    if nonnegative and w.size and w.min() < 0:
        raise ValueError(f"{name} must be finite and >= 0 (pass weight.abs() for signed synapses), got a minimum of {w.min()}")
    return w


def weighted_adjacency(graph: Graph, weight: np.ndarray, directed: bool) -> sp.csr_matrix:
    """``W[src, dst]`` (parallel weights summed, loops and zeros dropped); ``max(W, W^T)`` undirected."""
    src, dst = graph.src.cpu().numpy(), graph.dst.cpu().numpy()
    keep = src != dst
    n = graph.num_nodes
    w = sp.csr_matrix((weight[keep], (src[keep], dst[keep])), shape=(n, n))  # duplicates summed
    w.sum_duplicates()
    if not directed:
        w = w.maximum(w.T).tocsr()
    w.eliminate_zeros()
    return w


def matrix(graph: Graph, weight: Tensor | None, directed: bool, nonnegative: bool = True) -> sp.csr_matrix:
    """The binary or weighted matrix of the requested view (see the module docstring)."""
    if weight is None:
        return adjacency(graph, directed)
    return weighted_adjacency(graph, check_weight(weight, graph, nonnegative=nonnegative), directed)


def check_lengths(lengths: Tensor | None, graph: Graph) -> np.ndarray | None:
    if lengths is None:
        return None
    lengths = as_edge_tensor(lengths, graph.num_edges, "lengths")
    arr = lengths.detach().cpu().double().numpy()
    if arr.size and (not np.isfinite(arr).all() or arr.min() <= 0):
        raise ValueError(
            f"lengths must be finite and > 0 (a zero-length edge would vanish from the sparse graph), got values in "
            f"[{arr.min()}, {arr.max()}]"
        )
    return arr


def length_matrix(graph: Graph, lengths: np.ndarray, directed: bool) -> sp.csr_matrix:
    """``L[src, dst]`` = shortest parallel edge length, self-loops dropped (scipy CSR)."""
    src, dst = graph.src.cpu().numpy(), graph.dst.cpu().numpy()
    if not directed:
        src, dst, lengths = np.concatenate([src, dst]), np.concatenate([dst, src]), np.concatenate([lengths, lengths])
    keep = src != dst
    src, dst, lengths = src[keep], dst[keep], lengths[keep]
    n = graph.num_nodes
    key = combined_key((src.astype(np.int64), dst), (n, n), "brain metrics")
    order = np.lexsort((lengths, key))  # per pair, the shortest first
    key, lengths = key[order], lengths[order]
    first = np.ones(key.size, dtype=bool)
    first[1:] = key[1:] != key[:-1]
    key, lengths = key[first], lengths[first]
    return sp.csr_matrix((lengths, (key // max(n, 1), key % max(n, 1))), shape=(n, n))


def path_matrix(
    graph: Graph, weight: Tensor | None, lengths: Tensor | None, directed: bool
) -> tuple[sp.csr_matrix, bool]:
    """The matrix shortest paths run on and whether it is unweighted (hop counts).

    ``lengths`` are used as given (shortest parallel edge); ``weight`` becomes
    ``length = 1 / W`` on the view's matrix, as bctpy's ``weight_conversion(W, 'lengths')``.
    """
    if weight is not None and lengths is not None:
        raise ValueError("give weight (converted to length = 1 / weight) or lengths, not both")
    lens = check_lengths(lengths, graph)
    if lens is not None:
        return length_matrix(graph, lens, directed), False
    if weight is not None:
        w = weighted_adjacency(graph, check_weight(weight, graph), directed)
        w.data = 1.0 / w.data
        return w, False
    return adjacency(graph, directed), True


def node_list(ids: Tensor | Sequence[int], n: int, name: str) -> np.ndarray:
    arr = np.asarray(torch.as_tensor(ids).cpu(), dtype=np.int64).ravel()
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        raise ValueError(f"{name} must lie in [0, num_nodes={n}), got ids in [{arr.min()}, {arr.max()}]")
    return arr


def sample_sources(n: int, num_sources: int | None, seed: int) -> np.ndarray:
    """All ``n`` vertices, or ``num_sources`` of them drawn uniformly without replacement (sorted)."""
    if num_sources is None:
        return np.arange(n)
    check_int(num_sources, "num_sources", minimum=1)
    if num_sources >= n:
        return np.arange(n)
    return np.sort(rng_from(seed).choice(n, size=num_sources, replace=False))


def check_kind(kind: str, allowed: tuple[str, ...]) -> str:
    if kind not in allowed:
        raise ValueError(f"kind must be one of {allowed}, got {kind!r}")
    return kind
