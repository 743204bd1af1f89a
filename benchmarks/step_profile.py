"""Where a gnnkit full-graph training step spends the time above its floor (benchmarks/core.py).

For each workload of ``core.py`` (GCN, SAGE, GAT on the arxiv-size power-law graph) and each
allocator setting, a fresh process times ``--steps`` training steps after one warm-up and, in
the same process, the workload's floor (``core.time_floor``: the step's GEMMs alone plus the
sparse bytes over the copy bandwidth measured there). It then profiles one more step with
``torch.profiler`` and splits its self time (on the calling thread, so wall time of each op):

- ``GEMM``: ``aten::mm`` / ``addmm`` / ``bmm``, to compare with the floor's GEMM seconds;
- ``sparse``: the ``gnnkit::`` custom ops (spmm, sddmm_dot, edge_softmax and its backward),
  to compare with the floor's sparse seconds;
- ``rest``: everything else (elementwise ops, loss, Adam, copies, autograd bookkeeping).

Per step it also reads ``getrusage``: minor page faults and system CPU seconds. Each fresh
``[169k, 256]`` float32 intermediate (173 MB) is faulted in 4 KB pages by the kernel (glibc
maps every block over 32 MB afresh and unmaps it on free), which no floor counts. The
``retain`` setting starts the worker with glibc's ``MALLOC_MMAP_MAX_=0`` and
``MALLOC_TRIM_THRESHOLD_`` at its maximum, so freed blocks stay in the heap and the next step
reuses them; ``thp`` starts it with torch's ``THP_MEM_ALLOC_ENABLE=1`` (2 MB pages: 512 times
fewer faults, each zeroing more). Both are process-wide choices a user makes at launch, not
something gnnkit sets.

Settings alternate within each round in separate processes (the order rotates per round); each
cell is the median over rounds with the min-max spread.

    python benchmarks/step_profile.py                       # gcn sage gat, default and retain, 3 rounds
    python benchmarks/step_profile.py --quick               # 20k-vertex graph, 1 round (CI smoke run)
    python benchmarks/step_profile.py --workloads gat --settings default --rounds 5
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
import core  # noqa: E402  (the graph, the models and the floor of benchmarks/core.py)
from _worker import run_worker  # noqa: E402

WORKLOADS = ("gcn", "sage", "gat")
# glibc reads these at process start; 2**31 - 1 is the largest trim threshold it accepts
# torch reads THP_MEM_ALLOC_ENABLE at its first allocation: 2 MB pages for its blocks over 2 MB
SETTINGS = {"default": {}, "retain": {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(2**31 - 1)},
            "thp": {"THP_MEM_ALLOC_ENABLE": "1"}}
GEMM_OPS = ("aten::mm", "aten::addmm", "aten::bmm")


def split_profile(events) -> dict:
    """Self CPU seconds of a profiled step by class: ``gemm_s``, ``sparse_s`` and ``rest_s``."""
    parts = {"gemm_s": 0.0, "sparse_s": 0.0, "rest_s": 0.0}
    for ev in events:
        key = "gemm_s" if ev.key in GEMM_OPS else "sparse_s" if ev.key.startswith("gnnkit::") else "rest_s"
        parts[key] += ev.self_cpu_time_total / 1e6
    return parts


def worker(workload: str, quick: bool, steps: int, threads: int) -> dict:
    """Time ``steps`` gnnkit training steps with their page faults, the floor, then profile one step."""
    import torch
    import torch.nn.functional as F
    from torch.profiler import ProfilerActivity, profile

    src, dst, n, x, y = core.worker_inputs(quick, threads)
    model, layers = core.build_gnnkit(workload, src, dst, n)
    opt = torch.optim.Adam([p for layer in layers for p in layer.parameters()], lr=0.01)

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    step()  # warm-up: layouts, caches, the kernels' build
    rows = []
    for _ in range(steps):
        r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        step()
        t1, r1 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        rows.append((t1 - t0, r1.ru_minflt - r0.ru_minflt, r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime))
    floor = core.time_floor(workload, n, int(src.size), steps)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    med = lambda i: statistics.median(r[i] for r in rows)  # noqa: E731
    return {"workload": workload, "step_s": med(0), "faults": med(1), "user_s": med(2), "sys_s": med(3),
            **split_profile(prof.key_averages()), "floor_s": floor["median_s"], "floor_gemm_s": floor["gemm_s"],
            "floor_sparse_s": floor["sparse_s"], "copy_gbps": floor["copy_gbps"],
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _cell(values: list[float], fmt: str) -> str:
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}–{max(values):{fmt}})"


def table(runs: list[dict]) -> str:
    """Markdown: per workload and setting, medians over rounds (min–max) of every measured part."""
    cols = [("step s", "step_s", ".3f"), ("floor s", "floor_s", ".3f"), ("step/floor", "ratio", ".2f"),
            ("GEMM s (profiled)", "gemm_s", ".3f"), ("GEMM floor s", "floor_gemm_s", ".3f"),
            ("sparse s (profiled)", "sparse_s", ".3f"), ("sparse floor s", "floor_sparse_s", ".3f"),
            ("rest s (profiled)", "rest_s", ".3f"), ("page faults/step", "faults", ",.0f"),
            ("sys CPU s/step", "sys_s", ".3f"), ("user CPU s/step", "user_s", ".3f"), ("copy GB/s", "copy_gbps", ".1f")]
    lines = ["| workload | setting | rounds | " + " | ".join(c[0] for c in cols) + " |",
             "|" + "---|" * (3 + len(cols))]
    by: dict[tuple[str, str], list[dict]] = {}
    for r in runs:
        by.setdefault((r["workload"], r["setting"]), []).append({**r, "ratio": r["step_s"] / r["floor_s"]})
    for (w, s), rs in by.items():
        cells = [_cell([r[k] for r in rs], f) for _, k, f in cols]
        lines.append(f"| {w} | {s} | {len(rs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=WORKLOADS)
    p.add_argument("--settings", nargs="+", default=["default", "retain"], choices=list(SETTINGS))
    p.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up (default 3)")
    p.add_argument("--rounds", type=int, help="alternating runs of every (workload, setting) (default 3; --quick 1)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="small graph, one timed step")
    p.add_argument("--json", type=Path, help="also write the raw per-round results here")
    p.add_argument("--worker", nargs=1, metavar="WORKLOAD", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker[0], args.quick, args.steps, args.threads)))
        return 0
    rounds = core.resolve_rounds(p, args)
    data = np.load(core.graph_file(args.quick))
    print(f"graph: {int(data['n']):,} vertices, {data['src'].size:,} edges; gnnkit training step, {args.steps} timed "
          f"steps, {args.threads} threads; median of {rounds} rounds, spread min–max", flush=True)
    runs = []
    for rnd in range(rounds):
        order = args.settings[rnd % len(args.settings):] + args.settings[:rnd % len(args.settings)]
        for w in args.workloads:
            for s in order:
                extra = ["--steps", str(args.steps)] + (["--quick"] if args.quick else [])
                saved = dict(os.environ)
                os.environ.update(SETTINGS[s])  # the child inherits them; glibc reads them at its start
                try:
                    res = run_worker(__file__, [w, *extra], args.threads, f"{w}/{s}")
                finally:
                    os.environ.clear()
                    os.environ.update(saved)
                runs.append({**res, "setting": s, "round": rnd})
    print(table(runs))
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
