"""Run a brain-simulation config: topology, lifecycle pruning schedule, costs and metrics, with plots.

``gnnkit brain SPEC.toml --out DIR`` builds a network with a :mod:`gnnkit.brain.topology`
generator, trains a :class:`gnnkit.brain.SpatialRNN` on it (inputs on one side of the
sheet, outputs on the other, a nonlinear 4-class task) while a
:class:`gnnkit.brain.Lifecycle` prunes its synapses stage by stage, adds the chosen energy
and wiring penalties (:mod:`gnnkit.brain.costs`) to the loss, and after every stage
measures the chosen :mod:`gnnkit.brain.metrics`. ``DIR`` receives ``metrics.csv`` (one row
per stage) and ``metrics.png``; the table is printed, and the last line is
``final accuracy: X``. ``--quick`` applies the spec's ``[quick]`` overrides (a small run).

The spec's sections (see ``examples/configs/brain_lifecycle.toml``)::

    seed = 0
    [topology]   generator = "spatial" | "small_world" | "modular" | "hierarchical_modular" | "cortical_column",
                 then the generator's keyword arguments (num_nodes = 200, mean_degree = 30, ...)
    [task]       features, classes, time_steps, train_size, test_size, io_fraction
    [lifecycle]  schedule, stages, final_keep, criterion (a name or a {name = weight} table),
                 steps_per_stage, batch_size, lr, regrow
    [costs]      activity (L1 firing penalty), wiring (weight of sum |w| d), report = [cost names]
    [metrics]    report = [metric names]
    [quick]      per-section overrides used with --quick
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any, Callable

from .device import add_device_argument

__all__ = ["add_parser", "run", "GENERATORS", "METRICS", "COSTS", "load_spec"]

GENERATORS = ("spatial", "small_world", "modular", "hierarchical_modular", "cortical_column")
METRICS = ("density", "efficiency", "path_length", "io_efficiency", "clustering", "modularity", "wiring_length")
COSTS = ("wiring_cost", "communicability_wiring_cost")

_DEFAULTS: dict[str, dict[str, Any]] = {
    "topology": {"generator": "spatial", "num_nodes": 200, "mean_degree": 30.0},
    "task": {"features": 8, "classes": 4, "time_steps": 6, "train_size": 2048, "test_size": 1024,
             "io_fraction": 0.12},
    "lifecycle": {"schedule": "decreasing", "stages": 4, "final_keep": 0.2, "criterion": "magnitude",
                  "steps_per_stage": 60, "batch_size": 64, "lr": 3e-3, "regrow": 0.0},
    "costs": {"activity": 1e-3, "wiring": 0.0, "report": ["wiring_cost"]},
    "metrics": {"report": ["density", "efficiency", "clustering"]},
}

_EXAMPLES = """examples:
  gnnkit brain examples/configs/brain_lifecycle.toml --out runs/brain
  gnnkit brain examples/configs/brain_lifecycle.toml --out /tmp/brain --quick --seed 1
