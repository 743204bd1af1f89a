r"""Train/validation/test edge splits for link prediction without leakage.

The held-out (validation and test) edges leave the message-passing graph: a model that
sees an edge while predicting it learns nothing about links. For an undirected graph,
stored as both ``u -> v`` and ``v -> u``, the unit that is split is the unordered pair, so
both directions of a held-out edge leave together (Kipf & Welling 2016's ``mask_test_edges``,
https://arxiv.org/abs/1611.07308).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..graph import Graph
from .negative import EdgeSet

__all__ = ["LinkSplit", "split_edges", "sample_non_edges"]


@dataclass
class LinkSplit:
    """The result of :func:`split_edges`.

    Attributes:
        train_graph: ``g`` without the held-out edges (every direction of them); its
            ``ndata`` is ``g``'s and its ``edata`` holds the kept edges' rows.
        train_pos: ``[2, K_train]`` positive training pairs (one per unordered pair when undirected).
        val_pos, test_pos: ``[2, K_val]``, ``[2, K_test]`` held-out positive pairs.
        val_neg, test_neg: ``[2, K_val]``, ``[2, K_test]`` fixed negative pairs: neither an
            edge of ``g`` (in either direction when undirected) nor a self-pair.
    """

    train_graph: Graph
    train_pos: Tensor
    val_pos: Tensor
    val_neg: Tensor
    test_pos: Tensor
    test_neg: Tensor


def _check_fraction(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a fraction in [0, 1), got {value!r}")
    return float(value)


def sample_non_edges(edges: EdgeSet, count: int, generator: torch.Generator, undirected: bool = True,
                     max_rounds: int = 100) -> Tensor:
    """``count`` uniform pairs ``(u, v)``, ``u != v``, that are not in ``edges`` (rejection, vectorised).

    With ``undirected`` each pair is returned as ``u < v``. Pairs may repeat.

    Shape: → ``[2, count]``.

    Raises:
        ValueError: no such pairs found after ``max_rounds`` rounds (a (nearly) complete graph).
    """
    n = edges.num_nodes
    src = torch.zeros(count, dtype=torch.int64)
    dst = torch.zeros(count, dtype=torch.int64)
    todo = torch.arange(count)
    for _ in range(max_rounds):
        if todo.numel() == 0:
            break
        src[todo] = torch.randint(n, (todo.numel(),), generator=generator)
        dst[todo] = torch.randint(n, (todo.numel(),), generator=generator)
        todo = todo[(src[todo] == dst[todo]) | edges.contains(src[todo], dst[todo])]
    if todo.numel():
        raise ValueError(f"found no {count} non-edges among {n} vertices after {max_rounds} rounds; "
                         f"the graph is (nearly) complete: lower val/test")
    if undirected:
        src, dst = torch.minimum(src, dst), torch.maximum(src, dst)
    return torch.stack([src, dst])


def split_edges(g: Graph, val: float = 0.05, test: float = 0.1, undirected: bool = True, seed: int = 0) -> LinkSplit:
    """Split ``g``'s edges into train/validation/test sets, with fixed negatives for validation and test.

    Distinct pairs (unordered when ``undirected``, else ordered) are shuffled and
    ``floor(val * M)`` go to validation, ``floor(test * M)`` to test, the rest to training,
    where ``M`` is the number of pairs. Duplicate edges of one pair share its fate.
    Self-loops always stay in training (as positives and in ``train_graph``): a vertex's
    link to itself is not predicted.

    Args:
        g: a square graph; when ``undirected``, store both directions (``g.to_undirected()``)
            for the training graph to carry both.
        val: fraction of pairs for validation. test: fraction of pairs for test.
        undirected: treat ``(u, v)`` and ``(v, u)`` as one pair.
        seed: seed of the shuffle and of the negatives.

    Returns:
        A :class:`LinkSplit`.

    Raises:
        TypeError: ``g`` not a Graph. ValueError: a bipartite ``g``, fractions outside
            ``[0, 1)`` or summing to 1 or more.
    """
    if not isinstance(g, Graph):
        raise TypeError(f"g must be a gnnkit.Graph, got {type(g).__name__}")
    if g.is_bipartite:
        raise ValueError(f"g must have one vertex set to split its edges, got a bipartite graph {g}")
    val, test = _check_fraction(val, "val"), _check_fraction(test, "test")
    if val + test >= 1:
        raise ValueError(f"val + test must be < 1 to leave training edges, got {val} + {test}")
    src, dst = g.src.cpu(), g.dst.cpu()
    if undirected:
        src, dst = torch.minimum(src, dst), torch.maximum(src, dst)
    pairs, pair_of_edge = torch.unique(torch.stack([src, dst], 1), dim=0, return_inverse=True)  # [M, 2], [E]
    loop = pairs[:, 0] == pairs[:, 1]
    candidates = (~loop).nonzero().view(-1)  # pairs that may be held out
    m = candidates.numel()
    gen = torch.Generator().manual_seed(int(seed))
    candidates = candidates[torch.randperm(m, generator=gen)]
    n_val, n_test = int(val * m), int(test * m)
    # 0 train, 1 val, 2 test: per pair, then per edge through pair_of_edge
    part = torch.zeros(pairs.shape[0], dtype=torch.int64)
    part[candidates[:n_val]] = 1
    part[candidates[n_val:n_val + n_test]] = 2
    keep = (part[pair_of_edge] == 0).nonzero().view(-1).to(g.device)  # [E_train]
    train_graph = g._derive(g.src[keep], g.dst[keep], g.edata.select(keep))
    edges = EdgeSet.from_graph(g.to("cpu"), undirected=undirected)  # every edge of g: negatives avoid all splits
    return LinkSplit(
        train_graph=train_graph,
        train_pos=pairs[part == 0].t().contiguous(),
        val_pos=pairs[part == 1].t().contiguous(),
        val_neg=sample_non_edges(edges, n_val, gen, undirected),
        test_pos=pairs[part == 2].t().contiguous(),
        test_neg=sample_non_edges(edges, n_test, gen, undirected),
    )
