r"""Participation coefficient of a partition (bctpy ``participation_coef`` / ``participation_coef_sign``)."""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from ...graph import Graph
from .._validate import check_graph
from ._common import check_kind, check_weight, matrix, weighted_adjacency
from .modularity import community_labels

_KINDS = ("undirected", "out", "in")


def _participation(w: sp.csr_matrix, lab: np.ndarray) -> np.ndarray:
    """``1 - sum_c (k_ic / k_i)^2`` over the rows of ``w``; 0 for a row without edges."""
    n = w.shape[0]
    k = int(lab.max()) + 1 if lab.size else 1
    coo = w.tocoo()
    # k_ic: row i's weight into community c, as a sparse [N, K] bincount of (row, label) keys
    kc = sp.csr_matrix((coo.data, (coo.row, lab[coo.col])), shape=(n, k))
    kc.sum_duplicates()
    total = np.asarray(w.sum(1)).ravel()
    sq = np.asarray(kc.multiply(kc).sum(1)).ravel()
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 1.0 - sq / total**2
    return np.where(total != 0, p, 0.0)


def participation_coef(
    graph: Graph,
    communities: Tensor | np.ndarray | Sequence[Iterable[int]],
    *,
    weight: Tensor | None = None,
    kind: str = "undirected",
) -> Tensor:
    r"""Participation coefficient (Guimerà & Amaral 2005; bctpy ``participation_coef``).

    .. math:: P_i = 1 - \sum_c \Big(\frac{k_{ic}}{k_i}\Big)^2

    with :math:`k_{ic}` the weight of :math:`i`'s edges into community :math:`c` and
    :math:`k_i` its total. ``kind="undirected"`` uses the undirected view (a graph stored in
    both directions is bctpy's symmetric matrix); ``"out"`` the out-edges and ``"in"`` the
    in-edges of the directed simple graph (bctpy's ``degree='out'`` / ``'in'``). Binary
    (``weight=None``) or weighted (parallel weights summed). A vertex without edges of the
    chosen kind (e.g. isolated) has :math:`P_i = 0`, as in bctpy.

    Args:
        graph: the synapses.
        communities: ``[N]`` integer labels, or a list of sets of vertex ids.
        weight: optional ``[E]`` non-negative weights.
        kind: ``"undirected"``, ``"out"`` or ``"in"``.

    Returns:
        ``[N]`` float64 in ``[0, 1)``.

    Raises:
        ValueError: an unknown ``kind``, bad labels or weights.
    """
    check_graph(graph)
    check_kind(kind, _KINDS)
    lab = community_labels(communities, graph.num_nodes)
    w = matrix(graph, weight, directed=kind != "undirected")
    if kind == "in":
        w = w.T.tocsr()
    return torch.from_numpy(_participation(w, lab))


def participation_coef_sign(
    graph: Graph,
    communities: Tensor | np.ndarray | Sequence[Iterable[int]],
    weight: Tensor,
    *,
    kind: str = "out",
) -> tuple[Tensor, Tensor]:
    r"""Participation coefficients of the positive and the negative weights (bctpy ``participation_coef_sign``).

    :func:`participation_coef` of the positive weights, and of the magnitudes of the negative
    ones, each 0 where a vertex has no such edge. bctpy reads the rows of the given signed
    matrix: ``kind="out"`` (default, bctpy's behaviour) uses the rows of ``W``; ``"in"`` its
    columns; ``"undirected"`` the undirected view of each sign's magnitudes.

    Args:
        graph: the synapses.
        communities: ``[N]`` integer labels, or a list of sets of vertex ids.
        weight: ``[E]`` finite signed weights (parallel weights are summed first).
        kind: ``"undirected"``, ``"out"`` or ``"in"``.

    Returns:
        ``(P_pos, P_neg)``, each ``[N]`` float64.

    Raises:
        ValueError: an unknown ``kind``, bad labels or weights.
    """
    check_graph(graph)
    check_kind(kind, _KINDS)
    lab = community_labels(communities, graph.num_nodes)
    w = weighted_adjacency(graph, check_weight(weight, graph, nonnegative=False), directed=True)
    out = []
    for part in (w.maximum(0), (-w).maximum(0)):  # the positive part, the magnitude of the negative part
        part = part.tocsr()
        part.eliminate_zeros()
        if kind == "undirected":
            part = part.maximum(part.T).tocsr()
        elif kind == "in":
            part = part.T.tocsr()
        out.append(torch.from_numpy(_participation(part, lab)))
    return out[0], out[1]
