"""Neighbour-sampling throughput: gnnkit's NeighborSampler vs DGL 1.1.3's ``dgl.dataloading.NeighborSampler``.

Same graph (a symmetrised, deduplicated Chung-Lu power-law graph, CSR by destination),
same fan-outs, same seed batches. Each (engine, workload) runs in its own process;
engines alternate, ``--rounds`` times. Per process: 3 warm-up batches, then ``--batches``
timed batches; the median batch time gives seeds/s, and the table reports the median over
rounds (the machine is shared: alternating rounds spread the load evenly over engines).
Timed is one call producing all blocks of a batch with their relabelled ids (gnnkit
``sampler.sample(seeds)``; DGL ``sampler.sample_blocks(g, seeds)``, i.e.
``sample_neighbors`` + ``to_block`` per layer), each with the graph's formats built before
timing. By default DGL runs its OpenMP kernels on every core while gnnkit's numpy sampling
uses one; ``--threads 1`` limits both engines to one thread (``OMP_NUM_THREADS``,
``torch.set_num_threads``) for a per-core comparison.

The ``loader+x...`` workloads time the data path as well: a ``[N, F]`` float32 feature matrix
is attached to the graph (gnnkit ``NeighborSampler.from_csr(..., ndata={"x": x})``, DGL
``g.ndata["x"] = x`` with ``NeighborSampler(prefetch_node_feats=["x"])``) and each engine's
``DataLoader`` (no worker processes, no shuffling, the same seed batches) yields batches whose
first block carries the input features; timed is one ``next()`` plus reading
``blocks[0].srcdata["x"]``.

    python benchmarks/sampling.py                 # 1M vertices, ~20M edges (about 10 minutes)
    python benchmarks/sampling.py --threads 1     # one thread each
    python benchmarks/sampling.py --quick         # 50k vertices (smoke run)
    python benchmarks/sampling.py --nodes 200000 --edges 2000000 --workloads "loader+x128-sage-2x[25,10]-b1024"
    python benchmarks/sampling.py --nodes 2400000 --edges 31000000   # products-size

The ``products-sage-3x[15,10,5]`` workload times *training*, issue 15's target: an
ogbn-products-size graph (``--nodes 2450000 --edges 31500000``: about 62 M edges once
symmetrised; build it under ``flock /tmp/gnnkit_bigrun.lock``), 100 float32 features, 47
classes, a 3-layer GraphSAGE (mean, hidden 256) trained with Adam on batches of 1024 seeds
with fan-outs 15/10/5. gnnkit runs its ``DataLoader`` (native sampler, prefetch thread);
DGL 1.1.3 its ``DataLoader`` with ``prefetch_node_feats``/``prefetch_labels``, once per value of
``--dgl-workers`` (default: in-process and one worker process, both in the same rounds; its
``use_prefetch_thread``/``use_alternate_streams`` need a CUDA device: DGL raises ``ValueError``
for them on a CPU run). Which DGL configuration is faster depends on the machine's load, so the
ratio is taken against the faster one of the run. Timed is the wall
time of ``--batches`` consecutive training steps after 3 warm-up steps; the table gives seconds
per batch and the epoch that implies (ogbn-products has 196,615 training vertices: 193 batches).

    flock /tmp/gnnkit_bigrun.lock python benchmarks/sampling.py --nodes 2450000 --edges 31500000 \
        --workloads "products-sage-3x[15,10,5]" --batches 20
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _worker import run_worker  # noqa: E402  one runner for every alternating-rounds benchmark

ENGINES = ("gnnkit", "dgl")
WORKLOADS = {  # name -> (fan-outs input layer first, batch size)
    "sage-2x[25,10]-b1024": ([25, 10], 1024),
    "sage-3x[15,10,5]-b1024": ([15, 10, 5], 1024),
    "sage-3x[15,10,5]-b4096": ([15, 10, 5], 4096),
}
LOADER_WORKLOADS = {  # name -> (fan-outs, batch size, feature width): DataLoader with node features attached
    "loader+x128-sage-2x[25,10]-b1024": ([25, 10], 1024, 128),
    "loader+x128-sage-3x[15,10,5]-b1024": ([15, 10, 5], 1024, 128),
}
TRAIN_WORKLOADS = {  # name -> (fan-outs, batch size, features, hidden, classes): sampled GraphSAGE training
    "products-sage-3x[15,10,5]": ([15, 10, 5], 1024, 100, 256, 47),
}
PRODUCTS_TRAIN_VERTICES = 196_615  # ogbn-products' training split: an epoch is ceil(196615 / 1024) = 193 batches
FULL = dict(nodes=1_000_000, edges=10_000_000)
QUICK = dict(nodes=50_000, edges=400_000)


def graph_file(nodes: int, edges: int) -> Path:
    """The benchmark graph as ``.npz`` (indptr, indices), generated once per size."""
    path = Path(tempfile.gettempdir()) / f"gnnkit_sampling_bench_n{nodes}_e{edges}.npz"
    if not path.exists():
        from gnnkit.data.generators import chung_lu, symmetrize_csr

        g = symmetrize_csr(chung_lu(nodes, edges, exponent=2.5, seed=0))
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, indptr=g.indptr, indices=g.indices)
        os.replace(tmp, path)
    return path


def seed_batches(num_nodes: int, batch_size: int, count: int) -> list[np.ndarray]:
    """``count`` batches of distinct seeds, the same for every engine."""
    rng = np.random.default_rng(2024)
    perm = rng.permutation(num_nodes)
    return [np.sort(perm[(i * batch_size) % (num_nodes - batch_size) :][:batch_size]) for i in range(count)]


def loader_steps(engine: str, indptr: np.ndarray, indices: np.ndarray, fanouts: list[int], seeds: list[np.ndarray],
                 features: int):
    """A ``step()`` that yields the next batch of the engine's DataLoader, features included."""
    import torch

    n = indptr.size - 1
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((n, features), dtype=np.float32))  # [N, F]
    items = torch.from_numpy(np.concatenate(seeds))
    batch_size = seeds[0].size
    if engine == "gnnkit":
        from gnnkit.data.sampling import DataLoader, NeighborSampler

        sampler = NeighborSampler.from_csr(indptr, indices, fanouts, seed=0, ndata={"x": x})
        it = iter(DataLoader(sampler, items, batch_size, shuffle=False))

        def step(_s: np.ndarray) -> int:
            batch = next(it)
            return batch.blocks[0].srcdata["x"].shape[0]
    else:
        import dgl

        g = dgl.graph(("csc", (torch.from_numpy(indptr), torch.from_numpy(indices), torch.tensor([], dtype=torch.int64))),
                      num_nodes=n)
        g.create_formats_()
        g.ndata["x"] = x
        dgl.seed(0)
        sampler = dgl.dataloading.NeighborSampler(fanouts, prefetch_node_feats=["x"])
        it = iter(dgl.dataloading.DataLoader(g, items, sampler, batch_size=batch_size, shuffle=False, num_workers=0))

        def step(_s: np.ndarray) -> int:
            _, _, blocks = next(it)
            return blocks[0].srcdata["x"].shape[0]

    return step


