"""Lifecycle pruning of a spatially embedded network: constant vs. increasing vs. decreasing rate, with statistics.

Neurons sit in the unit square and start over-connected by the exponential distance rule
(``gnnkit.brain.spatial_graph``). Input neurons lie at the left edge, output neurons at the
right edge, so a signal must cross the sheet through recurrent synapses within the
``--time-steps`` of a trial. The network (``gnnkit.brain.SpatialRNN``: one learnable weight
per synapse, one sparse product per time step) learns a nonlinear 4-class task while its
synapses are pruned over its "lifetime": after each of ``--stages`` training stages a
``PruningSchedule`` removes synapses (removed from the sparse structure, not masked), and a
last stage fine-tunes the survivors. All three schedules start from the same network and
end at the same number of synapses; Navlakha, Barth & Bar-Joseph (2015) predict that the
decreasing rate gives the most efficient and robust network.

The claim is tested over ``--seeds`` seeds (default 10; each seed is a new network, data set and
initialisation, shared by the three schedules, so the comparison is paired by seed):

- efficiency: input->output routing efficiency, the mean of ``1/d`` (hops) over all
  input x output neuron pairs (0 for an unreachable pair) -- the proxy for Navlakha et al.'s
  routing cost, the mean source->target shortest-path distance (their efficiency);
- robustness: the fraction of that efficiency kept after removing a random 20% of the synapses
  (mean over ``damage_trials``) -- the proxy for their fault tolerance to edge loss;
- the test: decreasing vs. constant and decreasing vs. increasing, one-sided paired permutation
  tests (exact sign flips) of the mean difference, Holm-corrected over these 4 tests; 95% BCa
  bootstrap intervals (``gnnkit.brain.stats``). Global efficiency, accuracy and wiring cost are
  reported as exploratory comparisons (uncorrected).

Outputs in ``--out``: ``metrics.csv``/``metrics.json`` (one row per stage, schedule and
seed), ``summary.json``, ``claims.md``/``claims.csv`` (means with 95% CIs and the tests),
PNG plots ``claims.png`` (per-seed points, means and CIs), ``lifecycle_curves.png``,
``degree_distribution.png``, ``layout_before_after.png``. The last printed line is the headline
comparison. A checkpoint after every stage (plain tensors, loaded with ``weights_only=True``)
lets a killed run continue with ``--resume`` exactly where it stopped.

    python examples/brain_lifecycle.py --out runs/lifecycle            # 10 seeds, ~10 min on one core
    python examples/brain_lifecycle.py --out runs/lifecycle --resume   # continue a killed run
    python examples/brain_lifecycle.py --quick --out /tmp/lc           # CI: seconds
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

import gnnkit.brain as brain
from gnnkit import Graph
from gnnkit.checkpoint import atomic_save, load_checkpoint

SCHEDULES = ("constant", "increasing", "decreasing")
CRITERIA = {
    "magnitude": "magnitude",
    "usage": "usage",
    "coactivation": "coactivation",
    "wiring": "wiring",
    "random": "random",
    "mix": {"magnitude": 1.0, "usage": 1.0},
}


@dataclass
class Config:
    num_neurons: int = 200  # sized so that 10 seeds x 3 schedules take ~7 CPU-minutes
    mean_degree: float = 30.0  # of the over-connected start
    io_fraction: float = 0.12  # width of the input (left) and output (right) strips
    time_steps: int = 6
    features: int = 8
    classes: int = 4
    train_size: int = 4096
    test_size: int = 2048
    stages: int = 8  # pruning stages; one more fine-tunes the survivors
    steps_per_stage: int = 60
    batch_size: int = 128
    lr: float = 3e-3
    final_keep: float = 0.1  # fraction of the initial synapses left at the end
    criterion: str = "mix"
    activity: float = 1e-3  # L1 penalty on firing (energy)
    regrow: float = 0.0  # synapse turnover per stage, relative to the removals
    damage: float = 0.2  # fraction of synapses removed at random for robustness
    damage_trials: int = 5
    seeds: list[int] = field(default_factory=lambda: list(range(10)))


QUICK = dict(num_neurons=60, mean_degree=12.0, train_size=256, test_size=128, stages=2, steps_per_stage=12,
             batch_size=32, seeds=[0, 1, 2], damage_trials=2)


# ------------------------------------------------------------------ the task
def make_task(cfg: Config, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A nonlinear 4-class problem: the XOR of two random half-spaces, plus a third half-space for the class bit."""
    gen = torch.Generator().manual_seed(10_000 + seed)
    u = torch.randn(3, cfg.features, generator=gen)

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(n, cfg.features, generator=gen)
        s = (x @ u.t() > 0).long()  # [n, 3]
        return x, (s[:, 0] ^ s[:, 1]) + 2 * s[:, 2]

    xtr, ytr = draw(cfg.train_size)
    xte, yte = draw(cfg.test_size)
    return xtr, ytr, xte, yte


