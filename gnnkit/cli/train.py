"""Train a node classifier, link predictor or graph classifier and print its test metric.

``gnnkit train --task node|link|graph --dataset cora --model gcn --seed 0``: one module per
task on one shared loop (:mod:`gnnkit.cli.loop`): a tqdm progress bar with the epoch's
metrics as its postfix (one line per epoch with ``--verbose``), model selection
on validation (never on test), atomic per-epoch checkpoints that a killed run resumes from
with the identical result, ``--save``/``--load``, and the test result as the last line:

* ``--task node`` (:mod:`~gnnkit.cli.node_task`): full-batch node classification, ``test accuracy: X``;
* ``--task link`` (:mod:`~gnnkit.cli.link_task`): a graph auto-encoder, ``test auc: X`` (after
  ``test ap: Y``) on a split of one graph, or OGB's ``test hits@K: X`` on ``ogbl-*`` layouts;
* ``--task graph`` (:mod:`~gnnkit.cli.graph_task`): GIN graph classification, ``test accuracy: X``.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

from .argtypes import non_negative_float, non_negative_int, positive_float, positive_int, probability
from ..precision import PRECISIONS, resolve_precision
from .device import add_device_argument, resolve_device
from ..data import PLANETOID, Dataset, load_dataset
from ..models import MODELS
from .graph_task import run_graph
from .link_task import DECODERS, run_link
from .loop import UsageError
from .node_task import run_node
from .recipes import DEFAULTS  # re-exported: gnnkit.cli.train.DEFAULTS

__all__ = ["main", "add_parser", "run", "build_parser", "train", "run_task", "train_partitioned", "DEFAULTS", "UsageError", "TASKS",
           "GRAPH_DATASETS"]

TASKS = ("node", "link", "graph")
DEFAULT_MODEL = {"node": "gcn", "link": "gcn", "graph": "gin"}
# Generated graph-classification datasets that need no files; told apart from node datasets before loading.
GRAPH_DATASETS = ("brain-families",)
# Options that only one task reads: passing them to another is a mistake worth an error.
_TASK_OPTIONS = {"--decoder": ("decoder", "link"), "--negatives": ("negatives", "link"),
                 "--batch-size": ("batch_size", "graph"), "--layers": ("layers", "graph")}

_EPILOG = f"""tasks:
  node    node classification (full batch); last line 'test accuracy: X'
  link    link prediction (GAE encoder + --decoder); last line 'test auc: X' (AP before it), or 'test hits@K: X'
          on ogbl-* layouts (OGB's split and Evaluator)
  graph   graph classification (GIN, mini-batches of graphs); last line 'test accuracy: X' (OGB metric on ogbg-mol*)

models (--model): {', '.join(MODELS)}; default gcn (node, link), gin (graph)

datasets (--dataset):
  bundled, no --data-dir:  cora (node, link), brain-families (graph; generated)
  with --data-dir DIR:     Planetoid raw files ind.<name>.* ({', '.join(PLANETOID)}); OGB layouts
                           ogbn-* (node), ogbl-collab/ppa/ddi (link), ogbg-* (graph) in DIR/<name with _>/;
                           TU folders DIR[/<NAME>]/<NAME>_A.txt (graph); edge lists DIR[/<name>]/edges.txt (node, link)
  python -m gnnkit.data.ogb make-synthetic DIR --name ogbl-collab   writes a small OGB-layout dataset
"""


_EXAMPLES = """
examples:
  gnnkit train --dataset cora --model gat --epochs 200 --save gat.pt
  gnnkit train --task link --epochs 50 --log-dir runs/link --device auto
  gnnkit train --config run.toml --seed 3        # flags override the file's values
"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``train`` subcommand to ``subparsers`` (of the ``gnnkit`` parser) and return its parser."""
    t = subparsers.add_parser("train", help="train a node classifier, link predictor or graph classifier",
                              description="Train a model for a node, link or graph task; the last line printed is the "
                                          "test metric, e.g. 'test accuracy: X'.",
                              epilog=_EPILOG + _EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("--task", choices=TASKS, default="node", help="what to predict (default: node)")
    t.add_argument("--dataset", default="cora", help="dataset name (see 'datasets' below; default: cora)")
    t.add_argument("--data-dir", type=Path,
                   help="directory with the dataset's files: raw Planetoid ind.<dataset>.*, an OGB root holding "
                        "ogbn_/ogbl_/ogbg_<name>/, a TU folder or an edge list")
    t.add_argument("--model", choices=MODELS, help="the convolution (default: gcn; gin for --task graph)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--epochs", type=positive_int, help="maximum epochs (recipe default)")
    t.add_argument("--lr", type=positive_float)
    t.add_argument("--weight-decay", type=non_negative_float)
    t.add_argument("--hidden", type=positive_int, help="hidden width (per head for GAT)")
    t.add_argument("--heads", type=positive_int, help="GAT attention heads")
    t.add_argument("--dropout", type=probability)
    t.add_argument("--patience", type=non_negative_int,
                   help="stop after this many epochs in which neither the validation score nor loss improved (0: never)")
    t.add_argument("--decoder", choices=DECODERS, help="--task link: pair scorer (default: dot, GAE's)")
    t.add_argument("--negatives", type=positive_int, help="--task link: uniform negatives per positive edge (default 1)")
    t.add_argument("--batch-size", type=positive_int, help="--task graph: graphs per mini-batch (default 32)")
    t.add_argument("--layers", type=positive_int, help="--task graph: GIN layers (default 5)")
    t.add_argument("--threads", type=positive_int, help="torch CPU threads")
    add_device_argument(t)
    t.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="fp32 (default) or bf16: forward pass and loss under bfloat16 autocast (sparse ops store "
                        "bfloat16, accumulate in float32); falls back to fp32 with a warning where the CPU has no "
                        "bfloat16 arithmetic")
    t.add_argument("--checkpoint", type=Path, help="write a resumable checkpoint here after every epoch")
    t.add_argument("--resume", action="store_true", help="continue from --checkpoint if it exists")
    t.add_argument("--save", type=Path, help="write the selected model (state_dict + config) here")
    t.add_argument("--load", type=Path, help="evaluate a model written by --save instead of training "
                                             "(gnnkit eval MODEL does the same on any split)")
    t.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    t.add_argument("--verbose", action="store_true",
                   help="one line per epoch (loss, validation loss and score) instead of the progress bar's postfix")
    t.add_argument("--log-dir", type=Path,
                   help="write metrics.csv (one row per epoch), curves.png and, with tensorboard installed, "
                        "TensorBoard event files here")
    t.add_argument("--parts", type=positive_int, default=1,
                   help="--task node: train partition-parallel on N local processes (torchrun, gloo; gcn, sage, gin); "
                        "the same as `torchrun --nproc-per-node N -m gnnkit.cli.dist_train`; under torchrun "
                        "(several nodes) it runs as one rank of that job")
    t.add_argument("--parts-dir", type=Path,
                   help="--parts: read this rank's part from DIR/part-<rank> (written by `python -m "
                        "gnnkit.cli.dist_train --prepare`; each node needs only its own ranks' parts)")
    t.add_argument("--checkpoint-dir", type=Path,
                   help="--parts: every rank writes its own checkpoint into DIR on its own node (no shared "
                        "filesystem); rank 0 adds a manifest")
    return t


def build_parser() -> argparse.ArgumentParser:
    """A ``gnnkit`` parser holding only the ``train`` subcommand (for scripts that call :func:`train`)."""
    parser = argparse.ArgumentParser(prog="gnnkit", description="Sparse graph neural networks on PyTorch.")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser


def _is_graph_dataset(name: str) -> bool:
    """A dataset known to be graph classification from its name alone (generated, or an OGB ``ogbg-*`` layout)."""
    key = name.lower()
    return key in GRAPH_DATASETS or key.startswith("ogbg-")


def _check_combination(args: argparse.Namespace) -> None:
    """Reject options of another task and task/dataset pairs that cannot work, before loading anything."""
    for flag, (attr, task) in _TASK_OPTIONS.items():
        if getattr(args, attr) is not None and args.task != task:
            raise UsageError(f"{flag} applies to --task {task} only, got --task {args.task}")
    if args.resume and args.checkpoint is None:
        raise UsageError("--resume needs --checkpoint PATH")
    if args.task != "graph" and _is_graph_dataset(args.dataset):
        raise UsageError(f"--task {args.task} needs one graph, but --dataset {args.dataset!r} is a graph-classification "
                         f"dataset (many graphs); use --task graph")
    if args.task == "graph" and (args.dataset.lower() in ("cora", *PLANETOID) or args.dataset.lower()[:5] in ("ogbn-", "ogbl-")):
        raise UsageError(f"--task graph needs a graph-classification dataset (TU, ogbg-*, brain-families), but "
                         f"--dataset {args.dataset!r} is one graph; use --task node or --task link")


def _load_data(args: argparse.Namespace) -> Dataset:
    try:
        return load_dataset(args.dataset, root=args.data_dir)
    except (ValueError, FileNotFoundError) as exc:
        raise UsageError(f"--dataset {args.dataset!r}: {exc}") from exc


def run_task(args: argparse.Namespace) -> list[tuple[str, float]]:
    """Run ``gnnkit train`` with parsed arguments; returns ``[(metric, value), ...]`` with the headline metric last.

    Raises:
        UsageError: arguments that do not fit together, an unknown dataset, a missing file,
            or a checkpoint written by another configuration.
    """
    args.model = args.model or DEFAULT_MODEL[args.task]
    _check_combination(args)
    args.device = resolve_device(getattr(args, "device", "cpu"))
    args.precision = resolve_precision(getattr(args, "precision", "fp32"), args.device, "--precision")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    data = _load_data(args)
    if args.task == "link":
        return run_link(args, data)
    if args.task == "graph":
        return run_graph(args, data)
    return [("accuracy", run_node(args, data))]


def train(args: argparse.Namespace) -> float:
    """Run ``gnnkit train --task node`` with parsed arguments and return the test accuracy.

    Raises:
        UsageError: as :func:`run_task`, or a task other than node.
    """
    if getattr(args, "task", "node") != "node":
        raise UsageError(f"train() runs --task node; use run_task() for --task {args.task}")
    args.task = "node"
    return run_task(args)[-1][1]


def train_partitioned(args: argparse.Namespace) -> int:
    """``gnnkit train --parts N``: run :mod:`gnnkit.cli.dist_train` under torchrun; returns its exit status.

    Rank 0 prints the per-epoch lines and ``test accuracy: X`` last, as :func:`train` does;
    ``--save`` writes the same ``{"model", "config"}`` file, so ``--load`` evaluates it.

    Raises:
        UsageError: a model or option the partition-parallel trainer does not support.
    """
    from .dist_train import launch
    from ..scale.distributed import SUPPORTED_MODELS

    if args.model not in SUPPORTED_MODELS:
        raise UsageError(f"--parts needs --model in {SUPPORTED_MODELS}, got {args.model!r}")
    given = [flag for flag, value in (("--load", args.load), ("--heads", args.heads), ("--patience", args.patience),
                                      ("--log-dir", getattr(args, "log_dir", None))) if value is not None]
    if getattr(args, "precision", "fp32") != "fp32":
        given.append("--precision bf16")
    if given:
        raise UsageError(f"--parts does not support {', '.join(given)}")
    if args.resume and args.checkpoint is None and args.checkpoint_dir is None:
        raise UsageError("--resume needs --checkpoint PATH or --checkpoint-dir DIR")
    if args.checkpoint is not None and args.checkpoint_dir is not None:
        raise UsageError("give --checkpoint PATH or --checkpoint-dir DIR, not both")
    argv = ["--dataset", args.dataset, "--model", args.model, "--seed", str(args.seed)]
    for flag, value in (("--data-dir", args.data_dir), ("--epochs", args.epochs), ("--lr", args.lr),
                        ("--weight-decay", args.weight_decay), ("--hidden", args.hidden), ("--dropout", args.dropout),
                        ("--threads", args.threads), ("--checkpoint", args.checkpoint), ("--save", args.save),
                        ("--parts-dir", args.parts_dir), ("--checkpoint-dir", args.checkpoint_dir)):
        if value is not None:
            argv += [flag, str(value)]
    argv += ["--resume"] * args.resume + ["--quiet"] * args.quiet
    if "TORCHELASTIC_RUN_ID" in os.environ:  # started by torchrun (e.g. one of several nodes): be one rank
        from .dist_train import main as rank_main

        world = int(os.environ.get("WORLD_SIZE", "0"))
        if world != args.parts:
            raise UsageError(f"--parts {args.parts} must equal the ranks torchrun started (WORLD_SIZE={world})")
        return rank_main(argv)
    return launch(args.parts, argv)


def run(args: argparse.Namespace) -> int:
    """``gnnkit train``: train (or ``--load`` and evaluate) and print the test metrics, the headline last.

    Returns:
        The exit status (that of the torchrun launch with ``--parts``).

    Raises:
        UsageError: as :func:`run_task` and :func:`train_partitioned`.
    """
    if args.parts == 1 and (args.parts_dir is not None or args.checkpoint_dir is not None):
        raise UsageError("--parts-dir and --checkpoint-dir apply to --parts N with N > 1")
    if args.parts > 1:
        if args.task != "node":
            raise UsageError(f"--parts applies to --task node only, got --task {args.task}")
        args.model = args.model or DEFAULT_MODEL["node"]
        if resolve_device(args.device).type != "cpu":
            raise UsageError(f"--parts trains on the CPU (torchrun with gloo); --device {args.device} is not supported "
                             f"with --parts")
        return train_partitioned(args)
    for metric, value in run_task(args):
        print(f"test {metric}: {value:.4f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``gnnkit`` with ``argv`` (the subcommand first): the same as :func:`gnnkit.cli.main`."""
    from . import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
