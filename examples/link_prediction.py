"""Link prediction on Cora with a graph auto-encoder (GAE, Kipf & Welling 2016, https://arxiv.org/abs/1611.07308).

A 2-layer GCN encoder (32 → 16, no bias) and an inner-product decoder, trained full-graph
with Adam (lr 0.01, 200 epochs) on 85 % of the edges; 5 % validate, 10 % test, each with as
many fixed non-edges. As in the paper the input is the binary bag of words and the target
is ``A + I`` over the training edges, positives and non-edges weighted equally; the
paper sums over all ``N^2`` pairs, here each epoch draws 20 strict negatives per positive
(no dense ``N x N`` score matrix). The paper reports test AUC 91.0 / AP 92.0.

    python examples/link_prediction.py --seeds 10
    python examples/link_prediction.py --quick      # 1 seed, 20 epochs (CI)
    python examples/link_prediction.py --sampled    # GraphSAGE on link mini-batches, 1 seed

The last line is ``test auc: X  test ap: Y`` (means over the seeds).
"""
from __future__ import annotations

import argparse
import statistics
import sys

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gnnkit.cli.argtypes import positive_int
from gnnkit.data import load_dataset
from gnnkit.graph import Graph
from gnnkit.link import (DotProduct, LinkSplit, StrictNegativeSampler, UniformNegativeSampler, auc, average_precision,
                         link_neighbor_loader, split_edges)
from gnnkit.nn import GCNConv, SAGEConv


class Encoder(nn.Module):
    """Two graph convolutions with a ReLU between (the GAE encoder; GraphSAGE layers for ``--sampled``)."""

    def __init__(self, in_features: int, hidden: int = 32, out: int = 16, sage: bool = False) -> None:
        super().__init__()
        conv = SAGEConv if sage else GCNConv
        bias = sage  # Kipf & Welling's GCN layers have no bias
        self.layers = nn.ModuleList([conv(in_features, hidden, bias=bias), conv(hidden, out, bias=bias)])

    def forward(self, graphs: list[Graph], x: Tensor) -> Tensor:
        for i, (g, layer) in enumerate(zip(graphs, self.layers)):
            x = layer(g, x)
            if i == 0:
                x = F.relu(x)
        return x


def evaluate(h: Tensor, pos: Tensor, neg: Tensor, decoder: nn.Module) -> tuple[float, float]:
    """(AUC, AP) of the decoder's scores on positive ``[2, P]`` and negative ``[2, Q]`` pairs."""
    s_pos, s_neg = decoder(h[pos[0]], h[pos[1]]), decoder(h[neg[0]], h[neg[1]])
    return auc(s_pos, s_neg), average_precision(s_pos, s_neg)


def train_full(split: LinkSplit, x: Tensor, epochs: int, seed: int) -> tuple[float, float]:
    torch.manual_seed(seed)
    g = split.train_graph
    model, decoder = Encoder(x.shape[1]), DotProduct()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    negatives = StrictNegativeSampler(g, UniformNegativeSampler(g.num_nodes, k=20), undirected=True)
    gen = torch.Generator().manual_seed(seed)
    loops = torch.arange(g.num_nodes).repeat(2, 1)  # [2, N]: the paper's target is A + I
    pos = torch.cat([split.train_pos, split.train_pos.flip(0), loops], 1)  # [2, P] both directions, as A
    for _ in range(epochs):
        model.train()
        opt.zero_grad()
        h = model([g, g], x)  # [N, 16]
        neg_src, neg_dst = negatives(pos[0], gen)  # [20 P]
        # mean over positives + mean over negatives: the paper's pos_weight-balanced loss
        loss = (F.binary_cross_entropy_with_logits(decoder(h[pos[0]], h[pos[1]]), torch.ones(pos.shape[1]))
                + F.binary_cross_entropy_with_logits(decoder(h[neg_src], h[neg_dst]), torch.zeros(neg_src.numel())))
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        return evaluate(model([g, g], x), split.test_pos, split.test_neg, decoder)


def train_sampled(split: LinkSplit, x: Tensor, epochs: int, seed: int) -> tuple[float, float]:
    torch.manual_seed(seed)
    g = split.train_graph
    model, decoder = Encoder(x.shape[1], sage=True), DotProduct()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    loader = link_neighbor_loader(g, split.train_pos, [10, 10], batch_size=128,
                                  negative_sampler=StrictNegativeSampler(g, undirected=True), seed=seed)
    for _ in range(epochs):
        model.train()
        for batch in loader:
            opt.zero_grad()
            h = model(batch.blocks.blocks, x[batch.blocks.input_nodes])  # [U, 16]
            loss = F.binary_cross_entropy_with_logits(decoder(h[batch.pair[0]], h[batch.pair[1]]), batch.label)
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():  # full-graph inference: SAGEConv runs on the square graph too
        return evaluate(model([g, g], x), split.test_pos, split.test_neg, decoder)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=positive_int, default=1, help="run seeds 0 .. SEEDS-1")
    p.add_argument("--epochs", type=positive_int, default=None, help="default 200 (full), 20 (--sampled)")
    p.add_argument("--quick", action="store_true", help="1 seed, 20 epochs")
    p.add_argument("--sampled", action="store_true", help="GraphSAGE trained on link mini-batches")
    args = p.parse_args(argv)
    g = load_dataset("cora").graph
    x = (g.ndata["x"] > 0).to(torch.float32)  # the paper's binary bag of words (the bundled copy is row-normalised)
    seeds = range(1 if args.quick else args.seeds)
    epochs = args.epochs or (20 if args.quick or args.sampled else 200)
    train = train_sampled if args.sampled else train_full
    aucs, aps = [], []
    for seed in seeds:
        split = split_edges(g, val=0.05, test=0.1, undirected=True, seed=seed)
        a, ap = train(split, x, epochs, seed)
        aucs.append(a)
        aps.append(ap)
        print(f"seed {seed}: test auc {a:.4f}  test ap {ap:.4f}", file=sys.stderr)
    if len(aucs) > 1:
        print(f"over {len(aucs)} seeds: auc {statistics.mean(aucs):.4f} ± {statistics.stdev(aucs):.4f}  "
              f"ap {statistics.mean(aps):.4f} ± {statistics.stdev(aps):.4f}")
    print(f"test auc: {statistics.mean(aucs):.4f}  test ap: {statistics.mean(aps):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
