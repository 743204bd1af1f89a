"""Graph-classification training epoch: gnnkit GraphDataLoader + GIN vs PyG DataLoader + GINConv + global_add_pool.

Same data, model and batches on both sides: ``--graphs`` (default 10,000) random undirected
graphs of 10 to 30 vertices (``2n`` random pairs each, stored in both directions, so about
4 edges per vertex), 32 float32 features per vertex, 2 classes; the GIN of Xu et al. (5
GINConv layers whose MLP is Linear → BatchNorm → ReLU → Linear, then BatchNorm and ReLU,
hidden 64, a sum readout of the input and of every layer through its own linear head,
dropout 0.5), batches of 32 shuffled graphs, Adam. gnnkit runs
:class:`gnnkit.models.GraphClassifier` on :class:`gnnkit.data.GraphDataLoader`; PyG the same
stack written with ``torch_geometric.nn.GINConv`` and ``global_add_pool`` on
``torch_geometric.loader.DataLoader`` (no worker processes on either side). ``--engines floor``
adds the work no engine can avoid: the same MLPs, batch norms, ReLUs, dropout, head, loss and
optimizer on PyG's batches with no message passing at all and the readout as one ``index_add_``
(its epoch time is a lower bound for either engine; its loader is PyG's). ``--optimizer``
sets the same Adam implementation for every engine (``default``: torch's choice, the
single-tensor loop on the CPU; ``foreach``; ``fused``).

Each (engine, round) runs in its own process and engines alternate, ``--rounds`` times, so
load from other users of a shared machine spreads over both. Per process: one warm-up epoch,
then ``--epochs`` timed epochs (forward, cross-entropy, backward, optimizer step on every
batch), and separately the loader alone (an epoch of collation without a model). The table
gives the median epoch time over all timed epochs of all rounds, the spread (min-max), the
median CPU time of the process per epoch (``time.process_time``: on a machine shared with
other jobs it moves much less than wall time, since waiting for a core does not count), the
loader-only median and the process's peak resident memory. ``--phases`` adds each engine's
CPU time per batch in the loader (collating the next batch), forward, backward and optimizer step,
medians over the timed epochs.

    python benchmarks/graph_classification.py               # 10,000 graphs, 3 rounds x 3 epochs
    python benchmarks/graph_classification.py --quick       # 1,000 graphs, 1 round x 1 epoch (smoke run)
    python benchmarks/graph_classification.py --threads 1   # one torch thread per engine
    python benchmarks/graph_classification.py --engines gnnkit pyg floor --phases --optimizer fused
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _worker import run_worker  # noqa: E402  one runner for every alternating-rounds benchmark

ENGINES = ("gnnkit", "pyg", "floor")
OPTIMIZERS = {"default": {}, "foreach": {"foreach": True}, "fused": {"fused": True}}
PHASES = ("loader", "forward", "backward", "optimizer")
FEATURES, HIDDEN, LAYERS, CLASSES, BATCH = 32, 64, 5, 2, 32


def make_arrays(num_graphs: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Concatenated graphs: per-graph sizes and local ``src``/``dst`` ids (vectorised, no loop over edges)."""
    rng = np.random.default_rng(seed)
    num_nodes = rng.integers(10, 31, num_graphs)  # [B]
    pairs = 2 * num_nodes  # [B] undirected pairs per graph
    bound = np.repeat(num_nodes, pairs)  # [P]: vertex count of each pair's graph
    u = (rng.random(bound.size) * bound).astype(np.int64)
    v = (rng.random(bound.size) * bound).astype(np.int64)
    graph_of_pair = np.repeat(np.arange(num_graphs), pairs)
    src = np.stack([u, v], 1).reshape(-1)  # [2P]: both directions of each pair, graph by graph
    dst = np.stack([v, u], 1).reshape(-1)
    return {"num_nodes": num_nodes, "num_edges": 2 * pairs, "src": src, "dst": dst,
            "graph_of_edge": np.repeat(graph_of_pair, 2),
            "x": rng.standard_normal((int(num_nodes.sum()), FEATURES)).astype(np.float32),
            "y": rng.integers(0, CLASSES, num_graphs)}


def _cut(a: dict[str, np.ndarray]):
    """Per-graph ``(src, dst, n, x, y)`` torch views of the concatenated arrays."""
    import torch

    node_ptr = np.concatenate([[0], np.cumsum(a["num_nodes"])]).tolist()
    edge_ptr = np.concatenate([[0], np.cumsum(a["num_edges"])]).tolist()
    src, dst, x = torch.from_numpy(a["src"]), torch.from_numpy(a["dst"]), torch.from_numpy(a["x"])
    for b in range(a["num_nodes"].size):  # building the per-graph objects, untimed
        yield (src[edge_ptr[b]:edge_ptr[b + 1]], dst[edge_ptr[b]:edge_ptr[b + 1]], int(a["num_nodes"][b]),
               x[node_ptr[b]:node_ptr[b + 1]], int(a["y"][b]))


