"""Overflow-safe sorting and deduplication of id tuples such as ``(dst, src)`` edges.

The fast way to order edges is one int64 key, ``dst * num_src_nodes + src``: one sort,
one ``unique``. It is exact only while the largest key, ``num_nodes * num_src_nodes - 1``,
fits in int64, i.e. up to about 3.04e9 vertices; past that it wraps around and edges come
out in the wrong order or merged with other edges, without any error. These helpers use
the single key when it fits and otherwise fall back to successive stable sorts
(lexicographic order) or ``torch.unique(dim=0)`` on stacked columns: slower, never wrong.
Neither path allocates anything of size ``num_nodes``.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = ["key_fits", "lexsort_ids", "unique_id_pairs", "combined_key"]

_INT64_KEYS = 1 << 63  # int64 holds the keys 0 .. 2**63 - 1


def key_fits(sizes: Sequence[int]) -> bool:
    """Whether ids ``k_i in [0, sizes[i])`` combine into one int64 key without overflow.

    The largest combined key is ``prod(sizes) - 1`` (Python integers: exact).
    """
    return math.prod(max(int(s), 1) for s in sizes) <= _INT64_KEYS


def combined_key(ids: Sequence[Tensor | np.ndarray], sizes: Sequence[int], what: str) -> Tensor | np.ndarray:
    """The single int64 key ``(ids[0] * sizes[1] + ids[1]) * sizes[2] + ...``, most significant first.

    For callers that need the key itself (a binary search, a numpy ``unique``); ``ids`` are
    int64 torch tensors or numpy arrays, and the key is of the same kind.

    Raises:
        ValueError: the key of ids of these ``sizes`` would overflow int64; ``what`` names
            the operation in the message.
    """
    if not key_fits(sizes):
        raise ValueError(
            f"{what}: vertex id tuples with sizes {list(sizes)} do not fit one int64 key "
            f"(product must be <= 2**63); use at most about 3.0e9 vertices here"
        )
    first = ids[0]
    # int64 from the start: an int32 column times a size would wrap in int32 (numpy keeps the array's dtype)
    key = first.astype(np.int64, copy=False) if isinstance(first, np.ndarray) else first.long()
    for t, size in zip(ids[1:], sizes[1:]):
        key = key * max(int(size), 1) + t
    return key


def lexsort_ids(ids: Sequence[Tensor], sizes: Sequence[int]) -> Tensor:
    """Stable permutation ordering rows by ``(ids[0], ids[1], ...)``, most significant first.

    Args:
        ids: equal-length 1-D int64 tensors; ``ids[i]`` lies in ``[0, sizes[i])``.
        sizes: the bound of each column.

    Returns:
        ``[E]`` int64 permutation; rows with equal tuples keep their relative order.
    """
    if key_fits(sizes):
        return torch.argsort(combined_key(ids, sizes, "lexsort_ids"), stable=True)
    perm = torch.argsort(ids[-1], stable=True)  # least significant first; each later stable sort keeps it
    for t in reversed(ids[:-1]):
        perm = perm[torch.argsort(t[perm], stable=True)]
    return perm


def unique_id_pairs(major: Tensor, minor: Tensor, num_major: int, num_minor: int) -> tuple[Tensor, Tensor, Tensor]:
    """The distinct pairs ``(major, minor)`` in lexicographic order, and where each input row went.

    Returns:
        ``(major_u, minor_u, inverse)``: ``[M]``, ``[M]`` and ``[E]`` with row ``i`` equal to
        pair ``inverse[i]``.
    """
    if key_fits((num_major, num_minor)):
        n = max(int(num_minor), 1)
        uniq, inverse = torch.unique(major * n + minor, sorted=True, return_inverse=True)
        return uniq // n, uniq % n, inverse
    pairs = torch.stack([major, minor], dim=1)  # [E, 2]
    uniq, inverse = torch.unique(pairs, dim=0, sorted=True, return_inverse=True)  # rows sorted lexicographically
    return uniq[:, 0].contiguous(), uniq[:, 1].contiguous(), inverse
