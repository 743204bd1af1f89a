"""A pickle reader for data files (Planetoid's ``ind.*``) that builds no numpy or scipy object unchecked.

An allowlist of classes stops a pickle from running code, but not from handing numpy and
scipy crafted state: unpickling restores a ``csr_matrix`` by writing its ``__dict__`` (no
``check_format``, so a backwards ``indptr`` later corrupts scipy's heap), and a
``numpy.dtype``'s state carries flags that can mark ``int64`` as holding object pointers.
So :class:`RestrictedUnpickler` resolves the numpy and scipy names to inert stand-ins that
only record what the pickle asked for (:class:`ArraySpec`, :class:`DtypeSpec`,
:class:`CSRSpec`); :func:`materialise` turns an ``ArraySpec`` into an array after checking
its dtype (plain bool/integer/float only, no flags), shape and byte count, and the caller
checks a ``CSRSpec``'s arrays before it builds a matrix.
"""
from __future__ import annotations

import io
import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["RestrictedUnpickler", "RefusedClassError", "ArraySpec", "DtypeSpec", "CSRSpec", "materialise", "unpickle"]

# numpy type strings a data file may use: plain bool, integer and float, any byte order
_TYPECODES = {f"{k}{n}" for k, sizes in (("b", (1,)), ("i", (1, 2, 4, 8)), ("u", (1, 2, 4, 8)), ("f", (2, 4, 8)))
              for n in sizes}
_MAX_ARRAY_BYTES = 1 << 34


class RefusedClassError(pickle.UnpicklingError):
    """A pickle asked for a class outside :class:`RestrictedUnpickler`'s allowlist."""


class DtypeSpec:
    """``numpy.dtype(obj, align, copy)`` as a pickle asked for it, plus the state it set (not yet a dtype)."""

    def __init__(self, obj: Any = None, align: Any = False, copy: Any = False) -> None:
        self.obj, self.state = obj, None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def resolve(self, where: str) -> np.dtype:
        """The dtype, if it is a plain bool/integer/float type with default state.

        Raises:
            ValueError: another type (objects, strings, records, subarrays) or flags in the state.
        """
        code = self.obj.decode("latin1") if isinstance(self.obj, bytes) else self.obj
        if not isinstance(code, str) or code not in _TYPECODES:
            raise ValueError(f"{where}: dtype {code!r} is not a plain bool/integer/float type")
        dtype = np.dtype(code)
        state = self.state
        if state is not None:
            # numpy's state: (version, byte order, subarray, names, fields, elsize, alignment, flags[, metadata])
            if (not isinstance(state, tuple) or len(state) not in (8, 9) or state[1] not in ("<", ">", "|", "=")
                    or state[2:5] != (None, None, None) or state[7] != 0):
                raise ValueError(f"{where}: dtype state {state!r} is not that of a plain {code} type")
            if state[1] == ">" and dtype.itemsize > 1:
                dtype = dtype.newbyteorder(">")
        return dtype


class ArraySpec:
    """``numpy.ndarray`` as ``_reconstruct`` + ``__setstate__`` would build it, kept as raw parts."""

    def __init__(self, *args: Any) -> None:
        self.state = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


class CSRSpec:
    """A ``scipy.sparse.csr_matrix`` as a pickle asked for it: its ``__dict__``, unchecked."""


def _scalar(dtype: Any, data: Any = None) -> Any:
    """``numpy.core.multiarray.scalar``: one value of a checked plain dtype from its raw bytes."""
    if not isinstance(dtype, DtypeSpec):
        raise ValueError(f"a numpy scalar needs a dtype, got {type(dtype).__name__}")
    dt = dtype.resolve("numpy scalar")
    raw = data.encode("latin1") if isinstance(data, str) else data
    if not isinstance(raw, bytes) or len(raw) != dt.itemsize:
        raise ValueError(f"a numpy {dt} scalar needs {dt.itemsize} bytes, got {type(data).__name__}")
    return np.frombuffer(raw, dtype=dt)[0]


