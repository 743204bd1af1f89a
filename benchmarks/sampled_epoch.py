"""Where a sampled GraphSAGE training batch spends its time, and the GEMM floor of its step (issue 15 item 2).

The workload is ``benchmarks/sampling.py``'s ``products-sage-3x[15,10,5]`` (same graph file,
features, labels, seed batches, model and Adam): a 3-layer GraphSAGE (mean, 100 -> 256 -> 256 -> 47)
on batches of 1024 seeds with fan-outs 15/10/5. Three kinds of measurement, each in its own
process, variants alternating over ``--rounds``:

* ``decompose``: batches run one after another without a prefetch thread; per batch the wall
  and the process CPU time of sampling (native sampler, no features), the feature/label gather
  (the same batch sampled with the data attached, less sampling alone), the forward pass, the
  backward pass and the optimizer step. CPU time is the work itself (it
  does not grow when other processes take the cores), wall time what a user waits.
* ``loop``: the benchmark's own training loop over gnnkit's ``DataLoader`` (prefetch thread);
  per batch the wall time and the part of it the training thread waited in ``next()`` (idle).
* ``floor``: exactly the GEMMs the three layers need, timed alone with torch on the shapes of the
  sampled batches (forward: root and neighbour projection per layer, in the cheaper order for
  its widths; backward: every weight gradient and the input gradient of layers 1 and 2, the
  input features needing none). Everything else a step does (sampling, the gather, the sparse
  products, the optimizer) comes on top of it, so ``floor x batches`` bounds the epoch from below
  on this machine.

Variants: ``composed`` runs SAGEConv without its block fast path (``gnnkit/nn/_sage_block.py``),
``block`` with it.

    python benchmarks/sampled_epoch.py --quick
    python benchmarks/sampled_epoch.py --nodes 500000 --edges 6300000 --threads 1 --variants decompose-composed decompose-block floor
    flock /tmp/gnnkit_bigrun.lock python benchmarks/sampled_epoch.py --nodes 2450000 --edges 31500000 \\
        --batches 8 --rounds 3
"""
from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _worker import run_worker  # noqa: E402  one runner for every alternating-rounds benchmark
from sampling import PRODUCTS_TRAIN_VERTICES, TRAIN_WORKLOADS, graph_file  # noqa: E402  the same workload

WORKLOAD = "products-sage-3x[15,10,5]"
WARM = 3
QUICK = dict(nodes=50_000, edges=400_000)
FULL = dict(nodes=2_450_000, edges=31_500_000)
VARIANTS = {  # name -> (kind, SAGE block fast path)
    "decompose-composed": ("decompose", False),
    "decompose-block": ("decompose", True),
    "loop-block": ("loop", True),
    "floor": ("floor", True),
}
PHASES = ("sample", "gather", "forward", "backward", "optimizer")


def _setup(path: Path, fast: bool):
    """Graph arrays, data, seed items, layers and optimizer of the workload (as ``sampling.train_run``)."""
    import torch

    import gnnkit.nn.sage as sage_module
    from gnnkit.nn import SAGEConv

    if not fast:  # the composed path: SAGEConv as it ran before the block fast path
        sage_module.sage_block_applies = lambda g, x: False
    fanouts, batch_size, features, hidden, classes = TRAIN_WORKLOADS[WORKLOAD]
    z = np.load(path)
    indptr, indices = z["indptr"], z["indices"]
    n = indptr.size - 1
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((n, features), dtype=np.float32))  # [N, F]
    y = torch.from_numpy(rng.integers(0, classes, n))  # [N]
    dims = [features, hidden, hidden, classes]
    layers = torch.nn.ModuleList(SAGEConv(a, b, reduce="mean", activation="relu" if i < len(dims) - 2 else None)
                                 for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])))  # hidden layers: ReLU in the conv
    opt = torch.optim.Adam(layers.parameters(), lr=1e-3)
    items = np.random.default_rng(2024).permutation(n)
    return indptr, indices, x, y, fanouts, batch_size, layers, opt, items


def _forward(layers, blocks, h):
    for layer, block in zip(layers, blocks):
        h = layer(block, h)
    return h


