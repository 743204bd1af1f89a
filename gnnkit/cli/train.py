"""The ``gnnkit`` command: ``gnnkit train --dataset cora --model gcn --seed 0``.

Full-batch node classification with the paper hyper-parameters per model, a tqdm
progress bar, one line per epoch (loss, validation accuracy), model selection on
validation accuracy (never on test), atomic per-epoch checkpoints that a killed run
resumes from, and ``test accuracy: X`` as the last line.
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from .argtypes import non_negative_float, non_negative_int, positive_float, positive_int, probability
from ..checkpoint import Checkpointer, CheckpointError, atomic_save, load_checkpoint
from ..data import Dataset, load_dataset
from ..models import GNN, MODELS, GNNConfig
from .recipes import DEFAULTS  # re-exported: gnnkit.cli.train.DEFAULTS

__all__ = ["main", "build_parser", "train", "train_partitioned", "DEFAULTS", "UsageError"]

# Hyper-parameters that must match for --resume; "epochs" may grow, so a finished run can be extended.
_RESUME_KEYS = ("hidden", "heads", "dropout", "lr", "weight_decay", "patience", "activation")


class UsageError(ValueError):
    """Arguments that parse but do not fit together (or name a dataset or file that is not there).

    :func:`main` reports it like an argparse error: the message on stderr and exit status 2.
    """


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gnnkit", description="Sparse graph neural networks on PyTorch.")
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a node classifier (full batch)",
                       description="Train a node classifier; the last line printed is 'test accuracy: X'.")
    t.add_argument("--dataset", default="cora",
                   help="dataset name (bundled: cora; others need --data-dir: citeseer, pubmed, ogbn-arxiv, ogbn-products)")
    t.add_argument("--data-dir", type=Path,
                   help="directory with raw Planetoid files ind.<dataset>.*, or an OGB root holding ogbn_<name>/ "
                        "(write a synthetic one with: python -m gnnkit.data.ogb make-synthetic DIR)")
    t.add_argument("--model", choices=MODELS, default="gcn")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--epochs", type=positive_int, help="maximum epochs (model default)")
    t.add_argument("--lr", type=positive_float)
    t.add_argument("--weight-decay", type=non_negative_float)
    t.add_argument("--hidden", type=positive_int, help="hidden width (per head for GAT)")
    t.add_argument("--heads", type=positive_int, help="GAT attention heads")
    t.add_argument("--dropout", type=probability)
    t.add_argument("--patience", type=non_negative_int,
                   help="stop after this many epochs in which neither validation accuracy nor loss improved (0: never)")
    t.add_argument("--threads", type=positive_int, help="torch CPU threads")
    t.add_argument("--checkpoint", type=Path, help="write a resumable checkpoint here after every epoch")
    t.add_argument("--resume", action="store_true", help="continue from --checkpoint if it exists")
    t.add_argument("--save", type=Path, help="write the selected model (state_dict + config) here")
    t.add_argument("--load", type=Path, help="evaluate a model written by --save instead of training")
    t.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    t.add_argument("--parts", type=positive_int, default=1,
                   help="train partition-parallel on N local processes (torchrun, gloo; gcn, sage, gin); "
                        "the same as `torchrun --nproc-per-node N -m gnnkit.cli.dist_train`")
    return parser


def _accuracy(logits: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> float:
    return float((logits[mask].argmax(-1) == y[mask]).float().mean())


def _load(path: Path, what: str) -> dict:
    try:
        return load_checkpoint(path)  # tensors and plain containers only: no code runs
    except FileNotFoundError:
        raise UsageError(f"{what} {path} does not exist") from None
    except CheckpointError as exc:
        raise UsageError(f"{what}: {exc}") from exc


def _resume(checkpointer: Checkpointer) -> dict | None:
    """The newest good checkpoint (falling back to the previous file, saying so), or None for a fresh run."""
    try:
        found = checkpointer.load()
    except CheckpointError as exc:
        raise UsageError(f"--resume: {exc}") from exc
    if found is None:
        # said even with --quiet: a typo in the path must not pass for a resumed run
        print(f"gnnkit train: no checkpoint at {checkpointer.path}: starting from epoch 1", file=sys.stderr)
        return None
    for problem in found.problems:
        print(f"gnnkit train: {problem}; resuming from {found.path} instead", file=sys.stderr)
    return found.state


def _evaluate_saved(args: argparse.Namespace, data: Dataset) -> float:
    saved = _load(args.load, "--load")
    config = GNNConfig(**saved["config"])
    if (config.in_features, config.out_features) != (data.num_features, data.num_classes):
        raise UsageError(
            f"--load {args.load} holds a model for {config.in_features} features and {config.out_features} classes, "
            f"but dataset {args.dataset!r} has {data.num_features} and {data.num_classes}"
        )
    model = GNN(config)
    model.load_state_dict(saved["model"])
    model.eval()
    with torch.no_grad():
        return _accuracy(model(data.graph, data.x), data.y, data.test_mask)


def train(args: argparse.Namespace) -> float:
    """Run ``gnnkit train`` with parsed arguments and return the test accuracy.

    Raises:
        UsageError: arguments that do not fit together, an unknown dataset, a missing file,
            or a checkpoint written by another configuration.
    """
    hp = dict(DEFAULTS[args.model])
    for key in ("hidden", "heads", "dropout", "lr", "weight_decay", "epochs", "patience"):
        if getattr(args, key) is not None:
            hp[key] = getattr(args, key)
    if args.resume and args.checkpoint is None:
        raise UsageError("--resume needs --checkpoint PATH")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    try:
        data = load_dataset(args.dataset, root=args.data_dir)
    except (ValueError, FileNotFoundError) as exc:
        raise UsageError(str(exc)) from exc
    if data.task != "node" or data.x is None or "train_mask" not in data.graph.ndata or data.y.dim() != 1:
        raise UsageError(f"dataset {args.dataset!r} is a {data.task!r} dataset, or has no node features, no split or "
                         f"several tasks per vertex; gnnkit train handles single-label node classification with features")
    if args.load is not None:
        return _evaluate_saved(args, data)
    g, x, y = data.graph, data.x, data.y
    config = GNNConfig(
        model=args.model, in_features=data.num_features, out_features=data.num_classes,
        hidden_features=hp["hidden"], heads=hp["heads"], dropout=hp["dropout"], activation=hp["activation"],
    )
    model = GNN(config)
    opt = torch.optim.Adam(model.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
    state = {"epoch": 0, "best_val_acc": -1.0, "best_val_loss": float("inf"), "selected_val_loss": float("inf"), "bad_epochs": 0,
             "best_model": copy.deepcopy(model.state_dict())}
    run = {"dataset": args.dataset.lower(), "seed": args.seed, "config": config.to_dict(),
           "hp": {k: hp[k] for k in _RESUME_KEYS}}
    checkpointer = Checkpointer(args.checkpoint) if args.checkpoint is not None else None
    ckpt = _resume(checkpointer) if args.resume else None
    if ckpt is not None:
        differ = [k for k in run if ckpt.get(k) != run[k]]
        if differ:
            raise UsageError(
                f"checkpoint {args.checkpoint} was written for another run (different {', '.join(differ)}): "
                f"{ {k: ckpt.get(k) for k in differ} } vs now { {k: run[k] for k in differ} }; "
                f"pass the same arguments or another --checkpoint"
            )
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        state = ckpt["state"]
        torch.set_rng_state(ckpt["rng"])

    stopped = bool(hp["patience"]) and state["bad_epochs"] >= hp["patience"]  # a resumed run that had stopped early
    start = hp["epochs"] if stopped else min(state["epoch"], hp["epochs"])
    bar = tqdm(range(start, hp["epochs"]), initial=start, total=hp["epochs"],
               desc=f"{args.model} on {args.dataset}", unit="epoch", disable=args.quiet, file=sys.stderr)
    for epoch in bar:
        model.train()
        opt.zero_grad()
        loss = F.cross_entropy(model(g, x)[data.train_mask], y[data.train_mask])
        loss.backward()
        opt.step()
        loss = loss.item()
        model.eval()
        with torch.no_grad():
            logits = model(g, x)
            val_loss = float(F.cross_entropy(logits[data.val_mask], y[data.val_mask]))
            val_acc = _accuracy(logits, y, data.val_mask)
        # select the model with the best validation accuracy (ties: lower loss); as in the GAT paper,
        # patience runs out only when neither validation accuracy nor loss has improved
        if val_acc > state["best_val_acc"] or (val_acc == state["best_val_acc"] and val_loss < state["selected_val_loss"]):
            state.update(selected_val_loss=val_loss, best_model=copy.deepcopy(model.state_dict()))
        if val_acc >= state["best_val_acc"] or val_loss <= state["best_val_loss"]:
            state["bad_epochs"] = 0
        else:
            state["bad_epochs"] += 1
        state.update(best_val_acc=max(state["best_val_acc"], val_acc), best_val_loss=min(state["best_val_loss"], val_loss))
        state["epoch"] = epoch + 1
        if not args.quiet:
            tqdm.write(f"epoch {epoch + 1:4d} | loss {loss:.4f} | val loss {val_loss:.4f} | val acc {val_acc:.4f}")
            bar.set_postfix(loss=f"{loss:.3f}", val_acc=f"{val_acc:.3f}")
        if checkpointer is not None:
            checkpointer.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "state": state,
                               "rng": torch.get_rng_state(), **run})
        if hp["patience"] and state["bad_epochs"] >= hp["patience"]:
            break
    bar.close()
    model.load_state_dict(state["best_model"])
    model.eval()
    with torch.no_grad():
        test_acc = _accuracy(model(g, x), y, data.test_mask)
    if args.save is not None:
        atomic_save({"model": model.state_dict(), "config": config.to_dict()}, args.save)
    return test_acc


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
    given = [flag for flag, value in (("--load", args.load), ("--heads", args.heads), ("--patience", args.patience))
             if value is not None]
    if given:
        raise UsageError(f"--parts does not support {', '.join(given)}")
    if args.resume and args.checkpoint is None:
        raise UsageError("--resume needs --checkpoint PATH")
    argv = ["--dataset", args.dataset, "--model", args.model, "--seed", str(args.seed)]
    for flag, value in (("--data-dir", args.data_dir), ("--epochs", args.epochs), ("--lr", args.lr),
                        ("--weight-decay", args.weight_decay), ("--hidden", args.hidden), ("--dropout", args.dropout),
                        ("--threads", args.threads), ("--checkpoint", args.checkpoint), ("--save", args.save)):
        if value is not None:
            argv += [flag, str(value)]
    argv += ["--resume"] * args.resume + ["--quiet"] * args.quiet
    return launch(args.parts, argv)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "train" and args.parts > 1:
        try:
            return train_partitioned(args)
        except UsageError as exc:
            parser.error(f"train: {exc}")
    if args.command == "train":
        try:
            acc = train(args)
        except UsageError as exc:
            parser.error(f"train: {exc}")  # exits with status 2
        print(f"test accuracy: {acc:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
