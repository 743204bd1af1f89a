"""Tutorial: link prediction on Cora with a graph auto-encoder (GAE, Kipf & Welling 2016).

The steps:

1. split the edges with ``gnnkit.link.split_edges``: 85 % train, 5 % validation, 10 % test, each
   held-out set with as many fixed non-edges; every direction of a held-out edge leaves the
   training graph, so the encoder never sees an edge it is tested on;
2. draw fresh negatives every epoch with a ``StrictNegativeSampler`` (uniform destinations,
   conditioned on not being an edge of the training graph);
3. encode the vertices with two ``GCNConv`` layers and score a pair by the dot product of its
   two embeddings (``DotProduct``), trained with binary cross-entropy;
4. report AUC and average precision on the validation and test pairs.

Run::

    python docs/tutorials/link_prediction.py            # 200 epochs
    python docs/tutorials/link_prediction.py --quick    # 40 epochs (CI and the docs build)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gnnkit.data import load_dataset
from gnnkit.graph import Graph
from gnnkit.link import DotProduct, StrictNegativeSampler, UniformNegativeSampler, auc, average_precision, split_edges
from gnnkit.nn import GCNConv


class Encoder(nn.Module):
    """Two GCN layers (32 then 16 units, no bias) with a ReLU between: the GAE encoder."""

    def __init__(self, in_features: int, hidden_features: int = 32, out_features: int = 16) -> None:
        super().__init__()
        self.conv1 = GCNConv(in_features, hidden_features, bias=False)
        self.conv2 = GCNConv(hidden_features, out_features, bias=False)

    def forward(self, g: Graph, x: Tensor) -> Tensor:
        return self.conv2(g, F.relu(self.conv1(g, x)))  # [N, out_features]


def scores(h: Tensor, pos: Tensor, neg: Tensor, decoder: nn.Module) -> tuple[float, float]:
    """(AUC, AP) of the decoder on positive ``[2, P]`` and negative ``[2, Q]`` pairs."""
    s_pos, s_neg = decoder(h[pos[0]], h[pos[1]]), decoder(h[neg[0]], h[neg[1]])  # [P], [Q] logits
    return auc(s_pos, s_neg), average_precision(s_pos, s_neg)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="40 epochs instead of 200")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="unused; every tutorial takes it")
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)

    # 1. a leakage-free edge split of the undirected graph
    g = load_dataset("cora").graph
    x = (g.ndata["x"] > 0).to(torch.float32)  # the paper's binary bag of words (the bundled copy is row-normalised)
    split = split_edges(g, val=0.05, test=0.1, undirected=True, seed=args.seed)
    train_g = split.train_graph
    print(f"Cora: {g.num_nodes} vertices, {g.num_edges // 2} undirected edges")
    print(f"train graph: {train_g.num_edges} directed edges; positive pairs train {split.train_pos.shape[1]}, "
          f"validation {split.val_pos.shape[1]}, test {split.test_pos.shape[1]} (+ as many fixed non-edges)")

    # 2. negatives: 5 uniform destinations per positive, never an edge of the training graph
    negatives = StrictNegativeSampler(train_g, UniformNegativeSampler(train_g.num_nodes, k=5), undirected=True)
    gen = torch.Generator().manual_seed(args.seed)
    pos = torch.cat([split.train_pos, split.train_pos.flip(0)], 1)  # [2, P]: both directions of each pair

    # 3. the auto-encoder
    model, decoder = Encoder(x.shape[1]), DotProduct()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    epochs = 40 if args.quick else 200
    for epoch in range(1, epochs + 1):
        model.train()
        opt.zero_grad()
        h = model(train_g, x)  # [N, 16]
        neg_src, neg_dst = negatives(pos[0], gen)  # [5 P] each
        loss = (F.binary_cross_entropy_with_logits(decoder(h[pos[0]], h[pos[1]]), torch.ones(pos.shape[1]))
                + F.binary_cross_entropy_with_logits(decoder(h[neg_src], h[neg_dst]), torch.zeros(neg_src.numel())))
        loss.backward()
        opt.step()
        if epoch % 10 == 0:
            model.eval()
            with torch.no_grad():
                val_auc, val_ap = scores(model(train_g, x), split.val_pos, split.val_neg, decoder)
            print(f"epoch {epoch:3d}  loss {loss.item():.4f}  val auc {val_auc:.4f}  val ap {val_ap:.4f}")

    # 4. the held-out test pairs, scored with embeddings of the training graph only
    model.eval()
    with torch.no_grad():
        test_auc, test_ap = scores(model(train_g, x), split.test_pos, split.test_neg, decoder)
    print(f"test auc: {test_auc:.4f}  test ap: {test_ap:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
