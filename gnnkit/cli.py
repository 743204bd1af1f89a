"""The ``gnnkit`` command: ``gnnkit train --dataset cora --model gcn --seed 0``.

Full-batch node classification with the paper hyper-parameters per model, a tqdm
progress bar, one line per epoch (loss, validation accuracy), model selection on
validation accuracy (never on test), atomic per-epoch checkpoints that a killed run
resumes from, and ``test accuracy: X`` as the last line.
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from .datasets import load_dataset
from .models import GNN, MODELS, GNNConfig

__all__ = ["main", "build_parser", "DEFAULTS"]

# Paper settings: GCN (Kipf & Welling 2017), GAT (Velickovic et al. 2018); SAGE/GIN as PyG's examples.
DEFAULTS = {
    "gcn": dict(hidden=16, heads=1, dropout=0.5, lr=0.01, weight_decay=5e-4, epochs=200, patience=0, activation="relu"),
    "gat": dict(hidden=8, heads=8, dropout=0.6, lr=0.005, weight_decay=5e-4, epochs=1000, patience=100, activation="elu"),
    "sage": dict(hidden=64, heads=1, dropout=0.5, lr=0.01, weight_decay=5e-4, epochs=200, patience=0, activation="relu"),
    "gin": dict(hidden=64, heads=1, dropout=0.5, lr=0.01, weight_decay=5e-4, epochs=200, patience=0, activation="relu"),
}


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _dropout(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must lie in [0, 1), got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gnnkit", description="Sparse graph neural networks on PyTorch.")
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a node classifier (full batch)")
    t.add_argument("--dataset", default="cora", help="dataset name (bundled: cora; others need --data-dir)")
    t.add_argument("--data-dir", type=Path, help="directory with raw Planetoid files ind.<dataset>.*")
    t.add_argument("--model", choices=MODELS, default="gcn")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--epochs", type=_positive_int, help="maximum epochs (model default)")
    t.add_argument("--lr", type=_non_negative_float)
    t.add_argument("--weight-decay", type=_non_negative_float)
    t.add_argument("--hidden", type=_positive_int, help="hidden width (per head for GAT)")
    t.add_argument("--heads", type=_positive_int, help="GAT attention heads")
    t.add_argument("--dropout", type=_dropout)
    t.add_argument("--patience", type=int, help="stop after this many epochs without a better validation score (0: never)")
    t.add_argument("--threads", type=_positive_int, help="torch CPU threads")
    t.add_argument("--checkpoint", type=Path, help="write a resumable checkpoint here after every epoch")
    t.add_argument("--resume", action="store_true", help="continue from --checkpoint if it exists")
    t.add_argument("--save", type=Path, help="write the selected model (state_dict + config) here")
    t.add_argument("--load", type=Path, help="evaluate a model written by --save instead of training")
    t.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    return parser


def _accuracy(logits: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> float:
    return float((logits[mask].argmax(-1) == y[mask]).float().mean())


def _atomic_save(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train(args: argparse.Namespace) -> float:
    hp = dict(DEFAULTS[args.model])
    for key in ("hidden", "heads", "dropout", "lr", "weight_decay", "epochs", "patience"):
        if getattr(args, key) is not None:
            hp[key] = getattr(args, key)
    if args.resume and args.checkpoint is None:
        raise SystemExit("gnnkit train: --resume needs --checkpoint PATH")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    data = load_dataset(args.dataset, args.data_dir)
    g, x, y = data.graph, data.x, data.y
    config = GNNConfig(
        model=args.model, in_features=data.num_features, out_features=data.num_classes,
        hidden_features=hp["hidden"], heads=hp["heads"], dropout=hp["dropout"], activation=hp["activation"],
    )
    model = GNN(config)
    if args.load is not None:
        saved = torch.load(args.load, weights_only=True)
        model = GNN(GNNConfig(**saved["config"]))
        model.load_state_dict(saved["model"])
        model.eval()
        with torch.no_grad():
            return _accuracy(model(g, x), y, data.test_mask)

    opt = torch.optim.Adam(model.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
    state = {"epoch": 0, "best_val_acc": -1.0, "best_val_loss": float("inf"), "selected_val_loss": float("inf"), "bad_epochs": 0,
             "best_model": copy.deepcopy(model.state_dict())}
    if args.resume and args.checkpoint.exists():
        ckpt = torch.load(args.checkpoint, weights_only=True)
        if ckpt["config"] != config.to_dict() or ckpt["seed"] != args.seed:
            raise SystemExit(f"gnnkit train: checkpoint {args.checkpoint} was written for another model, dataset or seed")
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        state = ckpt["state"]
        torch.set_rng_state(ckpt["rng"])

    bar = tqdm(range(state["epoch"], hp["epochs"]), initial=state["epoch"], total=hp["epochs"],
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
        if args.checkpoint is not None:
            _atomic_save({"model": model.state_dict(), "optimizer": opt.state_dict(), "state": state,
                          "rng": torch.get_rng_state(), "config": config.to_dict(), "seed": args.seed}, args.checkpoint)
        if hp["patience"] and state["bad_epochs"] >= hp["patience"]:
            break
    bar.close()
    model.load_state_dict(state["best_model"])
    model.eval()
    with torch.no_grad():
        test_acc = _accuracy(model(g, x), y, data.test_mask)
    if args.save is not None:
        _atomic_save({"model": model.state_dict(), "config": config.to_dict()}, args.save)
    return test_acc


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train":
        acc = train(args)
        print(f"test accuracy: {acc:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
