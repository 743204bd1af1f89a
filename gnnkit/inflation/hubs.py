"""Hub vertices: one per cluster of vertices, joined to its members and to neighbouring hubs."""
from __future__ import annotations

import torch
from torch import Tensor

from ..graph import Graph
from ..graph.idkeys import lexsort_ids, unique_id_pairs
from ..scale.clustering import label_propagation
from ..scale.partition import partition_assignment
from ._validate import _check_edge_weight, _check_graph, _check_int
from .layer_graph import LayerGraph

__all__ = ["cluster_nodes", "hub_graph", "CLUSTER_METHODS"]

CLUSTER_METHODS = ("auto", "metis", "label_propagation")
READOUTS = ("drop", "pool")
HUB_INITS = ("mean", "zero")


def cluster_nodes(g: Graph, num_clusters: int, method: str = "auto", seed: int = 0) -> Tensor:
    """Partition the vertices into at most ``num_clusters`` clusters.

    Args:
        g: the graph (edges treated as undirected).
        num_clusters: target number of clusters.
        method: ``"metis"`` (``pymetis``, balanced min-cut), ``"label_propagation"``
            (:func:`gnnkit.scale.clustering.label_propagation`), or ``"auto"``: METIS when ``pymetis`` is importable.
        seed: random seed (label propagation and METIS).

    Returns:
        ``[N]`` int64 cluster ids, contiguous in ``[0, C)``. METIS fills a part that comes out
        empty with one vertex (:func:`gnnkit.scale.partition.partition_assignment`, with a warning).

    Raises:
        ValueError: unknown ``method``, ``num_clusters < 1``. ImportError: ``"metis"`` without pymetis.
    """
    _check_graph(g)
    _check_int(num_clusters, "num_clusters", 1)
    if method not in CLUSTER_METHODS:
        raise ValueError(f"method must be one of {CLUSTER_METHODS}, got {method!r}")
    if method == "auto":
        try:
            import pymetis  # noqa: F401
            method = "metis"
        except ImportError:
            method = "label_propagation"
    if method == "label_propagation" or num_clusters == 1 or g.num_nodes <= num_clusters:
        if num_clusters == 1:
            return torch.zeros(g.num_nodes, dtype=torch.int64, device=g.device)
        if method == "metis" and g.num_nodes <= num_clusters:
            return torch.arange(g.num_nodes, device=g.device)
        # a few refinement rounds: hub clusters need compactness, not convergence
        return label_propagation(g, num_clusters=num_clusters, seed=seed, max_iter=3)
    try:
        import pymetis  # noqa: F401
    except ImportError as exc:  # checked here for a hint that fits clustering
        raise ImportError("method='metis' needs pymetis (pip install 'gnnkit[metis]'); or use method='label_propagation'") from exc
    # the one METIS call of the package (symmetrised, loop-free CSR; every part non-empty)
    return partition_assignment(g, num_clusters, method="metis", seed=seed).to(g.device)


def hub_graph(
    g: Graph,
    clusters: Tensor | None = None,
    num_clusters: int | None = None,
    method: str = "auto",
    hub_weight: float = 1.0,
    connect_hubs: bool = True,
    hub_init: str = "mean",
    readout: str = "pool",
    seed: int = 0,
    edge_weight: Tensor | None = None,
    dtype: torch.dtype = torch.float32,
) -> LayerGraph:
    r"""Inflate ``g`` with one hub vertex per cluster.

    Hub ``c`` is vertex ``N + c``. Edges, in addition to the original ones: every
    member :math:`v \to` its hub and hub :math:`\to v`, and (``connect_hubs``) hub
    :math:`c \to` hub :math:`c'` whenever some original edge goes from cluster
    :math:`c` to cluster :math:`c'`. A message then crosses a cluster in two hops and
    the graph in (cluster diameter) hops. The hubs exist for one layer only: see
    :meth:`LayerGraph.add_hub_states` / :meth:`LayerGraph.remove_hub_states`.

    Args:
        g: the graph.
        clusters: ``[N]`` cluster id per vertex in ``[0, C)``; or give ``num_clusters``.
        num_clusters: clusters to compute with :func:`cluster_nodes` (``method``, ``seed``).
        hub_weight: weight of every hub edge; original edges keep weight 1 (or ``edge_weight``).
        connect_hubs: add hub-hub edges between neighbouring clusters.
        hub_init, readout: see :class:`LayerGraph`.
        dtype: dtype of the returned edge weights.

    Returns:
        A :class:`LayerGraph` over ``N + C`` vertices, edges sorted by (dst, src),
        ``hops`` = -1 on hub edges.

    Raises:
        ValueError: neither or both of ``clusters`` / ``num_clusters``, a cluster id
            out of range or a cluster with no members, bad ``hub_init`` / ``readout``.
    """
    _check_graph(g)
    _check_edge_weight(edge_weight, g)
    if hub_init not in HUB_INITS:
        raise ValueError(f"hub_init must be one of {HUB_INITS}, got {hub_init!r}")
    if readout not in READOUTS:
        raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
    if (clusters is None) == (num_clusters is None):
        raise ValueError("pass exactly one of clusters (ids per vertex) or num_clusters (to compute them)")
    n, device = g.num_nodes, g.device
    if clusters is None:
        clusters = cluster_nodes(g, num_clusters, method, seed)
    else:
        if not isinstance(clusters, Tensor) or clusters.is_floating_point() or clusters.shape != (n,):
            shape = tuple(clusters.shape) if isinstance(clusters, Tensor) else type(clusters).__name__
            raise ValueError(f"clusters must be an integer tensor of shape [N={n}], got {shape}")
        clusters = clusters.to(device=device, dtype=torch.int64)
    c = int(clusters.max()) + 1 if n else 0
    if n and int(clusters.min()) < 0:
        raise ValueError(f"clusters must hold ids >= 0, got {int(clusters.min())}")
    if n and int((torch.bincount(clusters, minlength=c) == 0).sum()):
        raise ValueError(f"clusters must be contiguous ids 0..C-1 with every cluster non-empty (C={c})")
    members = torch.arange(n, device=device)
    hubs = n + clusters
    src = [g.src, members, hubs]
    dst = [g.dst, hubs, members]
    w0 = torch.ones(g.num_edges, dtype=dtype, device=device) if edge_weight is None else edge_weight.to(dtype)
    weights = [w0, torch.full((2 * n,), hub_weight, dtype=dtype, device=device)]
    hops = [torch.ones(g.num_edges, dtype=torch.int64, device=device), torch.full((2 * n,), -1, dtype=torch.int64, device=device)]
    if connect_hubs and g.num_edges:
        cs, cd = clusters[g.src], clusters[g.dst]
        cross = cs != cd
        pair_src, pair_dst, _ = unique_id_pairs(cs[cross], cd[cross], c, c)
        src.append(n + pair_src), dst.append(n + pair_dst)
        weights.append(torch.full((pair_src.numel(),), hub_weight, dtype=dtype, device=device))
        hops.append(torch.full((pair_src.numel(),), -1, dtype=torch.int64, device=device))
    src, dst = torch.cat(src), torch.cat(dst)
    total = n + c
    perm = lexsort_ids((dst, src), (total, total))
    out = Graph(src[perm], dst[perm], total, _validate=False)
    return LayerGraph(out, torch.cat(weights)[perm], num_hubs=c, hub_of=clusters, hub_init=hub_init,
                      readout=readout, hops=torch.cat(hops)[perm])
