"""Deprecated: moved to :mod:`gnnkit.graph.multiview`."""
from ._deprecated import moved

moved("gnnkit.multiview", "gnnkit.graph.multiview")
from gnnkit.graph.multiview import *  # noqa: E402,F401,F403
