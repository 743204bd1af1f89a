"""Full-graph inference: one full forward vs layer-wise ``GNN.inference(batch_size=...)``, time and peak RSS.

Each (mode, round) runs in its own process (``_worker.run_worker``), modes alternating and their
order rotating from round to round, so each peak RSS is that mode's own. A process builds the
power-law graph (``chung_lu``, the generator of examples/large_graph.py) and its features,
records its peak RSS (``base``), then runs one warm-up call and ``--steps`` timed ones of the
mode under ``torch.no_grad`` in eval mode; the cell is the median over rounds (spread
min–max) and the process's peak RSS. The model is the large example's shape (F = 32,
hidden 128, 16 classes, 2 layers).

    python benchmarks/inference.py                    # 1M vertices, 10M edges, SAGE and GCN
    python benchmarks/inference.py --quick            # 20k vertices, 200k edges (CI smoke run)
    python benchmarks/inference.py --nodes 10000000 --edges 100000000 --models sage --rounds 1
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _worker import run_worker  # noqa: E402  the runner every alternating-rounds benchmark shares

MODES = ("full", "layerwise")
FEATS, HIDDEN, CLASSES = 32, 128, 16


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(mode: str, model: str, nodes: int, edges: int, batch_size: int, steps: int, threads: int) -> dict:
    """In a fresh process: build the graph, features and model, then time ``steps`` calls of ``mode``."""
    import torch

    from gnnkit import GNN, Graph, GNNConfig
    from gnnkit.data.generators import chung_lu

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    csr = chung_lu(nodes, edges, seed=0)
    indptr, src = torch.from_numpy(csr.indptr), torch.from_numpy(csr.indices)
    del csr
    dst = torch.repeat_interleave(torch.arange(nodes), indptr.diff())  # [E], sorted: csr_in needs no eid
    g = Graph(src, dst, nodes)
    g.csr_in()  # built before the base measurement: both modes use it
    x = torch.randn(nodes, FEATS)
    net = GNN(GNNConfig(model=model, in_features=FEATS, out_features=CLASSES, hidden_features=HIDDEN)).eval()
    if model == "gcn":  # the self-looped graph and its norm are cached on g by both modes; build them outside the timing
        g.add_self_loops(only_missing=True)
    base = peak_mb()

    def call():
        with torch.no_grad():
            return net(g, x) if mode == "full" else net.inference(g, x, batch_size=batch_size)

    times = []
    for i in range(steps + 1):  # the first call warms up
        t0 = time.perf_counter()
        call()
        if i:
            times.append(time.perf_counter() - t0)
    return {"mode": mode, "model": model, "median_s": statistics.median(times), "times": times,
            "base_mb": base, "peak_mb": peak_mb(), "num_nodes": nodes, "num_edges": int(g.num_edges)}


def table(results: list[dict], models: list[str], batch_size: int) -> str:
    """Markdown: per model, each mode's ``median s (min–max)``, peak and base RSS, and layerwise/full ratios."""
    lines = ["| model | full forward | layer-wise (batch_size) | layerwise/full time | layerwise/full peak RSS above base |",
             "|---|---|---|---|---|"]
    for m in models:
        cells, by = [], {}
        for mode in MODES:
            rs = [r for r in results if r["model"] == m and r["mode"] == mode]
            if not rs:
                cells.append("failed")
                continue
            t = [r["median_s"] for r in rs]
            by[mode] = (statistics.median(t), max(r["peak_mb"] - r["base_mb"] for r in rs))
            cells.append(f"{statistics.median(t):.2f} s ({min(t):.2f}–{max(t):.2f}), peak {max(r['peak_mb'] for r in rs):,.0f} MB "
                         f"(base {max(r['base_mb'] for r in rs):,.0f} MB), {len(rs)} rounds")
        cells[1] = cells[1].replace("rounds", f"rounds, batch {batch_size:,}")
        ratio = (f"{by['layerwise'][0] / by['full'][0]:.2f}×", f"{by['layerwise'][1] / max(by['full'][1], 1e-9):.2f}×") \
            if len(by) == 2 else ("—", "—")
        lines.append(f"| {m} | " + " | ".join(cells) + f" | {ratio[0]} | {ratio[1]} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["sage", "gcn"], choices=["gcn", "sage", "gat", "gin"])
    p.add_argument("--nodes", type=int, default=1_000_000)
    p.add_argument("--edges", type=int, default=10_000_000)
    p.add_argument("--batch-size", type=int, default=100_000, help="destinations per chunk (default 100,000)")
    p.add_argument("--steps", type=int, default=1, help="timed calls after one warm-up (default 1)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="20k vertices, 200k edges, one round")
    p.add_argument("--json", type=Path, help="also write the raw results here")
    p.add_argument("--worker", nargs=2, metavar=("MODE", "MODEL"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.nodes, args.edges, args.rounds, args.batch_size = 20_000, 200_000, 1, 3_000
    if args.worker:
        print(json.dumps(worker(*args.worker, args.nodes, args.edges, args.batch_size, args.steps, args.threads)))
        return 0
    if min(args.rounds, args.steps, args.batch_size) < 1:
        p.error(f"--rounds, --steps and --batch-size must be >= 1, got {args.rounds}, {args.steps}, {args.batch_size}")
    print(f"graph: Chung-Lu {args.nodes:,} vertices, {args.edges:,} edges, {FEATS} features, hidden {HIDDEN}, "
          f"{CLASSES} classes; {args.steps} timed calls, {args.threads} threads; median of {args.rounds} rounds, "
          "spread min–max", flush=True)
    from tqdm import tqdm

    jobs = [(r, mode, m) for r in range(args.rounds) for m in args.models
            for mode in (MODES if r % 2 == 0 else MODES[::-1])]  # rotate who goes first
    results = []
    for _, mode, m in tqdm(jobs, desc="inference benchmark", unit="run"):
        wargs = [mode, m, "--nodes", str(args.nodes), "--edges", str(args.edges), "--batch-size", str(args.batch_size),
                 "--steps", str(args.steps)]
        results.append(run_worker(__file__, wargs, args.threads, f"{mode}/{m}"))
    print(table(results, args.models, args.batch_size))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