def materialise(value: Any, where: str) -> Any:
    """An :class:`ArraySpec` as a real (writable, native-order) array after its parts passed the checks.

    Anything else is returned unchanged.

    Raises:
        ValueError: a malformed state, a dtype other than plain bool/integer/float, a shape
            that is not non-negative integers, or raw bytes that do not match the shape.
    """
    if not isinstance(value, ArraySpec):
        return value
    state = value.state
    if isinstance(state, tuple) and len(state) == 5:
        state = state[1:]  # (version, shape, dtype, is_fortran, raw)
    if not isinstance(state, tuple) or len(state) != 4:
        raise ValueError(f"{where}: an ndarray whose state is not (shape, dtype, fortran, bytes)")
    shape, dtype, fortran, raw = state
    if not isinstance(dtype, DtypeSpec):
        raise ValueError(f"{where}: an ndarray whose dtype is {type(dtype).__name__}")
    dt = dtype.resolve(where)
    if (not isinstance(shape, tuple) or len(shape) > 8
            or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 0 for d in shape)):
        raise ValueError(f"{where}: an ndarray shape must be non-negative integers, got {shape!r}")
    raw = raw.encode("latin1") if isinstance(raw, str) else raw  # Python 2 pickles hold str
    count = math.prod(int(d) for d in shape)
    if not isinstance(raw, bytes) or count * dt.itemsize > _MAX_ARRAY_BYTES or len(raw) != count * dt.itemsize:
        size = len(raw) if isinstance(raw, (bytes, bytearray)) else type(raw).__name__
        raise ValueError(f"{where}: an ndarray of shape {shape} and dtype {dt} needs {count * dt.itemsize} bytes, "
                         f"got {size}")
    arr = np.frombuffer(raw, dtype=dt).reshape(tuple(int(d) for d in shape), order="F" if fortran else "C")
    return arr.astype(dt.newbyteorder("="), order="C")  # a native-order, writable copy


_SUBSTITUTES = {
    ("numpy", "ndarray"): ArraySpec,
    ("numpy", "dtype"): DtypeSpec,
    ("numpy.core.multiarray", "_reconstruct"): ArraySpec,
    ("numpy._core.multiarray", "_reconstruct"): ArraySpec,
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("scipy.sparse.csr", "csr_matrix"): CSRSpec,
    ("scipy.sparse._csr", "csr_matrix"): CSRSpec,
    ("scipy.sparse", "csr_matrix"): CSRSpec,
}
_BUILTINS = {
    ("collections", "defaultdict"),
    ("__builtin__", "list"),
    ("builtins", "list"),
    ("__builtin__", "set"),
    ("builtins", "set"),
    # files re-pickled by Python 3 in protocol 2 write bytes as _codecs.encode(str, "latin1")
    # (or __builtin__.bytes() when empty); both only build bytes
    ("_codecs", "encode"),
    ("__builtin__", "bytes"),
    ("builtins", "bytes"),
}
_RENAMED = {"__builtin__": "builtins"}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that admits only builtin containers and the numpy/scipy names data files use.

    numpy and scipy names resolve to the inert stand-ins of this module, so no numpy dtype,
    array or scipy matrix is built from pickled state; every other name raises
    :class:`RefusedClassError`.
    """

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SUBSTITUTES:
            return _SUBSTITUTES[(module, name)]
        if (module, name) not in _BUILTINS:
            raise RefusedClassError(
                f"refusing to unpickle {module}.{name}: Planetoid files only hold numpy arrays, "
                f"scipy.sparse CSR matrices and builtin containers"
            )
        return super().find_class(_RENAMED.get(module, module), name)


def unpickle(path: Path) -> Any:
    """The object in ``path``, with numpy/scipy parts as stand-ins (see :func:`materialise`).

    Raises:
        RefusedClassError: the pickle names a class outside the allowlist.
        ValueError: a truncated or garbled pickle (the message names the file).
    """
    try:
        with open(path, "rb") as fh:
            return RestrictedUnpickler(io.BytesIO(fh.read()), encoding="latin1").load()
    except RefusedClassError:
        raise  # its own message names the class
    except Exception as exc:  # a garbled pickle raises whatever its faulty opcode raises; re-raised as one error
        raise ValueError(f"{path} is not a readable Planetoid pickle: {type(exc).__name__}: {exc}") from exc
