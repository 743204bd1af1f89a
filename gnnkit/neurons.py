"""Deprecated: moved to :mod:`gnnkit.nn.neurons`."""
from ._deprecated import moved

moved("gnnkit.neurons", "gnnkit.nn.neurons")
from gnnkit.nn.neurons import *  # noqa: E402,F401,F403
