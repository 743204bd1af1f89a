"""Named tensors attached to a graph's vertices or edges (``g.ndata``, ``g.edata``).

A :class:`DataDict` is a mutable mapping ``name -> Tensor`` whose every value has the same
first dimension (the number of vertices or edges it describes) and lives on the graph's
device. The check runs once, on assignment, so a wrong shape fails where it is made and
not three transforms later.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

__all__ = ["DataDict"]


class DataDict(MutableMapping):
    """A ``name -> Tensor`` mapping whose values all have first dimension ``size``.

    Args:
        size: the number of rows every value must have (``num_nodes`` or ``num_edges``).
        what: how errors name this mapping, e.g. ``"ndata"`` or ``"edata"``.
        size_name: how errors name ``size``, e.g. ``"num_nodes"``.
        device: the device every value must be on (the graph's).
        items: initial values (checked like assignments).

    Raises:
        TypeError: a key that is not a string, or a value that is not a tensor/array.
        ValueError: a value with no dimensions, the wrong first dimension, or on another device.
    """

    __slots__ = ("_size", "_what", "_size_name", "_device", "_store")

    def __init__(self, size: int, what: str, size_name: str, device: torch.device,
                 items: Mapping[str, Any] | None = None) -> None:
        self._size, self._what, self._size_name, self._device = int(size), what, size_name, torch.device(device)
        self._store: dict[str, Tensor] = {}
        if items is not None:
            if not isinstance(items, Mapping):
                raise TypeError(f"{what} must be a mapping of name -> tensor, got {type(items).__name__}")
            for key, value in items.items():
                self[key] = value

    # ------------------------------------------------------------ mapping API
    def __getitem__(self, key: str) -> Tensor:
        try:
            return self._store[key]
        except KeyError:
            raise KeyError(f"{self._what} has no {key!r}; it holds {sorted(self._store)}") from None

    def __setitem__(self, key: str, value: Any) -> None:
        self._store[key] = self._check(key, value)

    def __delitem__(self, key: str) -> None:
        if key not in self._store:
            raise KeyError(f"{self._what} has no {key!r}; it holds {sorted(self._store)}")
        del self._store[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._store)

    def __len__(self) -> int:
        return len(self._store)

    def __repr__(self) -> str:
        body = ", ".join(f"{k!r}: {tuple(v.shape)} {str(v.dtype).replace('torch.', '')}" for k, v in self._store.items())
        return f"{self._what}({{{body}}})"

    @property
    def size(self) -> int:
        """The first dimension every value has."""
        return self._size

    def _check(self, key: Any, value: Any) -> Tensor:
        if not isinstance(key, str):
            raise TypeError(f"{self._what} keys must be strings, got {type(key).__name__} ({key!r})")
        if isinstance(value, np.ndarray):
            value = torch.from_numpy(value)
        if not isinstance(value, Tensor):
            raise TypeError(f"{self._what}[{key!r}] must be a tensor or numpy array, got {type(value).__name__}")
        if value.dim() == 0 or value.shape[0] != self._size:
            raise ValueError(
                f"{self._what}[{key!r}] must have first dimension {self._size_name}={self._size}, "
                f"got shape {tuple(value.shape)}"
            )
        if value.device != self._device:
            raise ValueError(
                f"{self._what}[{key!r}] is on {value.device} but the graph is on {self._device}; "
                f"move the tensor with .to({str(self._device)!r}) or the graph with g.to(...)"
            )
        return value

    def equal(self, other: "DataDict") -> bool:
        """Same names, dtypes, shapes and values; a NaN equals a NaN in the same place (a stored NaN is data)."""
        def same(x: Tensor, y: Tensor) -> bool:
            if x.dtype != y.dtype or x.shape != y.shape:
                return False
            if x.is_floating_point() or x.is_complex():
                return bool(((x == y) | (x.isnan() & y.isnan())).all())
            return torch.equal(x, y)

        return self.keys() == other.keys() and all(same(self[k], other[k]) for k in self)

    # ----------------------------------------------------------- derivation
    def derive(self, size: int, fn: Callable[[str, Tensor], Tensor], device: torch.device | None = None) -> "DataDict":
        """A new mapping of ``size`` rows holding ``fn(name, value)`` for every value (checked)."""
        out = DataDict(size, self._what, self._size_name, self._device if device is None else device)
        for key, value in self._store.items():
            out[key] = fn(key, value)
        return out

    def select(self, index: Tensor, empty: Callable[[tuple[int, ...], torch.dtype], Tensor] | None = None) -> "DataDict":
        """Rows ``index`` of every value.

        Args:
            index: ``[K]`` int64 ids or a ``[size]`` bool mask.
            empty: ``(shape, dtype) -> Tensor`` allocating each output (ids only), e.g.
                ``gnnkit.ops.empty`` for 2 MB pages on a hot path; default ``torch.empty``.
        """
        if index.dtype == torch.bool:
            return self.derive(int(index.sum()), lambda _k, v: v[index])
        # index_select copies whole rows where v[index] runs the general advanced-indexing kernel:
        # about 1.6x faster for 85k of 200k [128] float32 rows on a 2-core CPU (DGL gathers the same way)
        if empty is None:
            return self.derive(index.numel(), lambda _k, v: torch.index_select(v, 0, index))
        return self.derive(index.numel(), lambda _k, v: torch.index_select(
            v, 0, index, out=empty((index.numel(),) + tuple(v.shape[1:]), v.dtype)))

    def copy(self) -> "DataDict":
        """A shallow copy: a new mapping over the same tensors."""
        return self.derive(self._size, lambda _k, v: v)