def pyg_model():
    """Xu et al.'s GIN in PyG: the architecture of :class:`gnnkit.models.GraphClassifier` (conv='gin')."""
    import torch
    import torch.nn.functional as F
    from torch import nn
    from torch_geometric.nn import GINConv, global_add_pool

    class GIN(nn.Module):
        def __init__(self):
            super().__init__()
            sizes = [FEATURES] + [HIDDEN] * LAYERS
            self.convs = nn.ModuleList(
                GINConv(nn.Sequential(nn.Linear(sizes[i], HIDDEN), nn.BatchNorm1d(HIDDEN), nn.ReLU(),
                                      nn.Linear(HIDDEN, HIDDEN)), train_eps=False) for i in range(LAYERS))
            self.norms = nn.ModuleList(nn.BatchNorm1d(HIDDEN) for _ in range(LAYERS))
            self.heads = nn.ModuleList(nn.Linear(f, CLASSES) for f in sizes)

        def forward(self, x, edge_index, batch, num_graphs):
            hs = [x]
            for conv, norm in zip(self.convs, self.norms):
                hs.append(torch.relu(norm(conv(hs[-1], edge_index))))
            return sum(head(F.dropout(global_add_pool(h, batch, size=num_graphs), 0.5, self.training))
                       for h, head in zip(hs, self.heads))

    return GIN()


