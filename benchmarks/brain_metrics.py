"""Brain metrics benchmark: gnnkit.brain.metrics vs bctpy (Brain Connectivity Toolbox) per metric.

The graph is a Watts–Strogatz small world (mean degree 10, rewiring 0.1, seeded), stored in
both directions: the symmetric binary matrix bctpy's ``_bu`` / ``_und`` functions take. Each
(engine, size) runs in its own process (``benchmarks/_worker.py``), so its peak RSS is its
own; a round runs every engine once, the engine order rotating from round to round. A cell
is the median over ``--rounds`` rounds and the spread (min–max). bctpy works on dense
``N x N`` matrices (betweenness and efficiency by matrix powers), so it runs only at the
``--sizes`` it can handle; gnnkit alone runs at the ``--large`` sizes, where the path
metrics and betweenness use ``--sources`` sampled sources (stated error: see
``gnnkit.brain.metrics``; the sampled betweenness's measured relative error is printed
against the exact one at the largest bctpy size).

    python benchmarks/brain_metrics.py                  # 500, 2000 vs bctpy; 10^4, 10^5 gnnkit alone
    python benchmarks/brain_metrics.py --quick          # CI smoke run (seconds)
    python benchmarks/brain_metrics.py --sizes 1000 --large 100000 --rounds 5
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _worker import run_worker  # noqa: E402

METRICS = ("density", "degrees", "clustering", "paths", "local_efficiency", "modularity", "participation", "rich_club",
           "assortativity", "betweenness", "kcore", "motif3")


def build(n: int):
    from gnnkit.brain.topology import watts_strogatz_graph

    return watts_strogatz_graph(n, 10, 0.1, seed=0).graph


def gnnkit_calls(g, sources: int | None) -> dict:
    import torch

    import gnnkit.brain.metrics as M

    labels = torch.arange(g.num_nodes) * 10 // g.num_nodes  # 10 contiguous modules
    return {
        "density": lambda: M.density(g, directed=False),
        "degrees": lambda: M.degrees(g, "undirected"),
        "clustering": lambda: M.clustering(g),
        "paths": lambda: M.path_stats(g, directed=False, num_sources=sources),
        "local_efficiency": lambda: M.local_efficiency(g),
        "modularity": lambda: M.modularity(g, labels),
        "participation": lambda: M.participation_coef(g, labels),
        "rich_club": lambda: M.rich_club(g),
        "assortativity": lambda: M.assortativity(g, 0),
        "betweenness": lambda: M.betweenness(g, directed=False, num_sources=sources),
        "kcore": lambda: M.core_numbers(g),
        "motif3": lambda: M.motif3_counts(g),
    }


def bct_calls(g) -> dict:
    import bct

    n = g.num_nodes
    a = np.zeros((n, n))
    a[g.src.numpy(), g.dst.numpy()] = 1.0
    ci = np.arange(n) * 10 // n + 1
    return {
        "density": lambda: bct.density_und(a),
        "degrees": lambda: bct.degrees_und(a),
        "clustering": lambda: bct.clustering_coef_bu(a),
        "paths": lambda: (bct.charpath(bct.distance_bin(a), include_infinite=False), bct.efficiency_bin(a)),
        "local_efficiency": lambda: bct.efficiency_bin(a, local=True),
        "modularity": lambda: bct.modularity_und(a, kci=ci),
        "participation": lambda: bct.participation_coef(a, ci),
        "rich_club": lambda: bct.rich_club_bu(a),
        "assortativity": lambda: bct.assortativity_bin(a, 0),
        "betweenness": lambda: bct.betweenness_bin(a),
        "kcore": lambda: bct.kcoreness_centrality_bu(a) if n <= 600 else None,  # N peels of an N x N matrix
        # bctpy 0.6 ships no motif34lib.mat and generates a malformed one, so motif3struct_bin cannot run
        "motif3": lambda: None,
    }


def worker(engine: str, n: int, sources: int | None, metrics: list[str]) -> dict:
    warm = build(60)  # untimed: imports and first-call set-up of every metric
    for name, fn in (gnnkit_calls(warm, None) if engine == "gnnkit" else bct_calls(warm)).items():
        if name in metrics:
            fn()
    g = build(n)
    calls = gnnkit_calls(g, sources) if engine == "gnnkit" else bct_calls(g)
    times = {}
    for name in metrics:
        t0 = time.perf_counter()
        out = calls[name]()
        times[name] = None if out is None else time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # GiB (ru_maxrss is KiB on Linux)
    return {"engine": engine, "n": n, "times": times, "rss_gib": rss}


def sampled_error(n: int, sources: int) -> float:
    """Mean relative error of the sampled betweenness against the exact one (vertices with b > 0)."""
    import gnnkit.brain.metrics as M

    g = build(n)
    exact = M.betweenness(g, directed=False).numpy()
    est = M.betweenness(g, directed=False, num_sources=sources, seed=1).numpy()
    pos = exact > 0
    return float(np.mean(np.abs(est[pos] - exact[pos]) / exact[pos]))


def cell(values: list[float]) -> str:
    if not values:
        return "—"
    med = statistics.median(values)
    return f"{med:.3g} ({min(values):.3g}–{max(values):.3g})" if len(values) > 1 else f"{med:.3g}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[500, 2000], help="sizes run by gnnkit and bctpy")
    p.add_argument("--large", type=int, nargs="+", default=[10_000, 100_000], help="sizes run by gnnkit alone")
    p.add_argument("--sources", type=int, default=256, help="sampled sources for paths/betweenness at --large sizes")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--metrics", nargs="+", default=list(METRICS), choices=METRICS)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="CI smoke run: 200 vs bctpy, 2000 alone, 1 round")
    p.add_argument("--worker", nargs=3, metavar=("ENGINE", "N", "SOURCES"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        engine, n, sources = args.worker
        print(json.dumps(worker(engine, int(n), None if sources == "all" else int(sources), args.metrics)))
        return 0
    if args.quick:  # explicit --sizes/--large still win, so a test can shrink it further
        given = argv if argv is not None else sys.argv[1:]
        args.sizes = args.sizes if "--sizes" in given else [200]
        args.large = args.large if "--large" in given else [2000]
        args.rounds, args.sources = 1, 64
    plan = [(n, ("gnnkit", "bctpy"), "all") for n in args.sizes] + [(n, ("gnnkit",), str(args.sources))
                                                                     for n in args.large]
    results: dict[tuple[str, int], list[dict]] = {}
    for r in range(args.rounds):
        for n, engines, sources in plan:
            order = engines[r % len(engines):] + engines[: r % len(engines)]  # rotate who runs first
            for engine in order:
                out = run_worker(__file__, [engine, str(n), sources, "--metrics", *args.metrics], args.threads,
                                 f"{engine} at N={n}")
                results.setdefault((engine, n), []).append(out)
                print(f"round {r + 1}: {engine:6s} N={n:>7,}: {sum(t or 0 for t in out['times'].values()):.2f} s, "
                      f"peak RSS {out['rss_gib']:.2f} GiB", file=sys.stderr, flush=True)
    print(f"\nTime per metric in seconds, median (min–max) over {args.rounds} round(s), {args.threads} thread(s); "
          f"Watts–Strogatz k=10, p=0.1; '—': not run.\n")
    print("| metric | N | gnnkit (s) | bctpy (s) | bctpy / gnnkit |")
    print("|---|---|---|---|---|")
    for n, engines, sources in plan:
        for name in args.metrics:
            ours = [x["times"][name] for x in results[("gnnkit", n)] if x["times"][name] is not None]
            theirs = [x["times"][name] for x in results.get(("bctpy", n), []) if x["times"][name] is not None]
            ratio = f"{statistics.median(theirs) / statistics.median(ours):.3g}x" if ours and theirs else "—"
            tag = f"{n:,}" + ("" if sources == "all" or name not in ("paths", "betweenness") else f" ({sources} sources)")
            print(f"| {name} | {tag} | {cell(ours)} | {cell(theirs)} | {ratio} |")
    for n, engines, _ in plan:
        rss = {e: statistics.median(x["rss_gib"] for x in results[(e, n)]) for e in engines}
        print(f"\npeak RSS at N={n:,}: " + ", ".join(f"{e} {v:.2f} GiB" for e, v in rss.items()), end="")
    print()
    if "betweenness" in args.metrics and args.sizes:
        n = max(args.sizes)
        print(f"\nsampled betweenness at N={n:,} with {args.sources} sources: mean relative error "
              f"{sampled_error(n, args.sources):.3f} against the exact values")
    return 0


if __name__ == "__main__":
    sys.exit(main())
