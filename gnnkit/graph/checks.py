"""Checks for arrays read from untrusted files, run before numpy, scipy or torch index with them.

A crafted file can hold an index past the end of an array or an ``indptr`` that runs
backwards; scipy's compiled routines (``tocoo``, ``todense``, ``vstack``) trust both and
read or write out of bounds, which is a segfault rather than an exception. Every reader
(:mod:`gnnkit.graph.io`, the dataset loaders) passes what it read through these functions,
which raise :class:`ValueError` naming ``where`` (a file and a field) and never touch
memory outside the array.
"""
from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["read_npz", "read_npy", "check_array", "check_ids", "check_indptr", "checked_csr"]

# numpy dtype kinds: b bool, i signed, u unsigned, f float, c complex
NUMERIC_KINDS = "biufc"
INTEGER_KINDS = "iu"


def read_npz(path: str | Path, required: Sequence[str] = (), content: bytes | None = None) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file, read with ``allow_pickle=False`` (no code runs, no objects).

    Args:
        path: the file (named in errors).
        required: fields that must be present.
        content: the file's bytes, when the caller has read them already.

    Returns:
        ``field -> array``, fully read (a truncated member fails here, not later).

    Raises:
        FileNotFoundError: ``path`` is not a file.
        ValueError: not a readable npz (truncated, corrupt, a pickled member) or a missing
            required field; the message names the file.
    """
    path = Path(path)
    if content is None and not path.is_file():
        raise FileNotFoundError(f"{path} does not exist (expected an .npz file)")
    try:
        with np.load(path if content is None else io.BytesIO(content), allow_pickle=False) as z:
            out = {key: z[key] for key in z.files}
    # Damaged bytes make zipfile and numpy's .npy header parser (tokenize, ast.literal_eval) raise
    # almost any exception type (BadZipFile, zlib.error, TokenError, SyntaxError, EOFError, ...).
    # Each is re-raised, chained, as the one documented error; nothing is swallowed.
    except Exception as exc:
        raise ValueError(f"{path} is not a readable .npz file: {type(exc).__name__}: {exc}") from exc
    # np.load hands back a member without the .npy magic as raw bytes instead of failing
    raw = sorted(key for key, value in out.items() if not isinstance(value, np.ndarray))
    if raw:
        raise ValueError(f"{path} is not a readable .npz file: members {raw} are not .npy arrays")
    missing = [key for key in required if key not in out]
    if missing:
        raise ValueError(f"{path} lacks the fields {missing} (it holds {sorted(out)})")
    return out


def read_npy(path: str | Path) -> np.ndarray:
    """One ``.npy`` array, read with ``allow_pickle=False``.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        ValueError: not a readable ``.npy`` (bad header, truncated data, object dtype).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist (expected a .npy array file)")
    try:
        value = np.load(path, allow_pickle=False)
    except Exception as exc:  # as in read_npz: a damaged header raises almost anything; re-raised as one error
        raise ValueError(f"{path} is not a readable .npy file: {type(exc).__name__}: {exc}") from exc
    if not isinstance(value, np.ndarray):  # np.load also opens .npz archives
        value.close()
        raise ValueError(f"{path} is not a .npy array file (np.load found {type(value).__name__})")
    return value


def check_array(value: Any, where: str, kinds: str = NUMERIC_KINDS, ndim: int | None = None) -> np.ndarray:
    """``value`` as a numpy array of one of the dtype ``kinds`` and ``ndim`` dimensions.

    Args:
        value: what the file held.
        where: how errors name it, e.g. ``"graph.npz field 'src'"``.
        kinds: accepted numpy dtype kinds (``"iu"``: integers).
        ndim: required number of dimensions, or ``None`` for any.

    Raises:
        ValueError: not an array, an object/string dtype or another kind, or the wrong ``ndim``.
    """
    if not isinstance(value, np.ndarray):
        raise ValueError(f"{where} must be a numpy array, got {type(value).__name__}")
    if value.dtype.kind not in kinds or value.dtype.hasobject:
        raise ValueError(f"{where} must have a dtype of kind {kinds!r} (numpy kinds), got {value.dtype}")
    if ndim is not None and value.ndim != ndim:
        raise ValueError(f"{where} must have {ndim} dimension(s), got shape {value.shape}")
    return value


def check_ids(ids: Any, bound: int, where: str) -> np.ndarray:
    """``ids`` as 1-D integers in ``[0, bound)``.

    Raises:
        ValueError: not 1-D integers, or an id below 0 or at/above ``bound``.
    """
    ids = check_array(ids, where, INTEGER_KINDS, ndim=1)
    if ids.size:
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= bound:
            raise ValueError(f"{where} holds ids in [{lo}, {hi}] but they must lie in [0, {bound})")
    return ids


def check_indptr(indptr: Any, num_rows: int, total: int, where: str) -> np.ndarray:
    """``indptr`` as ``[num_rows + 1]`` integers rising monotonically from 0 to ``total``.

    Raises:
        ValueError: the wrong length, a first entry other than 0, a last entry other than
            ``total``, or a decrease.
    """
    indptr = check_array(indptr, where, INTEGER_KINDS, ndim=1)
    if indptr.size != num_rows + 1:
        raise ValueError(f"{where} must have num_rows + 1 = {num_rows + 1} entries, got {indptr.size}")
    if int(indptr[0]) != 0 or int(indptr[-1]) != total:
        raise ValueError(f"{where} must run from 0 to {total}, got {int(indptr[0])} to {int(indptr[-1])}")
    if indptr.size > 1 and bool((np.diff(indptr.astype(np.int64)) < 0).any()):
        raise ValueError(f"{where} must be non-decreasing (a CSR row pointer), but it decreases")
    return indptr


def checked_csr(data: Any, indices: Any, indptr: Any, shape: Any, where: str, max_entries: int = 1 << 32) -> Any:
    """A ``scipy.sparse.csr_matrix`` built only after every array passed the checks.

    Args:
        data: ``[nnz]`` numeric values.
        indices: ``[nnz]`` column ids in ``[0, shape[1])``.
        indptr: ``[shape[0] + 1]`` monotone row pointer ending at ``nnz``.
        shape: ``(rows, cols)`` non-negative integers.
        where: how errors name the matrix (file and field).
        max_entries: refuse shapes whose dense form would exceed this many entries (the
            loaders densify features; a crafted shape must not become a huge allocation).

    Raises:
        ValueError: any array or the shape fails its check.
    """
    import scipy.sparse as sp

    shape_arr = np.asarray(shape) if isinstance(shape, (tuple, list, np.ndarray)) else None
    if shape_arr is None or shape_arr.shape != (2,) or shape_arr.dtype.kind not in INTEGER_KINDS:
        raise ValueError(f"{where} shape must be two non-negative integers, got {shape!r}")
    rows, cols = int(shape_arr[0]), int(shape_arr[1])
    if rows < 0 or cols < 0 or rows * cols > max_entries:
        raise ValueError(f"{where} shape must be two non-negative integers with rows * cols <= {max_entries}, "
                         f"got ({rows}, {cols})")
    data = check_array(data, f"{where} data", ndim=1)
    indices = check_ids(indices, cols, f"{where} indices")
    if data.size != indices.size:
        raise ValueError(f"{where} data and indices must have one entry per stored value, got {data.size} and {indices.size}")
    indptr = check_indptr(indptr, rows, indices.size, f"{where} indptr")
    return sp.csr_matrix((data, indices.astype(np.int64), indptr.astype(np.int64)), shape=(rows, cols))
