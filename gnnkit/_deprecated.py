"""Old import paths that users relied on before the package was grouped by idea."""
from __future__ import annotations

import warnings


def moved(old: str, new: str) -> None:
    """Warn once per import of ``old`` that it now lives at ``new``."""
    warnings.warn(f"{old} is deprecated and will be removed; import from {new} instead",
                  DeprecationWarning, stacklevel=3)