class _Clock:
    """Wall and process CPU time of consecutive phases."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        w, c = time.perf_counter(), time.process_time()
        out = (w - self.wall, c - self.cpu)
        self.wall, self.cpu = w, c
        return out


def decompose(path: Path, fast: bool, batches: int) -> dict:
    """Per-phase wall and CPU seconds of ``batches`` serial training batches (after ``WARM``)."""
    import torch

    from gnnkit.data.sampling import NeighborSampler

    indptr, indices, x, y, fanouts, bs, layers, opt, items = _setup(path, fast)
    bare = NeighborSampler.from_csr(indptr, indices, fanouts, seed=0, check=False)
    sampler = NeighborSampler.from_csr(indptr, indices, fanouts, seed=0, ndata={"x": x, "y": y}, check=False)
    times = {p: [] for p in PHASES}
    sizes = []
    for i in range(WARM + batches):
        seeds = items[(i * bs) % (items.size - bs):][:bs]
        clock = _Clock()
        bare.sample(seeds, i)  # the same batch without data: sampling alone
        t_sample = clock.lap()
        batch = sampler.sample(seeds, i)  # sampling and the gather, as the DataLoader runs it
        t_both = clock.lap()
        t_gather = (t_both[0] - t_sample[0], t_both[1] - t_sample[1])
        loss = torch.nn.functional.cross_entropy(_forward(layers, batch.blocks, batch.input_data["x"]),
                                                 batch.seed_data["y"])
        t_fwd = clock.lap()
        opt.zero_grad()
        loss.backward()
        t_bwd = clock.lap()
        opt.step()
        t_opt = clock.lap()
        if i >= WARM:
            for p, t in zip(PHASES, (t_sample, t_gather, t_fwd, t_bwd, t_opt)):
                times[p].append(t)
            sizes.append([(b.num_src_nodes, b.num_nodes, b.num_edges) for b in batch.blocks])
    return {"phases": {p: {"wall_s": statistics.median(t[0] for t in v), "cpu_s": statistics.median(t[1] for t in v)}
                       for p, v in times.items()},
            "sizes": np.mean(np.array(sizes, dtype=np.float64), axis=0).tolist()}


def loop(path: Path, batches: int) -> dict:
    """Wall seconds per batch of the DataLoader training loop, and the part spent waiting in ``next()``."""
    import torch

    from gnnkit.data.sampling import DataLoader, NeighborSampler

    indptr, indices, x, y, fanouts, bs, layers, opt, items = _setup(path, True)
    sampler = NeighborSampler.from_csr(indptr, indices, fanouts, seed=0, ndata={"x": x, "y": y}, check=False)
    seeds = torch.from_numpy(np.resize(items, (WARM + batches) * bs))
    it = iter(DataLoader(sampler, seeds, bs, shuffle=False))
    waits, cpu0 = [], 0.0
    for i in range(WARM + batches):
        if i == WARM:
            t0, cpu0 = time.perf_counter(), time.process_time()
        w = time.perf_counter()
        batch = next(it)
        waits.append(time.perf_counter() - w)
        loss = torch.nn.functional.cross_entropy(_forward(layers, batch.blocks, batch.input_data["x"]),
                                                 batch.seed_data["y"])
        opt.zero_grad()
        loss.backward()
        opt.step()
    per_batch = (time.perf_counter() - t0) / batches
    return {"s_per_batch": per_batch, "cpu_s_per_batch": (time.process_time() - cpu0) / batches,
            "wait_s_per_batch": float(np.mean(waits[WARM:])), "epoch_s": per_batch * math.ceil(PRODUCTS_TRAIN_VERTICES / bs)}


def floor(path: Path, batches: int) -> dict:
    """Seconds of exactly the GEMMs of one batch's training step, on the mean sampled shapes."""
    import torch

    from gnnkit.data.sampling import NeighborSampler

    indptr, indices, _, _, fanouts, bs, layers, _, items = _setup(path, True)
    sampler = NeighborSampler.from_csr(indptr, indices, fanouts, seed=0, check=False)
    shapes = np.mean([[(b.num_src_nodes, b.num_nodes) for b in sampler.sample(items[i * bs:(i + 1) * bs], i).blocks]
                      for i in range(batches)], axis=0).round().astype(int)
    gen = torch.Generator().manual_seed(0)
    plans, flops = [], 0
    for j, ((s, n), layer) in enumerate(zip(shapes, layers)):
        fin, fout = layer.in_features, layer.out_features
        rows = s if fout < fin else n  # project the sources first when that narrows them, else aggregate first
        a = lambda *shape: torch.randn(*shape, generator=gen)  # noqa: E731
        x_neigh, x_self, w, dy_neigh, dy_self = a(rows, fin), a(n, fin), a(fout, fin), a(rows, fout), a(n, fout)
        gemms = [(x_neigh, w.t()), (x_self, w.t()), (dy_neigh.t(), x_neigh), (dy_self.t(), x_self)]  # forward, dW
        if j > 0:  # the input features need no gradient
            gemms += [(dy_neigh, w), (dy_self, w)]
        plans += gemms
        flops += sum(2 * p.shape[0] * p.shape[1] * q.shape[1] for p, q in gemms)
    walls, cpus = [], []
    for _ in range(WARM + batches):
        clock = _Clock()
        for p, q in plans:
            torch.mm(p, q)
        w, c = clock.lap()
        walls.append(w)
        cpus.append(c)
    return {"floor_s": statistics.median(walls[WARM:]), "floor_min_s": min(walls[WARM:]),
            "floor_cpu_s": statistics.median(cpus[WARM:]), "gflop": flops / 1e9, "shapes": shapes.tolist()}


