"""Brain scale: a spatially embedded rate network of 10^7 neurons and 10^9 synapses, built chunked and stepped.

Neurons sit on a 3-D lattice of side ``L = round(N^(1/3))`` in x and y (id ``i`` at
``(i mod L, (i // L) mod L, i // L^2)``, so ids are spatially ordered) with helical boundaries
(the source of an offset ``o`` is ``(i + o) mod N``: no face, any ``N``). Every neuron draws
``--synapses-per-neuron`` presynaptic partners (with replacement: duplicates add up) from the
exponential distance rule ``P(offset) ∝ e^{-d/lambda}`` over the lattice offsets with
``0 < d <= 15 lambda`` (the rule's mass beyond is ``< 10^-4``; small lattices cut at ``(L - 1) / 2``). The rule is tabulated once:
``2^22`` slots, each offset filling ``round(P 2^22)`` of them (largest remainders), so one draw
is one uniform integer and one table read; offsets whose share rounds to no slot are dropped
(0.13 % of the mass at ``lambda = 2``). The synapses of a block of ``--chunk`` neurons are drawn
at once and written straight into their CSR rows (fixed in-degree, so ``indptr`` is known up
front): no ``[E]`` int64 array ever exists.

Engines (each round runs each in its own process, the order alternating between rounds):

- ``csr32``: ``int32`` source ids + ``float32`` weights, 8 bytes per synapse, stepped with
  ``gnnkit.ops.spmm_csr`` and ``gnnkit.brain.dynamics.rate_update`` (the 10^9 path);
- ``graph``: the same synapses as a ``gnnkit.Graph`` (int64 ``src``/``dst`` and its CSR) in a
  ``gnnkit.brain.RateNetwork`` — the general path, 16 bytes of ids per synapse before its CSR.

Each step is ``r <- r + dt/tau (tanh(W r + I) - r)`` over ``--trials`` columns. Printed: build
time, median step time (min-max over rounds) and peak RSS (``ru_maxrss``) as markdown rows.

    python benchmarks/brain_scale.py --quick                                   # CI: 2*10^4 neurons
    python benchmarks/brain_scale.py --neurons 1000000 --engines csr32 graph   # 10^8 synapses, both engines
    flock /tmp/gnnkit_bigrun.lock python benchmarks/brain_scale.py --neurons 10000000 --rounds 1   # 10^9
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

import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _worker import run_worker  # noqa: E402

ENGINES = ("csr32", "graph")


TABLE_SLOTS = 1 << 22


def offset_table(side: int, decay: float) -> torch.Tensor:
    """``[2^22]`` int32 id offsets, each lattice offset repeated in proportion to ``e^{-d/decay}``."""
    r = max(1, min(int(15 * decay), (side - 1) // 2))  # within half the lattice: an offset never wraps onto its neuron
    axis = torch.arange(-r, r + 1)
    dz, dy, dx = torch.meshgrid(axis, axis, axis, indexing="ij")
    dist = (dx**2 + dy**2 + dz**2).double().sqrt()
    keep = (dist > 0) & (dist <= r)  # no autapse: offset 0 is never drawn
    p = torch.exp(-dist[keep] / decay)
    p = p / p.sum()
    slots = torch.floor(p * TABLE_SLOTS).long()
    short = TABLE_SLOTS - int(slots.sum())
    slots[torch.argsort(p * TABLE_SLOTS - slots, descending=True)[:short]] += 1  # largest remainders
    offsets = dx[keep] + side * (dy[keep] + side * dz[keep])  # [K] id offset of each lattice offset
    return torch.repeat_interleave(offsets, slots).to(torch.int32)


def build_csr(num_nodes: int, k: int, decay: float, chunk: int, seed: int, progress: bool):
    """``(indptr int64 [N + 1], indices int32 [N k], weight float32 [N k])``, ``k`` synapses into each neuron."""
    table = offset_table(max(1, round(num_nodes ** (1 / 3))), decay)
    if num_nodes * k >= 2**31 or num_nodes >= 2**31 - int(table.abs().max()):
        raise ValueError(f"int32 ids need N k < 2^31 synapses, got N = {num_nodes}, k = {k}")
    gen = torch.Generator().manual_seed(seed)
    indptr = torch.arange(num_nodes + 1, dtype=torch.int64) * k
    indices = torch.empty(num_nodes * k, dtype=torch.int32)
    weight = torch.empty(num_nodes * k, dtype=torch.float32)
    scale = 0.9 / math.sqrt(k)  # gain 0.9: a stable random network
    for start in tqdm(range(0, num_nodes, chunk), desc="build", unit="chunk", disable=not progress):
        c = min(chunk, num_nodes - start)
        lo, hi = start * k, (start + c) * k
        slot = torch.randint(0, TABLE_SLOTS, (hi - lo,), generator=gen)  # [C k]
        dst = torch.arange(start, start + c, dtype=torch.int32).view(c, 1)  # [C, 1]
        src = (dst + table[slot].view(c, k)).remainder_(num_nodes)  # [C, k] helical boundaries
        indices[lo:hi] = src.view(-1)
        weight[lo:hi] = torch.randn(hi - lo, generator=gen) * scale
    return indptr, indices, weight


def worker(args: argparse.Namespace) -> dict:
    from gnnkit import Graph, ops
    from gnnkit.brain.dynamics import RateNetwork, rate_update

    if args.threads:
        torch.set_num_threads(args.threads)
    t0, c0 = time.perf_counter(), time.process_time()
    indptr, indices, weight = build_csr(args.neurons, args.synapses_per_neuron, args.decay, args.chunk, args.seed,
                                        progress=sys.stderr.isatty())
    n, e = args.neurons, indices.numel()
    if args.engine == "graph":
        dst = torch.repeat_interleave(torch.arange(n), indptr.diff())  # [E] int64
        model = RateNetwork(Graph(indices.long(), dst, n), tau=10.0, dt=1.0, activation="tanh", weight=weight)
        del dst, indices, weight
        model.graph.csr_in()  # the layout spmm reads, built before the timed steps (as the csr32 engine's)
        held = sum(t.numel() * t.element_size() for t in (model.graph.src, model.graph.dst, model.weight))
        csr = model.graph.csr_in()
        held += sum(t.numel() * t.element_size() for t in (csr.indptr, csr.indices) + ((csr.eid,) if csr.eid is not None else ()))
    else:
        held = sum(t.numel() * t.element_size() for t in (indptr, indices, weight))
    build_s, build_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    gen = torch.Generator().manual_seed(args.seed + 1)
    drive = torch.randn(n, args.trials, generator=gen) * 0.5  # [N, B] constant input
    r = torch.zeros(n, args.trials)
    times, cpu_times = [], []
    with torch.no_grad():
        for step in range(args.steps + 1):  # step 0 is the warm-up (and the csr32 engine's one checked call)
            t1, c1 = time.perf_counter(), time.process_time()
            if args.engine == "graph":
                r = model(r, drive)
            else:
                current = ops.spmm_csr(indptr, indices, r, weight, check=step == 0) + drive  # [N, B]
                r = rate_update(r, current, 1.0 / 10.0, torch.tanh)
            if step:
                times.append(time.perf_counter() - t1)
                cpu_times.append(time.process_time() - c1)
    return {"engine": args.engine, "neurons": n, "synapses": e, "build_s": build_s, "step_s": statistics.median(times),
            "build_cpu_s": build_cpu_s, "step_cpu_s": statistics.median(cpu_times),
            "bytes_per_synapse": held / max(e, 1), "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            "mean_rate": float(r.abs().mean()), "threads": torch.get_num_threads()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--neurons", type=int, default=10_000_000)
    parser.add_argument("--synapses-per-neuron", type=int, default=100)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--trials", type=int, default=1, help="columns B of the state [N, B]")
    parser.add_argument("--decay", type=float, default=2.0, help="length constant lambda in grid units")
    parser.add_argument("--chunk", type=int, default=1 << 16, help="neurons whose synapses are drawn at once")
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=["csr32"])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--quick", action="store_true", help="2*10^4 neurons x 20 synapses, both engines (CI)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--engine", choices=ENGINES, default="csr32", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.neurons, args.synapses_per_neuron, args.steps, args.engines = 20_000, 20, 2, list(ENGINES)
    if args.worker:
        print(json.dumps(worker(args)))
        return 0
    shared = ["--neurons", str(args.neurons), "--synapses-per-neuron", str(args.synapses_per_neuron), "--steps",
              str(args.steps), "--trials", str(args.trials), "--decay", str(args.decay), "--chunk", str(args.chunk),
              "--seed", str(args.seed)]
    runs: dict[str, list[dict]] = {e: [] for e in args.engines}
    for rnd in range(args.rounds):
        order = args.engines[rnd % len(args.engines):] + args.engines[: rnd % len(args.engines)]  # rotate the order
        for engine in order:
            runs[engine].append(run_worker(__file__, shared + ["--engine", engine], args.threads, f"{engine} round {rnd}"))
    rows = []
    # CPU seconds next to wall seconds: on a shared machine the wall clock also counts other people's work
    print("| engine | neurons | synapses | bytes/synapse | build (CPU) | step (median, min-max; CPU) | peak RSS | rounds |")
    print("|---|---|---|---|---|---|---|---|")
    for engine, rs in runs.items():
        steps = [r["step_s"] for r in rs]
        row = {**rs[0], "build_s": statistics.median(r["build_s"] for r in rs), "step_s": statistics.median(steps),
               "step_min_s": min(steps), "step_max_s": max(steps),
               "build_cpu_s": statistics.median(r["build_cpu_s"] for r in rs),
               "step_cpu_s": statistics.median(r["step_cpu_s"] for r in rs),
               "peak_rss_gib": max(r["peak_rss_gib"] for r in rs), "rounds": len(rs)}
        rows.append(row)
        print(f"| {engine} | {row['neurons']:,} | {row['synapses']:,} | {row['bytes_per_synapse']:.1f} | "
              f"{row['build_s']:.1f} s ({row['build_cpu_s']:.1f} s) | {row['step_s']:.3f} s "
              f"({row['step_min_s']:.3f}-{row['step_max_s']:.3f}; {row['step_cpu_s']:.3f} s) | "
              f"{row['peak_rss_gib']:.2f} GiB | {row['rounds']} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
