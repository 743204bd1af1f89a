"""``--device cpu|cuda|auto`` for the subcommands that run a model (train, eval, brain)."""
from __future__ import annotations

import argparse

import torch

from .loop import UsageError

__all__ = ["DEVICES", "add_device_argument", "resolve_device"]

DEVICES = ("cpu", "cuda", "auto")


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--device`` (default ``cpu``) to a subcommand's parser."""
    parser.add_argument("--device", choices=DEVICES, default="cpu",
                        help="where the model runs: cpu (default), cuda, or auto (cuda when available)")


def resolve_device(name: str) -> torch.device:
    """The ``torch.device`` for a ``--device`` value.

    Raises:
        UsageError: ``cuda`` on a machine where ``torch.cuda.is_available()`` is false (exit status 2).
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: CUDA is not available on this machine (torch.cuda.is_available() is "
                         "False); use --device cpu or --device auto")
    return torch.device(name)
