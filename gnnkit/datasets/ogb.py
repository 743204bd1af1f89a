"""Deprecated: moved to :mod:`gnnkit.data.ogb`."""
from .._deprecated import moved

moved("gnnkit.datasets.ogb", "gnnkit.data.ogb")
from gnnkit.data.ogb import *  # noqa: E402,F401,F403
