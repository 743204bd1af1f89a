"""Checks and initialisation shared by the dynamics models (state layout ``[N, B]``: neurons by trials)."""
from __future__ import annotations

import torch
from torch import Tensor

from ...graph import Graph


def check_state(x: Tensor, num_nodes: int, name: str) -> Tensor:
    """A floating ``[N, B]`` tensor, ``B >= 1`` trials."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape [N, B] (neurons by trials), got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.dim() != 2 or x.shape[0] != num_nodes or x.shape[1] < 1:
        raise ValueError(f"{name} must have shape [N, B] with N = {num_nodes} neurons and B >= 1 trials, "
                         f"got {tuple(x.shape)}")
    return x


def check_input(x: Tensor, like: Tensor, name: str) -> Tensor:
    """An input ``[N, B]`` or ``[N, 1]`` (broadcast over trials) matching the state ``like``."""
    if not isinstance(x, Tensor) or not x.is_floating_point():
        got = f"dtype {x.dtype}" if isinstance(x, Tensor) else type(x).__name__
        raise TypeError(f"{name} must be a floating-point tensor of shape [N, B], got {got}")
    if x.dim() != 2 or x.shape[0] != like.shape[0] or x.shape[1] not in (1, like.shape[1]):
        raise ValueError(f"{name} must have shape [N, B] = [{like.shape[0]}, {like.shape[1]}] or "
                         f"[{like.shape[0]}, 1], got {tuple(x.shape)}")
    return x


def init_weight(graph: Graph, gain: float, weight: Tensor | None) -> Tensor:
    r"""``[E]`` float32 weights: ``weight`` copied, or :math:`\mathcal N(0, g^2/k_{in})` drawn from torch's generator."""
    e = graph.num_edges
    if weight is not None:
        if not isinstance(weight, Tensor) or weight.shape != (e,) or not weight.is_floating_point():
            got = f"{weight.dtype} {tuple(weight.shape)}" if isinstance(weight, Tensor) else type(weight).__name__
            raise ValueError(f"weight must be a float tensor of shape [E] = [{e}], got {got}")
        return weight.detach().clone().to(graph.device)
    fan_in = torch.bincount(graph.dst, minlength=graph.num_nodes).clamp(min=1).to(torch.float32)  # [N]
    return torch.randn(e, device=graph.device) * gain * fan_in.rsqrt()[graph.dst]
