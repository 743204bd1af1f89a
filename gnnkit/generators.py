"""Deprecated: moved to :mod:`gnnkit.data.generators`."""
from ._deprecated import moved

moved("gnnkit.generators", "gnnkit.data.generators")
from gnnkit.data.generators import *  # noqa: E402,F401,F403
