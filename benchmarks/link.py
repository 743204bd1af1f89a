"""Link-prediction training throughput: gnnkit's link loader vs DGL 1.1.3's edge-prediction DataLoader.

Same graph (the symmetrised Chung-Lu power-law graph of ``benchmarks/sampling.py``,
100k vertices by default), same ``[N, 64]`` float32 features in ``g.ndata["x"]``, same model
sizes: two mean-reduce SAGE layers 64 → 64 → 64, a dot-product decoder, Adam (default
single-tensor form on both sides), binary cross-entropy. Each training step takes
``--batch-size`` seed (positive) edges with one uniform negative per positive and ``--fanouts``
neighbours per layer; on neither side are the seed edges excluded from the message-passing
graph (DGL's ``exclude=None`` default, gnnkit's loader never excludes):

* gnnkit: :func:`gnnkit.link.link_neighbor_loader` with
  :class:`~gnnkit.link.UniformNegativeSampler` ``(k=1)`` and :class:`gnnkit.nn.SAGEConv`; the
  input rows come with the batch (``batch.blocks.input_data["x"]``);
* gnnkit-serial: the same with ``prefetch_thread=False`` (sampling in the training thread, so
  all the work on one core, as in-process DGL's);
* DGL: ``dgl.dataloading.DataLoader`` over edge ids with
  ``as_edge_prediction_sampler(NeighborSampler(fanouts, prefetch_node_feats=["x"]),
  negative_sampler=negative_sampler.Uniform(1))`` and ``dgl.nn.SAGEConv``; the input rows are
  ``blocks[0].srcdata["x"]``. DGL 1.1.3 offers no prefetch thread for CPU training
  (``use_prefetch_thread`` is refused unless the device is CUDA); its way to sample on a second
  core is a worker process (``dgl-worker``: ``num_workers=1``).

The table compares gnnkit's default loader (prefetch thread) with the faster of the DGL
configurations run (both then sample on a second core), gnnkit-serial with in-process DGL (one
core each), and gnnkit's worker with DGL's worker.

Timed is one whole step: the loader's ``next()`` (sampling, or for gnnkit waiting for the
prefetch thread), forward, backward and the optimizer step. The gnnkit prefetch thread samples
the next batch on a second core when one is free, so ``--threads 1`` means one intra-op thread
per engine, not one core: the gnnkit-serial row is the one-core comparison. Each engine runs in
its own process (peak RSS is its own); engines alternate ``--rounds`` times. Per process: 3
warm-up steps, then ``--steps`` timed steps; positive edges/s is ``batch_size / median step
time``; the table gives the median over rounds and the spread (min-max) of the per-round values, and
the CPU time per step of all the threads of each engine's process (``time.process_time``;
the prefetch thread's included, a worker process's not), which a loaded machine inflates far
less than the wall time.
``--threads 1`` (the default) runs every engine with one intra-op thread (``OMP_NUM_THREADS``,
``torch.set_num_threads``); several values (``--threads 1 2``) run every engine at each of them in
the same rounds, print a table per value, and then the best configuration of each side against
the other (gnnkit is fastest on 2 cores with one intra-op thread beside its prefetch thread, DGL's
in-process loader with two). ``--profile`` adds the CPU time (``time.thread_time``, so the
load of a shared machine inflates it less than wall time) of each phase per step: on the
sampling side negatives, endpoint dedup and the rest, block sampling, feature gather and block
layouts; on the training thread forward, backward and optimizer.

    python benchmarks/link.py                    # 100k vertices, ~1M undirected edges, 3 rounds
    python benchmarks/link.py --quick            # 20k vertices, 1 round, 5 steps (smoke run)
    python benchmarks/link.py --profile          # also the per-phase CPU time per step
    python benchmarks/link.py --threads 1 2      # both thread counts in the same rounds, best vs best
    python benchmarks/link.py --gather-in-step   # the earlier harness: x[input_nodes] in the training step
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _worker import run_worker  # noqa: E402
from sampling import graph_file  # noqa: E402  the same cached power-law graph as the sampling benchmark

# gnnkit: prefetch thread; gnnkit-serial: none, everything in the training thread; *-worker: one
# sampling worker process (both loaders' num_workers=1)
ENGINES = ("gnnkit", "gnnkit-serial", "gnnkit-worker", "dgl", "dgl-worker")
DEFAULT_ENGINES = ("gnnkit", "gnnkit-serial", "dgl", "dgl-worker")
# per-step CPU time of each phase (ms, --profile): sampling side first, then the training thread
PHASES = ("negatives", "dedup+other", "blocks", "feature_gather", "layouts", "producer", "forward", "backward",
          "optimizer")
FULL = dict(nodes=100_000, edges=500_000)  # edges drawn before symmetrising: ~1M directed edges after
QUICK = dict(nodes=20_000, edges=100_000)
FEATURES = 64


def _features(n: int):
    import torch

    return torch.from_numpy(np.random.default_rng(0).standard_normal((n, FEATURES), dtype=np.float32))  # [N, F]


def _timed(fn, key: str, profile: dict):
    """``fn`` recording its CPU time (of the calling thread: the prefetch thread's own) under ``profile[key]``."""
    def wrapper(*args, **kwargs):
        t = time.thread_time()
        out = fn(*args, **kwargs)
        profile.setdefault(key, []).append(time.thread_time() - t)
        return out
    return wrapper


def _train_on(blocks, layers, opt, h, src, dst, label, profile: dict) -> None:
    """Two SAGE layers (ReLU between) on the blocks, dot scores of the pairs (src, dst), BCE, one Adam step.

    Records the training thread's CPU time of the forward, backward and optimizer step in ``profile``.
    """
    import torch.nn.functional as F

    t0 = time.thread_time()
    for block, layer in zip(blocks, layers):
        h = layer(block, h)  # [S_{i+1}, F]; the first layer applies its ReLU (the conv's activation)
    loss = F.binary_cross_entropy_with_logits((h[src] * h[dst]).sum(-1), label)  # the dot decoder, both engines
    t1 = time.thread_time()
    opt.zero_grad()
    loss.backward()
    t2 = time.thread_time()
    opt.step()
    t3 = time.thread_time()
    for key, dt in (("forward", t1 - t0), ("backward", t2 - t1), ("optimizer", t3 - t2)):
        profile.setdefault(key, []).append(dt)


def gnnkit_step(indptr: np.ndarray, indices: np.ndarray, fanouts: list[int], batch_size: int, profile: dict,
                mode: str = "thread", gather_in_step: bool = False):
    """A ``step()`` running one gnnkit training step on the next link batch.

    The features live in ``g.ndata["x"]``, so the sampler gathers the input rows of each batch
    (``mode``: in the prefetch thread, ``"serial"`` in the training thread, ``"worker"`` in one
    worker process; the per-phase times of a worker's sampling side stay in the worker). With
    ``gather_in_step`` the step gathers them itself with ``x[input_nodes]`` (the harness before).
    """
    import torch

    from gnnkit.graph import Graph
    from gnnkit.graph.frame import DataDict
    from gnnkit.link import UniformNegativeSampler, link_neighbor_loader
    from gnnkit.link import loader as link_loader
    from gnnkit.nn import SAGEConv

    n = indptr.size - 1
    src = torch.from_numpy(indices.astype(np.int64))
    dst = torch.repeat_interleave(torch.arange(n), torch.from_numpy(np.diff(indptr)))  # CSR by destination
    x = _features(n)
    g = Graph(src, dst, n, ndata={} if gather_in_step else {"x": x})
    edges = torch.stack([src, dst])  # [2, E]: every edge is a seed, as DGL's edge ids
    loader = link_neighbor_loader(g, edges, fanouts, batch_size, negative_sampler=UniformNegativeSampler(n, k=1),
                                  shuffle=True, drop_last=True, seed=0,
                                  **{"thread": {}, "serial": {"prefetch_thread": False}, "worker": {"num_workers": 1}}[mode])
    # per-phase CPU time of the sampling side (this worker process only): wrap its parts in place
    link_sampler = loader.sampler
    link_sampler.negative_sampler = _timed(link_sampler.negative_sampler, "negatives", profile)
    link_sampler.sampler.sample = _timed(link_sampler.sampler.sample, "blocks", profile)
    DataDict.select = _timed(DataDict.select, "feature_gather", profile)
    if hasattr(link_loader, "_build_layouts"):
        link_loader._build_layouts = _timed(link_loader._build_layouts, "layouts", profile)
    link_sampler.sample = _timed(link_sampler.sample, "producer", profile)
    layers = torch.nn.ModuleList([SAGEConv(FEATURES, FEATURES, "mean", activation="relu"), SAGEConv(FEATURES, FEATURES, "mean")])
    opt = torch.optim.Adam(layers.parameters(), lr=0.01)
    it = iter(loader)

    def step() -> None:
        t0 = time.perf_counter()
        batch = next(it)
        t1 = time.perf_counter()
        c = time.thread_time()
        h = x[batch.blocks.input_nodes] if gather_in_step else batch.blocks.input_data["x"]
        if gather_in_step:
            profile.setdefault("feature_gather", []).append(time.thread_time() - c)
        _train_on(batch.blocks.blocks, layers, opt, h, batch.pair[0], batch.pair[1], batch.label, profile)
        profile.setdefault("inputs", []).append(batch.blocks.input_nodes.numel())
        profile.setdefault("sample_s", []).append(t1 - t0)
        profile.setdefault("compute_s", []).append(time.perf_counter() - t1)

    return step


def dgl_step(indptr: np.ndarray, indices: np.ndarray, fanouts: list[int], batch_size: int, profile: dict,
             gather_in_step: bool = False, num_workers: int = 0):
    """A ``step()`` running one DGL training step on the next edge-prediction batch.

    The features live in ``g.ndata["x"]`` and the sampler slices them (``prefetch_node_feats``), DGL's
    own feature path: an ``index_select`` inside ``next()``, as fast as gnnkit's gather (a plain
    ``x[input_nodes]`` runs torch's general advanced-indexing kernel, 3-5x slower). With
    ``gather_in_step`` the step gathers them itself with ``x[input_nodes]`` (the harness before).
    """
    os.environ.setdefault("DGLBACKEND", "pytorch")
    import dgl
    import dgl.nn as dglnn
    import torch

    n = indptr.size - 1
    src = torch.from_numpy(indices.astype(np.int64))
    dst = torch.repeat_interleave(torch.arange(n), torch.from_numpy(np.diff(indptr)))
    g = dgl.graph((src, dst), num_nodes=n)
    x = _features(n)
    if not gather_in_step:
        g.ndata["x"] = x
    g.create_formats_()
    dgl.seed(0)
    sampler = dgl.dataloading.as_edge_prediction_sampler(
        dgl.dataloading.NeighborSampler(fanouts, prefetch_node_feats=None if gather_in_step else ["x"]),
        negative_sampler=dgl.dataloading.negative_sampler.Uniform(1))
    loader = dgl.dataloading.DataLoader(g, torch.arange(g.num_edges()), sampler, batch_size=batch_size, shuffle=True,
                                        drop_last=True, num_workers=num_workers)
    layers = torch.nn.ModuleList([dglnn.SAGEConv(FEATURES, FEATURES, "mean", activation=torch.relu),
                                  dglnn.SAGEConv(FEATURES, FEATURES, "mean")])
    opt = torch.optim.Adam(layers.parameters(), lr=0.01)
    it = iter(loader)

    def step() -> None:
        t0 = time.perf_counter()
        c0 = time.thread_time()
        input_nodes, pos_graph, neg_graph, blocks = next(it)
        profile.setdefault("producer", []).append(time.thread_time() - c0)  # negatives, blocks, feature slice
        t1 = time.perf_counter()
        ps, pd = pos_graph.edges()
        ns, nd = neg_graph.edges()
        label = torch.cat([torch.ones(ps.numel()), torch.zeros(ns.numel())])
        c = time.thread_time()
        h = x[input_nodes] if gather_in_step else blocks[0].srcdata["x"]
        if gather_in_step:
            profile.setdefault("feature_gather", []).append(time.thread_time() - c)
        _train_on(blocks, layers, opt, h, torch.cat([ps, ns]), torch.cat([pd, nd]), label, profile)
        profile.setdefault("inputs", []).append(input_nodes.numel())
        profile.setdefault("sample_s", []).append(t1 - t0)
        profile.setdefault("compute_s", []).append(time.perf_counter() - t1)

    return step


def run_engine(engine: str, path: Path, fanouts: list[int], batch_size: int, steps: int, threads: int,
               gather_in_step: bool = False) -> dict:
    """Time one engine in this process."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    z = np.load(path)
    indptr, indices = z["indptr"], z["indices"]
    profile: dict = {}
    if engine.startswith("dgl"):
        step = dgl_step(indptr, indices, fanouts, batch_size, profile, gather_in_step, int(engine == "dgl-worker"))
    else:
        mode = {"gnnkit": "thread", "gnnkit-serial": "serial", "gnnkit-worker": "worker"}[engine]
        step = gnnkit_step(indptr, indices, fanouts, batch_size, profile, mode, gather_in_step)
    times = []
    for i in range(steps + 3):
        if i == 3:
            cpu0 = time.process_time()
        t = time.perf_counter()
        step()
        if i >= 3:  # warm-up: first batches build CSR/CSC and allocate
            times.append(time.perf_counter() - t)
    # CPU time of every thread of this process per step (a worker process's is not in it): on a shared
    # machine this moves far less with the load than the wall time
    cpu_ms = 1e3 * (time.process_time() - cpu0) / steps
    med = statistics.median(times)
    # the prefetch thread runs up to two batches ahead: every phase skips its first 3 (warm-up) entries
    phases = {k: 1e3 * statistics.median(profile[k][3:]) for k in PHASES if len(profile.get(k, ())) > 3}
    if "blocks" in phases:
        sampled = ("negatives", "blocks", "layouts")
        if not gather_in_step:  # the neighbour sampler's time includes its feature gather; report them apart
            phases["blocks"] -= phases.get("feature_gather", 0.0)
            sampled += ("feature_gather",)
        phases["dedup+other"] = phases["producer"] - sum(phases.get(k, 0.0) for k in sampled)
    return {
        "phases_ms": phases,
        "engine": engine, "median_ms": 1e3 * med, "cpu_ms_per_step": cpu_ms, "pos_edges_per_s": batch_size / med, "steps": steps,
        "sample_ms": 1e3 * statistics.median(profile["sample_s"][3:]),
        "compute_ms": 1e3 * statistics.median(profile["compute_s"][3:]),
        "mean_input_nodes": float(np.mean(profile["inputs"][3:])),  # equal work: both engines sample as many
        "torch_threads": torch.get_num_threads(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help=f"{QUICK['nodes']:,} vertices, 1 round, 5 timed steps")
    p.add_argument("--nodes", type=int)
    p.add_argument("--edges", type=int, help="edges drawn before symmetrising")
    p.add_argument("--fanouts", type=int, nargs="+", default=[10, 10], help="input layer first (default 10 10)")
    p.add_argument("--batch-size", type=int, default=1024, help="positive edges per step (default 1024)")
    p.add_argument("--steps", type=int, help="timed steps per process (default 20; --quick 5)")
    p.add_argument("--rounds", type=int, help="alternating runs per engine (default 3; --quick 1)")
    p.add_argument("--threads", type=int, nargs="+", default=[1],
                   help="intra-op threads for both engines; several values run each engine at each (default 1)")
    p.add_argument("--engines", nargs="+", choices=ENGINES, default=list(DEFAULT_ENGINES))
    p.add_argument("--profile", action="store_true",
                   help="print the wait for the batch vs the training time per step, and the per-phase CPU time")
    p.add_argument("--gather-in-step", action="store_true",
                   help="both engines gather the input rows with x[input_nodes] in the training step instead of "
                        "their loaders' feature path (the harness before 2026-12-03; torch's advanced-indexing kernel)")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--worker", nargs=2, metavar=("ENGINE", "GRAPH"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    size = QUICK if args.quick else FULL
    steps = args.steps or (5 if args.quick else 20)
    if args.worker:
        engine, path = args.worker
        print(json.dumps(run_engine(engine, Path(path), args.fanouts, args.batch_size, steps, args.threads[0],
                                    args.gather_in_step)))
        return 0
    nodes, edges = args.nodes or size["nodes"], args.edges or size["edges"]
    path = graph_file(nodes, edges)
    with np.load(path) as z:
        num_edges = z["indices"].size
    print(f"graph: {nodes:,} vertices, {num_edges:,} directed edges (symmetrised Chung-Lu, exponent 2.5), "
          f"features {FEATURES}, fanouts {args.fanouts}, batch {args.batch_size}, 1 uniform negative per positive, "
          f"{'/'.join(map(str, args.threads))} thread(s)", flush=True)
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    results = []
    for r in range(args.rounds or (1 if args.quick else 3)):
        for threads in args.threads:
            for engine in args.engines:  # alternate engines: a shared machine's load falls on both
                res = run_worker(__file__, [engine, str(path), "--steps", str(steps), "--batch-size",
                                            str(args.batch_size), "--fanouts", *map(str, args.fanouts),
                                            *(["--gather-in-step"] if args.gather_in_step else [])], threads, engine)
                res["round"], res["threads"] = r, threads
                results.append(res)
                extra = (f" (waiting for the batch {res['sample_ms']:.1f} ms, training {res['compute_ms']:.1f} ms)"
                         if args.profile else "")
                print(f"  {engine:13s} {threads} thread(s) round {r}: {res['median_ms']:8.1f} ms/step "
                      f"{res['pos_edges_per_s']:10,.0f} positive edges/s{extra}", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}", flush=True)
    for threads in args.threads:
        _tables(args, [r for r in results if r["threads"] == threads], nodes, threads)
    if len(args.threads) > 1:  # each side's fastest configuration of this run
        runs: dict[tuple[str, int], list[float]] = {}
        for r in results:
            runs.setdefault((r["engine"], r["threads"]), []).append(r["pos_edges_per_s"])
        rates = {k: statistics.median(v) for k, v in runs.items()}
        best = {side: max(((k, v) for k, v in rates.items() if k[0].startswith(side)), key=lambda kv: kv[1], default=None)
                for side in ("gnnkit", "dgl")}
        if best["gnnkit"] and best["dgl"]:
            (ge, gt), gv = best["gnnkit"]
            (de, dt), dv = best["dgl"]
            print(f"\nbest vs best: gnnkit {gv:,.0f} pos. edges/s ({ge}, {gt} thread(s)) vs DGL {dv:,.0f} ({de}, "
                  f"{dt} thread(s)) = {gv / dv:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


def _tables(args: argparse.Namespace, results: list[dict], nodes: int, threads: int) -> None:
    """The comparison table (and with ``--profile`` the per-phase table) of one thread count's runs."""
    by = {e: [r for r in results if r["engine"] == e] for e in args.engines}
    rate = {e: statistics.median(r["pos_edges_per_s"] for r in v) for e, v in by.items() if v}

    def cell(e: str) -> str:
        if e not in rate:
            return "-"
        v = [r["pos_edges_per_s"] for r in by[e]]
        return f"{rate[e]:,.0f} ({min(v):,.0f}-{max(v):,.0f})"

    peak = {e: max(r["peak_rss_gb"] for r in v) for e, v in by.items() if v}
    inputs = {e: statistics.mean(r["mean_input_nodes"] for r in v) for e, v in by.items() if v}
    cpu = {e: statistics.median(r["cpu_ms_per_step"] for r in v) for e, v in by.items() if v}
    print(f"\n{threads} intra-op thread(s) per engine:")
    print("| workload | gnnkit pos. edges/s (range) | DGL pos. edges/s (range) | gnnkit/DGL | peak RSS gnnkit / DGL "
          "| input vertices per step | process CPU ms/step gnnkit / DGL |")
    print("|---|---|---|---|---|---|---|")
    dgl_best = max((d for d in ("dgl", "dgl-worker") if d in rate), key=rate.get, default="dgl")
    # gnnkit's default loader (prefetch thread: sampling on a second core) against DGL's faster configuration
    # of those run (its worker process also samples on a second core); the one-core loop against DGL's
    # in-process loader; gnnkit's worker against DGL's worker
    for e, what, d in (("gnnkit", "prefetch thread", dgl_best), ("gnnkit-serial", "no prefetch thread", "dgl"),
                       ("gnnkit-worker", "1 sampling worker", "dgl-worker" if "dgl-worker" in rate else "dgl")):
        if e not in rate:
            continue
        vs = " vs DGL 1 sampling worker" if d == "dgl-worker" else ""
        ratio = f"{rate[e] / rate[d]:.2f}x" if d in rate else "-"
        print(f"| link SAGE {args.fanouts} b{args.batch_size} 1 neg, {nodes // 1000}k vertices, gnnkit {what}{vs} | "
              f"{cell(e)} | {cell(d)} | {ratio} | {peak[e]:.2f} / {peak.get(d, 0):.2f} GB | "
              f"{inputs[e]:,.0f} / {inputs.get(d, 0):,.0f} | {cpu[e]:.1f} / {cpu.get(d, 0):.1f} |")
    if args.profile:  # CPU time (thread_time) per step, median over rounds of each round's median
        where = ("in the training thread (--gather-in-step)" if args.gather_in_step else
                 "on the sampling side (DGL's next() is one phase: negatives, blocks and the feature slice)")
        print(f"\nCPU ms per step by phase; the feature gather runs {where}:")
        print("| phase | " + " | ".join(e for e in args.engines if by[e]) + " |")
        print("|---" * (1 + sum(1 for e in args.engines if by[e])) + "|")
        for k in PHASES:
            row = [statistics.median(r["phases_ms"][k] for r in by[e]) if all(k in r["phases_ms"] for r in by[e])
                   else None for e in args.engines if by[e]]
            if any(v is not None for v in row):
                print(f"| {k} | " + " | ".join("-" if v is None else f"{v:.2f}" for v in row) + " |")


if __name__ == "__main__":
    sys.exit(main())