def floor_model():
    """The dense work of the GIN with no message passing: MLP, batch norm and ReLU per layer, one readout
    ``index_add_`` of all layers and one head on their concatenation (the sum of the per-layer heads)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class Floor(nn.Module):
        def __init__(self):
            super().__init__()
            sizes = [FEATURES] + [HIDDEN] * LAYERS
            self.mlps = nn.ModuleList(nn.Sequential(nn.Linear(sizes[i], HIDDEN), nn.BatchNorm1d(HIDDEN), nn.ReLU(),
                                                    nn.Linear(HIDDEN, HIDDEN)) for i in range(LAYERS))
            self.norms = nn.ModuleList(nn.BatchNorm1d(HIDDEN) for _ in range(LAYERS))
            self.head = nn.Linear(sum(sizes), CLASSES)

        def forward(self, x, edge_index, batch, num_graphs):
            hs = [x]
            for mlp, norm in zip(self.mlps, self.norms):
                hs.append(torch.relu(norm(mlp(hs[-1]))))
            h = torch.cat(hs, 1)  # [N, sum of widths]
            pooled = h.new_zeros(num_graphs, h.shape[1]).index_add_(0, batch, h)  # [B, sum of widths]
            return self.head(F.dropout(pooled, 0.5, self.training))

    return Floor()


def setup(engine: str, a: dict[str, np.ndarray]):
    """``(model, make_loader, step)``: ``step(batch) -> loss`` runs the model on one batch."""
    import torch
    import torch.nn.functional as F

    if engine == "gnnkit":
        from gnnkit import Graph
        from gnnkit.data import GraphDataLoader
        from gnnkit.models import GraphClassifier

        graphs = [Graph(s, d, n, ndata={"x": x}) for s, d, n, x, _ in _cut(a)]
        labels = torch.from_numpy(a["y"])
        model = GraphClassifier(FEATURES, CLASSES, hidden_features=HIDDEN, num_layers=LAYERS, dropout=0.5)

        def make_loader(gen):
            return GraphDataLoader(graphs, BATCH, shuffle=True, generator=gen, labels=labels)

        def step(batch):
            return F.cross_entropy(model(batch.graph, batch.graph.ndata["x"]), batch.y)
    else:
        from torch_geometric.data import Data
        from torch_geometric.loader import DataLoader

        data = [Data(x=x, edge_index=torch.stack([s, d]), y=torch.tensor([y]), num_nodes=n) for s, d, n, x, y in _cut(a)]
        model = pyg_model() if engine == "pyg" else floor_model()

        def make_loader(gen):
            return DataLoader(data, BATCH, shuffle=True, generator=gen)

        def step(batch):
            return F.cross_entropy(model(batch.x, batch.edge_index, batch.batch, batch.num_graphs), batch.y)

    return model, make_loader, step


def run_engine(engine: str, num_graphs: int, epochs: int, threads: int | None, optimizer: str = "default") -> dict:
    """Time ``epochs`` training epochs (after one warm-up) and the loader alone, in this process."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    a = make_arrays(num_graphs)
    model, make_loader, step = setup(engine, a)
    opt = torch.optim.Adam(model.parameters(), lr=0.01, **OPTIMIZERS[optimizer])
    gen = torch.Generator().manual_seed(0)
    model.train()
    times, cpu_times, phases = [], [], {p: [] for p in PHASES}
    clock = time.process_time  # a few us per batch for the four phase stamps
    for epoch in range(epochs + 1):
        t, c = time.perf_counter(), clock()
        spent, batches = dict.fromkeys(PHASES, 0.0), 0
        loader = iter(make_loader(gen))
        while True:
            c0 = clock()
            batch = next(loader, None)
            if batch is None:
                break
            c1 = clock()
            loss = step(batch)
            c2 = clock()
            opt.zero_grad()
            loss.backward()
            c3 = clock()
            opt.step()
            c4 = clock()
            for p, d in zip(PHASES, (c1 - c0, c2 - c1, c3 - c2, c4 - c3)):
                spent[p] += d
            batches += 1
        if epoch:  # epoch 0 warms up allocator and caches
            times.append(time.perf_counter() - t)
            cpu_times.append(clock() - c)
            for p in PHASES:
                phases[p].append(spent[p] / batches)
    loader_times = []
    for _ in range(max(epochs, 1)):
        t = time.perf_counter()
        for batch in make_loader(gen):
            pass
        loader_times.append(time.perf_counter() - t)
    return {"engine": engine, "graphs": num_graphs, "epoch_s": times, "epoch_cpu_s": cpu_times, "loader_s": loader_times,
            "phase_cpu_s_per_batch": phases, "optimizer": optimizer,
            "final_loss": float(loss), "torch_threads": torch.get_num_threads(),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1,000 graphs, 1 round of 1 epoch (smoke run)")
    p.add_argument("--graphs", type=int, help="number of graphs (default 10,000; --quick 1,000)")
    p.add_argument("--epochs", type=int, help="timed epochs per process (default 3; --quick 1)")
    p.add_argument("--rounds", type=int, help="alternating processes per engine (default 3; --quick 1)")
    p.add_argument("--threads", type=int, help="torch threads for both engines (default: torch's own)")
    p.add_argument("--engines", nargs="+", choices=ENGINES, default=["gnnkit", "pyg"],
                   help="floor: the dense ops alone, a lower bound for both engines")
    p.add_argument("--optimizer", choices=tuple(OPTIMIZERS), default="default",
                   help="Adam implementation, the same for every engine (default: torch's choice)")
    p.add_argument("--phases", action="store_true", help="also print CPU ms per batch per phase")
    p.add_argument("--json", help="also write the raw results here")
    p.add_argument("--worker", choices=ENGINES, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    graphs = args.graphs or (1_000 if args.quick else 10_000)
    epochs = args.epochs or (1 if args.quick else 3)
    if args.worker:
        print(json.dumps(run_engine(args.worker, graphs, epochs, args.threads, args.optimizer)))
        return 0
    rounds = args.rounds or (1 if args.quick else 3)
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    results = []
    for r in range(rounds):
        for engine in args.engines:  # alternate engines, one fresh process each
            res = run_worker(__file__, [engine, "--graphs", str(graphs), "--epochs", str(epochs), "--optimizer",
                                        args.optimizer], args.threads, engine)
            res["round"] = r
            results.append(res)
            print(f"  {engine:7s} round {r}: epochs {', '.join(f'{t:.2f}' for t in res['epoch_s'])} s (CPU "
                  f"{', '.join(f'{t:.2f}' for t in res['epoch_cpu_s'])} s), loader "
                  f"{statistics.median(res['loader_s']):.2f} s, peak RSS {res['peak_rss_mb']:.0f} MB", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}", flush=True)
    row = {}
    for engine in args.engines:
        runs = [r for r in results if r["engine"] == engine]
        epochs_s = [t for r in runs for t in r["epoch_s"]]
        cpu_s = [t for r in runs for t in r["epoch_cpu_s"]]
        row[engine] = (statistics.median(epochs_s), min(epochs_s), max(epochs_s), statistics.median(cpu_s),
                       statistics.median(t for r in runs for t in r["loader_s"]), max(r["peak_rss_mb"] for r in runs))
    print(f"\nAdam {args.optimizer}, {args.threads or 'default'} threads:")
    print("\n| graphs | engine | epoch s (median) | spread (min-max) | CPU s per epoch (median) | loader-only epoch s "
          "| peak RSS MB | vs PyG (wall / CPU) |")
    print("|---|---|---|---|---|---|---|---|")
    for engine, (med, lo, hi, cpu, loader, rss) in row.items():
        ratio = f"{med / row['pyg'][0]:.2f}x / {cpu / row['pyg'][3]:.2f}x" if "pyg" in row else "-"
        print(f"| {graphs:,} | {engine} | {med:.2f} | {lo:.2f}-{hi:.2f} | {cpu:.2f} | {loader:.2f} | {rss:.0f} | {ratio} |")
    if args.phases:
        print(f"\nCPU ms per batch (median over timed epochs and rounds), Adam {args.optimizer}:\n")
        print("| engine | " + " | ".join(PHASES) + " | sum |")
        print("|---|" + "---|" * (len(PHASES) + 1))
        for engine in args.engines:
            med = [1e3 * statistics.median(t for r in results if r["engine"] == engine
                                           for t in r["phase_cpu_s_per_batch"][p]) for p in PHASES]
            print(f"| {engine} | " + " | ".join(f"{m:.2f}" for m in med) + f" | {sum(med):.2f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
