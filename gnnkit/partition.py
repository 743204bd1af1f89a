"""Deprecated: moved to :mod:`gnnkit.scale.partition`; ``gnnkit.partition(g, k)`` is the function."""
import sys
import types

from ._deprecated import moved

moved("gnnkit.partition (the module)", "gnnkit.scale.partition")
from gnnkit.scale.partition import *  # noqa: E402,F401,F403
from gnnkit.scale.partition import partition as _partition  # noqa: E402


class _CallableModule(types.ModuleType):
    """Importing this module rebinds ``gnnkit.partition`` to it; keep ``gnnkit.partition(g, k)`` working."""

    def __call__(self, *args, **kwargs):
        return _partition(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
