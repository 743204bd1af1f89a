r"""Degree and strength assortativity (bctpy ``assortativity_bin`` / ``assortativity_wei``)."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from torch import Tensor

from ...graph import Graph
from .._validate import check_graph
from ._common import matrix

_FLAGS = {1: ("out", "in"), 2: ("in", "out"), 3: ("out", "out"), 4: ("in", "in")}


def assortativity(graph: Graph, flag: int = 0, *, weight: Tensor | None = None) -> float:
    r"""Pearson correlation of the degrees (or strengths) at the two ends of each edge (Newman 2002).

    .. math:: r = \frac{\frac1K\sum_e x_e y_e - \big[\frac1K\sum_e \frac{x_e + y_e}{2}\big]^2}
                       {\frac1K\sum_e \frac{x_e^2 + y_e^2}{2} - \big[\frac1K\sum_e \frac{x_e + y_e}{2}\big]^2}

    ``flag=0`` (bctpy ``assortativity_bin(A, 0)`` / ``assortativity_wei(W, 0)``): the undirected
    view, every edge once, :math:`x, y` the degrees (strengths) of its ends. ``flag`` 1–4:
    the directed simple graph, every arc ``u -> v`` once, with :math:`(x, y)` = (out of u,
    in of v), (in, out), (out, out), (in, in). Binary (``weight=None``: degrees, distinct
    neighbours) or weighted (strengths of the matrix, parallel weights summed; undirected
    view ``max(W, W^T)``). Vertices without edges take no part. The weighted directed flags
    follow the MATLAB toolbox and bctpy's docstring: bctpy 0.6's ``assortativity_wei`` fails
    for flags 1–4 (its ``strengths_dir`` returns only the total), and its flag-4 branch
    would pair in- with out-strength.

    Args:
        graph: the synapses.
        flag: 0 (undirected) or 1–4 (directed, see above).
        weight: optional ``[E]`` non-negative weights.

    Returns:
        ``r`` in ``[-1, 1]``; NaN when there is no edge or all ends have the same degree.

    Raises:
        ValueError: a ``flag`` outside 0–4, bad weights.
    """
    check_graph(graph)
    if flag not in (0, 1, 2, 3, 4) or isinstance(flag, bool):
        raise ValueError(f"flag must be 0 (undirected) or 1-4 (out-in, in-out, out-out, in-in), got {flag!r}")
    w = matrix(graph, weight, directed=flag != 0)
    out = np.asarray(w.sum(1)).ravel()
    inn = np.asarray(w.sum(0)).ravel()
    coo = sp.triu(w, k=1).tocoo() if flag == 0 else w.tocoo()
    if flag == 0:
        x, y = out[coo.row], out[coo.col]
    else:
        side = {"out": out, "in": inn}
        x, y = side[_FLAGS[flag][0]][coo.row], side[_FLAGS[flag][1]][coo.col]
    k = x.size
    if k == 0:
        return float("nan")
    t1 = (x * y).sum() / k
    t2 = ((0.5 * (x + y)).sum() / k) ** 2
    t3 = (0.5 * (x * x + y * y)).sum() / k
    with np.errstate(divide="ignore", invalid="ignore"):
        return float((t1 - t2) / (t3 - t2))
