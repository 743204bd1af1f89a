"""Build and load the CPU kernel library.

The C++ source is compiled on first use with the system C++ compiler into a cache
directory (``$GNNKIT_CACHE_DIR`` or ``~/.cache/gnnkit``), keyed by a hash of the
source, the flags and the CPU. It uses no torch headers, so one build serves every
torch version and no prebuilt binary is shipped. :func:`load` returns the
``ctypes.CDLL`` or raises :class:`KernelBuildError` saying why it could not.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

SOURCE = Path(__file__).with_name("gnnkit_cpu.cpp")
FLAGS = ["-O3", "-std=c++17", "-shared", "-fPIC", "-march=native", "-pthread", "-fno-math-errno"]
ABI_VERSION = 2


class KernelBuildError(RuntimeError):
    """The CPU kernels could not be compiled or loaded."""


def _cpu_fingerprint() -> str:
    # -march=native binds the build to this CPU; a cache shared between machines
    # (an NFS home) must not hand one CPU's build to another.
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return line
    except OSError:
        pass
    return platform.processor() + platform.machine()


def cache_dir() -> Path:
    root = os.environ.get("GNNKIT_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "gnnkit")
    return Path(root)


def _compiler() -> str | None:
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def library_path() -> Path:
    key = hashlib.sha256(SOURCE.read_bytes() + " ".join(FLAGS).encode() + _cpu_fingerprint().encode())
    return cache_dir() / f"gnnkit_cpu-{key.hexdigest()[:16]}.so"


def build(verbose: bool = False) -> Path:
    """Compile the kernels if no cached build exists; return the library path."""
    target = library_path()
    if target.exists():
        return target
    cxx = _compiler()
    if cxx is None:
        raise KernelBuildError("no C++ compiler found (looked for $CXX, c++, g++, clang++)")
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build to a private temporary name and rename: concurrent processes (test
    # workers, torchrun ranks) never see a half-written library.
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    cmd = [cxx, *FLAGS, str(SOURCE), "-o", tmp]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise KernelBuildError(f"compiling {SOURCE.name} failed ({' '.join(cmd)}):\n{proc.stderr[-2000:]}")
        if verbose and proc.stderr:
            print(proc.stderr)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def load() -> ctypes.CDLL:
    """Build if needed and load the library, with argument types declared."""
    try:
        lib = ctypes.CDLL(str(build()))
    except OSError as exc:
        raise KernelBuildError(f"loading the compiled kernels failed: {exc}") from exc
    if lib.gk_abi_version() != ABI_VERSION:
        raise KernelBuildError("stale kernel library: ABI version mismatch")
    p, i64, i32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
    for sfx in ("f32", "f64"):
        getattr(lib, f"gk_spmm_{sfx}").argtypes = [p, p, p, p, i64, p, p, p, i64, i64, i64, i32, i32]
        getattr(lib, f"gk_spmm_i32_{sfx}").argtypes = [p, p, p, p, i64, p, p, p, i64, i64, i64, i32, i32]  # int32 indices
        getattr(lib, f"gk_sddmm_dot_{sfx}").argtypes = [p, p, p, p, p, p, i64, i64, i64, i32]
        getattr(lib, f"gk_segment_softmax_{sfx}").argtypes = [p, p, p, p, i64, i64, i32]
        getattr(lib, f"gk_segment_softmax_backward_{sfx}").argtypes = [p, p, p, p, p, i64, i64, i32]
        for name in ("spmm", "spmm_i32", "sddmm_dot", "segment_softmax", "segment_softmax_backward"):
            getattr(lib, f"gk_{name}_{sfx}").restype = None
    # bfloat16 storage, float32 accumulation; spmm also in a form with float32 edge weights
    for name in ("spmm_bf16", "spmm_bf16_wf32", "spmm_i32_bf16", "spmm_i32_bf16_wf32"):
        getattr(lib, f"gk_{name}").argtypes = [p, p, p, p, i64, p, p, p, i64, i64, i64, i32, i32]
    lib.gk_sddmm_dot_bf16.argtypes = [p, p, p, p, p, p, i64, i64, i64, i32]
    lib.gk_segment_softmax_bf16.argtypes = [p, p, p, p, i64, i64, i32]
    lib.gk_segment_softmax_backward_bf16.argtypes = [p, p, p, p, p, i64, i64, i32]
    for name in ("spmm_bf16", "spmm_bf16_wf32", "spmm_i32_bf16", "spmm_i32_bf16_wf32", "sddmm_dot_bf16",
                 "segment_softmax_bf16", "segment_softmax_backward_bf16"):
        getattr(lib, f"gk_{name}").restype = None
    # neighbour sampling (gnnkit.data.sampling's native path)
    u64 = ctypes.c_uint64
    lib.gk_sample_counts.argtypes = [p, p, i64, i64, i32, p]
    lib.gk_sample_counts.restype = i64
    lib.gk_sample_layer.argtypes = [p, p, p, i64, p, i64, i32, u64, p, p, p, i32]
    lib.gk_sample_layer.restype = None
    lib.gk_sample_layer_i32.argtypes = [p, p, p, i64, p, i64, i32, u64, p, p, p, i32]  # int32 indices
    lib.gk_sample_layer_i32.restype = None
    lib.gk_relabel.argtypes = [p, p, i64, p, i64, p, p]
    lib.gk_relabel.restype = i64
    return lib
