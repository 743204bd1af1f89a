"""Old import paths, names and keywords that users relied on, kept working with a DeprecationWarning."""
from __future__ import annotations

import warnings
from typing import Any, Callable


def moved(old: str, new: str) -> None:
    """Warn once per import of ``old`` that it now lives at ``new``."""
    warnings.warn(f"{old} is deprecated and will be removed; import from {new} instead",
                  DeprecationWarning, stacklevel=3)


def deprecated_names(module: str, names: dict[str, tuple[str, Callable[[], Any]]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` serving removed names: ``{old: (what to use instead, () -> value)}``.

    Usage: ``__getattr__ = deprecated_names(__name__, {...})`` at the end of the module.
    """

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        new, make = names[name]
        warnings.warn(f"{module}.{name} is deprecated and will be removed; use {new} instead",
                      DeprecationWarning, stacklevel=2)
        return make()

    return __getattr__


def renamed_keyword(owner: str, old: str, new: str, old_value: Any, new_value: Any, default: Any) -> Any:
    """The value of keyword ``new`` when the caller may still pass it as ``old``.

    Call with the values both keywords received and ``new``'s default (the old one's default
    must be a sentinel such as ``None``, so that "not passed" is visible).

    Args:
        owner: the function or class, for messages (``"GNNLayer"``).
        old: the deprecated keyword. new: its replacement.
        old_value: what ``old`` received (``None`` when not passed).
        new_value: what ``new`` received. default: ``new``'s default value.

    Returns:
        ``old_value`` (with a DeprecationWarning) when only ``old`` was passed, else ``new_value``.

    Raises:
        TypeError: both keywords were passed.
    """
    if old_value is None:
        return new_value
    if new_value is not default:
        raise TypeError(f"{owner} got both {new!r} and its deprecated name {old!r}; pass only {new}=")
    warnings.warn(f"{owner}: the keyword {old!r} is deprecated and will be removed; use {new}= instead",
                  DeprecationWarning, stacklevel=3)
    return old_value
