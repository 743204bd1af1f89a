"""Sweep the wiring-cost strength of a spatially embedded RNN and watch modularity and small-worldness.

Achterberg et al. (2023, *Nature Machine Intelligence* 5:1369) trained recurrent networks
whose 100 neurons sit on a 5x5x4 grid, with the loss

    task + gamma * sum_ij |W_ij| * C_ij * D_ij,    C = expm(S^-1/2 |W| S^-1/2)

(D: Euclidean distance, C: weighted communicability, S: node strengths), and found that as
the regularisation bites, the networks become sparse, modular and small-world, more so
than networks with a plain L1 penalty. This script trains the same kind of network
(``gnnkit.brain.SpatialRNN`` on the complete synapse graph, one weight per synapse) on a
working-memory task -- cue ``a`` at t=0-1, a delay, cue ``b`` at t=4-5, answer ``(a + b) mod K``
at the last step -- for a sweep of ``gamma`` and two costs:

- ``comm``: the communicability-weighted wiring cost above (``communicability_wiring_cost``);
- ``l1``: a spatially blind control, ``gamma_l1 * sum |W_ij|``, with ``gamma_l1`` scaled so that
  both penalties are equal at initialisation (same initial pressure, no space).

Structure is measured on the strongest ``--top`` fraction of synapses (weights never become
exactly zero under gradient descent): weighted modularity Q of Louvain communities and the
small-world index sigma of the binary graph (analytic Erdos-Renyi references, see
``gnnkit.brain.small_world_sigma``); also accuracy, total |W| and the |W|-weighted mean
synapse length. Outputs in ``--out``: ``sweep.csv``, ``sweep.json``, ``sweep.png``.

    python examples/brain_wiring_cost.py --out runs/wiring      # ~2.5 min on 2 CPU cores (2 seeds)
    python examples/brain_wiring_cost.py --quick --out /tmp/wc  # CI: ~10 s
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

import gnnkit.brain as brain
from gnnkit import Graph


@dataclass
class Config:
    grid: list[int] = field(default_factory=lambda: [5, 5, 4])
    classes: int = 4
    time_steps: int = 8
    noise: float = 0.3
    steps: int = 500
    batch_size: int = 64
    lr: float = 3e-3
    gammas: list[float] = field(default_factory=lambda: [0.0, 0.003, 0.01, 0.02, 0.04])
    costs: list[str] = field(default_factory=lambda: ["comm", "l1"])
    top: float = 0.1  # fraction of strongest synapses the structure is measured on
    test_size: int = 2048
    seeds: list[int] = field(default_factory=lambda: [0, 1])


QUICK = dict(steps=40, gammas=[0.0, 0.3], test_size=512, seeds=[0])


def grid_network(cfg: Config) -> brain.SpatialGraph:
    """Neurons on an integer grid (unit spacing), every ordered pair a synapse (no self-loops)."""
    axes = [torch.arange(float(k)) for k in cfg.grid]
    pos = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(cfg.grid))
    n = pos.shape[0]
    s, d = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    off = s != d
    return brain.SpatialGraph(Graph(s[off], d[off], n), pos)


def task_batch(cfg: Config, batch: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Cue a (one-hot, channels 0..K-1) at t=0,1; cue b (channels K..2K-1) at t=4,5; label (a + b) mod K."""
    k, t = cfg.classes, cfg.time_steps
    a = torch.randint(0, k, (batch,), generator=gen)
    b = torch.randint(0, k, (batch,), generator=gen)
    xs = torch.zeros(t, batch, 2 * k)
    rows = torch.arange(batch)
    xs[0:2, rows, a] = 1.0
    xs[4:6, rows, k + b] = 1.0
    xs += cfg.noise * torch.randn(xs.shape, generator=gen)
    return xs, (a + b) % k


def structure(sg: brain.SpatialGraph, weight: torch.Tensor, top: float, seed: int) -> dict:
    """Modularity and small-worldness of the strongest ``top`` fraction of synapses."""
    w = weight.detach().abs()
    keep = torch.topk(w, max(1, int(round(top * w.numel())))).indices.sort().values
    strong = Graph(sg.graph.src[keep], sg.graph.dst[keep], sg.num_nodes)
    communities = brain.detect_communities(strong, w[keep], method="louvain", seed=seed)
    sw = brain.small_world_sigma(strong)
    lengths = sg.edge_lengths()
    return {
        "modularity": brain.modularity(strong, communities, weight=w[keep].double()),
        "communities": int(communities.max()) + 1,
        "sigma": sw["sigma"],
        "clustering": sw["clustering"],
        "path_length": sw["path_length"],
        "total_weight": float(w.sum()),
        "mean_length": float((w * lengths).sum() / w.sum()),
        "top_mean_length": float(lengths[keep].mean()),
    }


def train(cfg: Config, cost: str, gamma: float, seed: int, progress: bool = True) -> dict:
    sg = grid_network(cfg)
    g, lengths = sg.graph, sg.edge_lengths()
    torch.manual_seed(seed)
    net = brain.SpatialRNN(g, 2 * cfg.classes, cfg.classes, gain=1.0)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # the L1 control gets the same penalty as the wiring cost at initialisation
        scale = float(brain.communicability_wiring_cost(g, net.weight, lengths) / net.weight.abs().sum())

    def penalty() -> torch.Tensor:
        if gamma == 0:
            return net.weight.new_zeros(())
        if cost == "comm":
            return gamma * brain.communicability_wiring_cost(g, net.weight, lengths)
        return gamma * scale * net.weight.abs().sum()

    bar = tqdm(range(cfg.steps), desc=f"{cost} gamma={gamma:g} seed {seed}", unit="step", disable=not progress,
               file=sys.stderr, leave=False)
    for _ in bar:
        xs, y = task_batch(cfg, cfg.batch_size, gen)
        ys, _ = net(xs)
        task = F.cross_entropy(ys[-1], y)
        loss = task + penalty()
        opt.zero_grad()
        loss.backward()
        opt.step()
    bar.close()
    with torch.no_grad():
        xs, y = task_batch(cfg, cfg.test_size, torch.Generator().manual_seed(10_000 + seed))
        acc = float((net(xs)[0][-1].argmax(1) == y).float().mean())
    return {"cost": cost, "gamma": gamma, "seed": seed, "accuracy": acc, **structure(sg, net.weight, cfg.top, seed)}


