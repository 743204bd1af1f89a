"""The one dispatch table: ``(op, device type) -> implementation``, and the kernel import guard.

Every implementation of an op has the signature of its ``reference`` twin. A call
goes to the compiled kernel when one is registered for the tensor's device and the
dtype is float32/float64; otherwise to ``reference``. ``GNNKIT_DISABLE_KERNELS=1``
forces the reference path (used by the tests to compare the two).

CUDA tensors go to the Triton kernels (:mod:`gnnkit.ops._triton`) when a GPU is
present and triton imports; triton is never imported on a machine without CUDA.
"""
from __future__ import annotations

import logging
import os
import warnings
from typing import Callable

import torch

from . import _cpu, reference

log = logging.getLogger("gnnkit")

CPU_OPS = ("spmm", "segment_reduce", "sddmm_dot", "segment_softmax", "segment_softmax_backward")
OPS = CPU_OPS + ("gat_forward", "gat_backward")  # fused attention: Triton on CUDA, the reference elsewhere
KERNEL_DTYPES = (torch.float32, torch.float64)

HAS_KERNELS = False
KERNEL_ERROR: str | None = None


def _load_cpu_kernels() -> None:
    global HAS_KERNELS, KERNEL_ERROR
    if os.environ.get("GNNKIT_DISABLE_KERNELS") == "1":
        KERNEL_ERROR = "disabled by GNNKIT_DISABLE_KERNELS=1"
        return
    try:
        from gnnkit_kernels.cpu import KernelBuildError, load
    except ImportError as exc:  # package installed without its kernels folder
        KERNEL_ERROR = f"gnnkit_kernels is not importable: {exc}"
    else:
        try:
            _cpu.bind(load())
            HAS_KERNELS = True
        except KernelBuildError as exc:
            KERNEL_ERROR = str(exc)
    if not HAS_KERNELS:
        warnings.warn(
            f"gnnkit: compiled CPU kernels unavailable ({KERNEL_ERROR}); using the pure-PyTorch "
            "reference ops, which are correct but slower. Install a C++ compiler (g++/clang++) to fix.",
            RuntimeWarning,
            stacklevel=2,
        )


_load_cpu_kernels()

HAS_TRITON = False
TRITON_ERROR: str | None = None


def _load_triton_kernels():
    """The Triton bindings module, or None (with the reason in ``TRITON_ERROR``)."""
    global HAS_TRITON, TRITON_ERROR
    if os.environ.get("GNNKIT_DISABLE_KERNELS") == "1":
        TRITON_ERROR = "disabled by GNNKIT_DISABLE_KERNELS=1"
        return None
    if not torch.cuda.is_available():  # no GPU: keep triton (and its import time) out of the process
        TRITON_ERROR = "no CUDA device"
        return None
    try:
        from . import _triton
    except ImportError as exc:
        TRITON_ERROR = f"triton is not importable: {exc}"
        log.warning(
            "gnnkit: Triton kernels unavailable (%s); CUDA tensors use the pure-PyTorch reference ops. "
            "Install them with pip install 'gnnkit[triton]'.", TRITON_ERROR,
        )
        return None
    HAS_TRITON = True
    return _triton


_triton = _load_triton_kernels()

TABLE: dict[tuple[str, str], Callable] = {}
for _op in OPS:
    TABLE[(_op, "reference")] = getattr(reference, _op)
    if HAS_KERNELS and _op in CPU_OPS:
        TABLE[(_op, "cpu")] = getattr(_cpu, _op)
    if _triton is not None:
        TABLE[(_op, "cuda")] = getattr(_triton, _op)


def lookup(op: str, tensor: torch.Tensor) -> Callable:
    """The implementation of ``op`` for ``tensor``'s device and dtype."""
    if tensor.dtype in KERNEL_DTYPES:
        impl = TABLE.get((op, tensor.device.type))
        if impl is not None:
            return impl
    return TABLE[(op, "reference")]


def backend(op: str, tensor: torch.Tensor) -> str:
    """Which implementation ``lookup`` picks, as ``"cpu"``, ``"cuda"`` or ``"reference"`` (for tests and benchmarks)."""
    impl = lookup(op, tensor)
    return "reference" if impl is TABLE[(op, "reference")] else tensor.device.type
