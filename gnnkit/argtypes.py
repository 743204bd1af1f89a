"""Deprecated: moved to :mod:`gnnkit.cli.argtypes`."""
from ._deprecated import moved

moved("gnnkit.argtypes", "gnnkit.cli.argtypes")
from gnnkit.cli.argtypes import *  # noqa: E402,F401,F403
