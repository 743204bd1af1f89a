r"""k-cores and core numbers by vectorised peeling (bctpy ``kcore_bu`` / ``kcore_bd``, ``kcoreness_centrality_*``)."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from ...graph import Graph
from .._validate import check_graph, check_int
from ._common import adjacency


def _peel(graph: Graph, directed: bool) -> np.ndarray:
    """Core number of every vertex (Batagelj & Zaveršnik 2003), peeling whole degree levels at once."""
    n = graph.num_nodes
    a = adjacency(graph, directed)
    # S[u, v] = arcs between u and v: removing u lowers v's (total) degree by S[u, v]
    s = (a + a.T).tocsr() if directed else a
    deg = np.asarray(s.sum(1)).ravel().astype(np.int64)
    core = np.zeros(n, dtype=np.int64)
    alive = np.ones(n, dtype=bool)
    k = 0
    while alive.any():  # a loop over degree levels; each level peels in vectorised rounds
        k = max(k, int(deg[alive].min()))
        drop = np.flatnonzero(alive & (deg <= k))
        while drop.size:
            core[drop] = k
            alive[drop] = False
            rows = s[drop]  # [|drop|, N]: the removed vertices' arcs
            hit = np.bincount(rows.indices, weights=rows.data, minlength=n).astype(np.int64)
            deg -= hit
            touched = np.flatnonzero(hit)
            drop = touched[alive[touched] & (deg[touched] <= k)]
    return core


def core_numbers(graph: Graph, *, directed: bool = False) -> Tensor:
    r"""Core number of every vertex: the largest :math:`k` whose :math:`k`-core contains it.

    The :math:`k`-core is what remains after repeatedly removing vertices of degree
    :math:`< k` (Seidman 1983); the degree is the undirected view's, or with
    ``directed=True`` the in- plus out-degree of the directed simple graph (bctpy
    ``kcore_bd``; networkx ``core_number`` on a ``DiGraph``). An isolated vertex has core
    number 0. Equals bctpy ``kcoreness_centrality_bu`` on a symmetric matrix. (bctpy's
    ``kcoreness_centrality_bd`` only credits a vertex at level :math:`k` when it has an
    in-edge inside the :math:`k`-core; here every vertex of the core counts, as in networkx.)
    Peeling removes every vertex at the current level at once and updates its neighbours'
    degrees by sparse row gathers, so there is no loop over vertices.

    Args:
        graph: the synapses.
        directed: total degree of the directed graph, or degree of the undirected view.

    Returns:
        ``[N]`` int64.
    """
    check_graph(graph)
    return torch.from_numpy(_peel(graph, directed))


def kcore(graph: Graph, k: int, *, directed: bool = False) -> tuple[Graph, Tensor]:
    r"""The :math:`k`-core subgraph (bctpy ``kcore_bu`` / ``kcore_bd``).

    See :func:`core_numbers` for the definition. As in bctpy, vertices are kept with their
    ids, the ones outside the core become isolated, and ``k <= 1`` removes nothing.

    Args:
        graph: the synapses.
        k: the level (>= 0).
        directed: total degree of the directed graph (``kcore_bd``), or the undirected view
            (``kcore_bu``).

    Returns:
        ``(core, members)``: the core's edges as a simple graph on the same ``N`` vertices
        (both directions for ``directed=False``), and an ``[N]`` bool mask of the vertices
        with an edge in it (``members.sum()`` is bctpy's ``kn``).

    Raises:
        ValueError: a negative ``k``.
    """
    check_graph(graph)
    k = check_int(k, "k", minimum=0)
    core = _peel(graph, directed)
    members = core >= max(k, 1)
    a = sp.coo_matrix(adjacency(graph, directed))
    keep = members[a.row] & members[a.col]
    return Graph(a.row[keep].astype(np.int64), a.col[keep].astype(np.int64), graph.num_nodes), torch.from_numpy(members)
