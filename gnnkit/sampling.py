"""Deprecated: moved to :mod:`gnnkit.data.sampling`."""
from ._deprecated import moved

moved("gnnkit.sampling", "gnnkit.data.sampling")
from gnnkit.data.sampling import *  # noqa: E402,F401,F403
