"""Tutorial: node classification on Cora with the features on the graph.

The steps a first model takes with gnnkit:

1. load the bundled Cora (nothing downloads) and look at the graph: ``src``/``dst`` edge lists,
   ``num_nodes``, and the per-vertex data in ``g.ndata`` (features ``"x"``, labels ``"y"``, the
   three split masks);
2. build a two-layer GCN from a ``GNNConfig``; layers take tensors, ``model(g, x)``;
3. train on the training mask, keep the weights with the best validation accuracy;
4. evaluate on the test mask, store the predictions on the graph (``g.ndata["pred"]``) and see
   that a subgraph carries them along with the rest of the data.

Run::

    python docs/tutorials/node_classification.py            # 200 epochs, as Kipf & Welling
    python docs/tutorials/node_classification.py --quick    # 30 epochs (CI and the docs build)
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

import gnnkit
from gnnkit.data import load_dataset


def accuracy(logits: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> float:
    """Fraction of the vertices in ``mask`` whose arg-max class is their label."""
    return (logits.argmax(1) == y)[mask].float().mean().item()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="30 epochs instead of 200")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="unused; every tutorial takes it")
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)

    # 1. the data: one Graph, user data in ndata, checked on assignment
    ds = load_dataset("cora")
    g = ds.graph
    print(g)
    print(f"edges: src {tuple(g.src.shape)} {g.src.dtype}, dst {tuple(g.dst.shape)}; num_nodes {g.num_nodes}")
    for key in sorted(g.ndata.keys()):
        value = g.ndata[key]
        print(f"  ndata[{key!r}]: {tuple(value.shape)} {value.dtype}")
    x, y = g.ndata["x"], g.ndata["y"]
    train, val, test = g.ndata["train_mask"], g.ndata["val_mask"], g.ndata["test_mask"]
    print(f"split: {int(train.sum())} train / {int(val.sum())} validation / {int(test.sum())} test vertices, "
          f"{ds.num_classes} classes")

    # 2. the model: GCN, 16 hidden units, dropout 0.5 (Kipf & Welling 2017)
    config = gnnkit.GNNConfig(model="gcn", in_features=ds.num_features, out_features=ds.num_classes,
                              hidden_features=16, dropout=0.5)
    model = gnnkit.GNN(config)
    opt = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    print(model)

    # 3. full-graph training; the weights with the best validation accuracy are kept
    epochs = 30 if args.quick else 200
    best_val, best_state, best_epoch = -1.0, None, 0
    for epoch in range(1, epochs + 1):
        model.train()
        opt.zero_grad()
        loss = F.cross_entropy(model(g, x)[train], y[train])
        loss.backward()
        opt.step()
        model.eval()
        with torch.no_grad():
            val_acc = accuracy(model(g, x), y, val)
        if val_acc > best_val:
            best_val, best_state, best_epoch = val_acc, copy.deepcopy(model.state_dict()), epoch
        if epoch % 10 == 0:
            print(f"epoch {epoch:3d}  loss {loss.item():.4f}  val accuracy {val_acc:.4f}")
    model.load_state_dict(best_state)

    # 4. evaluate; predictions become vertex data that every transform carries
    model.eval()
    with torch.no_grad():
        logits = model(g, x)
    g.ndata["pred"] = logits.argmax(1)
    sub, node_ids, _ = g.subgraph(test)
    assert torch.equal(sub.ndata["pred"], g.ndata["pred"][node_ids])  # row i of sub is vertex node_ids[i] of g
    print(f"test subgraph: {sub.num_nodes} vertices, {sub.num_edges} edges, ndata {sorted(sub.ndata.keys())}")
    print(f"best validation accuracy {best_val:.4f} at epoch {best_epoch}")
    print(f"test accuracy: {accuracy(logits, y, test):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