def build_network(cfg: Config, seed: int) -> tuple[brain.SpatialGraph, torch.Tensor, torch.Tensor]:
    """The over-connected start: the exponential distance rule in the unit square, no self-loops."""
    sg = brain.spatial_graph(cfg.num_neurons, dim=2, mean_degree=cfg.mean_degree, seed=seed)
    x = sg.positions[:, 0]
    inputs = (x < cfg.io_fraction).nonzero().view(-1)
    outputs = (x > 1 - cfg.io_fraction).nonzero().view(-1)
    return sg, inputs, outputs


def make_model(cfg: Config, graph: Graph, inputs: torch.Tensor, outputs: torch.Tensor) -> brain.SpatialRNN:
    return brain.SpatialRNN(graph, cfg.features, cfg.classes, input_nodes=inputs, output_nodes=outputs,
                            activation="tanh", gain=1.0)


def run_trial(model: brain.SpatialRNN, x: torch.Tensor, cfg: Config, return_states: bool = False):
    xs = x.unsqueeze(0).expand(cfg.time_steps, -1, -1)  # [T, B, F]: the stimulus held for the whole trial
    out = model(xs, return_states=return_states)
    return (out[0][-1],) + tuple(out[1:])  # logits at the last step, [B, C]


@torch.no_grad()
def accuracy(model: brain.SpatialRNN, x: torch.Tensor, y: torch.Tensor, cfg: Config, keep: torch.Tensor | None = None) -> float:
    """Test accuracy; with ``keep`` only those synapses act (zero weight is removal for the forward pass)."""
    saved = None
    if keep is not None:
        saved = model.weight.detach().clone()
        model.weight.mul_(keep.to(model.weight.dtype))
    logits = run_trial(model, x, cfg)[0]
    if saved is not None:
        model.weight.copy_(saved)
    return float((logits.argmax(1) == y).float().mean())


def graph_metrics(model: brain.SpatialRNN, sg: brain.SpatialGraph, inputs, outputs) -> dict:
    g = model.graph
    lengths = brain.edge_lengths(g, sg.positions)
    paths = brain.path_stats(g, directed=True)
    io = brain.path_stats(g, directed=True, sources=inputs, targets=outputs)
    return {
        "edges": g.num_edges,
        "density": brain.density(g),
        "efficiency": paths["efficiency"],
        "path_length": paths["path_length"],
        "io_efficiency": io["efficiency"],
        "io_path_length": io["path_length"],  # mean hops over reachable input->output pairs
        "clustering": brain.average_clustering(g),
        "wiring_length": float(lengths.sum()),
        "wiring_cost": float(brain.wiring_cost(model.weight.detach(), lengths)),
    }


def io_robustness(g: Graph, inputs: torch.Tensor, outputs: torch.Tensor, intact: float, cfg: Config, seed: int) -> float:
    """Fraction of the input->output efficiency kept after removing a random ``cfg.damage`` of the synapses."""
    if intact == 0:
        return 0.0

    def evaluate(keep: torch.Tensor) -> float:
        sub = Graph(g.src[keep], g.dst[keep], g.num_nodes)
        return brain.path_stats(sub, directed=True, sources=inputs, targets=outputs)["efficiency"]

    return brain.robustness(evaluate, g.num_edges, cfg.damage, trials=cfg.damage_trials, seed=seed)[0] / intact


