"""A wiring-cost regulariser vs. an L1 control at equal accuracy: modularity and small-worldness, with statistics.

Achterberg et al. (2023, *Nature Machine Intelligence* 5:1369) trained recurrent networks
whose 100 neurons sit on a 5x5x4 grid, with the loss

    task + gamma * sum_ij |W_ij| * C_ij * D_ij,    C = expm(S^-1/2 |W| S^-1/2)

(D: Euclidean distance, C: weighted communicability, S: node strengths), and found that as
the regularisation bites, the networks become sparse, modular and small-world, more so
than networks with a plain L1 penalty. This script trains the same kind of network
(``gnnkit.brain.SpatialRNN`` on the complete synapse graph, one weight per synapse) on a
working-memory task -- cue ``a`` at t=0-1, a delay, cue ``b`` at t=4-5, answer ``(a + b) mod K``
at the last step -- with two costs:

- ``comm``: the communicability-weighted wiring cost above (``communicability_wiring_cost``);
- ``l1``: a spatially blind control, ``gamma_l1 * sum |W_ij|``, with ``gamma_l1`` scaled so that
  both penalties are equal at initialisation (same initial pressure, no space).

Structure is measured on the strongest ``--top`` fraction of synapses (weights never become
exactly zero under gradient descent): weighted modularity Q of Louvain communities and the
small-world index sigma of the binary graph (analytic Erdos-Renyi references, see
``gnnkit.brain.small_world_sigma``); also accuracy, total |W| and the |W|-weighted mean
synapse length.

Default (the claim): ``comm`` at ``--gamma-comm``, ``l1`` at ``--gamma-l1`` and an unregularised
reference, over ``--seeds`` seeds (default 10; a seed fixes initialisation and data for all three,
so comparisons are paired). The strengths count as matched when the 95% bootstrap interval of
the paired accuracy difference lies within ``+-accuracy_tolerance``. Test: comm > l1 for Q and
for sigma, one-sided paired permutation tests (exact sign flips), Holm-corrected over the two;
means with 95% BCa bootstrap intervals (``gnnkit.brain.stats``). Outputs in ``--out``:
``claims.md``, ``claims.csv``, ``claims.json``, ``runs.csv``, ``claims.png``; the last printed
line is the headline comparison. ``--sweep`` instead sweeps ``--gammas`` for both costs
(``sweep.csv``, ``sweep.json``, ``sweep.png``).

    python examples/brain_wiring_cost.py --out runs/wiring          # 10 seeds, ~8 min on one core
    python examples/brain_wiring_cost.py --sweep --out runs/sweep   # strength sweep, 2 seeds
    python examples/brain_wiring_cost.py --quick --out /tmp/wc      # CI: seconds
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
    seeds: list[int] = field(default_factory=lambda: list(range(10)))
    gamma_comm: float = 0.01  # the claim: strengths at which both costs reach the same accuracy
    gamma_l1: float = 0.01
    accuracy_tolerance: float = 0.02  # the 95% CI of the accuracy difference must lie within +-this


QUICK = dict(steps=20, gammas=[0.0, 0.3], test_size=256, seeds=[0, 1, 2], gamma_comm=0.3, gamma_l1=0.3)
SWEEP_SEEDS = [0, 1]


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


# ------------------------------------------------------------------ the claim, with statistics
CLAIM = {"modularity": "modularity Q", "sigma": "small-world σ"}  # comm > l1 is the claim for both
REPORTED = {"accuracy": "accuracy", **CLAIM, "clustering": "clustering", "path_length": "path length",
            "mean_length": "|W|-weighted length", "communities": "communities"}
CONDITIONS = ("none", "comm", "l1")


def claim_runs(cfg: Config, progress: bool = True) -> list[dict]:
    """Per seed: no regulariser, the wiring cost at ``gamma_comm`` and the L1 control at ``gamma_l1``."""
    rows = []
    for seed in cfg.seeds:
        for cost, gamma in (("none", 0.0), ("comm", cfg.gamma_comm), ("l1", cfg.gamma_l1)):
            row = train(cfg, "comm" if cost == "none" else cost, gamma, seed, progress=progress)
            rows.append({**row, "cost": cost})
            tqdm.write(f"{cost} gamma={gamma:g} seed {seed}: accuracy {row['accuracy']:.3f}, Q {row['modularity']:.3f}, "
                       f"sigma {row['sigma']:.2f}", file=sys.stderr)
    return rows


def claim_stats(rows: list[dict], cfg: Config, n_resamples: int = 9999) -> dict:
    """Means with 95% CIs per condition, the accuracy match, and comm vs. l1 on Q and σ (Holm over the two)."""
    by = {(r["cost"], r["seed"]): r for r in rows}
    seeds = sorted({s for _, s in by if ("comm", s) in by and ("l1", s) in by})
    if len(seeds) < 2:
        raise ValueError(f"the statistics need at least 2 seeds with both costs, got {len(seeds)}")
    conditions = [c for c in CONDITIONS if all((c, s) in by for s in seeds)]
    values = {(c, m): [by[c, s][m] for s in seeds] for c in conditions for m in REPORTED}
    means = {c: {m: brain.bootstrap_ci(values[c, m], n_resamples=n_resamples) for m in REPORTED} for c in conditions}
    accuracy = brain.compare(values["comm", "accuracy"], values["l1", "accuracy"], paired=True,
                             n_resamples=n_resamples, label="comm vs l1: accuracy")
    matched = -cfg.accuracy_tolerance <= accuracy.ci.low and accuracy.ci.high <= cfg.accuracy_tolerance
    tests = brain.holm([brain.compare(values["comm", m], values["l1", m], paired=True, alternative="greater",
                                      n_resamples=n_resamples, label=f"comm vs l1: {m}") for m in CLAIM])
    return {"seeds": seeds, "values": values, "means": means, "accuracy": accuracy, "matched": matched, "tests": tests}


def claim_tables(st: dict, cfg: Config) -> str:
    gammas = {"none": 0.0, "comm": cfg.gamma_comm, "l1": cfg.gamma_l1}
    lines = ["| regulariser | γ | " + " | ".join(REPORTED.values()) + " |", "|---" * (len(REPORTED) + 2) + "|"]
    for c, ms in st["means"].items():
        lines.append(f"| {c} | {gammas[c]:g} | " + " | ".join(f"{ms[m]:.3f}" for m in REPORTED) + " |")
    a = st["accuracy"]
    lines += ["", "| comparison | metric | difference [95% CI] | d_z | p | p (Holm) |", "|---|---|---|---|---|---|",
              f"| comm − l1 | accuracy (two-sided; matched: {'yes' if st['matched'] else 'no'}, "
              f"tolerance ±{cfg.accuracy_tolerance:g}) | {a:.3f} | {a.effect_size:+.2f} | {a.pvalue:.4f} | – |"]
    for c in st["tests"]:
        metric = c.label.split(": ")[1]
        lines.append(f"| comm − l1 | {REPORTED[metric]} (one-sided, comm > l1) | {c:.3f} | {c.effect_size:+.2f} | "
                     f"{c.pvalue:.4f} | {c.pvalue_holm:.4f} |")
    return "\n".join(lines)


def claim_headline(st: dict, cfg: Config) -> str:
    acc = st["means"]
    tests = {c.label.split(": ")[1]: c for c in st["tests"]}
    if not st["matched"]:
        verdict = "inconclusive: accuracies not matched"
    elif all(c.significant() for c in st["tests"]):
        verdict = "reproduced"
    else:
        verdict = "not reproduced" if not any(c.significant() for c in st["tests"]) else "partly reproduced"
    return (f"wiring cost vs L1 at accuracy {acc['comm']['accuracy'].estimate:.3f} vs {acc['l1']['accuracy'].estimate:.3f} "
            f"(Δ {st['accuracy']:.3f}, tolerance ±{cfg.accuracy_tolerance:g}): "
            + ", ".join(f"{CLAIM[m].split(' ')[-1]} {c:.3f} p={c.pvalue_holm:.3f}" for m, c in tests.items())
            + f" (one-sided, Holm, n={len(st['seeds'])} seeds) — {verdict}")


def write_claims(rows: list[dict], st: dict, cfg: Config, out: Path) -> None:
    (out / "claims.md").write_text(claim_tables(st, cfg) + "\n")
    with open(out / "runs.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with open(out / "claims.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=brain.stats.SUMMARY_COLUMNS)
        w.writeheader()
        w.writerows(brain.summary_rows(st["means"], [st["accuracy"], *st["tests"]]))
    (out / "claims.json").write_text(json.dumps({
        "config": asdict(cfg), "rows": rows, "seeds": st["seeds"], "matched": st["matched"],
        "means": {c: {m: asdict(ci) for m, ci in ms.items()} for c, ms in st["means"].items()},
        "accuracy": asdict(st["accuracy"]), "tests": [asdict(c) for c in st["tests"]]}, indent=1))


def plot_claims(st: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = ("accuracy", "modularity", "sigma", "mean_length")
    colors = {"none": "tab:gray", "comm": "tab:green", "l1": "tab:purple"}
    conds = list(st["means"])
    fig, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels), 3.3))
    offsets = np.linspace(-0.1, 0.1, len(st["seeds"]))
    for ax, m in zip(axes, panels):
        for i, c in enumerate(conds):
            ci = st["means"][c][m]
            ax.plot(i - 0.15 + offsets, st["values"][c, m], ".", color=colors[c], alpha=0.5)
            ax.errorbar([i + 0.2], [ci.estimate], yerr=[[ci.estimate - ci.low], [ci.high - ci.estimate]], marker="s",
                        color=colors[c], capsize=4)
        ax.set_xticks(range(len(conds)), conds)
        ax.set_title(REPORTED[m], fontsize=9)
    fig.suptitle(f"{len(st['seeds'])} seeds: dots per seed, squares mean with 95% bootstrap CI", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "claims.png", dpi=110)
    plt.close(fig)


def sweep(cfg: Config, args: argparse.Namespace) -> None:
    """The strength sweep: every gamma for every cost, mean ± std over seeds."""
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/brain_wiring_cost"))
    parser.add_argument("--quick", action="store_true", help="few steps, strong regularisers (CI)")
    parser.add_argument("--sweep", action="store_true", help="sweep --gammas for both costs instead of the claim test")
    parser.add_argument("--gammas", type=float, nargs="+", default=None, help="--sweep: the strengths")
    parser.add_argument("--costs", nargs="+", choices=["comm", "l1"], default=None, help="--sweep: the costs")
    parser.add_argument("--gamma-comm", type=float, default=None)
    parser.add_argument("--gamma-l1", type=float, default=None)
    parser.add_argument("--accuracy-tolerance", type=float, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds, 0..N-1 (claim: default 10, at least 2)")
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args(argv)
    cfg = Config(**(QUICK if args.quick else {}))
    if args.sweep and not args.quick:
        cfg.seeds = list(SWEEP_SEEDS)
    if args.seeds is not None:
        if args.seeds < (1 if args.sweep else 2):
            parser.error(f"--seeds must be at least {1 if args.sweep else 2}, got {args.seeds}")
        cfg.seeds = list(range(args.seeds))
    for name in ("gammas", "costs", "steps", "gamma_comm", "gamma_l1", "accuracy_tolerance"):
        if getattr(args, name) is not None:
            setattr(cfg, name, getattr(args, name))
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    if args.sweep:
        sweep(cfg, args)
        return 0
    rows = claim_runs(cfg)
    st = claim_stats(rows, cfg)
    write_claims(rows, st, cfg, args.out)
    if not args.no_plots:
        plot_claims(st, args.out)
    print(f"{int(np.prod(cfg.grid))} neurons on a {'x'.join(map(str, cfg.grid))} grid, {cfg.steps} steps per run, "
          f"{len(st['seeds'])} seeds; structure of the strongest {cfg.top:.0%} synapses; mean [95% BCa bootstrap CI]; "
          "paired permutation tests")
    print(claim_tables(st, cfg))
    print(claim_headline(st, cfg))
    return 0


if __name__ == "__main__":
    sys.exit(main())
