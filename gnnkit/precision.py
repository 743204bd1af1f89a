"""Training precision: ``"fp32"`` or ``"bf16"`` (CPU autocast to bfloat16), and whether the CPU has bfloat16 arithmetic.

``"bf16"`` runs the forward pass and the loss under ``torch.autocast(device, dtype=torch.bfloat16)``:
the dense products in bfloat16, the sparse ops storing bfloat16 and accumulating in float32
(:mod:`gnnkit.ops._library` says which ops stay float32 and why), the loss in float32 as
torch's autocast does. It pays off only where the CPU has bfloat16 arithmetic (the
``avx512_bf16`` or ``amx_bf16`` instruction sets): elsewhere torch emulates it, more slowly
than float32, so :func:`resolve_precision` falls back to ``"fp32"`` with one warning.
"""
from __future__ import annotations

import contextlib
import functools
import warnings
from pathlib import Path

import torch

__all__ = ["PRECISIONS", "BF16_CPU_FLAGS", "cpu_bf16_flags", "cpu_bf16_support", "resolve_precision", "autocast"]

PRECISIONS = ("fp32", "bf16")
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo flags of bfloat16 arithmetic units


@functools.lru_cache(maxsize=1)
def cpu_bf16_flags() -> tuple[str, ...]:
    """The bfloat16 flags of :data:`BF16_CPU_FLAGS` that ``/proc/cpuinfo`` lists (empty where it cannot be read)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                return tuple(f for f in BF16_CPU_FLAGS if f in flags)
    except OSError:
        pass
    return ()


def cpu_bf16_support() -> str:
    """One line for benchmark reports: torch's CPU capability level and the CPU's bfloat16 flags."""
    found = cpu_bf16_flags()
    return f"torch CPU capability {torch.backends.cpu.get_cpu_capability()}; bf16 flags: {', '.join(found) or 'none'}"


def resolve_precision(precision: str, device: torch.device | str = "cpu", flag: str = "precision") -> str:
    """``precision`` if ``device`` can run it fast, else ``"fp32"`` with one warning naming ``flag``.

    Args:
        precision: ``"fp32"`` or ``"bf16"``.
        device: where the model runs.
        flag: how the warning names the setting (``"--precision"`` on the command line).

    Returns:
        ``"fp32"`` or ``"bf16"``.

    Raises:
        ValueError: ``precision`` is not one of :data:`PRECISIONS`.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"{flag} must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp32":
        return precision
    kind = torch.device(device).type
    if kind == "cpu" and not cpu_bf16_flags():
        why = f"this CPU has no bfloat16 arithmetic (none of {', '.join(BF16_CPU_FLAGS)} in /proc/cpuinfo)"
    elif kind == "cuda" and not torch.cuda.is_bf16_supported():
        why = "this GPU has no bfloat16 support (torch.cuda.is_bf16_supported() is False)"
    elif kind not in ("cpu", "cuda"):
        why = f"device type {kind!r} has no bfloat16 autocast here"
    else:
        return precision
    warnings.warn(f"{flag} bf16: {why}; training in fp32 instead", RuntimeWarning, stacklevel=2)
    return "fp32"


def autocast(precision: str, device: torch.device | str = "cpu") -> contextlib.AbstractContextManager:
    """The context a forward pass and its loss run in: ``torch.autocast`` to bfloat16 for ``"bf16"``, nothing for ``"fp32"``.

    Args:
        precision: a resolved precision (:func:`resolve_precision`).
        device: where the model runs.

    Raises:
        ValueError: ``precision`` is not one of :data:`PRECISIONS`.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=precision == "bf16")
