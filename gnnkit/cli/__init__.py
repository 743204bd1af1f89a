"""The ``gnnkit`` command line (``gnnkit train ...``); :func:`main` is its entry point."""
from .train import main

__all__ = ["main"]
