"""Brain benchmarks: training-step time vs. synapse density, and generator scale.

``--density`` (default): a ``SpatialRNN`` on an over-connected spatial graph is pruned by
weight magnitude to a series of densities with ``gnnkit.brain.rewire_`` (synapses removed
from the sparse structure, weights and Adam state re-indexed). For each density the median
time of a full training step (forward over ``T`` time steps, backward, Adam) is compared
with the same density reached by *masking* (weights multiplied by a 0/1 mask on the
unpruned structure, the usual dense-framework approach), and the memory held per synapse
(edge ids, CSR layout, weight, gradient, Adam moments) is reported.

``--generator``: ``spatial_graph`` at scale, each size in its own process so the peak RSS
(``ru_maxrss``) is that run's own.

    python benchmarks/brain_density.py                       # density table (~1 min)
    python benchmarks/brain_density.py --generator           # 10^6 neurons, ~10^8 synapses (a few minutes)
    python benchmarks/brain_density.py --quick               # CI smoke run
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch

import gnnkit.brain as brain


def step_time(forward, opt: torch.optim.Optimizer, y: torch.Tensor, repeats: int) -> float:
    """Median milliseconds of one training step ``forward() -> ys``, loss, backward, Adam (after one warm-up step)."""
    times = []
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        ys = forward()
        loss = torch.nn.functional.cross_entropy(ys[-1], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i:
            times.append(1000 * (time.perf_counter() - t0))
    return statistics.median(times)


def masked_forward(net: brain.SpatialRNN, weight: torch.nn.Parameter, mask: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    from gnnkit import ops

    w = weight * mask
    h = net.initial_state(xs.shape[1])
    drive = torch.einsum("if,tbf->tib", net.input_weight, xs)
    ys = []
    for t in range(xs.shape[0]):
        z = (ops.spmm(net.graph, h, w) + net.bias.unsqueeze(1)).index_add(0, net.input_nodes, drive[t])
        h = torch.tanh(z)
        ys.append(net.readout(h[net.output_nodes].t()))
    return torch.stack(ys)


def synapse_bytes(net: brain.SpatialRNN, opt: torch.optim.Optimizer) -> int:
    """Bytes that scale with the synapse count: ids, CSR layouts, weight, gradient, optimizer state."""
    g = net.graph
    total = g.src.numel() * 8 * 2
    for key in ("csr_in", "csr_out"):
        csr = g._cache.get(key)
        if csr is not None:
            total += csr.indices.numel() * 8 + (0 if csr.eid is None else csr.eid.numel() * 8)
    total += net.weight.numel() * net.weight.element_size() * 2  # weight and gradient
    for v in opt.state.get(net.weight, {}).values():
        if torch.is_tensor(v) and v.dim():
            total += v.numel() * v.element_size()
    return total


def density_table(args: argparse.Namespace) -> list[dict]:
    torch.manual_seed(0)
    sg = brain.spatial_graph(args.neurons, mean_degree=args.degree, seed=0)
    n = sg.num_nodes
    gen = torch.Generator().manual_seed(1)
    xs = torch.randn(args.time_steps, args.batch, 16, generator=gen)
    y = torch.randint(0, 4, (args.batch,), generator=gen)
    rows = []
    for keep in args.keep:
        # pruned: remove synapses for real
        net = brain.SpatialRNN(sg.graph, 16, 4, input_nodes=torch.arange(64), output_nodes=torch.arange(n - 64, n))
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        e0 = net.graph.num_edges
        survivors = brain.select_survivors(net.weight.detach().abs(), e0 - int(round(keep * e0)))
        brain.rewire_(net, survivors, optimizer=opt)
        pruned_ms = step_time(lambda: net(xs)[0], opt, y, args.repeats)
        mem = synapse_bytes(net, opt)
        # masked: same surviving weights, full structure
        full = brain.SpatialRNN(sg.graph, 16, 4, input_nodes=torch.arange(64), output_nodes=torch.arange(n - 64, n))
        mask = torch.zeros(e0)
        mask[survivors] = 1.0
        fopt = torch.optim.Adam(full.parameters(), lr=1e-3)
        masked_ms = step_time(lambda: masked_forward(full, full.weight, mask, xs), fopt, y, args.repeats)
        rows.append({"keep": keep, "synapses": net.graph.num_edges, "density": brain.density(net.graph),
                     "pruned_ms": pruned_ms, "masked_ms": masked_ms, "synapse_mb": mem / 2**20,
                     "masked_synapse_mb": synapse_bytes(full, fopt) / 2**20})
        print(f"keep {keep:.2f}: {rows[-1]}", file=sys.stderr)
    return rows


def generator_child(neurons: int, degree: float, dim: int) -> None:
    t0 = time.perf_counter()
    sg = brain.spatial_graph(neurons, mean_degree=degree, dim=dim, seed=0, progress=True)
    seconds = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB on Linux
    print(json.dumps({"neurons": neurons, "dim": dim, "target_degree": degree, "synapses": sg.num_edges,
                      "mean_degree": sg.num_edges / neurons, "seconds": seconds, "peak_rss_gib": rss}))


def generator_table(args: argparse.Namespace) -> list[dict]:
    rows = []
    for spec in args.sizes:
        neurons, degree, dim = spec.split(":")
        proc = subprocess.run([sys.executable, __file__, "--child", neurons, degree, dim], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-2000:])
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(rows[-1], file=sys.stderr)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--generator", action="store_true", help="measure spatial_graph at scale instead")
    parser.add_argument("--sizes", nargs="+", default=["1000000:100:2", "1000000:20:3"],
                        help="neurons:mean_degree:dim per generator run")
    parser.add_argument("--neurons", type=int, default=4000)
    parser.add_argument("--degree", type=float, default=250.0)
    parser.add_argument("--time-steps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep", type=float, nargs="+", default=[1.0, 0.5, 0.25, 0.1, 0.05, 0.02])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.child:
        generator_child(int(args.child[0]), float(args.child[1]), int(args.child[2]))
        return 0
    if args.quick:
        args.neurons, args.degree, args.repeats, args.keep, args.sizes = 500, 40.0, 2, [1.0, 0.25], ["20000:20:2"]
    if args.generator:
        rows = generator_table(args)
        print("| neurons | dim | synapses | mean degree | time (s) | peak RSS (GiB) |\n|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['neurons']:,} | {r['dim']} | {r['synapses']:,} | {r['mean_degree']:.1f} | {r['seconds']:.1f} | "
                  f"{r['peak_rss_gib']:.2f} |")
        return 0
    rows = density_table(args)
    print(f"SpatialRNN, {args.neurons} neurons, T={args.time_steps}, batch {args.batch}, 1 thread; median of "
          f"{args.repeats} training steps (forward, backward, Adam)")
    print("| kept | synapses | density | ms/step pruned | ms/step masked | synapse memory pruned (MB) | masked (MB) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['keep']:.0%} | {r['synapses']:,} | {r['density']:.4f} | {r['pruned_ms']:.1f} | {r['masked_ms']:.1f} | "
              f"{r['synapse_mb']:.1f} | {r['masked_synapse_mb']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
