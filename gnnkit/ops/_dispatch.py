"""The one dispatch table: ``(op, device type) -> implementation``, and the kernel import guard.

Every implementation of an op has the signature of its ``reference`` twin. A call
goes to the compiled kernel when one is registered for the tensor's device and the
dtype is float32/float64 (or bfloat16 on the CPU); otherwise to ``reference``. ``GNNKIT_DISABLE_KERNELS=1``
forces the reference path (used by the tests to compare the two).

Nothing is compiled or imported when this module loads: the first op on a CPU float
tensor builds (once per machine, into ``$GNNKIT_CACHE_DIR`` or ``~/.cache/gnnkit``) and
loads the C++ kernels, and the first op on a CUDA tensor imports the Triton kernels
(:mod:`gnnkit.ops._triton`). Without a C++ compiler or without triton the reference
path is used, with one warning saying why. Reading :data:`HAS_KERNELS`,
:data:`KERNEL_ERROR`, :data:`HAS_TRITON` or :data:`TRITON_ERROR` triggers the same load.
"""
from __future__ import annotations

import contextlib
import logging
import os
import warnings
from typing import Any, Callable, Iterator

import torch

from . import _cpu, reference

log = logging.getLogger("gnnkit")

CPU_OPS = ("spmm", "segment_reduce", "sddmm_dot", "segment_softmax", "segment_softmax_backward")
OPS = CPU_OPS + ("gat_forward", "gat_backward")  # fused attention: Triton on CUDA, the reference elsewhere
# ops on a raw CSR (no Graph): a compiled CPU kernel, the reference elsewhere (CUDA included)
CSR_OPS = ("spmm_csr",)
KERNEL_DTYPES = (torch.float32, torch.float64)
# dtypes with a kernel per device type; bfloat16 storage has CPU kernels only (the reference,
# which computes it in float32, serves it elsewhere)
_DEVICE_DTYPES = {"cpu": KERNEL_DTYPES + (torch.bfloat16,)}

TABLE: dict[tuple[str, str], Callable] = {(op, "reference"): getattr(reference, op) for op in OPS + CSR_OPS}

# device type -> (available, reason it is not); absent until the first op on that device
_STATE: dict[str, tuple[bool, str | None]] = {}


def _disabled() -> bool:
    return os.environ.get("GNNKIT_DISABLE_KERNELS") == "1"


def cpu_library() -> tuple[Any, str | None]:
    """Build (once per machine, with a one-line notice) and load the compiled CPU kernels.

    The one loader of ``gnnkit_kernels.cpu`` for the sparse ops and the native neighbour sampler.

    Returns:
        ``(library, None)``, or ``(None, reason)`` when the kernels are disabled
        (``GNNKIT_DISABLE_KERNELS=1``), not installed or cannot be built.
    """
    if _disabled():
        return None, "disabled by GNNKIT_DISABLE_KERNELS=1"
    try:
        from gnnkit_kernels.cpu import KernelBuildError, library_path, load
    except ImportError as exc:  # package installed without its kernels folder
        return None, f"gnnkit_kernels is not importable: {exc}"
    if not library_path().exists():  # the build takes seconds: say once per machine why the first op waits
        log.warning("gnnkit: compiling the CPU kernels once into %s (a few seconds)", library_path().parent)
    try:
        return load(), None
    except KernelBuildError as exc:
        return None, str(exc)


def _load_cpu_kernels() -> tuple[bool, str | None]:
    lib, error = cpu_library()
    if lib is not None:
        _cpu.bind(lib)
        TABLE.update({(op, "cpu"): getattr(_cpu, op) for op in CPU_OPS + CSR_OPS})
        return True, None
    if _disabled():  # an explicit opt-out is not a failure worth a warning
        return False, error
    warnings.warn(
        f"gnnkit: compiled CPU kernels unavailable ({error}); using the pure-PyTorch "
        "reference ops, which are correct but slower. Install a C++ compiler (g++/clang++) to fix.",
        RuntimeWarning,
        stacklevel=4,
    )
    return False, error


def _load_triton_kernels() -> tuple[bool, str | None]:
    if _disabled():
        return False, "disabled by GNNKIT_DISABLE_KERNELS=1"
    if not torch.cuda.is_available():  # no GPU: keep triton (and its import time) out of the process
        return False, "no CUDA device"
    try:
        from . import _triton
    except ImportError as exc:
        error = f"triton is not importable: {exc}"
        log.warning(
            "gnnkit: Triton kernels unavailable (%s); CUDA tensors use the pure-PyTorch reference ops. "
            "Install them with pip install 'gnnkit[triton]'.", error,
        )
        return False, error
    TABLE.update({(op, "cuda"): getattr(_triton, op) for op in OPS})
    return True, None


_LOADERS = {"cpu": _load_cpu_kernels, "cuda": _load_triton_kernels}


def load_kernels(device_type: str) -> tuple[bool, str | None]:
    """Load the kernels for ``device_type`` (``"cpu"`` or ``"cuda"``) once; return ``(available, why not)``.

    Raises:
        ValueError: ``device_type`` has no kernels.
    """
    if device_type not in _LOADERS:
        raise ValueError(f"device_type must be one of {tuple(_LOADERS)}, got {device_type!r}")
    if device_type not in _STATE:
        _STATE[device_type] = _LOADERS[device_type]()
    return _STATE[device_type]


def __getattr__(name: str) -> Any:
    # module attributes that answer "are the kernels there?" load them on first read
    status = {"HAS_KERNELS": ("cpu", 0), "KERNEL_ERROR": ("cpu", 1), "HAS_TRITON": ("cuda", 0), "TRITON_ERROR": ("cuda", 1)}
    if name not in status:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    device_type, field = status[name]
    return load_kernels(device_type)[field]


def lookup(op: str, tensor: torch.Tensor) -> Callable:
    """The implementation of ``op`` for ``tensor``'s device and dtype."""
    kind = tensor.device.type
    if tensor.dtype in _DEVICE_DTYPES.get(kind, KERNEL_DTYPES):
        if kind in _LOADERS and kind not in _STATE:
            load_kernels(kind)
        impl = TABLE.get((op, kind))
        if impl is not None:
            return impl
    return TABLE[(op, "reference")]


def backend(op: str, tensor: torch.Tensor) -> str:
    """Which implementation ``lookup`` picks, as ``"cpu"``, ``"cuda"`` or ``"reference"`` (for tests and benchmarks)."""
    impl = lookup(op, tensor)
    return "reference" if impl is TABLE[(op, "reference")] else tensor.device.type


@contextlib.contextmanager
def use_triton_for_cpu() -> Iterator[None]:
    """Route the table's CPU entries to the Triton kernels while the block runs (a test hook).

    Only under ``TRITON_INTERPRET=1``: the public ops and their autograd Functions then
    run on the Triton kernels with CPU tensors, which is how the test suite checks the
    backward passes without a GPU. The table is restored on exit.

    Raises:
        RuntimeError: triton was imported without its interpreter.
    """
    from . import _triton

    if not _triton.INTERPRETED:
        raise RuntimeError("use_triton_for_cpu needs Triton's interpreter: set TRITON_INTERPRET=1 before triton is first imported")
    load_kernels("cpu")  # a later first CPU op must not overwrite the routed entries
    saved = {op: TABLE.get((op, "cpu")) for op in _triton.DISPATCHED}
    try:
        TABLE.update({(op, "cpu"): impl for op, impl in _triton.DISPATCHED.items()})
        yield
    finally:
        for op, impl in saved.items():
            if impl is None:
                TABLE.pop((op, "cpu"), None)
            else:
                TABLE[(op, "cpu")] = impl
