"""Deprecated: moved to :mod:`gnnkit.scale.distributed`."""
from ._deprecated import moved

moved("gnnkit.distributed", "gnnkit.scale.distributed")
from gnnkit.scale.distributed import *  # noqa: E402,F401,F403
