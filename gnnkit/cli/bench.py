"""Run benchmark scripts of a gnnkit source checkout and print their markdown tables.

The scripts are ``benchmarks/<name>.py`` beside the ``gnnkit`` package (a source checkout or
an editable install), or under ``--benchmarks-dir``. Each runs in its own process (as
``python <script> [--quick]``); its progress goes to stderr as it runs, and the markdown
table rows it prints (lines starting with ``|``) are printed when it ends. A script that
fails makes the exit status 1 after the others have run.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

__all__ = ["add_parser", "run", "default_benchmarks_dir", "table_lines"]

_EXAMPLES = """examples:
  gnnkit bench --list
  gnnkit bench core --quick
  gnnkit bench core link --benchmarks-dir ~/src/gnnkit/benchmarks
"""


def default_benchmarks_dir() -> Path:
    """``benchmarks/`` next to the ``gnnkit`` package folder (present in a source checkout only)."""
    import gnnkit

    return Path(gnnkit.__file__).resolve().parents[1] / "benchmarks"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``bench`` subcommand to ``subparsers`` and return its parser."""
    p = subparsers.add_parser("bench", help="run benchmarks/*.py of a source checkout and print their tables",
                              description=__doc__.split("\n\n")[1].replace("``", "'"), epilog=_EXAMPLES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", metavar="NAME", default=["core"],
                   help="benchmark scripts to run, without .py (default: core)")
    p.add_argument("--quick", action="store_true", help="pass --quick to each script (small graph, one round)")
    p.add_argument("--benchmarks-dir", type=Path, help="the folder holding the scripts (default: the checkout's)")
    p.add_argument("--list", action="store_true", help="list the scripts found and exit")
    return p


def _scripts(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.py") if not p.name.startswith("_"))


def table_lines(stdout: str) -> list[str]:
    """The markdown table rows of ``stdout``, with one blank line between separate tables."""
    out: list[str] = []
    previous_was_row = False
    for line in stdout.splitlines():
        row = line.lstrip().startswith("|")
        if row:
            if out and not previous_was_row:
                out.append("")
            out.append(line)
        previous_was_row = row
    return out


def run(args: argparse.Namespace) -> int:
    """Run the named scripts one after another; returns 0, or 1 when any failed.

    Raises:
        UsageError: no benchmarks folder (not a source checkout and no ``--benchmarks-dir``),
            or a name without a script.
    """
    from .loop import UsageError

    folder = args.benchmarks_dir or default_benchmarks_dir()
    if not folder.is_dir():
        raise UsageError(f"no benchmarks folder at {folder}: 'gnnkit bench' runs the scripts of a source checkout; "
                         f"clone the repository or pass --benchmarks-dir DIR")
    found = _scripts(folder)
    if args.list:
        print("\n".join(found))
        return 0
    missing = [n for n in args.names if n not in found]
    if missing:
        raise UsageError(f"NAME {', '.join(missing)}: no such script in {folder} (found: {', '.join(found)})")
    status = 0
    for name in args.names:
        cmd = [sys.executable, str(folder / f"{name}.py")] + ["--quick"] * args.quick
        print(f"## {name}: {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
        # stderr (progress) streams through; stdout is read for the table
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            print(f"gnnkit bench: {name} failed with exit status {proc.returncode}", file=sys.stderr)
            status = 1
            continue
        rows = table_lines(proc.stdout)
        if not rows:
            print(f"gnnkit bench: {name} printed no markdown table", file=sys.stderr)
        if len(args.names) > 1:
            print(f"{name}:")
        print("\n".join(rows))
    return status
