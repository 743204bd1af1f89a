"""Full-graph inference: one full forward vs layer-wise ``GNN.inference(batch_size=...)`` (vs DGL's offline inference), time and peak RSS.

Each (mode, round) runs in its own process (``_worker.run_worker``), modes alternating and their
order rotating from round to round, so each peak RSS is that mode's own. A process builds the
power-law graph (``chung_lu``, the generator of examples/large_graph.py) and its features,
records its peak RSS (``base``), then runs one warm-up call and ``--steps`` timed ones of the
mode under ``torch.no_grad`` in eval mode; the cell is the median over rounds of the wall time
(spread min–max), the median process CPU time (user + system, all threads: less sensitive than
wall time to other jobs on a shared machine) and the process's peak RSS. The model is the large
example's shape (F = 32, hidden 128, 16 classes, 2 layers).

Modes: ``full`` (``net(g, x)``), ``layerwise`` (``net.inference(g, x, batch_size)``, its buffers
in memory or, with ``--out-dir``, memory-mapped files there) and, for SAGE, ``dgl``: DGL's offline
inference as in its GraphSAGE example (per layer, a ``MultiLayerFullNeighborSampler(1)``
``DataLoader`` over all vertices, ``SAGEConv('mean')`` of the same shapes on each block, the rows
written into a preallocated ``[N, F_l]`` tensor).

``--rss-limit-gb`` stops a worker whose resident set passes the limit (polled every 20 ms); its
cell then reads ``over N GB`` instead of failing the run.

    python benchmarks/inference.py                    # 1M vertices, 10M edges, SAGE and GCN
    python benchmarks/inference.py --quick            # 20k vertices, 200k edges (CI smoke run)
    python benchmarks/inference.py --graph-cache /tmp/graphs   # generate once, read in later workers
    flock /tmp/gnnkit_bigrun.lock python benchmarks/inference.py --nodes 10000000 --edges 100000000 \
        --models sage --rounds 1 --batch-size 1000000 --rss-limit-gb 16
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _worker import run_worker  # noqa: E402  the runner every alternating-rounds benchmark shares

MODES = ("full", "layerwise", "dgl")
FEATS, HIDDEN, CLASSES = 32, 128, 16
OVER_LIMIT = 3  # a worker's exit status when --rss-limit-gb stopped it


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_s() -> float:
    """User + system CPU seconds of this process so far (all its threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def watch_rss(limit_gb: float) -> None:
    """Exit with ``OVER_LIMIT`` as soon as this process's resident set passes ``limit_gb`` (a daemon thread)."""
    page = os.sysconf("SC_PAGE_SIZE")

    def poll() -> None:
        while True:
            with open("/proc/self/statm") as fh:
                if int(fh.read().split()[1]) * page > limit_gb * 2**30:
                    os._exit(OVER_LIMIT)
            time.sleep(0.02)

    threading.Thread(target=poll, daemon=True).start()


def dgl_offline(g, x, convs, batch_size: int):
    """DGL's offline inference (its GraphSAGE example): per layer, all vertices in blocks of ``batch_size``."""
    import dgl
    import torch

    sampler = dgl.dataloading.MultiLayerFullNeighborSampler(1)
    loader = dgl.dataloading.DataLoader(g, torch.arange(g.num_nodes()), sampler, batch_size=batch_size,
                                        shuffle=False, drop_last=False, num_workers=0)
    for i, conv in enumerate(convs):
        y = torch.empty(g.num_nodes(), conv._out_feats)  # [N, F_l]
        for input_nodes, output_nodes, blocks in loader:
            h = conv(blocks[0], x[input_nodes])
            y[output_nodes] = torch.relu(h) if i < len(convs) - 1 else h
        x = y
    return x


def graph_arrays(nodes: int, edges: int, graph_cache: Path | None):
    """``(indptr, indices)`` tensors of the Chung-Lu CSR by destination: generated, or read whole from
    ``graph_cache`` (``.npy`` files written by the first worker that generated them)."""
    import numpy as np
    import torch

    from gnnkit.data.generators import chung_lu

    folder = None if graph_cache is None else graph_cache / f"chung_lu_n{nodes}_e{edges}_s0"
    if folder is not None and (folder / "indices.npy").is_file():
        return torch.from_numpy(np.load(folder / "indptr.npy")), torch.from_numpy(np.load(folder / "indices.npy"))
    csr = chung_lu(nodes, edges, seed=0)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("indptr", "indices"):
            np.save(folder / f"{name}.tmp.npy", getattr(csr, name))
            os.replace(folder / f"{name}.tmp.npy", folder / f"{name}.npy")  # a killed worker leaves no half file
    return torch.from_numpy(csr.indptr), torch.from_numpy(csr.indices)


def worker(mode: str, model: str, nodes: int, edges: int, batch_size: int, steps: int, threads: int,
           out_dir: Path | None = None, rss_limit_gb: float | None = None, graph_cache: Path | None = None) -> dict:
    """In a fresh process: build the graph, features and model, then time ``steps`` calls of ``mode``."""
    if rss_limit_gb:
        watch_rss(rss_limit_gb)
    import torch

    from gnnkit import GNN, Graph, GNNConfig

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    indptr, src = graph_arrays(nodes, edges, graph_cache)
    dst = torch.repeat_interleave(torch.arange(nodes), indptr.diff())  # [E], sorted: csr_in needs no eid
    if mode == "dgl":
        import dgl
        from dgl.nn import SAGEConv

        g = dgl.graph((src, dst), num_nodes=nodes)
        del src, dst, indptr
        g.create_formats_()  # its CSC built before the base measurement, as gnnkit's csr_in
        convs = [SAGEConv(FEATS, HIDDEN, "mean"), SAGEConv(HIDDEN, CLASSES, "mean")]
        num_edges = g.num_edges()
    else:
        g = Graph(src, dst, nodes)
        del src, dst, indptr  # the Graph holds its own copy
        g.csr_in()  # built before the base measurement: both modes use it
        net = GNN(GNNConfig(model=model, in_features=FEATS, out_features=CLASSES, hidden_features=HIDDEN)).eval()
        if model == "gcn":  # the self-looped graph and its norm are cached on g by both modes; build them outside the timing
            g.add_self_loops(only_missing=True)
        num_edges = int(g.num_edges)
    x = torch.randn(nodes, FEATS)
    base = peak_mb()
    folder = None
    if out_dir is not None and mode == "layerwise":
        out_dir.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(dir=out_dir))

    def call():
        with torch.no_grad():
            if mode == "dgl":
                return dgl_offline(g, x, convs, batch_size)
            if mode == "full":
                return net(g, x)
            return net.inference(g, x, batch_size=batch_size, out_dir=folder)

    times, cpu = [], []
    for i in range(steps + 1):  # the first call warms up
        t0, c0 = time.perf_counter(), cpu_s()
        out = call()
        if i:
            times.append(time.perf_counter() - t0)
            cpu.append(cpu_s() - c0)
        del out
    if folder is not None:
        for f in folder.iterdir():
            f.unlink()
        folder.rmdir()
    return {"mode": mode, "model": model, "median_s": statistics.median(times), "times": times,
            "cpu_s": statistics.median(cpu), "base_mb": base, "peak_mb": peak_mb(), "num_nodes": nodes,
            "num_edges": num_edges, "memmap": folder is not None}


