"""Evaluate a model saved by gnnkit train --save on a dataset split and print its metric lines.

``gnnkit eval MODEL --dataset cora --split valid|test`` reads the task (node, link or graph)
from the file and runs the same evaluation as ``gnnkit train --load``, on the chosen split:
the lines are ``<split> <metric>: X``, the headline metric last (``test accuracy: X`` for a
node model on the test split, exactly the line ``gnnkit train`` printed).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from .argtypes import positive_int
from .device import add_device_argument

__all__ = ["add_parser", "run", "SPLITS"]

SPLITS = ("valid", "test")

_EXAMPLES = """examples:
  gnnkit train --dataset cora --epochs 200 --save gcn.pt
  gnnkit eval gcn.pt --dataset cora --split valid
  gnnkit eval link.pt --dataset cora --device auto
"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``eval`` subcommand to ``subparsers`` and return its parser."""
    p = subparsers.add_parser("eval", help="evaluate a model saved by 'gnnkit train --save' on a dataset split",
                              description=__doc__.split("\n\n")[1].replace("``", "'"), epilog=_EXAMPLES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model_file", type=Path, metavar="MODEL", help="a file written by 'gnnkit train --save'")
    p.add_argument("--dataset", default="cora", help="the dataset the model was trained on (default: cora)")
    p.add_argument("--data-dir", type=Path, help="directory with the dataset's files (as for gnnkit train)")
    p.add_argument("--split", choices=SPLITS, default="test", help="the split to score (default: test)")
    p.add_argument("--seed", type=int, default=0,
                   help="graph datasets without their own split: the seed the training run split them with")
    p.add_argument("--batch-size", type=positive_int, help="graph models: graphs per batch (default 32)")
    add_device_argument(p)
    return p


def run(args: argparse.Namespace) -> int:
    """Print ``<split> <metric>: X`` lines for ``args.model_file`` on ``args.dataset``; returns 0.

    Raises:
        UsageError: a missing or damaged file, a model that does not fit the dataset, ``--device cuda``
            without CUDA.
    """
    from ..checkpoint import CheckpointError, load_checkpoint
    from .loop import UsageError
    from .train import build_parser, run_task

    try:
        saved = load_checkpoint(args.model_file)
    except FileNotFoundError:
        raise UsageError(f"MODEL {args.model_file} does not exist") from None
    except CheckpointError as exc:
        raise UsageError(f"MODEL {args.model_file}: {exc}") from exc
    task = saved.get("task", "node") if isinstance(saved, dict) else None
    if task not in ("node", "link", "graph"):
        raise UsageError(f"MODEL {args.model_file} is not a model written by 'gnnkit train --save'")
    argv = ["train", "--task", task, "--dataset", args.dataset, "--seed", str(args.seed), "--quiet",
            "--device", args.device, "--load", str(args.model_file)]
    if args.data_dir is not None:
        argv += ["--data-dir", str(args.data_dir)]
    if args.batch_size is not None:
        if task != "graph":
            raise UsageError(f"--batch-size applies to graph models only; {args.model_file} holds a {task!r} model")
        argv += ["--batch-size", str(args.batch_size)]
    train_args = build_parser().parse_args(argv)
    train_args.split = args.split  # read by the tasks' --load paths
    for metric, value in run_task(train_args):
        print(f"{args.split} {metric}: {value:.4f}")
    return 0
