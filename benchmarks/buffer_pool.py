"""Does the CPU buffer pool help, across graph sizes? GCN training steps with the pool off and on.

``gnnkit.ops._cpu`` can keep freed huge-page buffers for reuse (``GNNKIT_BUFFER_POOL_MB``). This
times a 2-layer GCN training step (128 → 256 → 40, forward, cross-entropy, backward, Adam) on
power-law graphs of several sizes (``core.power_law_graph``, about 14 directed edges per vertex)
with each pool setting, one process per (size, setting) so every process starts with an empty
pool, settings alternating within a round. A cell is the median over rounds of each process's
median step time, with the spread (min–max over rounds) and the process's peak RSS.

    python benchmarks/buffer_pool.py                       # 10^4 .. 10^6 vertices (long; needs ~8 GB)
    python benchmarks/buffer_pool.py --quick               # two small graphs, 1 round (smoke run)
    python benchmarks/buffer_pool.py --sizes 100000 300000 --pools 0 96 4096 --rounds 3
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from core import CLASSES, FEATS, HIDDEN, power_law_graph, time_steps  # noqa: E402  (the core benchmark's graph and step)

SIZES = (10_000, 100_000, 300_000, 1_000_000)
QUICK_SIZES = (5_000, 20_000)
POOLS_MB = (0, 96, 4096)  # off, the old default, large enough to hold every buffer of a step at 10^6 vertices
DRAWS_PER_NODE = 7  # core.py's arxiv-size graph: 1.2M draws for 169k vertices


def worker(num_nodes: int, steps: int, threads: int) -> dict:
    """In a fresh process (the pool setting comes from its environment): one GCN run's step times."""
    import numpy as np
    import torch

    import gnnkit
    from gnnkit.nn import GCNConv

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    src, dst = power_law_graph(num_nodes, DRAWS_PER_NODE * num_nodes)
    g = gnnkit.Graph(src, dst, num_nodes)
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.standard_normal((num_nodes, FEATS), dtype=np.float32))
    y = torch.from_numpy(rng.integers(0, CLASSES, num_nodes))
    layers = (GCNConv(FEATS, HIDDEN), GCNConv(HIDDEN, CLASSES))
    result = time_steps(lambda h: layers[1](g, layers[0](g, h).relu()), layers, x, y, steps)
    return {**result, "num_nodes": num_nodes, "num_edges": int(src.size)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", help=f"vertex counts (default {SIZES}; --quick {QUICK_SIZES})")
    p.add_argument("--pools", type=int, nargs="+", default=list(POOLS_MB), help="GNNKIT_BUFFER_POOL_MB values")
    p.add_argument("--steps", type=int, default=5, help="timed steps after one warm-up (default 5; --quick 2)")
    p.add_argument("--rounds", type=int, help="alternating runs per (size, pool) (default 3; --quick 1)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", type=Path, help="also write the raw results here")
    p.add_argument("--worker", type=int, metavar="NUM_NODES", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.steps, args.threads)))
        return 0
    sizes = args.sizes or (QUICK_SIZES if args.quick else SIZES)
    rounds = args.rounds or (1 if args.quick else 3)
    steps = 2 if args.quick and args.steps == 5 else args.steps
    print(f"GCN {FEATS}->{HIDDEN}->{CLASSES} training steps; {steps} timed steps per process, {rounds} rounds, "
          f"{args.threads} threads; load average {os.getloadavg()[0]:.2f}", flush=True)
    runs = []
    for n in sizes:
        for r in range(rounds):
            order = args.pools[r % len(args.pools):] + args.pools[:r % len(args.pools)]  # rotate who goes first
            for mb in order:
                env = {**os.environ, "GNNKIT_BUFFER_POOL_MB": str(mb)}
                cmd = [sys.executable, __file__, "--worker", str(n), "--steps", str(steps), "--threads", str(args.threads)]
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
                if proc.returncode != 0:
                    print(f"  {n} vertices, pool {mb} MB failed: {proc.stderr.strip()[-500:]}", file=sys.stderr)
                    return 1
                runs.append({**json.loads(proc.stdout.strip().splitlines()[-1]), "pool_mb": mb, "round": r})
    print("\n| vertices | edges | " + " | ".join(f"pool {mb} MB" for mb in args.pools) + " | "
          + " | ".join(f"{mb} MB / off" for mb in args.pools if mb) + " |")
    print("|---|---|" + "---|" * (len(args.pools) + len([mb for mb in args.pools if mb])))
    for n in sizes:
        cells, med = [], {}
        for mb in args.pools:
            rs = [r for r in runs if r["num_nodes"] == n and r["pool_mb"] == mb]
            times = [r["median_s"] for r in rs]
            med[mb] = statistics.median(times)
            cells.append(f"{med[mb]:.3f} s ({min(times):.3f}–{max(times):.3f}), {max(r['peak_mb'] for r in rs):,.0f} MB")
        base = med.get(0)
        ratios = [f"{med[mb] / base:.2f}×" if base else "—" for mb in args.pools if mb]
        print(f"| {n:,} | {rs[0]['num_edges']:,} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
