"""Per-item attribute dicts (networkx vertex or edge attributes) as ``name -> [K, ...]`` tensors."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["records_to_tensors"]

_MISSING = object()


def _is_numeric(value: Any) -> bool:
    """A number, or a (nested) sequence, array or tensor of numbers."""
    if isinstance(value, (bool, int, float, np.number, np.bool_)):
        return True
    if isinstance(value, Tensor):
        return not value.is_complex()
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "biuf"
    if isinstance(value, (list, tuple)):
        return all(_is_numeric(v) for v in value)
    return False


def records_to_tensors(records: Sequence[Mapping[str, Any]], what: str) -> dict[str, Tensor]:
    """Stack attribute ``name`` of every record into one ``[K, ...]`` tensor, for every numeric name.

    A name whose values are all numbers or equal-length sequences of numbers becomes a
    tensor (Python floats give float32, ints int64, bools bool; arrays and tensors keep
    their dtype); a name with any other value (a string, ``None``, a dict) is skipped.

    Args:
        records: ``K`` attribute dicts, one per vertex or edge, in id order.
        what: how errors name one record (``"vertex"``, ``"edge"``).

    Returns:
        ``name -> [K, ...]`` tensors, names in first-seen order.

    Raises:
        ValueError: a numeric attribute missing on some records, or ragged sequences;
            the message names the attribute.
    """
    names = dict.fromkeys(k for r in records for k in r)
    out: dict[str, Tensor] = {}
    for name in names:
        values = [r.get(name, _MISSING) for r in records]
        present = [v for v in values if v is not _MISSING]
        if not all(_is_numeric(v) for v in present):
            continue  # non-numeric attributes (labels, names) have no tensor form
        if len(present) != len(values):
            first = next(i for i, v in enumerate(values) if v is _MISSING)
            raise ValueError(
                f"{what} attribute {name!r} is missing on {len(values) - len(present)} of {len(values)} {what}s "
                f"(first at {what} index {first}); set it on every {what} or on none"
            )
        try:
            if all(isinstance(v, Tensor) for v in values):
                out[name] = torch.stack(values)
            elif any(isinstance(v, (np.ndarray, np.number, np.bool_)) for v in values):
                out[name] = torch.from_numpy(np.stack([np.asarray(v) for v in values]))
            else:
                out[name] = torch.tensor(values)
        except (ValueError, TypeError, RuntimeError) as exc:
            raise ValueError(
                f"{what} attribute {name!r} must be a number or an equal-length sequence on every {what}, "
                f"got ragged values ({exc})"
            ) from None
    return out
