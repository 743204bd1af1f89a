"""``argparse`` value types shared by gnnkit's command lines and example scripts.

Each parses the text and raises ``argparse.ArgumentTypeError`` (argparse turns it into
``error: argument --x: must be ...``, exit status 2) when the value is out of range.
"""
from __future__ import annotations

import argparse

__all__ = ["positive_int", "non_negative_int", "positive_float", "non_negative_float", "probability"]


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:  # also rejects nan
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:  # also rejects nan
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def probability(text: str) -> float:
    """A dropout-like probability in ``[0, 1)``."""
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must lie in [0, 1), got {text}")
    return value
