"""bfloat16 vs float32 training in gnnkit: step time, Cora accuracy over seeds, and an arxiv-size loss curve.

Step time (default mode): one training step (forward, cross-entropy, backward, Adam) of the
two-layer GCN / SAGE / GAT models of ``benchmarks/core.py`` on a generated power-law graph, in
eager float32, eager bfloat16 (``gnnkit.precision.autocast("bf16")``: bfloat16 GEMMs and sparse
ops storing bfloat16, accumulating in float32) and optionally ``torch.compile`` float32. Each
mode runs in its own process (``_worker.py``), the modes alternate within each round so a busy
spell of the shared machine hits all of them; the table gives the median over rounds of each
round's median step, the min-max spread, and bf16/fp32.

    python benchmarks/precision.py                           # 169k vertices, 3 rounds of 3 steps
    python benchmarks/precision.py --quick                   # 20k vertices, 1 round of 1 step (smoke run)
    python benchmarks/precision.py --modes "eager fp32" "compiled fp32" "eager bf16" --backend aot_eager
    python benchmarks/precision.py --accuracy --seeds 10     # Cora test accuracy, fp32 vs bf16, per seed
    python benchmarks/precision.py --loss-curve --steps 50 --plot loss.png   # arxiv-size loss curves

bfloat16 is fast only where the CPU has bf16 arithmetic (AMX or AVX512-BF16); every mode prints
what ``torch.backends.cpu.get_cpu_capability()`` and ``/proc/cpuinfo`` report.
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
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _worker import run_worker  # noqa: E402
from core import CLASSES, FEATS, build_gnnkit, power_law_graph  # noqa: E402  the same models and graph family

from gnnkit.precision import autocast, cpu_bf16_support  # noqa: E402

WORKLOADS = ("gcn", "sage", "gat")
MODES = ("eager fp32", "compiled fp32", "eager bf16")
ARXIV_NODES, ARXIV_DRAWS = 169_343, 585_000  # about 1.17M edges after symmetrising and deduplicating


def graph_and_data(num_nodes: int, draws: int) -> tuple[tuple, torch.Tensor, torch.Tensor]:
    """The benchmark graph, ``x [N, 128]`` and learnable labels: ``y = argmax(x R)`` for a fixed random ``R``,
    so a loss curve falls instead of staying at ``log(classes)``."""
    src, dst = power_law_graph(num_nodes, draws)
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.standard_normal((num_nodes, FEATS), dtype=np.float32))
    r = torch.from_numpy(rng.standard_normal((FEATS, CLASSES), dtype=np.float32))
    return (src, dst, num_nodes), x, (x @ r).argmax(1)


def make_step(workload: str, g_args: tuple, x: torch.Tensor, y: torch.Tensor, mode: str, backend: str):
    """A zero-argument training step for ``mode`` returning its loss, with its own freshly initialised model."""
    torch.manual_seed(0)
    model, layers = build_gnnkit(workload, *g_args)
    if mode == "compiled fp32":
        # the graph's layouts (CSR, self-loops, norms) are built by data-dependent code on first use:
        # one eager forward and backward caches them, so the compiled model traces as one graph
        model(x).sum().backward()
        model = torch.compile(model, backend=backend, fullgraph=True)
    opt = torch.optim.Adam([p for layer in layers for p in layer.parameters()], lr=0.01)
    precision = "bf16" if mode == "eager bf16" else "fp32"

    def step() -> float:
        opt.zero_grad()
        with autocast(precision):
            loss = F.cross_entropy(model(x), y)  # autocast runs cross_entropy in float32
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step


def worker(args: argparse.Namespace) -> None:
    """One mode's timed steps (or its loss curve) in this process; prints one JSON line."""
    torch.set_num_threads(args.threads)
    g_args, x, y = graph_and_data(args.nodes, args.draws)
    step = make_step(args.workloads[0], g_args, x, y, args.modes[0], args.backend)
    if args.loss_curve:
        losses = [step() for _ in range(args.steps)]
        print(json.dumps({"losses": losses}))
        return
    step()  # warm-up: compilation, layouts, allocator
    step()
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KB -> GB
    print(json.dumps({"step_s": statistics.median(times), "peak_rss_gb": rss}))


def _worker_args(args: argparse.Namespace, workload: str, mode: str, steps: int) -> list[str]:
    out = ["--workloads", workload, "--modes", mode, "--nodes", str(args.nodes), "--draws", str(args.draws),
           "--steps", str(steps), "--backend", args.backend]
    return out + (["--loss-curve"] if args.loss_curve else [])


