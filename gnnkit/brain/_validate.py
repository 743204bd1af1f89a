"""Input checks shared by the ``gnnkit.brain`` modules.

Every public function of the subpackage validates at its boundary with these helpers, so
an error names the argument, what was expected and what came.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..graph import Graph


def check_graph(g: Any, name: str = "graph", square: bool = True) -> Graph:
    if not isinstance(g, Graph):
        raise TypeError(f"{name} must be a gnnkit.Graph, got {type(g).__name__}")
    if square and g.is_bipartite:
        raise ValueError(
            f"{name} must join one vertex set (a neuron graph), got a bipartite graph with "
            f"num_src_nodes={g.num_src_nodes} and num_nodes={g.num_nodes}"
        )
    return g


def check_int(value: Any, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r})")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_real(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} ({value!r})")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def check_positive(value: Any, name: str) -> float:
    value = check_real(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


def check_nonnegative(value: Any, name: str) -> float:
    value = check_real(value, name)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def check_probability(value: Any, name: str) -> float:
    """A probability in [0, 1]."""
    value = check_real(value, name)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value}")
    return value


def check_probability_array(values: Any, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """A float array of probabilities in [0, 1] (optionally of a given shape)."""
    try:
        arr = np.asarray(values.detach().cpu().numpy() if isinstance(values, Tensor) else values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of probabilities, got {type(values).__name__}") from exc
    if shape is not None and arr.shape != shape:
        raise ValueError(f"{name} must have shape {list(shape)}, got {list(arr.shape)}")
    if arr.size and (not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1):
        bad = arr[~(np.isfinite(arr) & (arr >= 0) & (arr <= 1))].ravel()[0]
        raise ValueError(f"{name} must hold probabilities in [0, 1], got a value of {bad}")
    return arr


def check_fraction(value: Any, name: str) -> float:
    """A prune fraction in [0, 1): removing every synapse is never a pruning step."""
    value = check_real(value, name)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must lie in [0, 1) (the fraction of synapses to remove), got {value}")
    return value


def as_positions(positions: Any, num_nodes: int | None, name: str = "positions") -> Tensor:
    """``[N, D]`` finite float32 positions (D >= 1) as a CPU tensor, checked against ``num_nodes``."""
    if isinstance(positions, np.ndarray):
        positions = torch.from_numpy(positions)
    elif not isinstance(positions, Tensor):
        try:
            positions = torch.as_tensor(np.asarray(positions, dtype=np.float64))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be an [N, D] float array, got {type(positions).__name__}") from exc
    if not (positions.is_floating_point() or positions.dtype in (torch.int32, torch.int64)):
        raise TypeError(f"{name} must be an [N, D] float array, got dtype {positions.dtype}")
    if positions.dim() != 2 or positions.shape[1] < 1:
        raise ValueError(f"{name} must have shape [N, D] with D >= 1 coordinates per neuron, got {tuple(positions.shape)}")
    if num_nodes is not None and positions.shape[0] != num_nodes:
        raise ValueError(f"{name} must have one row per neuron ({num_nodes}), got {positions.shape[0]} rows")
    finite = torch.isfinite(positions)
    if not bool(finite.all()):
        row = int((~finite).any(1).nonzero()[0])
        raise ValueError(
            f"{name} must be finite, but neuron {row} has position {positions[row].tolist()}; "
            f"drop or fix non-finite coordinates (NaN/inf) before building the network"
        )
    return positions.detach().to(device="cpu", dtype=torch.float32).contiguous()


def as_edge_tensor(t: Any, num_edges: int, name: str, dtype: torch.dtype | None = None) -> Tensor:
    """A finite float ``[E]`` tensor."""
    if not isinstance(t, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape [E], got {type(t).__name__}")
    if not t.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {t.dtype}")
    if t.shape != (num_edges,):
        raise ValueError(f"{name} must have shape [E] with E = {num_edges} (one per synapse), got {tuple(t.shape)}")
    return t if dtype is None else t.to(dtype)


def rng_from(seed: Any, name: str = "seed") -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{name} must be an int (or a numpy Generator) so runs are reproducible, got {seed!r}")
    return np.random.default_rng(int(seed))


def check_synapse_swap(graph: Any, weight: Any, num_nodes: int) -> Graph:
    """A ``replace_synapses(graph, weight)`` argument pair: a graph over the same neurons, ``[E]`` Parameter weights."""
    check_graph(graph)
    if graph.num_nodes != num_nodes:
        raise ValueError(f"graph must keep the {num_nodes} neurons, got num_nodes={graph.num_nodes}")
    if not isinstance(weight, torch.nn.Parameter) or weight.shape != (graph.num_edges,):
        raise ValueError(f"weight must be an nn.Parameter of shape [E] = [{graph.num_edges}]")
    return graph
