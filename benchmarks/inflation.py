"""Vertex inflation on a long-range task: does changing the graph per layer pay?

Task: a vertex's label is the class carried by a marked *source* vertex ``d`` hops away.
Every vertex carries a random class one-hot (distractors) plus two bits (is-source,
is-target); the loss and the accuracy are on the targets only, 4 classes (chance 25 %).

- ``path``: a path of ``d + 1`` vertices, source at one end, target at the other;
- ``ring``: a ring of ``2d`` vertices, source and target opposite (two routes of ``d`` hops);
- ``tree``: a complete binary tree of depth ``d``; the target is the root, the source a
  random leaf, every leaf carries a class (depth up to 6 here: a tree has 2^(d+1) - 1 vertices).

Models (``gnnkit.inflation.InflatedGNN``: encoder → layers → decoder, SAGE-mean convs
with residuals, hidden 32), each trained with Adam for a fixed number of full-batch steps
on up to 256 train graphs (fewer for big graphs: at most 4,096 vertices per batch, at least 32 graphs) and
tested on as many fresh graphs:

- ``plain L=4``: 4 layers on the graph as given (can reach 4 hops);
- ``plain L=d``: ``max(4, d)`` layers on the graph as given (reach = d);
- ``≤2^i hops, decay 0.5`` / ``decay 1``: 4 layers, layer i adds the pairs within 2^i hops,
  top-8 per vertex by (decayed) shortest-path count, weight decay^(hops-1);
- ``exact 2^i hops``: 6 layers, layer i adds the pairs exactly 2^i hops apart, weight 1,
  top-8 per vertex (DRew-like; reach 63; on a path or ring at most 2 per vertex);
- ``hubs (middle)``: 4 layers, layers 1 and 2 add one hub per METIS cluster of ~8 vertices,
  joined to its members and neighbouring hubs, pooled back after the layer.

Cost (full mode): each model on the ``ring`` at the largest ``d`` in its own process (time
per step, peak RSS, edges and vertices per layer), and on the arxiv-size graph of
``core.py`` (graph build time, step time, peak RSS). Cora: ``InflatedGNN(conv="gcn")``
with and without inflation, test accuracy at the best validation epoch over seeds.

    python benchmarks/inflation.py                      # full (about 20 minutes on 2 cores)
    python benchmarks/inflation.py --quick --plot /tmp/p.png   # small sweep (CI smoke run)
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from core import graph_file  # noqa: E402  (the core benchmark's arxiv-size graph)

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ("path", "ring", "tree")
DISTANCES = {"path": (2, 4, 8, 16, 32), "ring": (2, 4, 8, 16, 32), "tree": (2, 4, 6)}
QUICK_DISTANCES = {"path": (2, 8), "ring": (4,), "tree": (2,)}
MODELS = ("plain L=4", "plain L=d", "≤2^i hops, decay 0.5", "≤2^i hops, decay 1", "exact 2^i hops", "hubs (middle)")
CLASSES, HIDDEN, CLUSTER_SIZE, MAX_VERTICES = 4, 32, 8, 4096


# ------------------------------------------------------------------ the task
def _template(family: str, d: int) -> tuple[np.ndarray, np.ndarray, int, np.ndarray, int]:
    """One graph: (src, dst, num_nodes, candidate source vertices, target vertex); edges both ways."""
    if family == "path":
        a = np.arange(d)
        s, t, n, sources, target = a, a + 1, d + 1, np.array([0]), d
    elif family == "ring":
        n = 2 * d
        a = np.arange(n)
        s, t, sources, target = a, (a + 1) % n, np.array([0]), d
    else:  # complete binary tree, root 0, children of v at 2v+1, 2v+2
        n = 2 ** (d + 1) - 1
        child = np.arange(1, n)
        s, t = (child - 1) // 2, child
        sources, target = np.arange(2 ** d - 1, n), 0  # the leaves
    return np.concatenate([s, t]), np.concatenate([t, s]), n, sources, target


def make_task(family: str, d: int, num_graphs: int, seed: int):
    """A batch of ``num_graphs`` task graphs: ``(Graph, x [N, C + 2], y [B], target ids [B])``."""
    import torch

    from gnnkit import Graph

    rng = np.random.default_rng(seed)
    s, t, n, sources, target = _template(family, d)
    off = np.arange(num_graphs) * n
    src = (s[None, :] + off[:, None]).reshape(-1)
    dst = (t[None, :] + off[:, None]).reshape(-1)
    carriers = sources if family == "tree" else np.arange(n)  # trees: only leaves carry classes
    cls = rng.integers(0, CLASSES, (num_graphs, carriers.size))
    x = np.zeros((num_graphs, n, CLASSES + 2), dtype=np.float32)
    rows = np.arange(num_graphs)
    x[rows[:, None], carriers[None, :], cls] = 1.0  # one class one-hot per carrier
    source = sources[rng.integers(0, sources.size, num_graphs)]
    x[rows, source, CLASSES] = 1.0
    x[:, target, CLASSES + 1] = 1.0
    y = x[rows, source, :CLASSES].argmax(1)
    g = Graph(src, dst, num_graphs * n)
    return g, torch.from_numpy(x.reshape(num_graphs * n, -1)), torch.from_numpy(y), torch.from_numpy(off + target)


def build_model(name: str, d: int, num_nodes: int):
    """``(num_layers, InflationSchedule)`` of a named model for distance ``d``."""
    from gnnkit.inflation import Hubs, InflationSchedule, Shortcuts

    if name == "plain L=4":
        return 4, InflationSchedule.plain(4)
    if name == "plain L=d":
        return max(4, d), InflationSchedule.plain(max(4, d))
    if name.startswith("≤2^i hops"):
        decay = 0.5 if name.endswith("0.5") else 1.0
        return 4, InflationSchedule.from_hops([1, 2, 4, 8], max_per_node=8, decay=decay, beam=32)
    if name == "exact 2^i hops":
        return 6, InflationSchedule([None] + [Shortcuts(2 ** i, max_per_node=8, decay=1.0, min_hops=2 ** i, beam=32)
                                              for i in range(1, 6)])
    if name == "hubs (middle)":
        hubs = Hubs(max(1, num_nodes // CLUSTER_SIZE))
        return 4, InflationSchedule([None, hubs, hubs, None])
    raise ValueError(f"model must be one of {MODELS}, got {name!r}")


def run_task(family: str, d: int, model_name: str, steps: int, graphs: int, seed: int = 0) -> dict:
    """Train one model on one (family, d) and return its test accuracy and costs."""
    import torch
    import torch.nn.functional as F

    from gnnkit.inflation import InflatedGNN

    torch.manual_seed(seed)
    per_graph = _template(family, d)[2]
    graphs = max(32, min(graphs, MAX_VERTICES // per_graph))  # keep every batch under MAX_VERTICES vertices
    g, x, y, tgt = make_task(family, d, graphs, seed=2 * seed + 1)
    g_test, x_test, y_test, tgt_test = make_task(family, d, graphs, seed=2 * seed + 2)
    num_layers, sched = build_model(model_name, d, g.num_nodes)
    t0 = time.perf_counter()
    layer_graphs = [sched.graph(i, g) for i in range(num_layers)]  # built once, cached by the schedule
    build_s = time.perf_counter() - t0
    for i in range(num_layers):
        sched.graph(i, g_test)
    model = InflatedGNN(CLASSES + 2, HIDDEN, CLASSES, num_layers, sched, conv="sage", residual=True)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    times = []
    for step in range(steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = F.cross_entropy(model(g, x)[tgt], y)
        loss.backward()
        opt.step()
        if step:
            times.append(time.perf_counter() - t0)
    model.eval()
    with torch.no_grad():
        acc = float((model(g_test, x_test)[tgt_test].argmax(1) == y_test).float().mean())
    edges = [lg.graph.num_edges for lg in layer_graphs]
    return {
        "family": family, "d": d, "model": model_name, "acc": acc, "layers": num_layers, "graphs": graphs,
        "step_ms": 1000 * statistics.median(times) if times else float("nan"), "build_s": build_s,
        "num_nodes": g.num_nodes, "num_edges": g.num_edges,
        "edge_factor": sum(edges) / (num_layers * max(g.num_edges, 1)),
        "max_added_edges": max(e - g.num_edges for e in edges),
        "max_added_nodes": max(lg.num_hubs for lg in layer_graphs),
    }


# -------------------------------------------------------------- arxiv-size cost
def build_scale(name: str):
    from gnnkit.inflation import Hubs, InflationSchedule, Shortcuts

    return {
        "plain": InflationSchedule.plain(2),
        "shortcuts k=2 top-8 (layer 0)": InflationSchedule([Shortcuts(2, max_per_node=8, beam=16), None]),
        "hubs METIS 2000 (layer 0)": InflationSchedule([Hubs(2000, method="metis"), None]),
    }[name]


SCALE_MODELS = ("plain", "shortcuts k=2 top-8 (layer 0)", "hubs METIS 2000 (layer 0)")


def run_scale(name: str, steps: int) -> dict:
    import torch
    import torch.nn.functional as F

    from gnnkit import Graph
    from gnnkit.inflation import InflatedGNN

    torch.set_num_threads(2)
    torch.manual_seed(0)
    data = np.load(graph_file(False))
    g = Graph(data["src"], data["dst"], int(data["n"]))
    x, y = torch.from_numpy(data["x"]), torch.from_numpy(data["y"])
    sched = build_scale(name)
    t0 = time.perf_counter()
    lgs = [sched.graph(i, g) for i in range(2)]
    build_s = time.perf_counter() - t0
    model = InflatedGNN(x.shape[1], HIDDEN, int(y.max()) + 1, 2, sched, conv="sage")
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        opt.zero_grad()
        F.cross_entropy(model(g, x), y).backward()
        opt.step()
        if i:
            times.append(time.perf_counter() - t0)
    return {"model": name, "build_s": build_s, "step_s": statistics.median(times),
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "num_edges": g.num_edges, "added_edges": lgs[0].graph.num_edges - g.num_edges, "added_nodes": lgs[0].num_hubs}


# ------------------------------------------------------------------ Cora
CORA_MODELS = {
    "plain, 2 layers": (2, lambda g: [None, None]),
    "shortcuts k=2 top-8 PPR, layer 0": (2, lambda g: ["sc2", None]),
    "shortcuts k=2 top-8 PPR, both layers": (2, lambda g: ["sc2", "sc2"]),
    "hubs METIS 64, layer 0": (2, lambda g: ["hubs", None]),
    "plain, 4 layers": (4, lambda g: [None] * 4),
    "shortcuts 1,2,4,8 top-8, 4 layers": (4, lambda g: [None, "sc2p", "sc4", "sc8"]),
}


def _cora_transform(key):
    from gnnkit.inflation import Hubs, Shortcuts

    return {
        None: None,
        "sc2": Shortcuts(2, max_per_node=8, score="ppr"),
        "sc2p": Shortcuts(2, max_per_node=8),
        "sc4": Shortcuts(4, max_per_node=8),
        "sc8": Shortcuts(8, max_per_node=8, beam=64),
        "hubs": Hubs(64),
    }[key]


def run_cora(name: str, seeds: int, epochs: int) -> dict:
    import torch
    import torch.nn.functional as F

    from gnnkit.data import load_dataset
    from gnnkit.inflation import InflatedGNN, InflationSchedule

    ds = load_dataset("cora")
    num_layers, keys = CORA_MODELS[name]
    sched = InflationSchedule([_cora_transform(k) for k in keys(ds.graph)])
    t0 = time.perf_counter()
    lgs = [sched.graph(i, ds.graph) for i in range(num_layers)]
    build_s = time.perf_counter() - t0
    accs, times = [], []
    for seed in range(seeds):
        torch.manual_seed(seed)
        model = InflatedGNN(ds.num_features, HIDDEN, ds.num_classes, num_layers, sched, conv="gcn", dropout=0.5)
        opt = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
        best_val, best_test = -1.0, 0.0
        for _ in range(epochs):
            model.train()
            t0 = time.perf_counter()
            opt.zero_grad()
            F.cross_entropy(model(ds.graph, ds.x)[ds.train_mask], ds.y[ds.train_mask]).backward()
            opt.step()
            times.append(time.perf_counter() - t0)
            model.eval()
            with torch.no_grad():
                pred = model(ds.graph, ds.x).argmax(1)
            val = float((pred[ds.val_mask] == ds.y[ds.val_mask]).float().mean())
            if val > best_val:
                best_val, best_test = val, float((pred[ds.test_mask] == ds.y[ds.test_mask]).float().mean())
        accs.append(best_test)
    return {"model": name, "acc_mean": statistics.mean(accs), "acc_std": statistics.stdev(accs) if seeds > 1 else 0.0,
            "seeds": seeds, "step_ms": 1000 * statistics.median(times), "build_s": build_s,
            "max_added_edges": max(lg.graph.num_edges - ds.graph.num_edges for lg in lgs),
            "max_added_nodes": max(lg.num_hubs for lg in lgs)}


# ------------------------------------------------------------------ output
def accuracy_table(rows: list[dict], family: str) -> str:
    ds = sorted({r["d"] for r in rows if r["family"] == family})
    by = {(r["model"], r["d"]): r for r in rows if r["family"] == family}
    lines = [f"| {family}: model | " + " | ".join(f"d={d}" for d in ds) + " |", "|---|" + "---|" * len(ds)]
    for m in MODELS:
        lines.append(f"| {m} | " + " | ".join(f"{100 * by[(m, d)]['acc']:.0f} %" if (m, d) in by else "—" for d in ds) + " |")
    return "\n".join(lines)


def cost_table(rows: list[dict]) -> str:
    lines = ["| model | layers | time/step | peak RSS | edges per layer (× original) | max added edges | max added vertices | graph build |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        peak = f"{r['peak_mb']:,.0f} MB" if "peak_mb" in r else "—"
        lines.append(f"| {r['model']} | {r['layers']} | {r['step_ms']:.1f} ms | {peak} | {r['edge_factor']:.2f}× | "
                     f"{r['max_added_edges']:,} | {r['max_added_nodes']:,} | {r['build_s']:.2f} s |")
    return "\n".join(lines)


def scale_table(rows: list[dict]) -> str:
    lines = ["| schedule (2-layer SAGE, hidden 64) | graph build | time/step | peak RSS | added edges | added vertices |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['build_s']:.1f} s | {r['step_s']:.2f} s | {r['peak_mb']:,.0f} MB | "
                     f"{r['added_edges']:,} ({100 * r['added_edges'] / r['num_edges']:.0f} %) | {r['added_nodes']:,} |")
    return "\n".join(lines)


def cora_table(rows: list[dict]) -> str:
    lines = ["| Cora, InflatedGNN(conv=gcn) | test accuracy | time/step | max added edges | added vertices | graph build |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {100 * r['acc_mean']:.1f} ± {100 * r['acc_std']:.1f} % ({r['seeds']} seeds) | "
                     f"{r['step_ms']:.1f} ms | {r['max_added_edges']:,} | {r['max_added_nodes']:,} | {r['build_s']:.2f} s |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    families = [f for f in FAMILIES if any(r["family"] == f for r in rows)]
    fig, axes = plt.subplots(1, len(families), figsize=(4.2 * len(families), 3.6), sharey=True, squeeze=False)
    for ax, fam in zip(axes[0], families):
        for m, marker in zip(MODELS, "osD^vP"):
            pts = sorted((r["d"], r["acc"]) for r in rows if r["family"] == fam and r["model"] == m)
            if pts:
                ax.plot([p[0] for p in pts], [100 * p[1] for p in pts], marker=marker, label=m)
        ax.axhline(100 / CLASSES, color="gray", lw=0.8, ls=":")
        ax.set_xscale("log", base=2)
        ax.set_title(f"{fam}: signal d hops away")
        ax.set_xlabel("d (hops)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test accuracy (%)")
    axes[0][-1].legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _subprocess(args: list[str], timeout: int) -> dict | None:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        print(f"  {' '.join(args)} failed: {' | '.join(tail)}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sweep, few steps, 1 Cora seed, no cost processes")
    p.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    p.add_argument("--steps", type=int, help="training steps per run (default 300; quick 15)")
    p.add_argument("--graphs", type=int, help="graphs per train/test batch (default 256; quick 32)")
    p.add_argument("--cora-seeds", type=int, help="default 5; quick 1")
    p.add_argument("--no-cora", action="store_true")
    p.add_argument("--no-scale", action="store_true", help="skip the arxiv-size cost runs")
    p.add_argument("--plot", type=Path, default=ROOT / "docs" / "img" / "inflation_accuracy.png")
    p.add_argument("--json", type=Path, help="also write the raw results here")
    p.add_argument("--resume", type=Path, help="append each accuracy run to this JSON-lines file and skip runs already in it")
    p.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    steps = args.steps or (15 if args.quick else 300)
    graphs = args.graphs or (32 if args.quick else 256)
    if args.worker:
        import torch

        torch.set_num_threads(2)
        kind, *rest = args.worker
        if kind == "task":
            r = run_task(rest[0], int(rest[1]), rest[2], steps, graphs)
            r["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        else:
            r = run_scale(rest[0], steps=3)
        print(json.dumps(r))
        return 0

    import torch

    torch.set_num_threads(2)
    dists = QUICK_DISTANCES if args.quick else DISTANCES
    results: dict = {"accuracy": [], "cost": [], "scale": [], "cora": []}
    print(f"long-range task: up to {graphs} train + {graphs} test graphs ({MAX_VERTICES:,} vertices), {steps} Adam steps, hidden {HIDDEN}, "
          f"{CLASSES} classes (chance {100 // CLASSES} %)", flush=True)
    done = {}
    if args.resume and args.resume.exists():  # rows of an interrupted run, one JSON object per line
        for line in args.resume.read_text().splitlines():
            r = json.loads(line)
            done[(r["family"], r["d"], r["model"])] = r
    for fam in args.families:
        for d in dists[fam]:
            for m in MODELS:
                r = done.get((fam, d, m)) or run_task(fam, d, m, steps, graphs)
                results["accuracy"].append(r)
                if args.resume and (fam, d, m) not in done:
                    with args.resume.open("a") as fh:
                        fh.write(json.dumps(r) + "\n")
                print(f"  {fam} d={d} {m}: {100 * r['acc']:.0f} %, {r['step_ms']:.0f} ms/step", file=sys.stderr, flush=True)
        print(accuracy_table(results["accuracy"], fam), flush=True)
    plot(results["accuracy"], args.plot)
    print(f"plot: {args.plot}")
    cost_family = "ring" if "ring" in args.families else args.families[0]
    cost_d = max(dists[cost_family])
    if args.quick:  # in-process: no peak RSS per model
        cost = [r for r in results["accuracy"] if r["family"] == cost_family and r["d"] == cost_d]
    else:
        cost = [r for m in MODELS if (r := _subprocess(["--worker", "task", cost_family, str(cost_d), m,
                                                           "--steps", str(steps), "--graphs", str(graphs)], 1800))]
    results["cost"] = cost
    print(f"\ncost on {cost_family}, d={cost_d} ({cost[0]['num_nodes']:,} vertices, {cost[0]['num_edges']:,} edges):")
    print(cost_table(cost), flush=True)
    if not args.quick and not args.no_scale:
        results["scale"] = [r for m in SCALE_MODELS if (r := _subprocess(["--worker", "scale", m], 1800))]
        print("\narxiv-size power-law graph (169,343 vertices, 2,398,878 edges), 3 timed steps:")
        print(scale_table(results["scale"]), flush=True)
    if not args.no_cora:
        seeds = args.cora_seeds or (1 if args.quick else 5)
        epochs = 10 if args.quick else 200
        names = list(CORA_MODELS)[:2] if args.quick else list(CORA_MODELS)
        results["cora"] = [run_cora(n, seeds, epochs) for n in names]
        print(f"\nCora ({epochs} epochs, test accuracy at the best validation epoch):")
        print(cora_table(results["cora"]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
