r"""``gnnkit train --task link``: a graph auto-encoder (GAE, Kipf & Welling 2016) trained full-graph.

The encoder is a :class:`~gnnkit.models.GNN` of the ``--model`` choice (GAE: a 2-layer GCN,
32 → 16); the decoder scores a vertex pair from its two embeddings (``--decoder``
``dot | bilinear | mlp``). Each epoch draws ``--negatives`` uniform negatives per training
edge and minimises the mean binary cross-entropy over positives plus the one over
negatives (the paper's class-balanced loss, https://arxiv.org/abs/1611.07308).

Splits: a node or edge-list dataset (one graph, no edge split) is split by
:func:`~gnnkit.link.split_edges` (5 % validation, 10 % test, held-out edges leave the
message-passing graph; the seed is ``--seed``), scored by AUC (and AP); an OGB ``ogbl-*``
dataset keeps OGB's split and metric (``hits@K``, through OGB's ``Evaluator``).
A graph without vertex features gets a learned embedding per vertex as input (the OGB
``ogbl-ddi`` baselines' choice).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data import Dataset
from ..graph import Graph
from ..link import (Bilinear, DotProduct, EdgeSet, MLPDecoder, UniformNegativeSampler, auc, average_precision,
                    hits_at_k, ogb_link_eval, split_edges)
from ..models import GNN, GNNConfig
from ..precision import autocast
from .loop import UsageError, fit, load_saved, save_model
from .recipes import DEFAULTS, LINK_DEFAULTS

__all__ = ["DECODERS", "LinkModel", "run_link"]

DECODERS = ("dot", "bilinear", "mlp")
_RESUME_KEYS = ("hidden", "out", "heads", "dropout", "lr", "weight_decay", "patience", "negatives", "decoder")


def _make_decoder(name: str, features: int) -> nn.Module:
    if name == "dot":
        return DotProduct()
    if name == "bilinear":
        return Bilinear(features)
    return MLPDecoder(features, hidden_features=features)


class LinkModel(nn.Module):
    """Encoder, decoder and (for featureless graphs) a learned input embedding, checkpointed as one module.

    Args:
        encoder: the configuration of the :class:`~gnnkit.models.GNN` encoder.
        decoder: ``"dot" | "bilinear" | "mlp"``.
        num_embeddings: ``N`` for a ``[N, in_features]`` learned input, or 0 to take ``x``.
    """

    def __init__(self, encoder: GNNConfig, decoder: str, num_embeddings: int = 0) -> None:
        super().__init__()
        self.encoder = GNN(encoder)
        self.decoder = _make_decoder(decoder, encoder.out_features)
        self.embedding = nn.Embedding(num_embeddings, encoder.in_features) if num_embeddings else None

    def embed(self, g: Graph, x: Tensor | None) -> Tensor:
        """``[N, out_features]`` vertex embeddings."""
        return self.encoder(g, self.embedding.weight if self.embedding is not None else x)

    def score(self, h: Tensor, pairs: Tensor) -> Tensor:
        """``[K]`` logits of the pairs ``[2, K]``."""
        # index_select, not h[pairs[i]]: the backward of advanced indexing accumulates rows in an
        # order that varies with 2+ threads (torch 2.13 CPU), and a resumed run must be bit-identical
        return self.decoder(h.index_select(0, pairs[0]), h.index_select(0, pairs[1]))


@dataclass
class _LinkData:
    """The message-passing graph, training positives and the held-out pairs of one run."""

    graph: Graph
    x: Tensor | None
    train_pos: Tensor  # [2, K]
    val: tuple[Tensor, Tensor]  # positive [2, P], negative [2, Q]
    test: tuple[Tensor, Tensor]
    metric: str  # "auc" or OGB's "hits@K"

    def to(self, device: torch.device) -> "_LinkData":
        """The same data on ``device``."""
        return _LinkData(self.graph.to(device), None if self.x is None else self.x.to(device), self.train_pos.to(device),
                         (self.val[0].to(device), self.val[1].to(device)),
                         (self.test[0].to(device), self.test[1].to(device)), self.metric)


def _is_symmetric(g: Graph) -> bool:
    return bool(EdgeSet.from_graph(g).contains(g.dst, g.src).all())


def _prepare(data: Dataset, args: argparse.Namespace, seed: int) -> _LinkData:
    x = data.x  # None without features: LinkModel then learns an embedding per vertex
    if x is not None:
        x = (x[:, None] if x.dim() == 1 else x).to(torch.float32)  # [N, F]
    if data.task == "link":
        parts = data.split_edges
        if not all("edge" in parts[p] and (p == "train" or "edge_neg" in parts[p]) for p in ("train", "valid", "test")):
            raise UsageError(f"--task link: --dataset {args.dataset!r} has OGB's per-source split layout "
                             f"({sorted(parts['valid'])}); the edge/edge_neg layouts (ogbl-collab, ogbl-ppa, ogbl-ddi) "
                             f"are supported")
        metric = data.eval_metric
        if metric is None or not metric.startswith("hits@"):
            raise UsageError(f"--task link: --dataset {args.dataset!r} is scored by {metric!r}; hits@K is supported")
        pairs = {p: {k: v.t().contiguous() for k, v in parts[p].items() if k in ("edge", "edge_neg")} for p in parts}
        return _LinkData(data.graph, x, pairs["train"]["edge"], (pairs["valid"]["edge"], pairs["valid"]["edge_neg"]),
                         (pairs["test"]["edge"], pairs["test"]["edge_neg"]), metric)
    g = data.graph
    undirected = _is_symmetric(g)
    split = split_edges(g, val=0.05, test=0.1, undirected=undirected, seed=seed)
    train_pos = split.train_pos
    if undirected:  # both directions, as the adjacency the GAE reconstructs (matters for asymmetric decoders)
        train_pos = torch.cat([train_pos, train_pos.flip(0)], 1)  # [2, 2K]
    return _LinkData(split.train_graph, x, train_pos, (split.val_pos, split.val_neg), (split.test_pos, split.test_neg),
                     "auc")


def _bce(model: LinkModel, h: Tensor, pos: Tensor, neg: Tensor) -> Tensor:
    """Mean BCE over the positives plus mean BCE over the negatives."""
    s_pos, s_neg = model.score(h, pos), model.score(h, neg)
    return (F.binary_cross_entropy_with_logits(s_pos, torch.ones_like(s_pos))
            + F.binary_cross_entropy_with_logits(s_neg, torch.zeros_like(s_neg)))


def _score(model: LinkModel, h: Tensor, pairs: tuple[Tensor, Tensor], metric: str) -> float:
    s_pos, s_neg = model.score(h, pairs[0]), model.score(h, pairs[1])
    if metric == "auc":
        return auc(s_pos, s_neg)
    return hits_at_k(s_pos, s_neg, int(metric.split("@")[1]))


def _test(model: LinkModel, d: _LinkData, name: str, split: str = "test") -> list[tuple[str, float]]:
    """The metrics of ``model`` on the ``split`` pairs (``"valid"`` or ``"test"``), the headline last."""
    pos, neg = d.val if split == "valid" else d.test
    with torch.no_grad():
        h = model.embed(d.graph, d.x)
        s_pos, s_neg = model.score(h, pos), model.score(h, neg)
    if d.metric == "auc":
        return [("ap", average_precision(s_pos, s_neg)), ("auc", auc(s_pos, s_neg))]
    return [(d.metric, ogb_link_eval(name, s_pos, s_neg)[d.metric])]  # OGB's own Evaluator


def _check(data: Dataset, args: argparse.Namespace) -> None:
    if data.task == "graph":
        raise UsageError(f"--task link needs one graph (a node, edge-list or ogbl-* dataset), but --dataset "
                         f"{args.dataset!r} holds {len(data.graphs)} graphs (a graph-classification dataset)")
    if data.graph.is_bipartite:
        raise UsageError(f"--task link needs a graph with one vertex set; --dataset {args.dataset!r} is bipartite")


def link_hyperparameters(args: argparse.Namespace) -> dict:
    """:data:`~gnnkit.cli.recipes.LINK_DEFAULTS` (GAT keeps its heads and activation) overridden by the options given."""
    hp = dict(LINK_DEFAULTS, heads=DEFAULTS[args.model]["heads"], activation=DEFAULTS[args.model]["activation"])
    for key in ("hidden", "heads", "dropout", "lr", "weight_decay", "epochs", "patience", "negatives", "decoder"):
        if getattr(args, key, None) is not None:
            hp[key] = getattr(args, key)
    return hp


def run_link(args: argparse.Namespace, data: Dataset) -> list[tuple[str, float]]:
    """Train (or, with ``--load``, evaluate) a link predictor; returns ``[(metric, value), ...]``, the headline last.

    ``args.device`` (default CPU) is where the model and graph live; with ``--load``,
    ``args.split`` (``"valid"`` or ``"test"``, default test) picks the pairs scored.

    Raises:
        UsageError: a graph-classification dataset, an unsupported OGB split layout or metric,
            a ``--load`` file for another task or graph, or a checkpoint of another run.
    """
    _check(data, args)
    device = getattr(args, "device", torch.device("cpu"))
    if args.load is not None:
        saved = load_saved(args.load, "link")
        cfg = saved["config"]
        d = _prepare(data, args, cfg["split_seed"]).to(device)
        model = LinkModel(GNNConfig(**cfg["encoder"]), cfg["decoder"], cfg["num_embeddings"])
        try:
            model.load_state_dict(saved["model"])
        except RuntimeError as exc:  # shapes of another dataset: say which file and why
            raise UsageError(f"--load {args.load} does not fit dataset {args.dataset!r}: {str(exc)[:300]}") from exc
        model.to(device).eval()
        return _test(model, d, data.name, getattr(args, "split", "test"))
    hp = link_hyperparameters(args)
    d = _prepare(data, args, args.seed).to(device)
    n = d.graph.num_nodes
    in_features = d.x.shape[1] if d.x is not None else hp["hidden"]
    encoder = GNNConfig(model=args.model, in_features=in_features, out_features=hp["out"], hidden_features=hp["hidden"],
                        heads=hp["heads"], dropout=hp["dropout"], activation=hp["activation"])
    num_embeddings = 0 if d.x is not None else n
    model = LinkModel(encoder, hp["decoder"], num_embeddings).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
    negatives = UniformNegativeSampler(n, k=hp["negatives"])
    precision = getattr(args, "precision", "fp32")

    def train_epoch(epoch: int) -> float:
        opt.zero_grad()
        neg_src, neg_dst = negatives(d.train_pos[0])  # [K k]: torch's global generator, which checkpoints carry
        with autocast(precision, device):  # forward and loss; backward runs outside, as torch advises
            h = model.embed(d.graph, d.x)  # [N, out]
            loss = _bce(model, h, d.train_pos, torch.stack([neg_src, neg_dst]))
        loss.backward()
        opt.step()
        return loss.item()

    def validate() -> tuple[float, float]:  # in float32 (bfloat16 scores would tie): --precision is for training
        h = model.embed(d.graph, d.x)
        return _score(model, h, d.val, d.metric), float(_bce(model, h, *d.val))

    config = {"encoder": encoder.to_dict(), "decoder": hp["decoder"], "num_embeddings": num_embeddings,
              "split_seed": args.seed}
    identity = {"task": "link", "dataset": args.dataset.lower(), "seed": args.seed, "config": config,
                "hp": {k: hp[k] for k in _RESUME_KEYS}}
    fit(model, opt, train_epoch, validate, metric=d.metric, epochs=hp["epochs"], patience=hp["patience"],
        identity=identity, args=args)
    if args.save is not None:
        save_model(args.save, model, config, task="link")
    return _test(model, d, data.name)
