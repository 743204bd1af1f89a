"""Step times of gnnkit layers: eager float32 vs torch.compile float32 vs eager bfloat16 (autocast).

One training step (forward, cross-entropy, backward, Adam) of the two-layer GCN / SAGE / GAT
models of ``benchmarks/core.py`` on a generated power-law graph. The three modes alternate
within each round so that a busy spell of the shared machine hits all of them; the table gives
the median over rounds of each round's median step. Compilation (and the first steps, which
build the graph's layouts) happen in an untimed warm-up.

    python benchmarks/precision.py                    # 100k-vertex graph, 3 rounds of 3 steps
    python benchmarks/precision.py --quick            # 20k vertices, 1 round of 1 step (smoke run)
    python benchmarks/precision.py --backend aot_eager --workloads gcn

bfloat16 is fast only where the CPU has bf16 arithmetic (AMX or AVX512-BF16); the script prints
what ``torch.backends.cpu.get_cpu_capability()`` and ``/proc/cpuinfo`` report.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from core import CLASSES, FEATS, build_gnnkit, power_law_graph  # noqa: E402  the same models and graph family

WORKLOADS = ("gcn", "sage", "gat")
MODES = ("eager fp32", "compiled fp32", "eager bf16")


def cpu_bf16_support() -> str:
    """What the CPU offers for bfloat16: torch's capability level and the bf16 flags in /proc/cpuinfo."""
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    found = [f for f in ("amx_bf16", "avx512_bf16") if f in flags]
    return f"torch CPU capability {torch.backends.cpu.get_cpu_capability()}; bf16 flags: {', '.join(found) or 'none'}"


def make_step(workload: str, g_args: tuple, x: torch.Tensor, y: torch.Tensor, mode: str, backend: str):
    """A zero-argument training step for ``mode``, with its own freshly initialised model."""
    torch.manual_seed(0)
    model, layers = build_gnnkit(workload, *g_args)
    if mode == "compiled fp32":
        # the graph's layouts (CSR, self-loops, norms) are built by data-dependent code on first use:
        # one eager forward and backward caches them, so the compiled model traces as one graph
        model(x).sum().backward()
        model = torch.compile(model, backend=backend, fullgraph=True)
    opt = torch.optim.Adam([p for layer in layers for p in layer.parameters()], lr=0.01)
    bf16 = mode == "eager bf16"

    def step() -> None:
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(x)
        F.cross_entropy(out.float(), y).backward()
        opt.step()

    return step


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    p.add_argument("--nodes", type=int, default=100_000, help="vertices of the generated graph")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=3, help="timed steps per mode and round")
    p.add_argument("--backend", default="inductor", help="torch.compile backend (aot_eager skips code generation)")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--quick", action="store_true", help="20k vertices, one round of one step")
    args = p.parse_args(argv)
    if args.quick:
        args.nodes, args.rounds, args.steps = 20_000, 1, 1
    torch.set_num_threads(args.threads)
    src, dst = power_law_graph(args.nodes, 7 * args.nodes)
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.standard_normal((args.nodes, FEATS), dtype=np.float32))
    y = torch.from_numpy(rng.integers(0, CLASSES, args.nodes))
    print(f"graph: {args.nodes} vertices, {src.size} edges; threads {args.threads}; compile backend {args.backend}")
    print(cpu_bf16_support())
    print("| workload | " + " | ".join(f"{m} (ms)" for m in MODES) + " | compiled/eager | bf16/fp32 |")
    print("|---" * (len(MODES) + 3) + "|")
    for workload in args.workloads:
        steps = {m: make_step(workload, (src, dst, args.nodes), x, y, m, args.backend) for m in MODES}
        for step in steps.values():  # warm-up: compilation, layouts, allocator
            step()
            step()
        medians: dict[str, list[float]] = {m: [] for m in MODES}
        for _ in range(args.rounds):
            for mode, step in steps.items():
                times = []
                for _ in range(args.steps):
                    t0 = time.perf_counter()
                    step()
                    times.append(time.perf_counter() - t0)
                medians[mode].append(statistics.median(times))
        ms = {m: 1e3 * statistics.median(v) for m, v in medians.items()}
        print(f"| {workload} | " + " | ".join(f"{ms[m]:.1f}" for m in MODES)
              + f" | {ms['compiled fp32'] / ms['eager fp32']:.2f} | {ms['eager bf16'] / ms['eager fp32']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
