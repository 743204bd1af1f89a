r"""Network metrics on sparse graphs: density, degrees, clustering, paths, efficiency, modularity, small-worldness, robustness.

Every metric works on the edge list (a :class:`~gnnkit.Graph`) through ``scipy.sparse`` and
``scipy.sparse.csgraph``; none builds an ``[N, N]`` dense matrix. Conventions:

- *Undirected view* (clustering, modularity with ``directed=False``, small-worldness): the
  simple graph with an edge ``{u, v}`` wherever ``u -> v`` or ``v -> u`` exists; self-loops
  and duplicates are dropped. A graph stored with both directions (all generators with
  ``directed=False``) is the undirected graph it represents.
- *Paths*: hop counts (BFS), or the sum of given positive ``lengths`` (Dijkstra). Unreachable
  pairs are left out of the characteristic path length and count as 0 in the efficiency
  (Latora & Marchiori 2001), as in the Brain Connectivity Toolbox.
- *Sampling*: for large graphs pass ``num_sources``; the path metrics then use single-source
  searches from that many sources drawn uniformly without replacement. The efficiency
  estimate is unbiased (every source's mean over its ``N - 1`` targets is an unbiased draw
  of the global mean); the path length is the ratio estimator (sum of finite distances over
  their count) with standard error about ``std(per-source mean) / sqrt(num_sources)``.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
from torch import Tensor

from ..graph import Graph
from ..graph.idkeys import combined_key
from ..scale.clustering import label_propagation  # re-exported: the one implementation
from ._validate import (
    as_edge_tensor,
    as_positions,
    check_fraction,
    check_graph,
    check_int,
    rng_from,
)

__all__ = [
    "density",
    "degree_histogram",
    "clustering",
    "average_clustering",
    "path_stats",
    "characteristic_path_length",
    "global_efficiency",
    "modularity",
    "communities_from_sets",
    "label_propagation",
    "detect_communities",
    "random_reference_graph",
    "small_world_sigma",
    "wiring_length",
    "efficiency_robustness",
    "robustness",
]

_EULER_GAMMA = 0.5772156649015329


# ------------------------------------------------------------------ helpers
def _simple_pairs(graph: Graph, directed: bool) -> tuple[np.ndarray, np.ndarray]:
    """Unique ``(src, dst)`` pairs without self-loops; both orders for the undirected view."""
    src, dst = graph.src.cpu().numpy(), graph.dst.cpu().numpy()
    if not directed:
        src, dst = np.concatenate([src, dst]), np.concatenate([dst, src])
    keep = src != dst
    n = max(graph.num_nodes, 1)
    key = np.unique(combined_key((src[keep].astype(np.int64), dst[keep]), (n, n), "brain metrics"))
    return key // n, key % n


def _adjacency(graph: Graph, directed: bool):
    """Binary simple adjacency ``A[src, dst]`` as scipy CSR (symmetric for ``directed=False``)."""
    import scipy.sparse as sp

    s, d = _simple_pairs(graph, directed)
    n = graph.num_nodes
    return sp.csr_matrix((np.ones(s.size, dtype=np.float64), (s, d)), shape=(n, n))


def _check_lengths(lengths: Tensor | None, graph: Graph) -> np.ndarray | None:
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


def _length_matrix(graph: Graph, lengths: np.ndarray, directed: bool):
    """``L[src, dst]`` = shortest parallel edge length, self-loops dropped (scipy CSR)."""
    import scipy.sparse as sp

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


def _node_list(ids: Tensor | Sequence[int], n: int, name: str) -> np.ndarray:
    arr = np.asarray(torch.as_tensor(ids).cpu(), dtype=np.int64).ravel()
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        raise ValueError(f"{name} must lie in [0, num_nodes={n}), got ids in [{arr.min()}, {arr.max()}]")
    return arr


def _sources(n: int, num_sources: int | None, seed: int) -> np.ndarray:
    if num_sources is None or num_sources >= n:
        return np.arange(n)
    check_int(num_sources, "num_sources", minimum=1)
    return np.sort(rng_from(seed).choice(n, size=num_sources, replace=False))


# ------------------------------------------------------------------ metrics
def density(graph: Graph, directed: bool = True) -> float:
    r"""Fraction of possible synapses present: :math:`|E| / (N(N-1))` over distinct non-loop pairs.

    With ``directed=False`` the undirected view is used: :math:`|E_u| / \binom{N}{2}`.
    Graphs with fewer than 2 neurons have density 0.
    """
    check_graph(graph)
    n = graph.num_nodes
    if n < 2:
        return 0.0
    s, _ = _simple_pairs(graph, directed)
    return s.size / (n * (n - 1))  # undirected: 2|E_u| / (N(N-1)) = |E_u| / C(N, 2)


def degree_histogram(graph: Graph, kind: str = "out") -> Tensor:
    """Number of neurons with degree ``0, 1, 2, ...`` (``networkx.degree_histogram``).

    Args:
        graph: the synapses (every stored edge counts, duplicates and self-loops included).
        kind: ``"in"``, ``"out"`` or ``"total"`` (in + out, the degree of a ``networkx.DiGraph``).

    Returns:
        ``[max_degree + 1]`` int64 counts (``[0]`` for an empty vertex set).

    Raises:
        ValueError: an unknown ``kind``.
    """
    check_graph(graph)
    if kind not in ("in", "out", "total"):
        raise ValueError(f"kind must be 'in', 'out' or 'total', got {kind!r}")
    deg = {"in": lambda: graph.in_degrees(), "out": lambda: graph.out_degrees(),
           "total": lambda: graph.in_degrees() + graph.out_degrees()}[kind]().cpu()
    if deg.numel() == 0:
        return torch.zeros(1, dtype=torch.int64)
    return torch.bincount(deg)


def clustering(graph: Graph, nodes: Tensor | Sequence[int] | None = None, chunk_rows: int = 4096) -> Tensor:
    r"""Local clustering coefficient of the undirected view (``networkx.clustering``).

    .. math:: c_i = \frac{2 t_i}{k_i (k_i - 1)}, \qquad t_i = \tfrac12 \big[(A^2 \circ A)\mathbf 1\big]_i

    (triangles through ``i`` over the pairs of its neighbours; 0 when :math:`k_i < 2`). The
    product is computed ``chunk_rows`` rows at a time, so memory stays bounded.

    Returns:
        ``[N]`` (or ``[len(nodes)]``) float64.
    """
    check_graph(graph)
    a = _adjacency(graph, directed=False)
    idx = np.arange(graph.num_nodes) if nodes is None else np.asarray(torch.as_tensor(nodes).cpu(), dtype=np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= graph.num_nodes):
        raise ValueError(f"nodes must lie in [0, num_nodes={graph.num_nodes}), got ids in [{idx.min()}, {idx.max()}]")
    deg = np.asarray(a.sum(1)).ravel()
    tri = np.zeros(idx.size)
    for start in range(0, idx.size, chunk_rows):  # a loop over row blocks of A
        rows = a[idx[start : start + chunk_rows]]
        tri[start : start + chunk_rows] = np.asarray((rows @ a).multiply(rows).sum(1)).ravel() / 2
    k = deg[idx]
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(k >= 2, 2 * tri / (k * (k - 1)), 0.0)
    return torch.from_numpy(c)


def average_clustering(graph: Graph, num_samples: int | None = None, seed: int = 0) -> float:
    """Mean local clustering over all neurons (zeros included, as networkx), or over a uniform sample."""
    check_graph(graph)
    if graph.num_nodes == 0:
        return 0.0
    nodes = None if num_samples is None else torch.from_numpy(_sources(graph.num_nodes, num_samples, seed))
    return float(clustering(graph, nodes).mean())


def path_stats(
    graph: Graph,
    *,
    directed: bool = True,
    lengths: Tensor | None = None,
    num_sources: int | None = None,
    sources: Tensor | Sequence[int] | None = None,
    targets: Tensor | Sequence[int] | None = None,
    seed: int = 0,
) -> dict[str, float]:
    r"""Characteristic path length, global efficiency and reachability from single-source searches.

    .. math:: L = \frac{\sum_{i \ne j,\, d_{ij}<\infty} d_{ij}}{|\{i \ne j : d_{ij} < \infty\}|}, \qquad
              E = \frac{1}{N(N-1)} \sum_{i \ne j} \frac{1}{d_{ij}}

    Args:
        graph: the synapses.
        directed: follow edge directions, or use the undirected view.
        lengths: optional ``[E]`` positive edge lengths (Dijkstra); default hop counts (BFS).
            Parallel edges use the shortest.
        num_sources: sample this many sources (see the module docstring); None: all.
        sources, targets: restrict the pairs to ``sources x targets`` (``i != j``), e.g. input
            to output neurons for a routing efficiency (Navlakha et al. 2015 score networks
            by source-target routing). ``sources`` excludes ``num_sources``.
        seed: sampling seed.

    Returns:
        ``{"path_length", "efficiency", "reachable", "num_sources"}``; ``reachable`` is the
        fraction of ordered pairs ``i != j`` with a path. ``path_length`` is ``inf`` when no
        pair is reachable.

    Raises:
        ValueError: non-positive lengths, ids outside ``[0, N)``, both ``sources`` and ``num_sources``.
    """
    from scipy.sparse.csgraph import shortest_path

    check_graph(graph)
    n = graph.num_nodes
    lens = _check_lengths(lengths, graph)
    if n < 2:
        return {"path_length": math.inf, "efficiency": 0.0, "reachable": 0.0, "num_sources": n}
    mat = _adjacency(graph, directed) if lens is None else _length_matrix(graph, lens, directed)
    if sources is not None and num_sources is not None:
        raise ValueError("give sources or num_sources, not both")
    src_ids = _sources(n, num_sources, seed) if sources is None else _node_list(sources, n, "sources")
    tgt_ids = None if targets is None else _node_list(targets, n, "targets")
    chunk = max(1, min(src_ids.size, (1 << 24) // n))  # [chunk, N] float64 distances: <= 128 MB
    total = inv = 0.0
    count = pairs = 0
    for start in range(0, src_ids.size, chunk):  # a loop over source blocks
        src = src_ids[start : start + chunk]
        dist = shortest_path(mat, method="D", directed=directed, unweighted=lens is None, indices=src)  # [s, N]
        dist[np.arange(src.size), src] = np.nan  # i == j is no pair
        if tgt_ids is not None:
            dist = dist[:, tgt_ids]  # [s, |targets|]
        pairs += int((~np.isnan(dist)).sum())
        finite = np.isfinite(dist)
        total += float(dist[finite].sum())
        inv += float((1.0 / dist[finite]).sum())
        count += int(finite.sum())
    if pairs == 0:
        return {"path_length": math.inf, "efficiency": 0.0, "reachable": 0.0, "num_sources": int(src_ids.size)}
    return {
        "path_length": total / count if count else math.inf,
        "efficiency": inv / pairs,
        "reachable": count / pairs,
        "num_sources": int(src_ids.size),
    }


def characteristic_path_length(graph: Graph, **kwargs: Any) -> float:
    """Mean shortest-path length over reachable pairs; see :func:`path_stats` for the arguments."""
    return path_stats(graph, **kwargs)["path_length"]


def global_efficiency(graph: Graph, **kwargs: Any) -> float:
    """Mean inverse shortest-path length over all ordered pairs; see :func:`path_stats`."""
    return path_stats(graph, **kwargs)["efficiency"]


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


def _labels(communities: Any, n: int) -> np.ndarray:
    if isinstance(communities, (Tensor, np.ndarray)):
        lab = torch.as_tensor(communities).cpu()
        if lab.dim() != 1 or lab.shape[0] != n or lab.is_floating_point():
            raise ValueError(f"communities must be an integer label tensor of shape [N] = [{n}], got "
                             f"{lab.dtype} {tuple(lab.shape)}")
        return lab.numpy().astype(np.int64)
    return communities_from_sets(communities, n).numpy()


def modularity(
    graph: Graph,
    communities: Tensor | np.ndarray | Sequence[Iterable[int]],
    *,
    weight: Tensor | None = None,
    directed: bool = False,
    resolution: float = 1.0,
) -> float:
    r"""Newman modularity of a partition, from edge sums per community (no ``[N, N]`` matrix).

    Undirected (``directed=False``, on :math:`A + A^\top`, which equals networkx on the
    undirected graph a both-direction edge list represents):

    .. math:: Q = \sum_c \Big[\frac{W_c}{W} - \gamma \Big(\frac{K_c}{2W}\Big)^2\Big]

    with :math:`W` the total edge weight, :math:`W_c` the weight of edges inside :math:`c`
    and :math:`K_c` the total in- plus out-strength of its neurons. Directed (Leicht &
    Newman 2008): :math:`Q = \sum_c [W_c/W - \gamma\, K^{out}_c K^{in}_c / W^2]`.

    Args:
        graph: the synapses; every stored edge counts (parallel edges add up).
        communities: ``[N]`` integer labels, or a list of sets of neuron ids.
        weight: optional ``[E]`` non-negative weights (use ``w.abs()`` for signed synapses).
        directed: see above. resolution: :math:`\gamma`.

    Returns:
        ``Q`` (0 for a graph without edges).

    Raises:
        ValueError: labels of the wrong shape, overlapping or incomplete sets, negative or
            non-finite weights.
    """
    check_graph(graph)
    n = graph.num_nodes
    lab = _labels(communities, n)
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
    # relabel to 0..K-1 so the per-community sums are bincounts
    _, lab = np.unique(lab, return_inverse=True)
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


def random_reference_graph(num_nodes: int, num_edges: int, seed: int = 0) -> Graph:
    """An undirected G(n, m) random graph: ``num_edges`` distinct pairs, stored in both directions.

    Pairs are drawn uniformly with replacement and deduplicated, then topped up until
    ``num_edges`` distinct pairs exist (vectorised rounds).

    Raises:
        ValueError: more edges than pairs.
    """
    n = check_int(num_nodes, "num_nodes", minimum=0)
    m = check_int(num_edges, "num_edges", minimum=0)
    if m > n * (n - 1) // 2:
        raise ValueError(f"num_edges = {m} exceeds the {n * (n - 1) // 2} possible pairs of {n} neurons")
    rng = rng_from(seed)
    keys = np.zeros(0, dtype=np.int64)
    while keys.size < m:
        need = m - keys.size
        a = rng.integers(0, n, int(need * 1.1) + 16)
        b = rng.integers(0, n, a.size)
        ok = a != b
        new = combined_key((np.minimum(a, b)[ok], np.maximum(a, b)[ok]), (n, n), "brain metrics")
        merged = np.unique(np.concatenate([keys, new]))
        if merged.size > m:  # keep the old pairs and a random subset of the new ones
            fresh = np.setdiff1d(merged, keys)
            merged = np.sort(np.concatenate([keys, rng.choice(fresh, m - keys.size, replace=False)]))
        keys = merged
    lo, hi = keys // max(n, 1), keys % max(n, 1)
    return Graph(np.concatenate([lo, hi]), np.concatenate([hi, lo]), n)


def small_world_sigma(
    graph: Graph,
    *,
    reference: str | Sequence[Graph] = "analytic",
    num_random: int = 5,
    num_sources: int | None = None,
    seed: int = 0,
) -> dict[str, float]:
    r"""Small-world index :math:`\sigma` of the undirected view (Humphries & Gurney 2008).

    .. math:: \sigma = \frac{C / C_r}{L / L_r}

    with :math:`C` the average clustering and :math:`L` the characteristic path length (hops).
    References for a random graph of the same :math:`N` and mean degree :math:`\bar k`:

    - ``"analytic"``: :math:`C_r = \bar k/(N-1)` (exact for Erdős–Rényi) and
      :math:`L_r = (\ln N - \gamma_E)/\ln \bar k + 1/2` (Fronczak, Fronczak & Hołyst 2004);
    - ``"random"``: means over ``num_random`` :func:`random_reference_graph` samples;
    - a sequence of graphs: means over those (e.g. your own degree-preserving rewirings).

    :math:`\sigma > 1` marks a small world. networkx's ``sigma`` uses degree-preserving
    rewired references instead; pass such graphs as ``reference`` to reproduce it.

    Returns:
        ``{"sigma", "clustering", "path_length", "clustering_random", "path_length_random"}``.

    Raises:
        ValueError: an unknown ``reference`` or a mean degree of at most 1 (no analytic :math:`L_r`).
    """
    check_graph(graph)
    n = graph.num_nodes
    c = average_clustering(graph)
    length = path_stats(graph, directed=False, num_sources=num_sources, seed=seed)["path_length"]
    m = int(_simple_pairs(graph, directed=False)[0].size // 2)
    if isinstance(reference, str):
        if reference not in ("analytic", "random"):
            raise ValueError(f"reference must be 'analytic', 'random' or a sequence of graphs, got {reference!r}")
        if reference == "analytic":
            k = 2 * m / n if n else 0.0
            if k <= 1:
                raise ValueError(f"the analytic reference needs a mean degree > 1, got {k:.3g}")
            c_r = k / (n - 1)
            l_r = (math.log(n) - _EULER_GAMMA) / math.log(k) + 0.5
        else:
            check_int(num_random, "num_random", minimum=1)
            reference = [random_reference_graph(n, m, seed=seed + 1 + r) for r in range(num_random)]
    if not isinstance(reference, str):
        refs = list(reference)
        if not refs:
            raise ValueError("reference must hold at least one graph")
        c_r = float(np.mean([average_clustering(check_graph(r, "reference graph")) for r in refs]))
        l_r = float(np.mean([path_stats(r, directed=False, num_sources=num_sources, seed=seed)["path_length"]
                             for r in refs]))
    sigma = (c / c_r) / (length / l_r) if c_r > 0 and length > 0 and math.isfinite(length) else math.nan
    return {"sigma": sigma, "clustering": c, "path_length": length, "clustering_random": c_r, "path_length_random": l_r}


def wiring_length(graph: Graph, positions: Tensor, weight: Tensor | None = None) -> float:
    r"""Total wiring :math:`\sum_e d_e` (or :math:`\sum_e |w_e| d_e` with ``weight``) of the synapses."""
    from .topology import edge_lengths

    d = edge_lengths(graph, as_positions(positions, check_graph(graph).num_nodes)).double()
    if weight is None:
        return float(d.sum())
    w = as_edge_tensor(weight, graph.num_edges, "weight").detach().to(d.device).double()
    return float((w.abs() * d).sum())


def _keep_mask(num_edges: int, fraction: float, rng: np.random.Generator) -> Tensor:
    keep = torch.ones(num_edges, dtype=torch.bool)
    drop = int(round(fraction * num_edges))
    keep[torch.from_numpy(rng.choice(num_edges, size=drop, replace=False))] = False
    return keep


def robustness(
    evaluate: Callable[[Tensor], float],
    num_edges: int,
    fraction: float,
    *,
    trials: int = 5,
    seed: int = 0,
) -> tuple[float, float]:
    """Mean and standard deviation of ``evaluate(keep)`` after random synapse removal.

    Each trial removes exactly ``round(fraction * num_edges)`` synapses chosen uniformly
    and calls ``evaluate`` with the ``[E]`` boolean mask of the survivors (e.g. accuracy of
    a network with those synapses, or a graph metric of ``graph`` restricted to them).

    Raises:
        ValueError: ``fraction`` outside [0, 1), ``trials < 1``.
    """
    fraction = check_fraction(fraction, "fraction")
    trials = check_int(trials, "trials", minimum=1)
    num_edges = check_int(num_edges, "num_edges", minimum=0)
    rng = rng_from(seed)
    scores = np.array([float(evaluate(_keep_mask(num_edges, fraction, rng))) for _ in range(trials)])
    return float(scores.mean()), float(scores.std())


def efficiency_robustness(
    graph: Graph,
    fraction: float,
    *,
    trials: int = 5,
    directed: bool = True,
    num_sources: int | None = None,
    seed: int = 0,
) -> float:
    """Global efficiency after removing a random ``fraction`` of synapses, relative to the intact graph.

    1 means removal costs nothing; the mean over ``trials`` random removals.
    """
    check_graph(graph)
    base = global_efficiency(graph, directed=directed, num_sources=num_sources, seed=seed)
    if base == 0:
        return 0.0

    def evaluate(keep: Tensor) -> float:
        sub = Graph(graph.src[keep], graph.dst[keep], graph.num_nodes, _validate=False)
        return global_efficiency(sub, directed=directed, num_sources=num_sources, seed=seed)

    return robustness(evaluate, graph.num_edges, fraction, trials=trials, seed=seed)[0] / base
