"""Deprecated: moved to :mod:`gnnkit.data`."""
from .._deprecated import moved

moved("gnnkit.datasets", "gnnkit.data")
from gnnkit.data import *  # noqa: E402,F401,F403
