"""CPU benchmark: HeteroConv with one SAGE layer per relation, batched (one sparse product per
destination type) vs the per-relation loop, on a synthetic graph with 8 relations.

Four node types of ``--nodes`` vertices each; eight relations (two per destination type, from
two different source types, ``--degree`` uniform random in-edges per destination). One step
is forward + backward of ``HeteroConv({r: SAGEConv(F, F', "mean")}, reduce="sum")``; one
warm-up step, then the median of ``--steps`` timed steps (the two variants alternate). Both variants share the weights
and the inputs, and the script checks that their outputs agree before timing.

    python benchmarks/hetero.py                 # 50k vertices per type
    python benchmarks/hetero.py --quick         # 5k vertices per type, 3 steps
"""
from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from gnnkit import HeteroGraph
from gnnkit.nn import HeteroConv, SAGEConv

TYPES = ("a", "b", "c", "d")


def synthetic(num_nodes: int, degree: int, seed: int = 0) -> HeteroGraph:
    """8 relations: type ``TYPES[i]`` receives from ``TYPES[i+1]`` and ``TYPES[i+2]`` (cyclically)."""
    g = torch.Generator().manual_seed(seed)
    edges = {}
    for i, d in enumerate(TYPES):
        for j in (1, 2):
            s = TYPES[(i + j) % len(TYPES)]
            e = num_nodes * degree
            edges[(s, f"{s}_to_{d}", d)] = (torch.randint(0, num_nodes, (e,), generator=g),
                                            torch.randint(0, num_nodes, (e,), generator=g))
    return HeteroGraph({t: num_nodes for t in TYPES}, edges)


def time_steps(convs: dict[str, HeteroConv], hg: HeteroGraph, x: dict, steps: int) -> dict[str, float]:
    """Median seconds of one forward + backward per variant (after one warm-up step each).

    The variants alternate step by step, so a change in the load of the shared machine
    hits both alike.
    """
    times: dict[str, list[float]] = {name: [] for name in convs}
    for i in range(steps + 1):
        for name, conv in convs.items():
            t0 = time.perf_counter()
            out = conv(hg, x)
            sum(v.sum() for v in out.values()).backward()
            if i:
                times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=50_000)
    parser.add_argument("--degree", type=int, default=10)
    parser.add_argument("--in-features", type=int, default=64)
    parser.add_argument("--out-features", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.nodes, args.steps = 5_000, 3
    hg = synthetic(args.nodes, args.degree)
    torch.manual_seed(0)
    batched = HeteroConv({r: SAGEConv(args.in_features, args.out_features, "mean") for r in hg.relations})
    loop = copy.deepcopy(batched)
    loop.batched = False
    x = {t: torch.randn(args.nodes, args.in_features, requires_grad=True) for t in TYPES}
    with torch.no_grad():
        a, b = batched(hg, x), loop(hg, x)
        for t in TYPES:
            torch.testing.assert_close(a[t], b[t], rtol=1e-4, atol=1e-4)  # float32 sums in another order
    t = time_steps({"loop": loop, "batched": batched}, hg, x, args.steps)
    t_batched, t_loop = t["batched"], t["loop"]
    print(f"graph: {len(TYPES)} types x {args.nodes} vertices, {len(hg.relations)} relations, {hg.num_edges()} edges; "
          f"F={args.in_features} -> {args.out_features}; threads={torch.get_num_threads()}")
    print(f"loop    {t_loop * 1e3:8.1f} ms/step")
    print(f"batched {t_batched * 1e3:8.1f} ms/step   speed-up x{t_loop / t_batched:.2f}")


if __name__ == "__main__":
    main()
