"""``gnnkit train --task node``: full-batch node classification; the result is ``test accuracy: X``."""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data import Dataset
from ..models import GNN, GNNConfig
from ..precision import autocast
from .loop import UsageError, fit, load_saved, save_model
from .recipes import DEFAULTS

__all__ = ["run_node", "node_hyperparameters"]

# Hyper-parameters that must match for --resume; "epochs" may grow, so a finished run can be extended.
_RESUME_KEYS = ("hidden", "heads", "dropout", "lr", "weight_decay", "patience", "activation")


def node_hyperparameters(args: argparse.Namespace) -> dict:
    """The model's paper recipe (:data:`~gnnkit.cli.recipes.DEFAULTS`) overridden by the options given."""
    hp = dict(DEFAULTS[args.model])
    for key in ("hidden", "heads", "dropout", "lr", "weight_decay", "epochs", "patience"):
        if getattr(args, key) is not None:
            hp[key] = getattr(args, key)
    return hp


def _accuracy(logits: Tensor, y: Tensor, mask: Tensor) -> float:
    return float((logits[mask].argmax(-1) == y[mask]).float().mean())


def _check(data: Dataset, args: argparse.Namespace) -> None:
    if data.task != "node" or data.x is None or "train_mask" not in data.graph.ndata or data.y.dim() != 1:
        raise UsageError(f"--task node: --dataset {args.dataset!r} is a {data.task!r} dataset, or has no node features, "
                         f"no split or several tasks per vertex; --task node handles single-label node classification "
                         f"with features")


def _split_mask(data: Dataset, split: str) -> Tensor:
    """The vertex mask of ``split`` (``"valid"`` or ``"test"``)."""
    return data.val_mask if split == "valid" else data.test_mask


def _evaluate_saved(args: argparse.Namespace, data: Dataset) -> float:
    saved = load_saved(args.load, "node")
    config = GNNConfig(**saved["config"])
    if (config.in_features, config.out_features) != (data.num_features, data.num_classes):
        raise UsageError(
            f"--load {args.load} holds a model for {config.in_features} features and {config.out_features} classes, "
            f"but dataset {args.dataset!r} has {data.num_features} and {data.num_classes}"
        )
    device = getattr(args, "device", torch.device("cpu"))
    model = GNN(config)
    model.load_state_dict(saved["model"])
    model.to(device).eval()
    mask = _split_mask(data, getattr(args, "split", "test")).to(device)
    with torch.no_grad():
        return _accuracy(model(data.graph.to(device), data.x.to(device)), data.y.to(device), mask)


def run_node(args: argparse.Namespace, data: Dataset) -> float:
    """Train (or, with ``--load``, evaluate) a node classifier on ``data``; returns the test accuracy.

    ``args.device`` (a ``torch.device``, default CPU) is where the model and the graph live;
    with ``--load``, ``args.split`` (``"valid"`` or ``"test"``, default test) picks the vertices scored.

    Raises:
        UsageError: a dataset that is not single-label node classification with features,
            a ``--load`` file for another task or dataset, or a checkpoint of another run.
    """
    _check(data, args)
    if args.load is not None:
        return _evaluate_saved(args, data)
    hp = node_hyperparameters(args)
    device = getattr(args, "device", torch.device("cpu"))
    g, x, y = data.graph.to(device), data.x.to(device), data.y.to(device)
    config = GNNConfig(
        model=args.model, in_features=data.num_features, out_features=data.num_classes,
        hidden_features=hp["hidden"], heads=hp["heads"], dropout=hp["dropout"], activation=hp["activation"],
    )
    model = GNN(config).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
    train_mask, val_mask = data.train_mask.to(device), data.val_mask.to(device)

    precision = getattr(args, "precision", "fp32")

    def train_epoch(epoch: int) -> float:
        opt.zero_grad()
        with autocast(precision, device):  # forward and loss; backward runs outside, as torch advises
            loss = F.cross_entropy(model(g, x)[train_mask], y[train_mask])
        loss.backward()
        opt.step()
        return loss.item()

    def validate() -> tuple[float, float]:  # evaluation in float32: the weights are float32 whatever the precision
        logits = model(g, x)
        return _accuracy(logits, y, val_mask), float(F.cross_entropy(logits[val_mask], y[val_mask]))

    identity = {"dataset": args.dataset.lower(), "seed": args.seed, "config": config.to_dict(),
                "hp": {k: hp[k] for k in _RESUME_KEYS}, "precision": precision}
    fit(model, opt, train_epoch, validate, metric="acc", epochs=hp["epochs"], patience=hp["patience"],
        identity=identity, args=args)
    with torch.no_grad():
        test_acc = _accuracy(model(g, x), y, data.test_mask.to(device))
    if args.save is not None:
        save_model(args.save, model, config.to_dict())
    return test_acc
