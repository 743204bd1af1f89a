r"""Modularity of a partition and community detection (bctpy ``modularity_und`` / ``modularity_dir`` quality)."""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import torch
from torch import Tensor

from ...graph import Graph
from ...graph.idkeys import combined_key
from ...scale.clustering import label_propagation  # re-exported: the one implementation
from .._validate import as_edge_tensor, check_graph


def communities_from_sets(sets: Iterable[Iterable[int]], num_nodes: int) -> Tensor:
    """``[N]`` labels from a partition given as sets of neuron ids (networkx's format).

    Raises:
        ValueError: the sets overlap or miss a neuron.
    """
    labels = torch.full((num_nodes,), -1, dtype=torch.int64)
    for c, members in enumerate(sets):
        ids = torch.as_tensor(sorted(members), dtype=torch.int64)
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= num_nodes):
            raise ValueError(f"communities[{c}] holds ids outside [0, {num_nodes})")
        if bool((labels[ids] >= 0).any()):
            raise ValueError(f"communities must not overlap; communities[{c}] repeats a neuron of an earlier one")
        labels[ids] = c
    if bool((labels < 0).any()):
        raise ValueError(f"communities must cover every neuron; neuron {int((labels < 0).nonzero()[0])} is in none")
    return labels


def community_labels(communities: Any, n: int) -> np.ndarray:
    """``[N]`` int64 labels relabelled to ``0..K-1`` from a label tensor/array or a list of sets."""
    if isinstance(communities, (Tensor, np.ndarray)):
        lab = torch.as_tensor(communities).cpu()
        if lab.dim() != 1 or lab.shape[0] != n or lab.is_floating_point():
            raise ValueError(f"communities must be an integer label tensor of shape [N] = [{n}], got "
                             f"{lab.dtype} {tuple(lab.shape)}")
        lab = lab.numpy().astype(np.int64)
    else:
        lab = communities_from_sets(communities, n).numpy()
    return np.unique(lab, return_inverse=True)[1].reshape(-1).astype(np.int64)


def modularity(
    graph: Graph,
    communities: Tensor | np.ndarray | Sequence[Iterable[int]],
    *,
    weight: Tensor | None = None,
    directed: bool = False,
    resolution: float = 1.0,
) -> float:
    r"""Newman modularity of a partition, from edge sums per community (no ``[N, N]`` matrix).

    Undirected (``directed=False``) on the symmetric :math:`W + W^\top` (bctpy
    ``modularity_und(W + W.T, gamma, kci=labels)[1]``; for a graph stored in both directions
    with one weight per pair this is ``modularity_und(W)``, since :math:`Q` does not change
    when every weight is doubled, and equals networkx on the undirected graph):

    .. math:: Q = \sum_c \Big[\frac{W_c}{W} - \gamma \Big(\frac{K_c}{2W}\Big)^2\Big]

    with :math:`W` the total edge weight, :math:`W_c` the weight of edges inside :math:`c`
    and :math:`K_c` the total in- plus out-strength of its neurons. Directed (Leicht &
    Newman 2008; bctpy ``modularity_dir(W, gamma, kci=labels)[1]``):
    :math:`Q = \sum_c [W_c/W - \gamma\, K^{out}_c K^{in}_c / W^2]`.
    Weighted or binary (``weight=None``: every edge weighs 1). Unlike the other metrics,
    every stored edge counts: parallel edges add up and a self-loop is an edge inside its
    community (bctpy reads the matrix diagonal the same way). An isolated vertex adds nothing
    to any sum.

    Args:
        graph: the synapses; every stored edge counts (parallel edges add up).
        communities: ``[N]`` integer labels, or a list of sets of neuron ids.
        weight: optional ``[E]`` non-negative weights (use ``w.abs()`` for signed synapses).
        directed: see above.
        resolution: :math:`\gamma`.

    Returns:
        ``Q`` (0 for a graph without edges).

    Raises:
        ValueError: labels of the wrong shape, overlapping or incomplete sets, negative or
            non-finite weights.
    """
    check_graph(graph)
    n = graph.num_nodes
    lab = community_labels(communities, n)
    if weight is None:
        w = np.ones(graph.num_edges)
    else:
        w = as_edge_tensor(weight, graph.num_edges, "weight").detach().cpu().double().numpy()
        if w.size and (not np.isfinite(w).all() or w.min() < 0):
            raise ValueError("weight must be finite and >= 0 for modularity; pass weight.abs() for signed synapses")
    total = w.sum()
    if graph.num_edges == 0 or total == 0:
        return 0.0
    src, dst = graph.src.cpu().numpy(), graph.dst.cpu().numpy()
    k = int(lab.max()) + 1
    inside = np.bincount(lab[src], weights=np.where(lab[src] == lab[dst], w, 0.0), minlength=k)
    out_c = np.bincount(lab[src], weights=w, minlength=k)
    in_c = np.bincount(lab[dst], weights=w, minlength=k)
    if directed:
        return float((inside / total).sum() - resolution * (out_c * in_c).sum() / total**2)
    return float((inside / total).sum() - resolution * (((out_c + in_c) / (2 * total)) ** 2).sum())


def _to_networkx_undirected(graph: Graph, weight: np.ndarray):
    import networkx as nx

    src, dst = graph.src.cpu().numpy(), graph.dst.cpu().numpy()
    keep = src != dst
    n = graph.num_nodes
    lo, hi = np.minimum(src, dst)[keep], np.maximum(src, dst)[keep]
    key = combined_key((lo.astype(np.int64), hi), (n, n), "brain metrics")
    uniq, inv = np.unique(key, return_inverse=True)
    tot = np.bincount(inv, weights=weight[keep])
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_weighted_edges_from(zip((uniq // max(n, 1)).tolist(), (uniq % max(n, 1)).tolist(), tot.tolist()))
    return g


def detect_communities(
    graph: Graph,
    weight: Tensor | None = None,
    *,
    method: str = "louvain",
    resolution: float = 1.0,
    seed: int = 0,
) -> Tensor:
    """Communities of the undirected view, weights of parallel/opposite edges summed.

    Args:
        method: ``"louvain"`` (networkx ``louvain_communities``) or ``"greedy"`` (networkx
            ``greedy_modularity_communities``, Clauset–Newman–Moore): both need networkx and
            are meant for small graphs (up to ~10^4 neurons); ``"label_propagation"``:
            :func:`label_propagation`, vectorised, any size.
        weight: optional ``[E]`` weights (their absolute value is used).

    Returns:
        ``[N]`` int64 labels.

    Raises:
        ValueError: an unknown ``method``.
    """
    check_graph(graph)
    if method not in ("louvain", "greedy", "label_propagation"):
        raise ValueError(f"method must be 'louvain', 'greedy' or 'label_propagation', got {method!r}")
    if method == "label_propagation":
        return label_propagation(graph, weight, seed=seed)
    w = np.ones(graph.num_edges) if weight is None else np.abs(
        as_edge_tensor(weight, graph.num_edges, "weight").detach().cpu().double().numpy())
    import networkx as nx

    g = _to_networkx_undirected(graph, w)
    if method == "louvain":
        sets = nx.community.louvain_communities(g, weight="weight", resolution=resolution, seed=seed)
    else:
        sets = nx.community.greedy_modularity_communities(g, weight="weight", resolution=resolution)
    return communities_from_sets(sets, graph.num_nodes)