def run_variant(variant: str, path: Path, batches: int) -> dict:
    import torch

    kind, fast = VARIANTS[variant]
    if kind == "decompose":
        res = decompose(path, fast, batches)
    elif kind == "loop":
        res = loop(path, batches)
    else:
        res = floor(path, batches)
    return {"variant": variant, "torch_threads": torch.get_num_threads(),
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9, **res}


def _cell(values: list[float], scale: float = 1e3) -> str:
    return f"{scale * statistics.median(values):.0f} ({scale * min(values):.0f}–{scale * max(values):.0f})"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help=f"{QUICK['nodes']:,} vertices, 2 timed batches, 1 round")
    p.add_argument("--nodes", type=int)
    p.add_argument("--edges", type=int, help="edges drawn before symmetrising")
    p.add_argument("--batches", type=int, help="timed batches per process (default 8; --quick 2)")
    p.add_argument("--rounds", type=int, help="alternating runs per variant (default 3; --quick 1)")
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    p.add_argument("--threads", type=int, help="torch/OpenMP threads per process (default: torch's own count); with 1, "
                                               "CPU time is the work even on a loaded machine (no thread spins waiting)")
    p.add_argument("--dgl-epoch", type=float, help="DGL's epoch seconds from benchmarks/sampling.py (same machine) "
                                                   "to set the floor against")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--worker", nargs=2, metavar=("VARIANT", "GRAPH"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    size = QUICK if args.quick else FULL
    batches = args.batches or (2 if args.quick else 8)
    if args.worker:
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        print(json.dumps(run_variant(args.worker[0], Path(args.worker[1]), batches)))
        return 0
    path = graph_file(args.nodes or size["nodes"], args.edges or size["edges"])
    rounds = args.rounds or (1 if args.quick else 3)
    results: dict[str, list[dict]] = {}
    for r in range(rounds):
        for v in args.variants:
            res = run_worker(__file__, [v, str(path), "--batches", str(batches)], args.threads, v)
            results.setdefault(v, []).append(res)
            print(f"  round {r} {v} done (peak RSS {res['peak_rss_gb']:.2f} GB)", flush=True)
    n_epoch = math.ceil(PRODUCTS_TRAIN_VERTICES / TRAIN_WORKLOADS[WORKLOAD][1])
    print(f"\n{rounds} rounds, {batches} timed batches each: ms per batch, median over rounds (min–max)")
    dec = [v for v in args.variants if VARIANTS[v][0] == "decompose"]
    if dec:
        print("| variant | " + " | ".join(f"{ph} wall / CPU" for ph in PHASES) + " | sum wall / CPU |")
        print("|---|" + "---|" * (len(PHASES) + 1))
        for v in dec:
            cells = []
            for ph in PHASES + ("sum",):
                get = (lambda res, k: sum(res["phases"][q][k] for q in PHASES)) if ph == "sum" else \
                    (lambda res, k, ph=ph: res["phases"][ph][k])
                cells.append(f"{_cell([get(x, 'wall_s') for x in results[v]])} / {_cell([get(x, 'cpu_s') for x in results[v]])}")
            print(f"| {v} | " + " | ".join(cells) + " |")
        print("mean block sizes (sources, destinations, edges), input layer first:",
              [[round(c) for c in blk] for blk in results[dec[0]][0]["sizes"]])
    for v in (v for v in args.variants if VARIANTS[v][0] == "loop"):
        rs = results[v]
        print(f"| {v} | {_cell([x['s_per_batch'] for x in rs])} ms/batch | waiting in next() "
              f"{_cell([x['wait_s_per_batch'] for x in rs])} | CPU {_cell([x['cpu_s_per_batch'] for x in rs])} | "
              f"epoch {statistics.median(x['epoch_s'] for x in rs):.1f} s |")
    if "floor" in results:
        rs = results["floor"]
        f = statistics.median(x["floor_s"] for x in rs)
        line = (f"GEMM floor: {_cell([x['floor_s'] for x in rs])} ms per batch wall ({rs[0]['gflop']:.2f} GFLOP on "
                f"{rs[0]['torch_threads']} threads; CPU {_cell([x['floor_cpu_s'] for x in rs])} ms) -> "
                f"{f * n_epoch:.1f} s per {n_epoch}-batch epoch")
        if args.dgl_epoch:
            line += f" = {f * n_epoch / args.dgl_epoch:.2f}x DGL's {args.dgl_epoch:.1f} s"
        print(line)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
