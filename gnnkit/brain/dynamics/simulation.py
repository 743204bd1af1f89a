"""Run a dynamics model for ``T`` steps, optionally recording what it does."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from .._validate import check_int
from .lif import LIFNetwork, LIFState
from .rate import RateNetwork

__all__ = ["RECORDABLE", "simulate"]

RECORDABLE = {RateNetwork: ("rates",), LIFNetwork: ("spikes", "v", "i")}


def simulate(
    model: RateNetwork | LIFNetwork,
    state: Tensor | LIFState,
    inputs: Tensor | None = None,
    *,
    steps: int | None = None,
    record: Sequence[str] = (),
) -> tuple[Tensor | LIFState, dict[str, Tensor]]:
    """Step ``model`` ``T`` times from ``state``; a loop over time only (each step is one sparse product).

    Args:
        model: a :class:`RateNetwork` or :class:`LIFNetwork`.
        state: its state (``[N, B]`` rates or a :class:`LIFState`), e.g. ``model.initial_state(B)``.
        inputs: ``[T, N, B]`` (or ``[T, N, 1]``) input per step; None: no input for ``steps`` steps.
        steps: ``T`` when ``inputs`` is None (must equal ``inputs.shape[0]`` if both are given).
        record: names to keep every step: ``"rates"`` (rate model); ``"spikes"``, ``"v"``,
            ``"i"`` (LIF). Each becomes a ``[T, N, B]`` tensor in the returned dict
            (differentiable, so a loss on recorded spikes or rates trains the weights).

    Returns:
        ``(state, records)``: the state after the last step and ``{name: [T, N, B]}``.

    Raises:
        TypeError: an unknown model. ValueError: an unknown record name, neither or
            inconsistent ``inputs``/``steps``, inputs that are not ``[T, N, B]``.
    """
    kind = next((k for k in RECORDABLE if isinstance(model, k)), None)
    if kind is None:
        raise TypeError(f"model must be a RateNetwork or LIFNetwork, got {type(model).__name__}")
    for name in record:
        if name not in RECORDABLE[kind]:
            raise ValueError(f"record must name some of {RECORDABLE[kind]} for a {kind.__name__}, got {name!r}")
    if inputs is None:
        if steps is None:
            raise ValueError("give inputs [T, N, B] or the number of steps")
        steps = check_int(steps, "steps", minimum=0)
    else:
        if not isinstance(inputs, Tensor) or inputs.dim() != 3:
            got = tuple(inputs.shape) if isinstance(inputs, Tensor) else type(inputs).__name__
            raise ValueError(f"inputs must have shape [T, N, B], got {got}")
        if steps is not None and check_int(steps, "steps", minimum=0) != inputs.shape[0]:
            raise ValueError(f"steps must equal inputs.shape[0] = {inputs.shape[0]} when both are given, got {steps}")
        steps = inputs.shape[0]
    kept: dict[str, list[Tensor]] = {name: [] for name in record}
    for t in range(steps):  # the time loop; space is one sparse product per step
        x = None if inputs is None else inputs[t]
        if kind is RateNetwork:
            state = model(state, x)
            values = {"rates": state}
        else:
            state, spikes = model(state, x)
            values = {"spikes": spikes, "v": state.v, "i": state.i}
        for name in record:
            kept[name].append(values[name])
    out = {}
    for name, seq in kept.items():
        if seq:
            out[name] = torch.stack(seq)  # [T, N, B]
        else:
            like = state if isinstance(state, Tensor) else state.v
            out[name] = like.new_zeros((0,) + tuple(like.shape))
    return state, out
