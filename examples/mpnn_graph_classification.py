"""Graph classification with an MPNN: tell cycles from paths, on generated graphs.

Every graph is a cycle or a path of 5 to 20 vertices with randomly shuffled vertex ids
and the same constant feature on every vertex, so the model has to find the structure
(a path has two ends) by message passing. Mini-batches of graphs are one
disconnected graph (:class:`gnnkit.data.GraphDataLoader`); the readout pools per graph.

    python examples/mpnn_graph_classification.py                 # 1000 training graphs, 30 epochs
    python examples/mpnn_graph_classification.py --readout attention   # or sum, mean, deepsets
    python examples/mpnn_graph_classification.py --quick         # CI: a few seconds
    python examples/mpnn_graph_classification.py --tu MUTAG --data-dir DIR   # a TU dataset from local files

With ``--tu`` the graphs come from :func:`gnnkit.data.load_dataset` (TU text files in
``DIR[/NAME[/raw]]``, never downloaded) with their own features ``ndata["x"]`` (ones where the
files have none), split 80/20 at random.
"""
from __future__ import annotations

import argparse
import sys

import torch
import torch.nn.functional as F

from gnnkit import Graph
from gnnkit.data import GraphDataLoader, load_dataset
from gnnkit.nn.mpnn import MPNN, MPNN_READOUTS

CLASSES = ("cycle", "path")


def make_graph(label: int, num_nodes: int, gen: torch.Generator) -> Graph:
    """A cycle (label 0) or a path (label 1) over ``num_nodes`` shuffled vertices, both edge directions."""
    order = torch.randperm(num_nodes, generator=gen)
    src = order[:-1]
    dst = order[1:]
    if label == 0:
        src, dst = torch.cat([src, order[-1:]]), torch.cat([dst, order[:1]])
    # no vertex information: only the structure tells the classes apart
    return Graph(torch.cat([src, dst]), torch.cat([dst, src]), num_nodes, ndata={"x": torch.ones(num_nodes, 1)})


def make_dataset(num_graphs: int, min_nodes: int, max_nodes: int, gen: torch.Generator) -> list[tuple[Graph, int]]:
    labels = torch.randint(0, len(CLASSES), (num_graphs,), generator=gen).tolist()
    sizes = torch.randint(min_nodes, max_nodes + 1, (num_graphs,), generator=gen).tolist()
    return [(make_graph(y, n, gen), y) for y, n in zip(labels, sizes)]


def load_tu(name: str, data_dir: str, gen: torch.Generator) -> tuple[list, list, int]:
    """``(train, test, num_classes)`` from a TU dataset: (graph, label) pairs split 80/20 at random."""
    ds = load_dataset(name, root=data_dir, format="tu")
    items = []
    for g, y in zip(ds.graphs, ds.y.tolist()):
        x = g.ndata["x"].float() if "x" in g.ndata else torch.ones(g.num_nodes, 1)
        items.append((Graph(g.src, g.dst, g.num_nodes, ndata={"x": x}), y))
    order = torch.randperm(len(items), generator=gen).tolist()
    cut = int(0.8 * len(items))
    return [items[i] for i in order[:cut]], [items[i] for i in order[cut:]], ds.num_classes


def loader(data: list[tuple[Graph, int]], batch_size: int, generator: torch.Generator | None = None) -> GraphDataLoader:
    """Batches of the (graph, label) pairs, shuffled every epoch when a generator is given."""
    graphs = [graph for graph, _ in data]
    labels = torch.tensor([y for _, y in data])
    return GraphDataLoader(graphs, batch_size, shuffle=generator is not None, generator=generator, labels=labels)


@torch.no_grad()
def accuracy(model: MPNN, data: GraphDataLoader) -> float:
    model.eval()
    correct = 0
    for batch in data:
        correct += int((model(batch.graph, batch.graph.ndata["x"]).argmax(1) == batch.y).sum())
    return correct / data.index.numel()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train-graphs", type=int, default=1000)
    p.add_argument("--test-graphs", type=int, default=300)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--steps", type=int, default=3, help="rounds of message passing T")
    # max: the two ends of a path stand out whatever the graph's size; sum and mean work too but
    # train less reliably here, because the size (5..20) scales or dilutes the ends' signal
    p.add_argument("--readout", choices=MPNN_READOUTS, default="max")
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (tiny models run fastest on one)")
    p.add_argument("--quick", action="store_true", help="300 training graphs, 15 epochs (CI)")
    p.add_argument("--tu", metavar="NAME", help="train on the TU dataset NAME from --data-dir instead of cycles/paths")
    p.add_argument("--data-dir", help="folder holding the TU files (NAME_A.txt, ...), with --tu")
    args = p.parse_args(argv)
    if args.quick:
        args.train_graphs, args.test_graphs, args.epochs = 300, 100, 15

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    if args.tu:
        if args.data_dir is None:
            p.error("--tu needs --data-dir DIR (the folder holding the TU files; nothing is downloaded)")
        try:
            train, test, num_classes = load_tu(args.tu, args.data_dir, gen)
        except (ValueError, FileNotFoundError) as exc:
            p.error(str(exc))
    else:
        train = make_dataset(args.train_graphs, 5, 20, gen)
        test = make_dataset(args.test_graphs, 5, 20, gen)
        num_classes = len(CLASSES)
    in_features = train[0][0].ndata["x"].shape[1]
    model = MPNN(in_features, args.hidden, num_classes, num_steps=args.steps, readout=args.readout)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    train_batches, test_batches = loader(train, args.batch_size, gen), loader(test, 256)  # gen: one shuffle per epoch
    for epoch in range(1, args.epochs + 1):
        model.train()
        total = 0.0
        for batch in train_batches:
            loss = F.cross_entropy(model(batch.graph, batch.graph.ndata["x"]), batch.y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(batch)
        if epoch % max(1, args.epochs // 5) == 0 or epoch == args.epochs:
            print(f"epoch {epoch:3d}  train loss {total / len(train):.4f}  test accuracy {accuracy(model, test_batches):.4f}")
    print(f"final test accuracy: {accuracy(model, test_batches):.4f} ({args.readout} readout, {len(test)} test graphs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
