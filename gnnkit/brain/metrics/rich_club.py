r"""Rich-club coefficients (bctpy ``rich_club_bu`` / ``rich_club_bd`` / ``rich_club_wu``)."""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ...graph import Graph
from .._validate import check_graph, check_int
from ._common import adjacency, check_weight, weighted_adjacency


def _levels(klevel: int | None, deg: np.ndarray) -> int:
    if klevel is None:
        return int(deg.max()) if deg.size else 0
    return check_int(klevel, "klevel", minimum=0)


def _at_least(values: np.ndarray, levels: int, weights: np.ndarray | None = None) -> np.ndarray:
    """``out[k] = sum of weights of the values > k`` for ``k = 0 .. levels`` (a reverse cumulative bincount)."""
    counts = np.bincount(np.minimum(values, levels + 1), weights=weights, minlength=levels + 2)
    return np.cumsum(counts[::-1])[::-1][1:]  # out[k] = sum over value >= k + 1


def rich_club(
    graph: Graph,
    klevel: int | None = None,
    *,
    weight: Tensor | None = None,
    directed: bool = False,
) -> Tensor:
    r"""Rich-club coefficient per degree level, as the Brain Connectivity Toolbox computes it.

    Binary (``weight=None``; bctpy ``rich_club_bu`` on the undirected view, ``rich_club_bd``
    with ``directed=True`` and the in- plus out-degree): ``R[k - 1]`` for level
    :math:`k = 1 .. k_{level}` is

    .. math:: R(k) = \frac{E_{>k}}{N_{>k} (N_{>k} - 1)}

    with :math:`N_{>k}` the vertices of degree :math:`> k` and :math:`E_{>k}` the nonzero
    matrix entries among them (an undirected edge counts twice, so both are the fraction of
    possible edges present). Weighted (bctpy ``rich_club_wu``, undirected view only; Opsahl et
    al. 2008): ``R[k - 1]`` is the weight among the vertices of degree :math:`\ge k` over the
    sum of the same number of the largest weights of the whole network (bctpy's levels are
    ``> k`` for ``_bu``/``_bd`` but ``>= k`` for ``_wu``, as in the MATLAB toolbox, and ``_wu``
    gives NaN at a level no vertex falls below). A level with fewer than 2 vertices is NaN (0/0).
    ``klevel`` defaults to the largest degree. Isolated vertices are never in a club.

    Args:
        graph: the synapses.
        klevel: the number of levels (default the largest degree).
        weight: optional ``[E]`` non-negative weights (undirected only).
        directed: ``rich_club_bd`` (binary only), or the undirected view.

    Returns:
        ``[klevel]`` float64.

    Raises:
        ValueError: ``weight`` with ``directed=True``, a negative ``klevel``, bad weights.
    """
    check_graph(graph)
    if weight is not None and directed:
        raise ValueError("rich_club: weight needs directed=False (bctpy has rich_club_wu, no weighted directed form)")
    n = graph.num_nodes
    if weight is None:
        a = adjacency(graph, directed)
        deg = np.diff(a.indptr) + (np.bincount(a.indices, minlength=n) if directed else 0)
        levels = _levels(klevel, deg)
        coo = a.tocoo()
        nk = _at_least(deg, levels)[1 : levels + 1].astype(np.float64)  # vertices with degree > k, k = 1..levels
        ek = _at_least(np.minimum(deg[coo.row], deg[coo.col]), levels)[1 : levels + 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            return torch.from_numpy(ek / (nk * (nk - 1)))
    w = weighted_adjacency(graph, check_weight(weight, graph), directed=False)
    deg = np.diff(w.indptr)
    levels = _levels(klevel, deg)
    coo = w.tocoo()
    low = np.minimum(deg[coo.row], deg[coo.col])
    # level k (1-based) keeps the entries whose endpoints both have degree >= k, i.e. > k - 1
    wr = _at_least(low, levels, coo.data)[:levels]
    er = _at_least(low, levels)[:levels].astype(np.int64)
    top = np.concatenate([[0.0], np.cumsum(np.sort(coo.data)[::-1])])  # sum of the er largest weights
    with np.errstate(divide="ignore", invalid="ignore"):
        r = wr / top[er]
    has_small = _at_least(deg, levels)[:levels] < n  # some vertex has degree < k
    return torch.from_numpy(np.where(has_small, r, np.nan))
