r"""Spatially embedded networks by the exponential distance rule :math:`p(d) = p_0 e^{-d/\lambda}`."""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from .._validate import as_positions, check_int, check_positive, check_probability, rng_from
from .sampling import _distance_rule_edges, _to_graph
from .spatial import SpatialGraph

__all__ = ["decay_for_degree", "spatial_graph"]


def _unit_sphere_area(dim: int) -> float:
    return 2.0 * math.pi ** (dim / 2) / math.gamma(dim / 2)


def decay_for_degree(mean_degree: float, num_nodes: int, dim: int = 2, extent: float = 1.0, p0: float = 1.0) -> float:
    r"""Length constant :math:`\lambda` that gives a mean out-degree under the exponential distance rule.

    For neurons of density :math:`\rho = N / \text{extent}^D` in an unbounded medium,

    .. math:: \bar k = \rho\, p_0 \int e^{-r/\lambda}\, dV = \rho\, p_0\, S_{D-1}\, (D-1)!\, \lambda^D

    with :math:`S_{D-1}` the area of the unit sphere (2, :math:`2\pi`, :math:`4\pi`). Neurons near
    the box boundary lose part of their neighbourhood, so the realised mean degree of a
    finite box is somewhat lower (by :math:`\approx 2D\lambda/\text{extent}` relative).

    Raises:
        ValueError: a non-positive ``mean_degree``, ``extent``, ``num_nodes``; ``p0`` outside (0, 1].
    """
    k = check_positive(mean_degree, "mean_degree")
    n = check_int(num_nodes, "num_nodes", minimum=1)
    dim = check_int(dim, "dim", minimum=1, maximum=3)
    extent = check_positive(extent, "extent")
    p0 = check_probability(p0, "p0")
    if p0 == 0:
        raise ValueError("p0 must be > 0 to reach a positive mean_degree, got 0")
    rho = n / extent**dim
    return (k / (rho * p0 * _unit_sphere_area(dim) * math.factorial(dim - 1))) ** (1.0 / dim)


def spatial_graph(
    num_nodes: int,
    *,
    dim: int = 2,
    decay: float | None = None,
    mean_degree: float | None = None,
    p0: float = 1.0,
    extent: float = 1.0,
    positions: Tensor | np.ndarray | None = None,
    directed: bool = True,
    tol: float = 1e-6,
    cell_size: float | None = None,
    seed: int = 0,
    progress: bool = False,
) -> SpatialGraph:
    r"""Neurons in space, connected by the exponential distance rule.

    .. math:: P(i \to j) = p_0\, e^{-d_{ij}/\lambda} \quad\text{for } d_{ij} \le r_c = \lambda \ln(p_0/\text{tol}),\ 0 \text{ beyond}

    (Ercsey-Ravasz et al. 2013, *Neuron* 80:184, measured this decay in macaque cortex.)
    Every ordered pair is an independent trial (``directed=True``) or every unordered pair
    one trial whose edge is stored in both directions (``directed=False``). No self-loops.
    Beyond the cutoff :math:`r_c` the probability is below ``tol``; those pairs are never
    examined, which is what makes the generator :math:`O(N + E)` instead of :math:`O(N^2)`.

    Args:
        num_nodes: number of neurons ``N``.
        dim: 1, 2 or 3 (ignored when ``positions`` is given).
        decay: length constant :math:`\lambda`; give it or ``mean_degree``.
        mean_degree: target mean out-degree; sets :math:`\lambda` by :func:`decay_for_degree`.
        p0: connection probability at distance 0, in [0, 1].
        extent: side of the box :math:`[0, \text{extent}]^D` positions are drawn from (uniform).
        positions: optional ``[N, D]`` fixed positions instead of uniform ones (``dim`` and
            ``extent`` are then ignored; ``mean_degree`` uses the positions' bounding box).
        directed: one trial per ordered pair (default) or per unordered pair.
        tol: probability below which pairs are not examined (sets the cutoff).
        cell_size: side of the grid cells used for sampling; default: chosen by a cost model.
            Only speed depends on it, not the distribution (but the random stream does).
        seed: random seed; equal seeds give equal graphs.
        progress: show a tqdm bar over cell offsets.

    Returns:
        A :class:`SpatialGraph`; edges sorted by ``(dst, src)``.

    Raises:
        ValueError: non-finite positions, ``p0`` or ``tol`` outside [0, 1], neither or both of
            ``decay`` and ``mean_degree``, non-positive sizes.
    """
    n = check_int(num_nodes, "num_nodes", minimum=0)
    p0 = check_probability(p0, "p0")
    tol = check_probability(tol, "tol")
    if tol == 0:
        raise ValueError("tol must be > 0 (the probability below which pairs are skipped), got 0")
    if positions is not None:
        pos = as_positions(positions, n)
        dim = pos.shape[1]
        x = pos.numpy().astype(np.float64)
    else:
        dim = check_int(dim, "dim", minimum=1, maximum=3)
        extent = check_positive(extent, "extent")
    if (decay is None) == (mean_degree is None):
        raise ValueError(
            f"give exactly one of decay (the length constant) and mean_degree, got decay={decay!r}, "
            f"mean_degree={mean_degree!r}"
        )
    rng = rng_from(seed)
    if positions is None:
        x = rng.random((n, dim)) * extent
        pos = torch.from_numpy(x.astype(np.float32))
    if decay is None:
        box = float((x.max(0) - x.min(0)).max()) if n > 1 else 1.0
        decay = decay_for_degree(mean_degree, max(n, 1), dim, extent if positions is None else max(box, 1e-12), max(p0, 1e-300))
    decay = check_positive(decay, "decay")
    if cell_size is not None:
        cell_size = check_positive(cell_size, "cell_size")
    i, j = _distance_rule_edges(x, decay, p0, tol, rng, directed, cell_size=cell_size, progress=progress)
    return SpatialGraph(_to_graph(i, j, n), pos)