METRICS = ("accuracy", "modularity", "communities", "sigma", "clustering", "path_length", "total_weight", "mean_length")


def aggregate(rows: list[dict]) -> list[dict]:
    """Mean and standard deviation over seeds per (cost, gamma)."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["cost"], r["gamma"]), []).append(r)
    out = []
    for (cost, gamma), rs in groups.items():
        agg = {"cost": cost, "gamma": gamma, "seeds": len(rs)}
        for k in METRICS:
            agg[k] = float(np.mean([r[k] for r in rs]))
            agg[k + "_std"] = float(np.std([r[k] for r in rs]))
        out.append(agg)
    return sorted(out, key=lambda r: (r["cost"] != "comm" and r["gamma"] > 0, r["gamma"]))


def table(agg: list[dict]) -> str:
    lines = ["| cost | γ | accuracy | Q (top synapses) | communities | σ | clustering | path length | Σ|W| | mean length |",
             "|" + "---|" * 10]
    pm = lambda r, k, f: f"{r[k]:{f}}" + (f" ± {r[k + '_std']:{f}}" if r["seeds"] > 1 else "")
    for r in agg:
        lines.append(f"| {r['cost']} | {r['gamma']:g} | {pm(r, 'accuracy', '.3f')} | {pm(r, 'modularity', '.3f')} | "
                     f"{r['communities']:.1f} | {pm(r, 'sigma', '.2f')} | {pm(r, 'clustering', '.3f')} | "
                     f"{r['path_length']:.2f} | {r['total_weight']:.0f} | {pm(r, 'mean_length', '.2f')} |")
    return "\n".join(lines)


def plot(rows: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(15, 3.4))
    for cost, color in (("comm", "tab:green"), ("l1", "tab:gray")):
        sel = [r for r in rows if r["cost"] == cost or r["gamma"] == 0]
        if not any(r["cost"] == cost for r in sel):
            continue
        sel = sorted(sel, key=lambda r: r["gamma"])
        x = [max(r["gamma"], 1e-3) for r in sel]  # gamma = 0 drawn at the left edge of the log axis
        label = "communicability wiring cost" if cost == "comm" else "L1 (no space)"
        for ax, key in zip(axes, ("modularity", "sigma", "mean_length", "accuracy")):
            ax.errorbar(x, [r[key] for r in sel], yerr=[r[key + "_std"] for r in sel], marker="o", color=color,
                        label=label, capsize=3)
    for ax, title in zip(axes, ("modularity Q", "small-world σ", "|W|-weighted synapse length", "accuracy")):
        ax.set_xscale("log")
        ax.set_xlabel("γ (γ = 0 at 1e-3)")
        ax.set_title(title)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "sweep.png", dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/brain_wiring_cost"))
    parser.add_argument("--quick", action="store_true", help="few steps, two strengths (CI)")
    parser.add_argument("--gammas", type=float, nargs="+", default=None)
    parser.add_argument("--costs", nargs="+", choices=["comm", "l1"], default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=None)
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args(argv)
    cfg = Config(**(QUICK if args.quick else {}))
    for name in ("gammas", "costs", "steps", "seeds"):
        if getattr(args, name) is not None:
            setattr(cfg, name, getattr(args, name))
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    rows = []
    for seed in cfg.seeds:
        for gamma in cfg.gammas:
            for cost in cfg.costs if gamma > 0 else cfg.costs[:1]:  # gamma = 0 is the same run for every cost
                rows.append(train(cfg, cost, gamma, seed))
                tqdm.write(f"{cost} gamma={gamma:g} seed {seed}: accuracy {rows[-1]['accuracy']:.3f}, "
                           f"Q {rows[-1]['modularity']:.3f}, sigma {rows[-1]['sigma']:.2f}", file=sys.stderr)
    rows.sort(key=lambda r: (r["cost"] != "comm" and r["gamma"] > 0, r["gamma"], r["seed"]))
    agg = aggregate(rows)
    with open(args.out / "sweep.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    (args.out / "sweep.json").write_text(json.dumps({"config": asdict(cfg), "rows": rows, "mean": agg}, indent=1))
    if not args.no_plots:
        plot(agg, args.out)
    print(f"{int(np.prod(cfg.grid))} neurons on a {'x'.join(map(str, cfg.grid))} grid, {cfg.steps} steps per run, "
          f"{len(cfg.seeds)} seed(s) (mean ± std); structure of the strongest {cfg.top:.0%} synapses")
    print(table(agg))
    comm = sorted([r for r in agg if r["cost"] == "comm" or r["gamma"] == 0], key=lambda r: r["gamma"])
    print(f"modularity {comm[0]['modularity']:.3f} -> {comm[-1]['modularity']:.3f} and sigma {comm[0]['sigma']:.2f} -> "
          f"{comm[-1]['sigma']:.2f} as gamma grows from {comm[0]['gamma']:g} to {comm[-1]['gamma']:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
