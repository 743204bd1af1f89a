"""``gnnkit convert SRC DST``: build an on-disk layout from an edge list, an OGB folder or a generator.

``python -m gnnkit.cli.convert SRC DST [--chunk-edges N] [--feature-dtype float16|bfloat16|float32]
[--generate KIND:NODES:EDGES:FEATURES] [--num-nodes N] [--seed S] [--no-progress]``

With ``--generate``, ``SRC`` is the folder the generated edge list is written to (then converted).
Exit status: 0 done, 2 bad arguments (argparse), 1 a failed conversion (the reason on stderr).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..data.convert import DEFAULT_CHUNK_EDGES, GeneratorSpec, convert, describe, generate
from ..data.ondisk import FEATURE_DTYPES
from .argtypes import non_negative_int, positive_int

__all__ = ["add_parser", "run", "main"]

_EXAMPLES = """examples:
  gnnkit convert data/my_graph layouts/my_graph --feature-dtype float16
  gnnkit convert /tmp/gen layouts/powerlaw --generate chung-lu:1000000:10000000:64 --chunk-edges 4000000
  python -c "from gnnkit.data import OnDiskGraph; print(OnDiskGraph.open('layouts/powerlaw'))"
"""


def _spec(text: str) -> str:
    try:
        GeneratorSpec.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``convert`` subcommand to a ``gnnkit`` subcommand table and return its parser."""
    p = subparsers.add_parser("convert", help="build an out-of-core (memory-mapped) graph layout",
                              description=__doc__.split("\n\n")[0].replace("``", "'"), epilog=_EXAMPLES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src", type=Path, help="edge-list folder or OGB node dataset folder (with --generate: the "
                                          "folder the generated edge list is written to)")
    p.add_argument("dst", type=Path, help="layout folder to create")
    p.add_argument("--chunk-edges", type=positive_int, default=DEFAULT_CHUNK_EDGES,
                   help="edges held in memory at a time (and per sort bucket)")
    p.add_argument("--feature-dtype", choices=FEATURE_DTYPES, default=None, help="feature storage")
    p.add_argument("--generate", type=_spec, default=None, metavar="KIND:NODES:EDGES:FEATURES",
                   help="generate a power-law graph first (kind: chung-lu)")
    p.add_argument("--num-nodes", type=positive_int, default=None,
                   help="vertex count of an edge list without features.npy/labels.npy")
    p.add_argument("--seed", type=non_negative_int, default=0, help="generator seed")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def run(args: argparse.Namespace) -> int:
    """Run a parsed ``convert`` command; 0 on success, 1 when the conversion fails (message on stderr)."""
    progress = not args.no_progress
    try:
        if args.generate:
            t = time.perf_counter()
            generate(GeneratorSpec.parse(args.generate, seed=args.seed), args.src, chunk_edges=args.chunk_edges,
                     feature_dtype=args.feature_dtype or "float16", progress=progress)
            print(f"generated {args.src} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        t = time.perf_counter()
        convert(args.src, args.dst, chunk_edges=args.chunk_edges, feature_dtype=args.feature_dtype,
                num_nodes=args.num_nodes, progress=progress)
        print(f"converted {args.src} -> {args.dst} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    except (ValueError, FileNotFoundError, OSError) as exc:
        print(f"gnnkit convert: error: {exc}", file=sys.stderr)
        return 1
    print(describe(args.dst))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m gnnkit.cli.convert ...``: the same as ``gnnkit convert ...``."""
    from . import main as gnnkit_main

    return gnnkit_main(["convert", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
