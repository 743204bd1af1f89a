"""Checkpoint files that survive a kill: atomic writes, and loads that run no code."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

__all__ = ["atomic_save", "load_checkpoint"]


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then ``os.replace`` it into place.

    ``os.replace`` is atomic on one filesystem, so a run killed mid-write leaves the previous
    checkpoint intact. The temporary name carries the process id, so ranks that share a
    directory never write the same temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> Any:
    """``torch.load(path, weights_only=True)``: tensors and plain containers only, no code runs.

    Raises:
        FileNotFoundError: ``path`` is not a file (the message names it).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    return torch.load(path, weights_only=True)