def modes_of(model: str, modes: list[str]) -> list[str]:
    return [m for m in modes if m != "dgl" or model == "sage"]  # the DGL peer: SAGE, the example's model


def table(results: list[dict], models: list[str], modes: list[str], batch_size: int) -> str:
    """Markdown: per model, each mode's ``median s (min–max)``, CPU s, peak and base RSS, and layerwise/full ratios."""
    lines = ["| model | " + " | ".join({"full": "full forward", "layerwise": "layer-wise (batch_size)",
                                         "dgl": "DGL offline inference"}[m] for m in modes)
             + " | layerwise/full wall (CPU) time | layerwise/full peak RSS above base |",
             "|---|" + "---|" * (len(modes) + 2)]
    for m in models:
        cells, by = [], {}
        for mode in modes:
            rs = [r for r in results if r["model"] == m and r["mode"] == mode]
            if mode not in modes_of(m, modes) or not rs:
                cells.append("—")
                continue
            if any("over_gb" in r for r in rs):
                cells.append(f"over {rs[0]['over_gb']:g} GB RSS (stopped)")
                continue
            t, c = [r["median_s"] for r in rs], [r["cpu_s"] for r in rs]
            by[mode] = (statistics.median(t), statistics.median(c), max(r["peak_mb"] - r["base_mb"] for r in rs))
            cells.append(f"{statistics.median(t):.2f} s ({min(t):.2f}–{max(t):.2f}), CPU {statistics.median(c):.2f} s, "
                         f"peak {max(r['peak_mb'] for r in rs):,.0f} MB (base {max(r['base_mb'] for r in rs):,.0f} MB), "
                         f"{len(rs)} rounds" + (", memmap buffers" if rs[0].get("memmap") else ""))
        if "layerwise" in by:
            i = modes.index("layerwise")
            cells[i] = cells[i].replace("rounds", f"rounds, batch {batch_size:,}")
        if "layerwise" in by and "full" in by:
            lw, full = by["layerwise"], by["full"]
            ratio = (f"{lw[0] / full[0]:.2f}× ({lw[1] / full[1]:.2f}×)", f"{lw[2] / max(full[2], 1e-9):.2f}×")
        else:
            ratio = ("—", "—")
        lines.append(f"| {m} | " + " | ".join(cells) + f" | {ratio[0]} | {ratio[1]} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["sage", "gcn"], choices=["gcn", "sage", "gat", "gin"])
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES, help="dgl runs for sage only")
    p.add_argument("--out-dir", type=Path, help="layer-wise buffers as memory-mapped files under this folder")
    p.add_argument("--rss-limit-gb", type=float, help="stop a worker whose resident set passes this")
    p.add_argument("--graph-cache", type=Path, help="keep the generated graph as .npy files here; later workers read it")
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
        print(json.dumps(worker(*args.worker, args.nodes, args.edges, args.batch_size, args.steps, args.threads,
                                args.out_dir, args.rss_limit_gb, args.graph_cache)))
        return 0
    if min(args.rounds, args.steps, args.batch_size) < 1:
        p.error(f"--rounds, --steps and --batch-size must be >= 1, got {args.rounds}, {args.steps}, {args.batch_size}")
    print(f"graph: Chung-Lu {args.nodes:,} vertices, {args.edges:,} edges, {FEATS} features, hidden {HIDDEN}, "
          f"{CLASSES} classes; {args.steps} timed calls, {args.threads} threads; median of {args.rounds} rounds, "
          "spread min–max", flush=True)
    from tqdm import tqdm

    jobs = [(r, mode, m) for r in range(args.rounds) for m in args.models
            for mode in (modes_of(m, args.modes)[r % 3:] + modes_of(m, args.modes)[:r % 3])]  # rotate who goes first
    results = []
    for _, mode, m in tqdm(jobs, desc="inference benchmark", unit="run"):
        wargs = [mode, m, "--nodes", str(args.nodes), "--edges", str(args.edges), "--batch-size", str(args.batch_size),
                 "--steps", str(args.steps)]
        wargs += ["--out-dir", str(args.out_dir)] if args.out_dir else []
        wargs += ["--rss-limit-gb", str(args.rss_limit_gb)] if args.rss_limit_gb else []
        wargs += ["--graph-cache", str(args.graph_cache)] if args.graph_cache else []
        try:
            results.append(run_worker(__file__, wargs, args.threads, f"{mode}/{m}"))
        except RuntimeError:
            if not args.rss_limit_gb:
                raise
            # run_worker's message holds only stderr: a worker stopped by the watchdog leaves none, so say so
            results.append({"mode": mode, "model": m, "over_gb": args.rss_limit_gb})
    print(table(results, args.models, args.modes, args.batch_size))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