def step_times(args: argparse.Namespace) -> None:
    script = Path(__file__).resolve()
    print("| workload | " + " | ".join(f"{m} (ms)" for m in args.modes) + " | bf16/fp32 | peak RSS fp32/bf16 (GB) |")
    print("|---" * (len(args.modes) + 3) + "|")
    for workload in args.workloads:
        runs: dict[str, list[dict]] = {m: [] for m in args.modes}
        for _ in range(args.rounds):
            for mode in args.modes:
                runs[mode].append(run_worker(script, _worker_args(args, workload, mode, args.steps), args.threads,
                                             f"{workload} {mode}"))
        cell, med = [], {}
        for mode in args.modes:
            t = [1e3 * r["step_s"] for r in runs[mode]]
            med[mode] = statistics.median(t)
            cell.append(f"{med[mode]:.0f} ({min(t):.0f}-{max(t):.0f})")
        ratio = med["eager bf16"] / med["eager fp32"] if {"eager bf16", "eager fp32"} <= set(med) else float("nan")
        rss = "/".join(f"{max(r['peak_rss_gb'] for r in runs[m]):.2f}" for m in ("eager fp32", "eager bf16") if m in runs)
        print(f"| {workload} | " + " | ".join(cell) + f" | {ratio:.2f} | {rss} |")


def loss_curves(args: argparse.Namespace) -> None:
    """fp32 and bf16 loss over ``--steps`` full-graph steps per workload; the largest relative gap, and a PNG."""
    script = Path(__file__).resolve()
    curves = {}
    print("| workload | fp32 loss step 1 -> last | bf16 loss step 1 -> last | last-step gap | largest gap |")
    print("|---|---|---|---|---|")
    for workload in args.workloads:
        got = {m: run_worker(script, _worker_args(args, workload, m, args.steps), args.threads, f"{workload} {m}")["losses"]
               for m in ("eager fp32", "eager bf16")}
        fp, bf = np.array(got["eager fp32"]), np.array(got["eager bf16"])
        gap = np.abs(bf - fp) / np.abs(fp)
        curves[workload] = (fp, bf)
        print(f"| {workload} | {fp[0]:.4f} -> {fp[-1]:.4f} | {bf[0]:.4f} -> {bf[-1]:.4f} | {100 * gap[-1]:.2f} % "
              f"| {100 * gap.max():.2f} % (step {int(gap.argmax()) + 1}) |")
    if args.plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(curves), figsize=(4.5 * len(curves), 3.5), squeeze=False)
        for ax, (workload, (fp, bf)) in zip(axes[0], curves.items()):
            steps = np.arange(1, len(fp) + 1)
            ax.plot(steps, fp, label="fp32")
            ax.plot(steps, bf, label="bf16 (autocast)", linestyle="--")
            ax.set(title=f"{workload}: {args.nodes} vertices", xlabel="step", ylabel="training loss")
            ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"wrote {args.plot}")


def accuracy(args: argparse.Namespace) -> None:
    """Cora test accuracy of ``gnnkit train`` per seed, ``--precision fp32`` vs ``bf16``, for each workload."""
    from gnnkit.cli.train import build_parser, train

    print("| model | fp32 test acc (mean ± std) | bf16 test acc (mean ± std) | bf16 - fp32 (points) | seeds |")
    print("|---|---|---|---|---|")
    for workload in args.workloads:
        acc = {}
        for precision in ("fp32", "bf16"):
            acc[precision] = [100 * train(build_parser().parse_args(
                ["train", "--model", workload, "--seed", str(s), "--quiet", "--precision", precision,
                 *(["--epochs", "20"] if args.quick else [])])) for s in range(args.seeds)]
        mean = {p: statistics.mean(v) for p, v in acc.items()}
        std = {p: statistics.stdev(v) if len(v) > 1 else 0.0 for p, v in acc.items()}
        print(f"| {workload} | {mean['fp32']:.2f} ± {std['fp32']:.2f} | {mean['bf16']:.2f} ± {std['bf16']:.2f} "
              f"| {mean['bf16'] - mean['fp32']:+.2f} | {args.seeds} |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    p.add_argument("--modes", nargs="+", choices=MODES, default=["eager fp32", "eager bf16"])
    p.add_argument("--nodes", type=int, default=ARXIV_NODES, help="vertices of the generated graph")
    p.add_argument("--draws", type=int, help="edge draws before symmetrising (default: arxiv's ratio)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, help="timed steps per mode and round (3), or loss-curve steps (50)")
    p.add_argument("--backend", default="inductor", help="torch.compile backend (aot_eager skips code generation)")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--quick", action="store_true", help="20k vertices, one round of one step (2 seeds, 20 epochs)")
    p.add_argument("--accuracy", action="store_true", help="Cora test accuracy over --seeds, fp32 vs bf16")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--loss-curve", action="store_true", help="training loss over --steps steps, fp32 vs bf16")
    p.add_argument("--plot", type=Path, help="--loss-curve: write the curves to this PNG")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.nodes, args.rounds, args.seeds = 20_000, 1, 2
        args.steps = args.steps or (3 if args.loss_curve else 1)
    args.steps = args.steps or (50 if args.loss_curve else 3)
    args.draws = args.draws or round(args.nodes * ARXIV_DRAWS / ARXIV_NODES)
    if args.worker:
        worker(args)
        return 0
    torch.set_num_threads(args.threads)
    print(cpu_bf16_support())
    if args.accuracy:
        accuracy(args)
        return 0
    print(f"graph: {args.nodes} vertices, {args.draws} edge draws, {FEATS} features, {CLASSES} classes; threads {args.threads}")
    if args.loss_curve:
        loss_curves(args)
    else:
        step_times(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
