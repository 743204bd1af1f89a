"""The ``gnnkit`` command line: ``gnnkit <command> [options]``; :func:`main` is its entry point.

Each subcommand is one module of this package exposing ``add_parser(subparsers) ->
argparse.ArgumentParser`` and ``run(args) -> int``, listed in :data:`COMMANDS`. Only the
module of the command that runs is imported (``gnnkit --help`` reads the one-line summaries
from the modules' docstrings without importing them), so the help and ``--version`` stay fast.
"""
from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType

__all__ = ["COMMANDS", "EXIT_OK", "EXIT_FAILURE", "EXIT_USAGE", "build_parser", "main"]

# (name, module): adding a subcommand is one line here.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("train", "gnnkit.cli.train"),
    ("eval", "gnnkit.cli.evaluate"),
    ("partition", "gnnkit.cli.partition"),
    ("bench", "gnnkit.cli.bench"),
    ("brain", "gnnkit.cli.brain"),
    ("convert", "gnnkit.cli.convert"),
)

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2

_EPILOG = """exit status:
  0  success
  1  runtime failure (an exception while running; its traceback is printed)
  2  usage error (a bad option or value, a missing file or dataset, --device cuda without CUDA)

every command also takes --config FILE.toml: option values by long name (weight-decay = 5e-4 or
weight_decay = 5e-4), overridden by flags given on the command line.
'gnnkit <command> --help' shows each command's options and an example.
"""


def _summary(module: str) -> str:
    """The first line of ``module``'s docstring, read from its source without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return ""
    doc = ast.get_docstring(ast.parse(Path(spec.origin).read_text(encoding="utf-8"))) or ""
    return doc.strip().splitlines()[0].rstrip(".").replace("``", "'") if doc.strip() else ""


def _chosen(argv: list[str]) -> str | None:
    """The subcommand named in ``argv``: the first argument that is not an option (the top level takes no values)."""
    for token in argv:
        if not token.startswith("-"):
            return token
    return None


def build_parser(command: str | None = None) -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The ``gnnkit`` parser with ``command``'s full options (the others as one-line stubs).

    Args:
        command: the subcommand to import and build in full; None builds only the stubs.

    Returns:
        ``(parser, {name: subparser})``.
    """
    from .. import __version__

    parser = argparse.ArgumentParser(prog="gnnkit", description="Sparse graph neural networks on PyTorch.",
                                     epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"gnnkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    built: dict[str, argparse.ArgumentParser] = {}
    for name, module in COMMANDS:
        if name == command:
            built[name] = importlib.import_module(module).add_parser(sub)
            built[name].add_argument("--config", type=Path, metavar="FILE.toml",
                                     help="read option values from this TOML file (flags given here override it)")
        else:
            built[name] = sub.add_parser(name, help=_summary(module), add_help=False)
    return parser, built


def _module(name: str) -> ModuleType:
    return importlib.import_module(dict(COMMANDS)[name])


def main(argv: list[str] | None = None) -> int:
    """Run ``gnnkit`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    Usage errors exit through ``argparse`` (``SystemExit(2)`` with the message on stderr).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    command = _chosen(argv)
    parser, subparsers = build_parser(command if command in dict(COMMANDS) else None)
    args = parser.parse_args(argv)  # --help and --version exit here, before anything below is imported
    from .config import ConfigError, config_arguments, read_toml
    from .loop import UsageError

    sub = subparsers[args.command]
    if args.config is not None:
        try:
            extra = config_arguments(sub, read_toml(args.config), args.config)
        except ConfigError as exc:
            sub.error(str(exc))
        at = argv.index(args.command) + 1
        args = parser.parse_args(argv[:at] + extra + argv[at:])  # flags after the file's values win
    try:
        return _module(args.command).run(args)
    except UsageError as exc:
        sub.error(str(exc))  # exit status 2
    except Exception:  # noqa: BLE001 - the command line's contract: a failure is exit status 1, with its traceback
        traceback.print_exc()
        print(f"gnnkit {args.command}: failed (exit status {EXIT_FAILURE})", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK  # pragma: no cover - sub.error() exits
