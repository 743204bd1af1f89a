"""The one table of activation names, shared by blocks, layers, models, neuron graphs and brain models."""
from __future__ import annotations

from typing import Callable

from torch import Tensor, nn

__all__ = ["ACTIVATIONS", "make_activation", "activation_fn"]

# name -> module class with its default settings (NeuronGraph.from_sequential maps modules back by class)
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "identity": nn.Identity,
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "elu": nn.ELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "leaky_relu": nn.LeakyReLU,
    "softplus": nn.Softplus,
}

# the modules hold no parameters or state, so one instance per name serves every caller
_SHARED: dict[str, nn.Module] = {}


def _check(name: str) -> None:
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)}, got {name!r}")


def make_activation(name: str) -> nn.Module:
    """A fresh activation module for ``name`` (one of :data:`ACTIVATIONS`), to put in a module tree.

    Raises:
        ValueError: unknown name.
    """
    _check(name)
    return ACTIVATIONS[name]()


def activation_fn(name: str) -> Callable[[Tensor], Tensor]:
    """The elementwise function ``name`` (one of :data:`ACTIVATIONS`), for layers that keep only the name.

    Raises:
        ValueError: unknown name.
    """
    _check(name)
    if name not in _SHARED:
        _SHARED[name] = ACTIVATIONS[name]()
    return _SHARED[name]