"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``brain`` subcommand to ``subparsers`` and return its parser."""
    p = subparsers.add_parser("brain", help="run a brain-simulation config (topology, lifecycle, costs, metrics)",
                              description=__doc__.split("\n\n")[1].replace("``", "'"), epilog=_EXAMPLES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spec", type=Path, metavar="SPEC.toml", help="the simulation config")
    p.add_argument("--out", type=Path, default=Path("runs/brain"), help="output folder (default: runs/brain)")
    p.add_argument("--quick", action="store_true", help="apply the spec's [quick] overrides (a small, fast run)")
    p.add_argument("--seed", type=int, help="override the spec's seed")
    p.add_argument("--no-plots", action="store_true", help="write metrics.csv only")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_device_argument(p)
    return p


def load_spec(path: Path, quick: bool) -> dict[str, Any]:
    """The simulation spec at ``path``: defaults, overridden by the file (and its ``[quick]`` table with ``quick``).

    Raises:
        UsageError: an unreadable file, an unknown section or key (named), a generator, metric or cost
            that does not exist.
    """
    from .config import ConfigError, read_toml
    from .loop import UsageError

    try:
        raw = read_toml(path)
    except ConfigError as exc:
        raise UsageError(str(exc).replace("--config", "SPEC", 1)) from exc
    spec: dict[str, Any] = {"seed": 0, **{k: dict(v) for k, v in _DEFAULTS.items()}}
    if isinstance(raw.get("topology"), dict) and "generator" in raw["topology"]:
        spec["topology"] = {}  # another generator takes other arguments: the default's do not carry over
    layers = [raw] + ([raw.get("quick", {})] if quick else [])
    for layer in layers:
        for key, value in layer.items():
            if key == "quick" and layer is raw:
                continue
            if key == "seed":
                if not isinstance(value, int) or isinstance(value, bool):
                    raise UsageError(f"SPEC {path}: seed must be an integer, got {value!r}")
                spec["seed"] = value
            elif key in _DEFAULTS and isinstance(value, dict):
                # the topology's keys are its generator's keyword arguments, which the generator checks
                unknown = [k for k in value if k not in _DEFAULTS[key]] if key != "topology" else []
                if unknown:
                    raise UsageError(f"SPEC {path}: unknown key {unknown[0]!r} in [{key}] "
                                     f"(known: {', '.join(_DEFAULTS[key])})")
                spec[key].update(value)
            else:
                raise UsageError(f"SPEC {path}: unknown section {key!r} (known: seed, {', '.join(_DEFAULTS)}, quick)")
    checks = ((spec["topology"].get("generator"), GENERATORS, "[topology] generator"),
              *((m, METRICS, "[metrics] report") for m in spec["metrics"]["report"]),
              *((c, COSTS, "[costs] report") for c in spec["costs"]["report"]))
    for value, allowed, where in checks:
        if value not in allowed:
            raise UsageError(f"SPEC {path}: {where} must be one of {allowed}, got {value!r}")
    return spec


def _generator(name: str) -> Callable:
    from .. import brain

    return {"spatial": brain.spatial_graph, "small_world": brain.watts_strogatz_graph, "modular": brain.modular_graph,
            "hierarchical_modular": brain.hierarchical_modular_graph, "cortical_column": brain.cortical_column}[name]


def _task_data(task: dict, seed: int):
    """A nonlinear 4-class problem: the XOR of two random half-spaces plus a third for the class bit (train, test)."""
    import torch

    gen = torch.Generator().manual_seed(10_000 + seed)
    u = torch.randn(3, task["features"], generator=gen)

    def draw(n: int):
        x = torch.randn(n, task["features"], generator=gen)
        s = (x @ u.t() > 0).long()  # [n, 3]
        return x, ((s[:, 0] ^ s[:, 1]) + 2 * s[:, 2]) % task["classes"]

    return draw(task["train_size"]), draw(task["test_size"])


def _measure(names: list[str], costs: list[str], model, sg, inputs, outputs, communities) -> dict[str, float]:
    from .. import brain

    g = model.graph
    lengths = brain.edge_lengths(g, sg.positions)  # [E] on the graph's device
    weight = model.weight.detach()
    out: dict[str, float] = {}
    paths = brain.path_stats(g.to("cpu"), directed=True) if {"efficiency", "path_length"} & set(names) else {}
    for name in names:
        if name == "density":
            out[name] = brain.density(g)
        elif name in ("efficiency", "path_length"):
            out[name] = paths[name]
        elif name == "io_efficiency":
            out[name] = brain.path_stats(g.to("cpu"), directed=True, sources=inputs, targets=outputs)["efficiency"]
        elif name == "clustering":
            out[name] = brain.average_clustering(g.to("cpu"))
        elif name == "modularity":
            out[name] = brain.modularity(g.to("cpu"), communities)
        elif name == "wiring_length":
            out[name] = float(lengths.sum())
    for name in costs:
        if name == "wiring_cost":
            out[name] = float(brain.wiring_cost(weight, lengths))
        else:
            out[name] = float(brain.communicability_wiring_cost(g, weight, lengths))
    return out


def _plot(rows: list[dict], out: Path) -> None:
    try:
        import matplotlib
    except ImportError:
        import warnings

        warnings.warn("gnnkit brain: matplotlib is not installed, so no metrics.png", RuntimeWarning, stacklevel=2)
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    keys = [k for k in rows[0] if k != "stage"]
    cols = min(4, len(keys))
    nrows = -(-len(keys) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.2 * cols, 2.6 * nrows), squeeze=False)
    stages = [r["stage"] for r in rows]
    for ax, key in zip(axes.flat, keys):
        ax.plot(stages, [r[key] for r in rows], marker="o", ms=3)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("stage")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out / "metrics.png", dpi=100)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    """Run the simulation of ``args.spec``, write ``metrics.csv``/``metrics.png`` under ``args.out``; returns 0.

    Raises:
        UsageError: a bad spec (see :func:`load_spec`), generator arguments the generator rejects,
            ``--device cuda`` without CUDA.
    """
    import torch
    import torch.nn.functional as F
    from tqdm import tqdm

    from .. import brain
    from .device import resolve_device
    from .loop import UsageError

    spec = load_spec(args.spec, args.quick)
    device = resolve_device(args.device)
    seed = spec["seed"] if args.seed is None else args.seed
    topo, task, life, costs = (dict(spec[k]) for k in ("topology", "task", "lifecycle", "costs"))
    generator = topo.pop("generator")
    try:
        sg = _generator(generator)(**topo, seed=seed)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"SPEC {args.spec}: [topology] generator {generator!r}: {exc}") from exc
    try:
        plan = brain.PruningSchedule(life["schedule"], life["stages"], life["final_keep"])
        criterion = life["criterion"]
        lifecycle = brain.Lifecycle(plan, sg.num_edges, criterion, positions=sg.positions,
                                    regrow_fraction=life["regrow"], seed=seed)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"SPEC {args.spec}: [lifecycle]: {exc}") from exc
    x_pos = sg.positions[:, 0]
    lo, hi = torch.quantile(x_pos, task["io_fraction"]), torch.quantile(x_pos, 1 - task["io_fraction"])
    inputs, outputs = (x_pos <= lo).nonzero().view(-1), (x_pos >= hi).nonzero().view(-1)
    communities = sg.groups if sg.groups is not None else (
        brain.detect_communities(sg.graph, seed=seed) if "modularity" in spec["metrics"]["report"] else None)

    torch.manual_seed(seed)
    (xtr, ytr), (xte, yte) = _task_data(task, seed)
    xtr, ytr, xte, yte = xtr.to(device), ytr.to(device), xte.to(device), yte.to(device)
    model = brain.SpatialRNN(sg.graph.to(device), task["features"], task["classes"], input_nodes=inputs,
                             output_nodes=outputs, activation="tanh").to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=life["lr"])
    tracker = brain.UsageTracker(sg.num_nodes, sg.num_edges)
    gen = torch.Generator().manual_seed(seed)
    steps = life["steps_per_stage"]

    def trial(x):  # the stimulus held for the whole trial; logits at the last step
        ys, _, states = model(x.unsqueeze(0).expand(task["time_steps"], -1, -1), return_states=True)
        return ys[-1], states

    rows: list[dict[str, float]] = []
    bar = tqdm(total=(life["stages"] + 1) * steps, desc=f"brain {life['schedule']}", unit="step",
               disable=args.quiet, file=sys.stderr)
    for stage in range(life["stages"] + 1):  # train, measure, prune; the last stage fine-tunes the survivors
        model.train()
        losses = []
        for _ in range(steps):
            idx = torch.randint(0, xtr.shape[0], (life["batch_size"],), generator=gen).to(device)
            logits, states = trial(xtr[idx])
            loss = F.cross_entropy(logits, ytr[idx]) + costs["activity"] * brain.activity_l1(states)
            if costs["wiring"]:
                lengths = brain.edge_lengths(model.graph, sg.positions)
                loss = loss + costs["wiring"] * brain.wiring_cost(model.weight, lengths)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            tracker.update(model.graph, states)
            losses.append(loss.item())
            bar.update(1)
        model.eval()
        with torch.no_grad():
            accuracy = float((trial(xte)[0].argmax(1) == yte).float().mean())
        row = {"stage": stage, "synapses": model.graph.num_edges, "train_loss": sum(losses) / len(losses),
               "accuracy": accuracy,
               **_measure(spec["metrics"]["report"], costs["report"], model, sg, inputs, outputs, communities)}
        rows.append(row)
        bar.set_postfix(synapses=row["synapses"], accuracy=f"{accuracy:.3f}")
        if stage < life["stages"]:
            lifecycle.step(stage, model, optimizer=optimizer, tracker=tracker)
    bar.close()

    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "metrics.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    if not args.no_plots:
        _plot(rows, args.out)
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(f"{r[k]:.4g}" if isinstance(r[k], float) else str(r[k]) for k in keys) + " |")
    print(f"final accuracy: {rows[-1]['accuracy']:.4f}")
    return 0
