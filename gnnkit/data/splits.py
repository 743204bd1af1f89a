"""Stratified train/valid/test splits of labelled items (graphs of a graph-classification dataset)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from .dataset import SPLITS

__all__ = ["stratified_split"]


def _class_counts(size: int, fractions: np.ndarray) -> tuple[int, int, int]:
    """``(train, valid, test)`` counts of one class of ``size`` items.

    Valid and test take ``floor(f * size + 0.5)`` (round half up) each; when ``size >= 3`` each
    takes at least 1, and train always keeps at least 1 (the larger of valid/test gives way).
    """
    valid, test = (int(np.floor(f * size + 0.5)) for f in fractions[1:])
    if size >= 3:
        valid, test = max(valid, 1) if fractions[1] > 0 else 0, max(test, 1) if fractions[2] > 0 else 0
    while size and valid + test > size - 1:  # at most a couple of steps: train keeps one item
        if valid >= test:
            valid -= 1
        else:
            test -= 1
    return size - valid - test, valid, test


def stratified_split(labels: Tensor, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0) -> dict[str, Tensor]:
    """Split items into train/valid/test so that every split has the classes' proportions.

    The items of each class are shuffled (numpy ``PCG64`` seeded by ``seed``) and cut by the
    class's own counts: valid and test each get ``floor(fraction * n_c + 0.5)`` of the
    ``n_c`` items of class ``c`` (round half up), at least one each when ``n_c >= 3`` (and
    its fraction is positive), train the rest and always at least one. So every class with
    three or more items appears in every split, and a class with one item is in train only.

    Args:
        labels: ``[B]`` integer class of each item (graph).
        fractions: ``(train, valid, test)``, non-negative and summing to 1.
        seed: equal seeds give equal splits.

    Returns:
        ``{"train": ids, "valid": ids, "test": ids}``: sorted int64 ids, disjoint, together
        all of ``0..B-1``.

    Raises:
        TypeError: labels that are not an integer tensor (regression targets cannot be stratified).
        ValueError: labels that are not 1-D, or fractions that are not three non-negative
            numbers summing to 1.
    """
    if not isinstance(labels, Tensor) or labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        what = labels.dtype if isinstance(labels, Tensor) else type(labels).__name__
        raise TypeError(f"labels must be an integer tensor of classes (stratifying needs classes), got {what}")
    if labels.dim() != 1:
        raise ValueError(f"labels must be 1-D [B], got shape {tuple(labels.shape)}")
    frac = np.asarray(fractions, dtype=np.float64)
    if frac.shape != (3,) or (frac < 0).any() or abs(frac.sum() - 1.0) > 1e-6:
        raise ValueError(f"fractions must be three non-negative numbers (train, valid, test) summing to 1, "
                         f"got {tuple(fractions)}")
    y = labels.cpu().numpy()
    rng = np.random.default_rng(seed)
    classes, inverse = np.unique(y, return_inverse=True)
    order = np.argsort(inverse, kind="stable")  # items grouped by class
    bounds = np.concatenate([[0], np.cumsum(np.bincount(inverse, minlength=classes.size))])  # [C + 1]
    parts: dict[str, list[np.ndarray]] = {k: [] for k in SPLITS}
    for c in range(classes.size):  # a loop over classes, not items
        members = rng.permutation(order[bounds[c] : bounds[c + 1]])
        n_train, n_valid, _ = _class_counts(members.size, frac)
        cuts = np.split(members, [n_train, n_train + n_valid])
        for key, ids in zip(SPLITS, cuts):
            parts[key].append(ids)
    return {k: torch.from_numpy(np.sort(np.concatenate(v)) if v else np.zeros(0, np.int64)).to(torch.int64)
            for k, v in parts.items()}
