r"""Local clustering coefficients (bctpy ``clustering_coef_bu`` / ``_bd`` / ``_wu`` / ``_wd``)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from ...graph import Graph
from .._validate import check_graph, check_int
from ._common import matrix, node_list, sample_sources


def _row_cycles(s: sp.csr_matrix, idx: np.ndarray, chunk_rows: int) -> np.ndarray:
    """``diag(S^3)[idx]`` of a symmetric sparse ``S``, ``chunk_rows`` rows of ``S^2`` at a time."""
    out = np.zeros(idx.size)
    for start in range(0, idx.size, chunk_rows):  # a loop over row blocks, so memory stays bounded
        rows = s[idx[start : start + chunk_rows]]  # [b, N]
        out[start : start + chunk_rows] = np.asarray((rows @ s).multiply(rows).sum(1)).ravel()
    return out


def clustering(
    graph: Graph,
    nodes: Tensor | Sequence[int] | None = None,
    chunk_rows: int = 4096,
    *,
    weight: Tensor | None = None,
    directed: bool = False,
) -> Tensor:
    r"""Local clustering coefficient, as the Brain Connectivity Toolbox defines it.

    Undirected (``directed=False``, on the undirected view; binary = ``clustering_coef_bu``
    and ``networkx.clustering``, weighted = ``clustering_coef_wu``, Onnela et al. 2005):

    .. math:: c_i = \frac{\big[\hat W^3\big]_{ii}}{k_i (k_i - 1)}, \qquad \hat W = W^{1/3}\ \text{(elementwise)}

    with :math:`k_i` the number of neighbours (binary: :math:`[A^3]_{ii} = 2 t_i`, twice the
    triangles). Directed (``directed=True``, on the directed simple graph; binary =
    ``clustering_coef_bd``, weighted = ``clustering_coef_wd``, Fagiolo 2007):

    .. math:: c_i = \frac{\big[(\hat W + \hat W^\top)^3\big]_{ii} / 2}
                         {k^{tot}_i (k^{tot}_i - 1) - 2 [A^2]_{ii}}

    with :math:`k^{tot}` the in- plus out-degree and :math:`[A^2]_{ii}` the reciprocated pairs.
    A vertex without a closed triangle (isolated, degree < 2) has :math:`c_i = 0`. Weights are
    used as given, as bctpy does (the toolbox asks for weights scaled to ``[0, 1]``: pass
    ``w / w.max()`` for that). Parallel weights add up; the undirected view takes the larger of
    the two directions' weights. The products run ``chunk_rows`` rows at a time and never
    build an ``[N, N]`` dense matrix.

    Args:
        graph: the synapses.
        nodes: compute only these vertices (default all).
        chunk_rows: rows of :math:`S^2` held at once.
        weight: optional ``[E]`` non-negative weights (default binary).
        directed: the directed definition above, or the undirected one.

    Returns:
        ``[N]`` (or ``[len(nodes)]``) float64.

    Raises:
        ValueError: ids outside ``[0, N)``, negative or non-finite weights.
    """
    check_graph(graph)
    check_int(chunk_rows, "chunk_rows", minimum=1)
    n = graph.num_nodes
    idx = np.arange(n) if nodes is None else node_list(nodes, n, "nodes")
    w = matrix(graph, weight, directed)
    cube = w.copy()
    cube.data = np.cbrt(cube.data)
    if directed:
        a = w.copy()
        a.data[:] = 1.0  # the pattern of W: a zero weight is no edge
        s = (cube + cube.T).tocsr()
        cyc = _row_cycles(s, idx, chunk_rows) / 2
        k = np.asarray(a.sum(0)).ravel()[idx] + np.asarray(a.sum(1)).ravel()[idx]
        recip = np.asarray(a.multiply(a.T).sum(1)).ravel()[idx]  # [A^2]_ii: i -> j -> i
        possible = k * (k - 1) - 2 * recip
    else:
        cyc = _row_cycles(cube, idx, chunk_rows)
        k = np.diff(w.indptr)[idx].astype(np.float64)
        possible = k * (k - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(cyc > 0, cyc / np.where(possible > 0, possible, 1), 0.0)
    return torch.from_numpy(c)


def average_clustering(
    graph: Graph,
    num_samples: int | None = None,
    seed: int = 0,
    *,
    weight: Tensor | None = None,
    directed: bool = False,
) -> float:
    """Mean of :func:`clustering` over all vertices (zeros of isolated ones included, as networkx
    ``average_clustering`` and ``mean(bct.clustering_coef_*)``), or over ``num_samples`` drawn
    uniformly without replacement (an unbiased estimate; standard error ``std(c) / sqrt(num_samples)``).

    Returns:
        The mean (0 for an empty vertex set).
    """
    check_graph(graph)
    if graph.num_nodes == 0:
        return 0.0
    nodes = None if num_samples is None else torch.from_numpy(sample_sources(graph.num_nodes, num_samples, seed))
    return float(clustering(graph, nodes, weight=weight, directed=directed).mean())