def train_run(engine: str, indptr: np.ndarray, indices: np.ndarray, workload: str, batches: int,
              dgl_workers: int) -> dict:
    """Wall time of ``batches`` sampled GraphSAGE training steps (after 3 warm-up steps) with the engine's loader."""
    import torch

    fanouts, batch_size, features, hidden, classes = TRAIN_WORKLOADS[workload]
    n = indptr.size - 1
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((n, features), dtype=np.float32))  # [N, F]
    y = torch.from_numpy(rng.integers(0, classes, n))  # [N]
    warm = 3
    # a permutation repeated as needed: any batch_size consecutive entries are distinct when n >= batch_size
    items = torch.from_numpy(np.resize(np.random.default_rng(2024).permutation(n), (warm + batches) * batch_size))
    dims = [features, hidden, hidden, classes]
    if engine == "gnnkit":
        from gnnkit.data.sampling import DataLoader, NeighborSampler
        from gnnkit.nn import SAGEConv

        sampler = NeighborSampler.from_csr(indptr, indices, fanouts, seed=0, ndata={"x": x, "y": y})
        loader = DataLoader(sampler, items, batch_size, shuffle=False)
        layers = torch.nn.ModuleList(SAGEConv(a, b, reduce="mean", activation="relu" if i < len(dims) - 2 else None)
                                     for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])))

        def unpack(batch):
            return batch.blocks, batch.input_data["x"], batch.seed_data["y"]
    else:
        import dgl
        import dgl.nn as dglnn

        g = dgl.graph(("csc", (torch.from_numpy(indptr), torch.from_numpy(indices), torch.tensor([], dtype=torch.int64))),
                      num_nodes=n)
        g.create_formats_()
        g.ndata["x"], g.ndata["y"] = x, y
        dgl.seed(0)
        sampler = dgl.dataloading.NeighborSampler(fanouts, prefetch_node_feats=["x"], prefetch_labels=["y"])
        # use_prefetch_thread/use_alternate_streams apply only to a CUDA device (DGL raises otherwise)
        loader = dgl.dataloading.DataLoader(g, items, sampler, batch_size=batch_size, shuffle=False,
                                            num_workers=dgl_workers)
        layers = torch.nn.ModuleList(dglnn.SAGEConv(a, b, "mean", activation=torch.relu if i < len(dims) - 2 else None)
                                     for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])))

        def unpack(batch):
            _, _, blocks = batch
            return blocks, blocks[0].srcdata["x"], blocks[-1].dstdata["y"]

    opt = torch.optim.Adam(layers.parameters(), lr=1e-3)
    inputs = []
    t0 = None
    for i, batch in enumerate(loader):
        if i == warm:
            t0 = time.perf_counter()
        blocks, h, labels = unpack(batch)
        if i >= warm:
            inputs.append(h.shape[0])
        for layer, block in zip(layers, blocks):  # each hidden layer applies its ReLU (the conv's activation)
            h = layer(block, h)
        loss = torch.nn.functional.cross_entropy(h, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    per_batch = (time.perf_counter() - t0) / batches
    return {"median_ms": 1e3 * per_batch, "seeds_per_s": batch_size / per_batch, "s_per_batch": per_batch,
            "epoch_s": per_batch * math.ceil(PRODUCTS_TRAIN_VERTICES / batch_size),
            "mean_input_nodes": float(np.mean(inputs)), "dgl_workers": dgl_workers}


def run_engine(engine: str, workload: str, path: Path, batches: int, threads: int | None = None,
               dgl_workers: int = 0) -> dict:
    """Time one engine on one workload in this process."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    z = np.load(path)
    indptr, indices = z["indptr"], z["indices"]
    n = indptr.size - 1
    if workload in TRAIN_WORKLOADS:
        res = train_run(engine, indptr, indices, workload, batches, dgl_workers)
        return {"engine": engine, "workload": workload, "batches": batches, "torch_threads": torch.get_num_threads(),
                "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9, **res}
    fanouts, batch_size, *features = WORKLOADS.get(workload) or LOADER_WORKLOADS[workload]
    seeds = seed_batches(n, batch_size, batches + 3)
    if features:
        step = loader_steps(engine, indptr, indices, fanouts, seeds, features[0])
    elif engine == "gnnkit":
        from gnnkit.data.sampling import NeighborSampler

        sampler = NeighborSampler.from_csr(indptr, indices, fanouts, seed=0)

        def step(s: np.ndarray) -> int:
            return sampler.sample(s).input_nodes.numel()
    else:
        import dgl

        g = dgl.graph(("csc", (torch.from_numpy(indptr), torch.from_numpy(indices), torch.tensor([], dtype=torch.int64))),
                      num_nodes=n)
        g.create_formats_()
        dgl.seed(0)
        sampler = dgl.dataloading.NeighborSampler(fanouts)

        def step(s: np.ndarray) -> int:
            input_nodes, _, _ = sampler.sample_blocks(g, torch.from_numpy(s))
            return input_nodes.numel()

    times, inputs = [], []
    for i, s in enumerate(seeds):
        t = time.perf_counter()
        k = step(s)
        if i >= 3:
            times.append(time.perf_counter() - t)
            inputs.append(k)
    med = statistics.median(times)
    return {
        "engine": engine, "workload": workload, "median_ms": 1e3 * med, "seeds_per_s": batch_size / med,
        "mean_input_nodes": float(np.mean(inputs)), "batches": batches, "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9,
    }


def _dgl_label(workers: int) -> str:
    return "dgl" if workers == 0 else f"dgl-{workers}w"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help=f"{QUICK['nodes']:,} vertices, 5 timed batches")
    p.add_argument("--nodes", type=int)
    p.add_argument("--edges", type=int, help="edges drawn before symmetrising")
    p.add_argument("--batches", type=int, help="timed batches per workload (default 20; --quick 5)")
    p.add_argument("--threads", type=int, help="threads for both engines (default: each library's own default)")
    p.add_argument("--rounds", type=int, help="alternating runs per (engine, workload) (default 3; --quick 1)")
    p.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    p.add_argument("--workloads", nargs="+", choices=list(WORKLOADS) + list(LOADER_WORKLOADS) + list(TRAIN_WORKLOADS),
                   default=list(WORKLOADS))
    p.add_argument("--dgl-workers", type=int, nargs="+",
                   help="DGL DataLoader worker processes in training workloads, one DGL run per value "
                        "(default 0 1: in-process and one worker)")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--worker", nargs=3, metavar=("ENGINE", "WORKLOAD", "GRAPH"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    size = QUICK if args.quick else FULL
    batches = args.batches or (5 if args.quick else 20)
    if args.worker:
        engine, workload, path = args.worker
        print(json.dumps(run_engine(engine, workload, Path(path), batches, args.threads, (args.dgl_workers or [0])[0])))
        return 0
    nodes, edges = args.nodes or size["nodes"], args.edges or size["edges"]
    t = time.perf_counter()
    path = graph_file(nodes, edges)
    with np.load(path) as z:
        num_edges = z["indices"].size
    print(f"graph: {nodes:,} vertices, {num_edges:,} edges (symmetrised Chung-Lu, exponent 2.5) ready in "
          f"{time.perf_counter() - t:.1f} s", flush=True)
    rounds = args.rounds or (1 if args.quick else 3)
    print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores)", flush=True)
    results = []
    dgl_workers = args.dgl_workers or [0, 1]
    for workload in args.workloads:
        # (engine, DGL workers): a training workload runs DGL once per worker setting
        runs = [(e, w) for e in args.engines for w in (dgl_workers if e == "dgl" and workload in TRAIN_WORKLOADS else [0])]
        for r in range(rounds):
            for engine, workers in runs:  # alternate engines within a workload
                res = run_worker(__file__, [engine, workload, str(path), "--batches", str(batches), "--dgl-workers",
                                            str(workers)], args.threads, f"{engine} on {workload}")
                res["round"] = r
                if engine == "dgl" and workload in TRAIN_WORKLOADS:
                    res["engine"] = _dgl_label(workers)
                results.append(res)
                print(f"  {workload:24s} {res['engine']:10s} round {r}: {res['median_ms']:8.1f} ms/batch "
                      f"{res['seeds_per_s']:10,.0f} seeds/s", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}", flush=True)
    by = {}
    for res in results:
        by.setdefault((res["engine"], res["workload"]), []).append(res)
    med = {k: statistics.median(x["seeds_per_s"] for x in v) for k, v in by.items()}

    def cell(key: tuple[str, str]) -> str:
        """``median (min–max)`` seeds/s over the rounds."""
        if key not in by:
            return "-"
        vals = [x["seeds_per_s"] for x in by[key]]
        return f"{med[key]:,.0f} ({min(vals):,.0f}–{max(vals):,.0f})"

    train = [w for w in args.workloads if w in TRAIN_WORKLOADS]
    if train:
        epoch = {k: statistics.median(x["epoch_s"] for x in v) for k, v in by.items() if k[1] in TRAIN_WORKLOADS}
        labels = ["gnnkit"] + [_dgl_label(n) for n in dgl_workers if "dgl" in args.engines]
        print(f"\n{rounds} rounds per cell: epoch seconds implied by the timed batches ({batches} per round), median "
              f"over rounds (min–max), peak RSS; the ratio is gnnkit over the faster DGL configuration")
        print("| workload | " + " | ".join(f"{e} epoch s" for e in labels) + " | gnnkit/DGL time | input vertices per batch |")
        print("|---|" + "---|" * (len(labels) + 2))
        for w in train:
            cells = []
            for e in labels:
                vals = [x["epoch_s"] for x in by.get((e, w), [])]
                cells.append(f"{epoch[(e, w)]:.1f} ({min(vals):.1f}–{max(vals):.1f}), "
                             f"{max(x['peak_rss_gb'] for x in by[(e, w)]):.2f} GB" if vals else "-")
            g = epoch.get(("gnnkit", w))
            d = min((epoch[(e, w)] for e in labels[1:] if (e, w) in epoch), default=None)
            inputs = next(v for k, v in by.items() if k[1] == w)[0]["mean_input_nodes"]
            print(f"| {w} | " + " | ".join(cells) + f" | {f'{g / d:.2f}x' if g and d else '-'} | {inputs:,.0f} |")
    sampled = [w for w in args.workloads if w not in TRAIN_WORKLOADS]
    if not sampled:
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
        return 0
    print(f"\n{rounds} rounds per cell: median seeds/s over rounds (min–max)")
    print("| workload | gnnkit seeds/s | DGL seeds/s | gnnkit/DGL | input vertices per batch |")
    print("|---|---|---|---|---|")
    for w in sampled:
        g, d = med.get(("gnnkit", w)), med.get(("dgl", w))
        ratio = f"{g / d:.2f}x" if g and d else "-"
        inputs = by.get(("gnnkit", w), by.get(("dgl", w)))[0]["mean_input_nodes"]
        print(f"| {w} | {cell(('gnnkit', w))} | {cell(('dgl', w))} | {ratio} | {inputs:,.0f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
