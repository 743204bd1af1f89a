"""``--config FILE.toml``: option values read from a TOML file, overridden by the flags on the command line.

Keys are the subcommand's long option names, with ``-`` or ``_`` (``weight-decay = 5e-4``,
``weight_decay = 5e-4``); a value goes through the option's own argparse type and choices,
so ``epochs = 0`` fails exactly as ``--epochs 0`` does. ``true``/``false`` switch a flag
option on/off, a list gives the values of an option that takes several. The file's values
are placed before the command line's arguments, so a flag given there wins.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["ConfigError", "read_toml", "config_arguments"]


class ConfigError(ValueError):
    """A ``--config`` file that cannot be read or holds a key or value the subcommand does not accept."""


def read_toml(path: Path) -> dict[str, Any]:
    """The TOML file at ``path`` as a dict (stdlib ``tomllib`` on Python >= 3.11, ``tomli`` before).

    Raises:
        ConfigError: no TOML reader (Python 3.10 without ``tomli``), a missing file or invalid TOML.
    """
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        try:
            import tomli as tomllib
        except ImportError:
            raise ConfigError("--config needs Python >= 3.11 (tomllib) or the tomli package on Python 3.10: "
                              "pip install tomli") from None
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"--config {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config {path} is not valid TOML: {exc}") from exc


def _option(parser: argparse.ArgumentParser, key: str) -> argparse.Action | None:
    flag = "--" + key.replace("_", "-")
    for action in parser._actions:  # argparse keeps no public map from option string to action
        if flag in action.option_strings:
            return action
    return None


def _check_value(action: argparse.Action, flag: str, text: str) -> None:
    """Run one value through the option's type and choices, as argparse would."""
    try:
        value = action.type(text) if callable(action.type) else text
    except (argparse.ArgumentTypeError, TypeError, ValueError) as exc:
        raise ConfigError(f"{flag}: {exc}") from None
    if action.choices is not None and value not in action.choices:
        raise ConfigError(f"{flag}: invalid choice: {value!r} (choose from {', '.join(map(str, action.choices))})")


def config_arguments(parser: argparse.ArgumentParser, values: dict[str, Any], path: Path) -> list[str]:
    """Command-line arguments equivalent to ``values`` (a parsed ``--config`` file) for ``parser``.

    Args:
        parser: the subcommand's parser.
        values: ``{option name: value}`` from :func:`read_toml`.
        path: the file, for messages.

    Returns:
        Arguments to place before the user's own (so that the user's flags override them).

    Raises:
        ConfigError: an unknown key (named), a key for ``--config`` itself or ``--help``, or a value of the
            wrong type or out of range (the message names the key and the file).
    """
    argv: list[str] = []
    for key, value in values.items():
        action = _option(parser, key)
        flag = "--" + key.replace("_", "-")
        if action is None or flag in ("--config", "--help"):
            known = sorted(a.option_strings[-1][2:] for a in parser._actions
                           if a.option_strings and a.option_strings[-1] not in ("--help", "--config"))
            raise ConfigError(f"--config {path}: unknown key {key!r} (the options of this command: {', '.join(known)})")
        try:
            if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
                if not isinstance(value, bool):
                    raise ConfigError(f"{flag}: expected true or false, got {value!r}")
                if value == isinstance(action, argparse._StoreTrueAction):
                    argv.append(flag)
                continue
            if isinstance(value, (dict, bool)):
                raise ConfigError(f"{flag}: expected a value for {flag}, got {value!r}")
            items = value if isinstance(value, list) else [value]
            if isinstance(value, list) and action.nargs in (None, "?"):
                raise ConfigError(f"{flag}: takes one value, got the list {value!r}")
            texts = [str(v) for v in items]
            for text in texts:
                _check_value(action, flag, text)
        except ConfigError as exc:
            raise ConfigError(f"--config {path}: key {key!r}: {exc}") from None
        argv += [flag, *texts]
    return argv