# ------------------------------------------------------------------ one run
def run_schedule(cfg: Config, schedule: str, seed: int, out: Path, *, resume: bool = True,
                 stop_after: int | None = None, progress: bool = True) -> dict | None:
    """Train and prune one network under ``schedule``; returns the final record (None if stopped early).

    A checkpoint is written after every stage; with ``resume`` an existing one is continued.
    ``stop_after=k`` returns after ``k`` stages as if the process had been killed there.
    """
    ckpt_dir, run_dir = out / "checkpoints", out / "runs"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path, run_path = ckpt_dir / f"{schedule}-seed{seed}.pt", run_dir / f"{schedule}-seed{seed}.json"
    if resume and run_path.exists():
        return json.loads(run_path.read_text())

    xtr, ytr, xte, yte = make_task(cfg, seed)
    sg, inputs, outputs = build_network(cfg, seed)
    e0 = sg.num_edges
    plan = brain.PruningSchedule(schedule, cfg.stages, cfg.final_keep)
    lifecycle = brain.Lifecycle(plan, e0, CRITERIA[cfg.criterion], positions=sg.positions,
                                regrow_fraction=cfg.regrow, regrow_decay=brain.decay_for_degree(cfg.mean_degree, cfg.num_neurons)
                                if cfg.regrow else None, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    rows: list[dict] = []
    start_stage = 0
    if resume and ckpt_path.exists():
        state = load_checkpoint(ckpt_path)
        graph = Graph(state["src"], state["dst"], cfg.num_neurons)
        model = make_model(cfg, graph, inputs, outputs)
        model.load_state_dict(state["model"])
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        optimizer.load_state_dict(state["optimizer"])
        tracker = brain.UsageTracker(cfg.num_neurons, graph.num_edges)
        tracker.load_state_dict(state["tracker"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        rows, start_stage = list(state["rows"]), int(state["next_stage"])
    else:
        torch.manual_seed(seed)
        model = make_model(cfg, sg.graph, inputs, outputs)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        tracker = brain.UsageTracker(cfg.num_neurons, e0)

    total = (cfg.stages + 1) * cfg.steps_per_stage
    bar = tqdm(total=total, initial=start_stage * cfg.steps_per_stage, desc=f"{schedule} seed {seed}", unit="step",
               disable=not progress, file=sys.stderr, leave=False)
    for stage in range(start_stage, cfg.stages + 1):  # the lifetime: train, measure, prune
        model.train()
        losses = []
        t0 = time.perf_counter()
        for _ in range(cfg.steps_per_stage):
            idx = torch.randint(0, xtr.shape[0], (cfg.batch_size,), generator=gen)
            logits, _, states = run_trial(model, xtr[idx], cfg, return_states=True)
            loss = F.cross_entropy(logits, ytr[idx]) + cfg.activity * brain.activity_l1(states)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            tracker.update(model.graph, states)
            losses.append(loss.item())
            bar.update(1)
        step_ms = 1000 * (time.perf_counter() - t0) / cfg.steps_per_stage
        model.eval()
        row = {"schedule": schedule, "seed": seed, "stage": stage, "train_loss": float(np.mean(losses[-20:])),
               "accuracy": accuracy(model, xte, yte, cfg), "ms_per_step": step_ms,
               **graph_metrics(model, sg, inputs, outputs)}
        if stage == cfg.stages:  # the adult network: robustness to random synapse loss
            acc_damaged, _ = brain.robustness(lambda keep: accuracy(model, xte, yte, cfg, keep), model.graph.num_edges,
                                              cfg.damage, trials=cfg.damage_trials, seed=seed)
            row["robust_accuracy"] = acc_damaged
            row["robust_efficiency"] = brain.efficiency_robustness(model.graph, cfg.damage, trials=cfg.damage_trials,
                                                                   seed=seed)
            row["io_robustness"] = io_robustness(model.graph, inputs, outputs, row["io_efficiency"], cfg, seed)
        rows.append(row)
        if stage < cfg.stages:
            report = lifecycle.step(stage, model, optimizer=optimizer, tracker=tracker)
            row["pruned"] = report.removed
            row["edges_after_prune"] = report.edges_after
        atomic_save({
            "next_stage": stage + 1, "src": model.graph.src, "dst": model.graph.dst, "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "tracker": tracker.state_dict(), "generator": gen.get_state(),
            "torch_rng": torch.get_rng_state(), "rows": rows,
        }, ckpt_path)
        if stop_after is not None and stage + 1 >= stop_after and stage < cfg.stages:
            bar.close()
            return None
    bar.close()
    record = {"schedule": schedule, "seed": seed, "initial_edges": e0, "rows": rows,
              "initial": {"src": sg.graph.src.tolist(), "dst": sg.graph.dst.tolist()},
              "final": {"src": model.graph.src.tolist(), "dst": model.graph.dst.tolist()},
              "positions": sg.positions.tolist(), "inputs": inputs.tolist(), "outputs": outputs.tolist(),
              "final_weight": model.weight.detach().tolist()}
    tmp = run_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, run_path)
    return record


# ------------------------------------------------------------------ reporting
# metric -> (column label, higher is better)
PRIMARY = {"io_efficiency": ("efficiency (in→out 1/d)", True), "io_robustness": ("robustness (in→out efficiency kept)", True)}
SECONDARY = {"efficiency": ("global efficiency", True), "robust_efficiency": ("global efficiency kept", True),
             "io_path_length": ("in→out path length (hops)", False), "accuracy": ("accuracy", True),
             "robust_accuracy": ("accuracy after 20% loss", True), "wiring_cost": ("wiring cost Σ|w|d", False)}
OTHERS = ("constant", "increasing")


def final_rows(records: list[dict]) -> tuple[dict, list[int]]:
    """The adult network of each (schedule, seed), and the seeds that ran all three schedules."""
    final = {(r["schedule"], r["seed"]): r["rows"][-1] for r in records}
    seeds = sorted({s for _, s in final if all((k, s) in final for k in SCHEDULES)})
    return final, seeds


def claim_stats(records: list[dict], n_resamples: int = 9999) -> dict:
    """Per-schedule means with 95% CIs, and decreasing vs. each other schedule (paired by seed).

    The primary family (efficiency and robustness, vs. constant and vs. increasing: 4 one-sided
    tests) is Holm-corrected; the secondary comparisons are exploratory and uncorrected.
    """
    final, seeds = final_rows(records)
    if len(seeds) < 2:
        raise ValueError(f"the statistics need at least 2 seeds with all three schedules, got {len(seeds)}")
    values = {(k, m): [final[k, s][m] for s in seeds] for k in SCHEDULES for m in {**PRIMARY, **SECONDARY}}
    means = {k: {m: brain.bootstrap_ci(values[k, m], n_resamples=n_resamples) for m in {**PRIMARY, **SECONDARY}}
             for k in SCHEDULES}

    def family(metrics: dict) -> list[brain.Comparison]:
        return [brain.compare(values["decreasing", m], values[o, m], paired=True, n_resamples=n_resamples,
                              alternative="greater" if better else "less", label=f"decreasing vs {o}: {m}")
                for m, (_, better) in metrics.items() for o in OTHERS]

    return {"seeds": seeds, "means": means, "primary": brain.holm(family(PRIMARY)), "secondary": family(SECONDARY),
            "values": values}


def claims_tables(st: dict) -> str:
    """Markdown: schedule means with 95% CIs, then the tests."""
    keys = list(PRIMARY) + list(SECONDARY)
    labels = {**PRIMARY, **SECONDARY}
    lines = ["| schedule | " + " | ".join(labels[k][0] for k in keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for k in SCHEDULES:
        lines.append(f"| {k} | " + " | ".join(f"{st['means'][k][m]:.4f}" for m in keys) + " |")
    lines += ["", "| comparison | metric | difference [95% CI] | d_z | p (one-sided) | p (Holm) | family |",
              "|---|---|---|---|---|---|---|"]
    for c, fam in [(c, "primary") for c in st["primary"]] + [(c, "exploratory") for c in st["secondary"]]:
        vs, metric = c.label.split(": ")
        holm = f"{c.pvalue_holm:.4f}" if c.pvalue_holm is not None else "–"
        lines.append(f"| {vs} | {labels[metric][0]} | {c:.4f} | {c.effect_size:+.2f} | {c.pvalue:.4f} | {holm} | {fam} |")
    return "\n".join(lines)


def write_claims(st: dict, out: Path) -> None:
    (out / "claims.md").write_text(claims_tables(st) + "\n")
    with open(out / "claims.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=brain.stats.SUMMARY_COLUMNS)
        w.writeheader()
        w.writerows(brain.summary_rows(st["means"], st["primary"] + st["secondary"]))


def verdict(comparisons: list[brain.Comparison], metric: str) -> str:
    hits = [c for c in comparisons if c.label.endswith(": " + metric)]
    return "reproduced" if all(c.significant() for c in hits) else "not reproduced"


def headline(st: dict) -> str:
    """One line: decreasing vs. each other schedule on both claims, Holm-adjusted, with the verdicts."""
    parts = []
    for o in OTHERS:
        cs = {c.label.split(": ")[1]: c for c in st["primary"] if c.label.startswith(f"decreasing vs {o}:")}
        parts.append(f"decreasing vs {o}: " + ", ".join(
            f"{PRIMARY[m][0].split(' ')[0]} {cs[m]:.4f} p={cs[m].pvalue_holm:.3f}" for m in PRIMARY))
    verdicts = ", ".join(f"{PRIMARY[m][0].split(' ')[0]} {verdict(st['primary'], m)}" for m in PRIMARY)
    return "; ".join(parts) + f" (one-sided, Holm, n={len(st['seeds'])} seeds) — {verdicts}"


def plot_claims(st: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(PRIMARY) + ["efficiency", "robust_efficiency"]
    labels = {**PRIMARY, **SECONDARY}
    colors = {"constant": "tab:blue", "increasing": "tab:orange", "decreasing": "tab:green"}
    jitter = np.random.default_rng(0).uniform(-0.12, 0.12, len(st["seeds"]))
    fig, axes = plt.subplots(1, len(keys), figsize=(3.4 * len(keys), 3.4))
    for ax, m in zip(axes, keys):
        for i, k in enumerate(SCHEDULES):
            ci = st["means"][k][m]
            ax.scatter(i + jitter, st["values"][k, m], s=10, color=colors[k], alpha=0.45)
            ax.errorbar(i + 0.3, ci.estimate, yerr=[[ci.estimate - ci.low], [ci.high - ci.estimate]], fmt="o",
                        color=colors[k], capsize=4, lw=2)
        ax.set_xticks(range(len(SCHEDULES)), SCHEDULES)
        ax.set_title(labels[m][0], fontsize=9)
    fig.suptitle(f"final networks, {len(st['seeds'])} seeds: points per seed, mean with 95% bootstrap CI", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "claims.png", dpi=110)
    plt.close(fig)


def write_tables(records: list[dict], out: Path) -> None:
    rows = [r for rec in records for r in rec["rows"]]
    keys = sorted({k for r in rows for k in r}, key=lambda k: (k not in ("schedule", "seed", "stage"), k))
    with open(out / "metrics.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    (out / "metrics.json").write_text(json.dumps(rows, indent=1))


def plot(records: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"constant": "tab:blue", "increasing": "tab:orange", "decreasing": "tab:green"}
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for rec in records:
        st = [r["stage"] for r in rec["rows"]]
        label = rec["schedule"] if rec["seed"] == records[0]["seed"] else None
        for ax, key in zip(axes, ("density", "accuracy", "wiring_cost")):
            ax.plot(st, [r[key] for r in rec["rows"]], marker="o", ms=3, color=colors[rec["schedule"]], label=label, alpha=0.8)
    for ax, title in zip(axes, ("synapse density", "test accuracy", "wiring cost Σ|w|·d")):
        ax.set_xlabel("stage (lifetime)")
        ax.set_title(title)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(out / "lifecycle_curves.png", dpi=110)
    plt.close(fig)

    first = [r for r in records if r["seed"] == records[0]["seed"]]
    n = len(first[0]["positions"])
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    init = np.bincount(np.asarray(first[0]["initial"]["dst"]), minlength=n)
    ax.hist(init, bins=30, alpha=0.4, color="gray", label="initial (all schedules)")
    for rec in first:
        deg = np.bincount(np.asarray(rec["final"]["dst"]), minlength=n)
        ax.hist(deg, bins=range(0, int(deg.max()) + 2), histtype="step", lw=1.6, color=colors[rec["schedule"]],
                label=f"final, {rec['schedule']}")
    ax.set_xlabel("in-degree")
    ax.set_ylabel("neurons")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "degree_distribution.png", dpi=110)
    plt.close(fig)

    from matplotlib.collections import LineCollection

    fig, axes = plt.subplots(1, len(first) + 1, figsize=(4 * (len(first) + 1), 4))
    panels = [("initial", first[0]["initial"], None)] + [(f"final, {r['schedule']}", r["final"], r) for r in first]
    for ax, (title, edges, rec) in zip(axes, panels):
        pos = np.asarray(first[0]["positions"])
        s, d = np.asarray(edges["src"]), np.asarray(edges["dst"])
        alpha = 0.04 if rec is None else 0.25
        ax.add_collection(LineCollection(np.stack([pos[s], pos[d]], 1), lw=0.5, alpha=alpha, color="k"))
        ax.scatter(pos[:, 0], pos[:, 1], s=6, color="tab:gray", zorder=2)
        ax.scatter(pos[first[0]["inputs"], 0], pos[first[0]["inputs"], 1], s=10, color="tab:blue", zorder=3)
        ax.scatter(pos[first[0]["outputs"], 0], pos[first[0]["outputs"], 1], s=10, color="tab:red", zorder=3)
        ax.set_title(f"{title}: {s.size} synapses", fontsize=10)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(out / "layout_before_after.png", dpi=75)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/brain_lifecycle"))
    parser.add_argument("--quick", action="store_true", help="small network, few steps (CI)")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoints in --out")
    parser.add_argument("--criterion", choices=sorted(CRITERIA), default=None)
    parser.add_argument("--regrow", type=float, default=None, help="synapse turnover per stage (0: none)")
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds, 0..N-1 (default 10; at least 2)")
    parser.add_argument("--stages", type=int, default=None)
    parser.add_argument("--steps-per-stage", type=int, default=None)
    parser.add_argument("--final-keep", type=float, default=None)
    parser.add_argument("--stop-after-stage", type=int, default=None,
                        help="exit with status 3 after this many stages of the first schedule (simulates a kill)")
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args(argv)
    cfg = Config(**(QUICK if args.quick else {}))
    if args.seeds is not None:
        if args.seeds < 2:
            parser.error(f"--seeds must be at least 2 (the intervals and tests need them), got {args.seeds}")
        cfg.seeds = list(range(args.seeds))
    for name in ("criterion", "regrow", "stages", "steps_per_stage", "final_keep"):
        if getattr(args, name) is not None:
            setattr(cfg, name, getattr(args, name))
    args.out.mkdir(parents=True, exist_ok=True)
    config_path = args.out / "config.json"
    if args.resume and config_path.exists() and json.loads(config_path.read_text()) != asdict(cfg):
        parser.error(f"--resume: {config_path} was written with a different configuration")
    config_path.write_text(json.dumps(asdict(cfg), indent=1))
    torch.set_num_threads(1)  # results must not depend on the thread count (resume on another machine)

    records = []
    for seed in cfg.seeds:
        for schedule in SCHEDULES:
            rec = run_schedule(cfg, schedule, seed, args.out, resume=args.resume, stop_after=args.stop_after_stage)
            if rec is None:
                print(f"stopped after stage {args.stop_after_stage} of {schedule} (seed {seed}); rerun with --resume")
                return 3
            records.append(rec)
    write_tables(records, args.out)
    st = claim_stats(records)
    write_claims(st, args.out)
    (args.out / "summary.json").write_text(json.dumps({
        "seeds": st["seeds"],
        "means": {k: {m: asdict(ci) for m, ci in ms.items()} for k, ms in st["means"].items()},
        "primary": [asdict(c) for c in st["primary"]], "secondary": [asdict(c) for c in st["secondary"]]}, indent=1))
    if not args.no_plots:
        plot(records, args.out)
        plot_claims(st, args.out)
    print(f"{cfg.num_neurons} neurons, {records[0]['initial_edges']} synapses at the start, "
          f"{records[0]['rows'][-1]['edges']} at the end ({cfg.final_keep:.0%}); criterion {cfg.criterion}; "
          f"{len(st['seeds'])} seeds; mean [95% BCa bootstrap CI]; paired one-sided permutation tests")
    print(claims_tables(st))
    print(headline(st))
    return 0


if __name__ == "__main__":
    sys.exit(main())
