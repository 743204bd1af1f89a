r"""``gnnkit train --task graph``: graph classification with mini-batches of whole graphs (GIN, Xu et al. 2019).

The model is :class:`gnnkit.models.GraphClassifier` (``--model`` picks its convolution; GIN
by default) fed by :class:`gnnkit.data.GraphDataLoader`. A dataset without a split (TU,
``brain-families``) is split by :func:`gnnkit.data.stratified_split` (80/10/10, ``--seed``).
Single-label datasets train with cross-entropy and report ``test accuracy: X``; OGB's
multi-task binary layouts (``ogbg-mol*``) train with a binary cross-entropy that skips
missing labels (-1 or NaN) and report OGB's metric (``test rocauc: X``, ``test ap: X``).
A dataset without vertex features gets the constant feature 1 per vertex.
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data import Dataset
from ..data.evaluator import ogb_evaluator
from ..graph import Graph
from ..precision import autocast
from .loop import UsageError, fit, load_saved, save_model
from .recipes import GRAPH_DEFAULTS

__all__ = ["run_graph", "graph_hyperparameters"]

_RESUME_KEYS = ("hidden", "layers", "dropout", "lr", "weight_decay", "patience", "batch_size")


def graph_hyperparameters(args: argparse.Namespace) -> dict:
    """:data:`~gnnkit.cli.recipes.GRAPH_DEFAULTS` overridden by the options given."""
    hp = dict(GRAPH_DEFAULTS)
    for key in ("hidden", "layers", "dropout", "lr", "weight_decay", "epochs", "patience", "batch_size"):
        if getattr(args, key, None) is not None:
            hp[key] = getattr(args, key)
    return hp


def _target(data: Dataset, args: argparse.Namespace) -> tuple[Tensor, bool, int]:
    """(labels, multi-task binary?, model outputs): ``[B]`` classes, or ``[B, T]`` 0/1/NaN for ``ogbg-mol*``."""
    y = data.labels
    if data.eval_metric in ("rocauc", "ap"):  # OGB's binary tasks, one column per task
        y = (y[:, None] if y.dim() == 1 else y).to(torch.float32)  # [B, T]
        # the OGB reader marks a missing label -1 in int64 files; OGB's Evaluator and the loss want NaN
        return torch.where(y < 0, torch.nan, y), True, y.shape[1]
    if y.dim() == 2 and y.shape[1] == 1 and not y.is_floating_point():
        y = y[:, 0]
    if y.dim() == 1 and not y.is_floating_point():
        return y, False, max(data.num_classes, int(y.max()) + 1 if y.numel() else 1)
    raise UsageError(f"--task graph: --dataset {args.dataset!r} has labels of shape {tuple(y.shape)} "
                     f"({y.dtype}, metric {data.eval_metric!r}); supported are class labels [B] and OGB's "
                     f"multi-task binary labels (rocauc/ap), not regression")


def _inputs(g: Graph, in_features: int) -> Tensor:
    """``[N, F]`` float vertex features of a batch (the constant 1 where the dataset has none)."""
    if "x" not in g.ndata:
        return torch.ones(g.num_nodes, in_features, device=g.device)
    x = g.ndata["x"]
    return (x[:, None] if x.dim() == 1 else x).to(torch.float32)  # OGB's integer atom features as numbers


def _loss(logits: Tensor, y: Tensor, binary: bool) -> Tensor:
    if not binary:
        return F.cross_entropy(logits, y)
    known = ~torch.isnan(y)  # missing task labels (NaN, see _target) carry no loss
    return F.binary_cross_entropy_with_logits(logits[known], y[known])


def _predict(model: nn.Module, data: Dataset, index: Tensor, batch_size: int, in_features: int,
             device: torch.device) -> Tensor:
    """``[B, C]`` logits of the graphs ``index``, on the CPU (labels and OGB's Evaluator live there)."""
    from ..data import GraphDataLoader

    outs = []
    for b in GraphDataLoader(data, batch_size, index=index):
        g = b.graph.to(device)
        outs.append(model(g, _inputs(g, in_features)).cpu())
    return torch.cat(outs) if outs else torch.zeros(0)


def _score(data: Dataset, y: Tensor, binary: bool, index: Tensor, logits: Tensor) -> tuple[str, float]:
    if not binary:
        return "accuracy", float((logits.argmax(-1) == y[index]).float().mean())
    # OGB's own Evaluator on this split's rows (Dataset.evaluate would pass the -1 of missing labels as a class)
    result = ogb_evaluator(data.name).eval({"y_true": y[index], "y_pred": torch.sigmoid(logits)})
    return data.eval_metric, float(result[data.eval_metric])


def run_graph(args: argparse.Namespace, data: Dataset) -> list[tuple[str, float]]:
    """Train (or, with ``--load``, evaluate) a graph classifier; returns ``[(metric, value)]``.

    ``args.device`` (default CPU) is where the model and each batch live; with ``--load``,
    ``args.split`` (``"valid"`` or ``"test"``, default test) picks the graphs scored.

    Raises:
        UsageError: a node or link dataset, regression labels, a ``--load`` file for another
            task, or a checkpoint of another run.
    """
    from ..data import GraphDataLoader, stratified_split
    from ..models import GraphClassifier

    if data.task != "graph":
        raise UsageError(f"--task graph needs a graph-classification dataset (TU, ogbg-*, brain-families), but "
                         f"--dataset {args.dataset!r} is a {data.task!r} dataset")
    y, binary, outputs = _target(data, args)
    split = data.split_idx if all(p in data.split_idx for p in ("train", "valid", "test")) else None
    if split is None:
        split = stratified_split(y if not binary else y[:, 0].nan_to_num(0).long(), seed=args.seed)
    in_features = data.num_features or 1  # the constant feature 1 where the files have none
    hp = graph_hyperparameters(args)
    device = getattr(args, "device", torch.device("cpu"))
    config = dict(in_features=in_features, num_classes=outputs, hidden_features=hp["hidden"],
                  num_layers=hp["layers"], conv=args.model, dropout=hp["dropout"])
    if args.load is not None:
        saved = load_saved(args.load, "graph")
        config = saved["config"]
        model = GraphClassifier(**config)
        model.load_state_dict(saved["model"])
        model.to(device).eval()
        index = split[getattr(args, "split", "test")]
        with torch.no_grad():
            logits = _predict(model, data, index, hp["batch_size"], in_features, device)
        return [_score(data, y, binary, index, logits)]
    try:
        model = GraphClassifier(**config).to(device)
    except ValueError as exc:  # e.g. a convolution GraphClassifier does not offer
        raise UsageError(f"--task graph --model {args.model}: {exc}") from exc
    opt = torch.optim.Adam(model.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])

    def train_epoch(epoch: int) -> float:
        # shuffled by a generator seeded from (seed, epoch): a resumed run sees the same batches
        gen = torch.Generator().manual_seed(args.seed * 1_000_003 + epoch)
        loader = GraphDataLoader(data, hp["batch_size"], shuffle=True, index=split["train"], generator=gen)
        total, count = 0.0, 0
        for batch in loader:
            opt.zero_grad()
            labels, g = y[batch.index].to(device), batch.graph.to(device)
            with autocast(getattr(args, "precision", "fp32"), device):  # forward and loss; backward outside
                loss = _loss(model(g, _inputs(g, in_features)), labels, binary)
            loss.backward()
            opt.step()
            total, count = total + loss.item() * labels.shape[0], count + labels.shape[0]
        return total / max(count, 1)

    def validate() -> tuple[float, float]:
        logits = _predict(model, data, split["valid"], hp["batch_size"], in_features, device)
        return _score(data, y, binary, split["valid"], logits)[1], float(_loss(logits, y[split["valid"]], binary))

    identity = {"task": "graph", "dataset": args.dataset.lower(), "seed": args.seed, "config": config,
                "hp": {k: hp[k] for k in _RESUME_KEYS}}
    fit(model, opt, train_epoch, validate, metric="acc" if not binary else data.eval_metric, epochs=hp["epochs"],
        patience=hp["patience"], identity=identity, args=args)
    if args.save is not None:
        save_model(args.save, model, config, task="graph")
    with torch.no_grad():
        logits = _predict(model, data, split["test"], hp["batch_size"], in_features, device)
    return [_score(data, y, binary, split["test"], logits)]
