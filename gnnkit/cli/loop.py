"""The training-loop skeleton every ``gnnkit train --task`` shares.

A task supplies a model, an optimizer, ``train_epoch(epoch) -> loss`` and
``validate() -> (score, loss)``; :func:`fit` runs the epochs with a tqdm progress bar whose
postfix shows the epoch's metrics (one line per epoch instead with ``--verbose``; a
``--log-dir`` gets them as CSV, PNG and TensorBoard files), selects the model on the validation score (never on test; ties go to
the lower validation loss), stops when ``patience`` epochs improved neither score nor
loss, and writes an atomic checkpoint after every epoch that ``--resume`` continues from
with the identical result. Everything random inside an epoch must draw from torch's global
generator (or from one reseeded per epoch), whose state the checkpoint carries.
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from tqdm import tqdm

from ..checkpoint import Checkpointer, CheckpointError, atomic_save, load_checkpoint
from .run_log import RunLog

__all__ = ["UsageError", "fit", "load_saved", "save_model"]


class UsageError(ValueError):
    """Arguments that parse but do not fit together (or name a dataset or file that is not there).

    :func:`gnnkit.cli.main` reports it like an argparse error: the message on stderr and exit status 2.
    """


def load_saved(path: Path, task: str) -> dict:
    """A model file written by :func:`save_model` for ``task`` (tensors and plain containers only: no code runs).

    Raises:
        UsageError: ``path`` is missing or damaged, or holds a model of another task
            (the message names ``--load`` and the task to pass).
    """
    try:
        saved = load_checkpoint(path)
    except FileNotFoundError:
        raise UsageError(f"--load {path} does not exist") from None
    except CheckpointError as exc:
        raise UsageError(f"--load: {exc}") from exc
    found = saved.get("task", "node") if isinstance(saved, dict) else None
    if found != task:
        raise UsageError(f"--load {path} holds a {found!r} model, not a {task!r} one; pass --task {found}")
    return saved


def save_model(path: Path, model: nn.Module, config: dict, task: str | None = None) -> None:
    """``--save``: ``{"model": state_dict, "config": config}`` (plus ``"task"`` for link and graph models)."""
    saved: dict[str, Any] = {"model": model.state_dict(), "config": config}
    if task is not None:  # node models keep the key set the partition-parallel trainer also writes
        saved["task"] = task
    atomic_save(saved, path)


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


def fit(model: nn.Module, optimizer: torch.optim.Optimizer, train_epoch: Callable[[int], float],
        validate: Callable[[], tuple[float, float]], *, metric: str, epochs: int, patience: int, identity: dict,
        args: argparse.Namespace) -> None:
    """Train ``model`` for up to ``epochs`` epochs and leave the selected weights in it.

    Args:
        model: every trainable module of the task (encoder and decoder together, say): what
            is checkpointed and selected.
        optimizer: over ``model``'s parameters.
        train_epoch: one epoch of training, given the 0-based epoch; returns the mean loss.
        validate: ``(score, loss)`` on the validation split; a higher score is better.
        metric: the score's name in the per-epoch line (``"acc"``, ``"auc"``, ``"hits@50"``).
        epochs: the most epochs; a finished run resumed with more epochs trains on.
        patience: stop after this many epochs in which neither the score nor the loss improved (0: never).
        identity: what a checkpoint must match to be resumed (dataset, seed, configuration).
        args: ``checkpoint``, ``resume``, ``quiet``, ``dataset`` and ``model`` of the command line, and
            optionally ``verbose`` (a line per epoch) and ``log_dir`` (a :class:`~gnnkit.cli.run_log.RunLog`).

    Raises:
        UsageError: ``--resume`` without ``--checkpoint``, every checkpoint file damaged, or a
            checkpoint written for another run.
    """
    if args.resume and args.checkpoint is None:
        raise UsageError("--resume needs --checkpoint PATH")
    state = {"epoch": 0, "best_val_score": -float("inf"), "best_val_loss": float("inf"),
             "selected_val_loss": float("inf"), "bad_epochs": 0, "best_model": copy.deepcopy(model.state_dict())}
    checkpointer = Checkpointer(args.checkpoint) if args.checkpoint is not None else None
    ckpt = _resume(checkpointer) if args.resume else None
    if ckpt is not None:
        differ = [k for k in identity if ckpt.get(k) != identity[k]]
        if differ:
            raise UsageError(
                f"checkpoint {args.checkpoint} was written for another run (different {', '.join(differ)}): "
                f"{ {k: ckpt.get(k) for k in differ} } vs now { {k: identity[k] for k in differ} }; "
                f"pass the same arguments or another --checkpoint"
            )
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        state = ckpt["state"]
        torch.set_rng_state(ckpt["rng"])

    stopped = bool(patience) and state["bad_epochs"] >= patience  # a resumed run that had stopped early
    start = epochs if stopped else min(state["epoch"], epochs)
    bar = tqdm(range(start, epochs), initial=start, total=epochs, desc=f"{args.model} on {args.dataset}",
               unit="epoch", disable=args.quiet, file=sys.stderr)
    verbose = getattr(args, "verbose", False) and not args.quiet
    log_dir = getattr(args, "log_dir", None)
    run_log = RunLog(log_dir) if log_dir is not None else None
    try:
        _epochs(bar, model, optimizer, train_epoch, validate, metric, patience, identity, state, checkpointer,
                verbose, run_log)
    finally:
        bar.close()
        if run_log is not None:
            run_log.close()
    model.load_state_dict(state["best_model"])
    model.eval()


def _epochs(bar: tqdm, model: nn.Module, optimizer: torch.optim.Optimizer, train_epoch: Callable[[int], float],
            validate: Callable[[], tuple[float, float]], metric: str, patience: int, identity: dict, state: dict,
            checkpointer: Checkpointer | None, verbose: bool, run_log: RunLog | None) -> None:
    """The epochs of :func:`fit`, updating ``state`` (and checkpoint, bar and log) after each."""
    for epoch in bar:
        model.train()
        loss = train_epoch(epoch)
        model.eval()
        with torch.no_grad():
            val_score, val_loss = validate()
        # select the best validation score (ties: lower loss); as in the GAT paper, patience
        # runs out only when neither the validation score nor the loss has improved
        if val_score > state["best_val_score"] or (val_score == state["best_val_score"]
                                                   and val_loss < state["selected_val_loss"]):
            state.update(selected_val_loss=val_loss, best_model=copy.deepcopy(model.state_dict()))
        if val_score >= state["best_val_score"] or val_loss <= state["best_val_loss"]:
            state["bad_epochs"] = 0
        else:
            state["bad_epochs"] += 1
        state.update(best_val_score=max(state["best_val_score"], val_score),
                     best_val_loss=min(state["best_val_loss"], val_loss))
        state["epoch"] = epoch + 1
        bar.set_postfix({"loss": f"{loss:.3f}", f"val_{metric}": f"{val_score:.3f}"})
        if verbose:
            tqdm.write(f"epoch {epoch + 1:4d} | loss {loss:.4f} | val loss {val_loss:.4f} | val {metric} {val_score:.4f}")
        if run_log is not None:
            run_log.log(epoch + 1, {"loss": loss, "val_loss": val_loss, f"val_{metric}": val_score})
        if checkpointer is not None:
            checkpointer.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "state": state,
                               "rng": torch.get_rng_state(), **identity})
        if patience and state["bad_epochs"] >= patience:
            break
