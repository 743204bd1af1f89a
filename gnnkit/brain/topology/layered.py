"""Layered networks and the Potjans & Diesmann (2014) cortical column."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .._validate import check_int, check_positive, check_probability, check_probability_array, rng_from
from .sampling import _block_edges, _distance_rule_edges, _to_graph
from .spatial import SpatialGraph

__all__ = ["layered_graph", "cortical_column", "PD14_POPULATIONS", "PD14_SIZES", "PD14_PROBS"]


def layered_graph(
    layer_sizes: Sequence[int],
    layer_probs: Sequence[Sequence[float]] | np.ndarray,
    *,
    decay: float | None = None,
    extent: float = 1.0,
    depth: float | None = None,
    dim: int = 3,
    directed: bool = True,
    layer_names: Sequence[str] | None = None,
    tol: float = 1e-6,
    seed: int = 0,
    progress: bool = False,
) -> SpatialGraph:
    r"""Layered (laminar, cortex-like) network: layer-to-layer probabilities times lateral distance decay.

    .. math:: P(i \to j) = P_{\ell(i)\,\ell(j)} \; e^{-d^{\text{lat}}_{ij}/\lambda}

    where :math:`P` is ``layer_probs[source layer][target layer]`` and
    :math:`d^{\text{lat}}` the distance within the sheet (all coordinates but the last).
    With ``decay=None`` there is no distance term: a block model, as in the Potjans &
    Diesmann (2014) microcircuit whose probabilities are averages over a 1 mm² patch.
    Neurons are uniform in the sheet :math:`[0, \text{extent}]^{D-1}`; the last coordinate is
    the cortical depth, layer 0 at the top (``depth`` down to 0, default ``extent``), each
    layer a band of equal thickness.

    Args:
        layer_sizes: neurons per layer.
        layer_probs: ``[L, L]`` probabilities, ``[source, target]``.
        decay: lateral length constant :math:`\lambda`, or None for no distance dependence.
        extent: side of the sheet. depth: thickness of the whole column.
        dim: 2 (a line of cortex and depth) or 3 (a sheet and depth).
        directed: one trial per ordered pair; ``False`` needs a symmetric ``layer_probs``.
        layer_names: names for ``group_names``. tol: cutoff probability (with ``decay``).
        seed: random seed. progress: tqdm bar over cell offsets.

    Returns:
        A :class:`SpatialGraph` whose ``groups`` is the layer of each neuron.

    Raises:
        ValueError: probabilities outside [0, 1], shape mismatches, a non-symmetric
            ``layer_probs`` with ``directed=False``.
    """
    sizes = np.asarray([check_int(s, f"layer_sizes[{i}]", minimum=0) for i, s in enumerate(layer_sizes)], dtype=np.int64)
    if sizes.size == 0:
        raise ValueError("layer_sizes must list at least one layer, got none")
    num_layers = sizes.size
    probs = check_probability_array(layer_probs, "layer_probs", (num_layers, num_layers))
    if not directed and not np.allclose(probs, probs.T):
        raise ValueError("layer_probs must be symmetric when directed=False (one trial per unordered pair)")
    dim = check_int(dim, "dim", minimum=2, maximum=3)
    extent = check_positive(extent, "extent")
    depth = extent if depth is None else check_positive(depth, "depth")
    if layer_names is not None and len(layer_names) != num_layers:
        raise ValueError(f"layer_names must name the {num_layers} layers, got {len(layer_names)} names")
    rng = rng_from(seed)
    n = int(sizes.sum())
    groups = np.repeat(np.arange(num_layers), sizes)
    band = depth / num_layers
    x = np.empty((n, dim))
    x[:, : dim - 1] = rng.random((n, dim - 1)) * extent
    x[:, dim - 1] = depth - (groups + rng.random(n)) * band
    if decay is None:
        src, dst = _block_edges(sizes, probs, rng, directed)
    else:
        decay = check_positive(decay, "decay")
        tol = check_probability(tol, "tol")
        if tol == 0:
            raise ValueError("tol must be > 0 (the probability below which pairs are skipped), got 0")
        src, dst = _distance_rule_edges(np.ascontiguousarray(x[:, : dim - 1]), decay, 1.0, tol, rng, directed,
                                        groups=groups, group_probs=probs, progress=progress)
    names = tuple(layer_names) if layer_names is not None else None
    return SpatialGraph(_to_graph(src, dst, n), torch.from_numpy(x.astype(np.float32)), torch.from_numpy(groups), names)


# Potjans & Diesmann (2014), Cerebral Cortex 24:785, Table 5: neurons under 1 mm² of cortex and
# connection probabilities. Their table is [target, source]; stored here transposed, [source, target].
PD14_POPULATIONS = ("L2/3e", "L2/3i", "L4e", "L4i", "L5e", "L5i", "L6e", "L6i")
PD14_SIZES = (20683, 5834, 21915, 5479, 4850, 1065, 14395, 2948)
PD14_PROBS = tuple(map(tuple, np.array([
    [0.1009, 0.1689, 0.0437, 0.0818, 0.0323, 0.0, 0.0076, 0.0],
    [0.1346, 0.1371, 0.0316, 0.0515, 0.0755, 0.0, 0.0042, 0.0],
    [0.0077, 0.0059, 0.0497, 0.1350, 0.0067, 0.0003, 0.0453, 0.0],
    [0.0691, 0.0029, 0.0794, 0.1597, 0.0033, 0.0, 0.1057, 0.0],
    [0.1004, 0.0622, 0.0505, 0.0057, 0.0831, 0.3726, 0.0204, 0.0],
    [0.0548, 0.0269, 0.0257, 0.0022, 0.0600, 0.3158, 0.0086, 0.0],
    [0.0156, 0.0066, 0.0211, 0.0166, 0.0572, 0.0197, 0.0396, 0.2252],
    [0.0364, 0.0010, 0.0034, 0.0005, 0.0277, 0.0080, 0.0658, 0.1443],
]).T.tolist()))


def cortical_column(
    num_nodes: int = 7_717,
    *,
    decay: float | None = None,
    extent: float = 1.0,
    dim: int = 3,
    seed: int = 0,
    progress: bool = False,
) -> SpatialGraph:
    """A scaled Potjans–Diesmann (2014) cortical microcircuit: 8 populations in 4 layers.

    Population sizes keep the proportions of :data:`PD14_SIZES`; pair probabilities are
    :data:`PD14_PROBS`, so a column smaller than the original 77,169 neurons keeps the
    probabilities and its in-degrees shrink in proportion (the usual "scale N, keep p"
    down-scaling). Excitatory and inhibitory populations of a layer share its depth band.
    With ``decay`` the probabilities become peak values at lateral distance 0 (see
    :func:`layered_graph`). ``groups`` indexes :data:`PD14_POPULATIONS`.

    Raises:
        ValueError: ``num_nodes`` below 8.
    """
    n = check_int(num_nodes, "num_nodes", minimum=len(PD14_SIZES))
    full = np.asarray(PD14_SIZES, dtype=np.float64)
    sizes = np.floor(full / full.sum() * n).astype(np.int64)
    sizes[np.argsort(-(full / full.sum() * n - sizes))[: n - int(sizes.sum())]] += 1  # largest remainders
    sg = layered_graph(sizes.tolist(), np.asarray(PD14_PROBS), decay=decay, extent=extent, dim=dim, directed=True,
                       layer_names=PD14_POPULATIONS, seed=seed, progress=progress)
    # the excitatory and inhibitory population of a layer share the layer's depth band
    groups = sg.groups.numpy()
    rng = rng_from(seed + 1)
    depth_pos = sg.positions.numpy().astype(np.float64)
    depth_pos[:, -1] = extent - ((groups // 2) + rng.random(n)) * (extent / 4)
    return SpatialGraph(sg.graph, torch.from_numpy(depth_pos.astype(np.float32)), sg.groups, sg.group_names)
