"""Numeric text tables (TU's ``*_A.txt``, edge lists): parsed by numpy, errors named by file and line."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["read_table"]


def read_table(path: Path, dtype: Any, delimiter: str | None = None, what: str = "") -> np.ndarray:
    """A text file of numbers as a 2-D ``[rows, columns]`` array; ``#`` starts a comment.

    Args:
        path: the file.
        dtype: ``np.int64`` or ``np.float32``/``np.float64``.
        delimiter: ``","`` (TU; spaces around it are allowed) or ``None`` for any whitespace.
        what: what the file must hold, for the error message (e.g. ``"'src dst [weight]' rows"``).

    Returns:
        ``[rows, columns]``; an empty file gives ``[0, 1]``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a value that does not parse as ``dtype`` or a row with another number of
            columns; the message names the file and the (1-based) line.
    """
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist" + (f" (it must hold {what})" if what else ""))
    try:
        text = path.read_text()
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not a text file: {exc}") from exc
    # comments and blank lines are dropped here, not by numpy, so that an error's row maps back to its line
    numbered = [(i + 1, line.split("#", 1)[0]) for i, line in enumerate(text.splitlines())]
    numbered = [(i, line) for i, line in numbered if line.strip()]
    if not numbered:
        return np.zeros((0, 1), dtype=dtype)  # an empty file (numpy would warn)
    try:
        table = np.loadtxt([line for _, line in numbered], dtype=dtype, delimiter=delimiter, comments=None, ndmin=2)
    except (ValueError, OverflowError) as exc:
        # numpy counts rows from 0 in conversion errors but from 1 in "number of columns changed"
        base = 1 if "columns changed" in str(exc) else 0

        def line_of(m: re.Match) -> str:
            row = int(m.group(1)) - base
            return f"at line {numbered[row][0] if row < len(numbered) else row + 1}"

        message = re.sub(r"at row (\d+)", line_of, str(exc))
        raise ValueError(f"{path}: {message}" + (f" (it must hold {what})" if what else "")) from exc
    return table
