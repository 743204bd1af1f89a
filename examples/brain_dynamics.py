"""Train a spiking network's synapses with surrogate gradients and a wiring cost, then prune it.

Neurons sit in a square and are wired by the exponential distance rule
(``gnnkit.brain.spatial_graph``). The network is a ``gnnkit.brain.LIFNetwork`` (leaky
integrate-and-fire, exponential synapses, a refractory period, 1-step synaptic delays) whose
only trained parameters are its synapse weights, one per edge. Task: the neurons on the left
edge receive Poisson spikes from one of two cue populations; the spike counts of two
groups of neurons on the right edge must say which cue it was (cross-entropy on the counts),
so the signal has to travel across the sheet. The loss adds ``--gamma`` times the wiring
cost ``sum |w| * length`` (``gnnkit.brain.wiring_cost``). After training, a
``gnnkit.brain.Lifecycle`` prunes the weakest synapses in ``--stages`` decreasing-rate stages
(fine-tuning between stages), down to ``--keep`` of them.

Outputs in ``--out``: ``results.json`` (accuracy, synapse count, wiring cost before and after
pruning, the training curve) and ``raster.png`` (spike raster of one trial per cue, before and
after pruning, and the training curve). The last line printed is the headline.

    python examples/brain_dynamics.py --out runs/dynamics          # ~25 s of CPU (300 neurons, 3,764 synapses)
    python examples/brain_dynamics.py --quick --out /tmp/dynamics  # CI: a few seconds
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

import gnnkit.brain as brain
from gnnkit.brain.dynamics import LIFNetwork, Surrogate, simulate


@dataclass
class Config:
    neurons: int = 300
    mean_degree: float = 16.0
    time_steps: int = 40
    group: int = 20  # neurons per input cue and per output group
    rate: float = 0.25  # input spike probability per step for the cued population
    steps: int = 150
    finetune_steps: int = 30
    stages: int = 3
    keep: float = 0.3
    batch_size: int = 32
    lr: float = 0.02
    gamma: float = 1e-3
    seed: int = 0


QUICK = dict(neurons=120, mean_degree=12.0, time_steps=25, group=10, steps=25, finetune_steps=5, stages=2, batch_size=16)


def build(cfg: Config) -> tuple[LIFNetwork, brain.SpatialGraph, torch.Tensor, torch.Tensor]:
    """The network, its neurons in space, the input neurons ``[2, group]`` and output neurons ``[2, group]``."""
    torch.manual_seed(cfg.seed)
    sg = brain.spatial_graph(cfg.neurons, mean_degree=cfg.mean_degree, seed=cfg.seed)
    by_x = torch.argsort(sg.positions[:, 0])
    inputs = by_x[: 2 * cfg.group].reshape(2, cfg.group)  # the left edge
    outputs = by_x[-2 * cfg.group:].reshape(2, cfg.group)  # the right edge
    # a bias current holds every membrane at 0.8 of threshold: a silent network passes no gradient
    # (no spikes, nothing for the surrogate to see), and at bias 0.5 the outputs never fired
    net = LIFNetwork(sg.graph, tau_m=5.0, tau_s=3.0, refractory=2, delays=1, gain=2.0, bias_current=0.8,
                     surrogate=Surrogate("fast_sigmoid", 5.0))
    return net, sg, inputs, outputs


def batch(cfg: Config, inputs: torch.Tensor, size: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Input ``[T, N, B]`` (Poisson spikes into the cued population, weight 2) and labels ``[B]``."""
    labels = torch.randint(0, 2, (size,), generator=gen)
    x = torch.zeros(cfg.time_steps, cfg.neurons, size)
    cued = inputs[labels].T  # [group, B]
    fire = (torch.rand(cfg.time_steps, cfg.group, size, generator=gen) < cfg.rate).float() * 2.0
    x[:, cued, torch.arange(size)] = fire
    return x, labels


def logits(net: LIFNetwork, x: torch.Tensor, outputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Spike counts of the two output groups ``[B, 2]`` (scaled) and the spikes ``[T, N, B]``."""
    _, rec = simulate(net, net.initial_state(x.shape[2]), x, record=("spikes",))
    counts = rec["spikes"].sum(0)[outputs].sum(1)  # [2, B]
    return counts.T / outputs.shape[1], rec["spikes"]


def train(cfg: Config, net: LIFNetwork, sg, inputs, outputs, steps: int, opt, gen, desc: str) -> list[dict]:
    curve = []
    for _ in tqdm(range(steps), desc=desc, unit="step", disable=not sys.stderr.isatty()):
        x, y = batch(cfg, inputs, cfg.batch_size, gen)
        out, _ = logits(net, x, outputs)
        task = F.cross_entropy(out, y)
        wire = brain.wiring_cost(net.weight, brain.edge_lengths(net.graph, sg.positions))
        loss = task + cfg.gamma * wire
        opt.zero_grad()
        loss.backward()
        opt.step()
        curve.append({"task": float(task.detach()), "wiring_cost": float(wire.detach()),
                      "accuracy": float((out.argmax(1) == y).float().mean())})
    return curve


@torch.no_grad()
def evaluate(cfg: Config, net: LIFNetwork, sg, inputs, outputs) -> dict:
    x, y = batch(cfg, inputs, 512, torch.Generator().manual_seed(10_000 + cfg.seed))
    out, spikes = logits(net, x, outputs)
    return {"accuracy": float((out.argmax(1) == y).float().mean()), "synapses": net.graph.num_edges,
            "wiring_cost": float(brain.wiring_cost(net.weight, brain.edge_lengths(net.graph, sg.positions))),
            "mean_rate": float(spikes.mean())}


@torch.no_grad()
def raster_trials(cfg: Config, net: LIFNetwork, inputs, outputs) -> torch.Tensor:
    """Spikes ``[T, N, 2]`` of one trial per cue (cue 0, cue 1)."""
    x, _ = batch(cfg, inputs, 2, torch.Generator().manual_seed(20_000))
    x.zero_()
    gen = torch.Generator().manual_seed(20_001)
    for cue in range(2):
        x[:, inputs[cue], cue] = (torch.rand(cfg.time_steps, cfg.group, generator=gen) < cfg.rate).float() * 2.0
    return logits(net, x, outputs)[1]


def plot(path: Path, cfg: Config, sg, rasters: dict, curve: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = torch.argsort(sg.positions[:, 0])  # neurons from left (inputs) to right (outputs)
    fig, axes = plt.subplots(1, 5, figsize=(20, 4))
    for k, (name, spikes) in enumerate(rasters.items()):
        for cue in range(2):
            ax = axes[2 * k + cue]
            t, rank = spikes[:, order, cue].nonzero(as_tuple=True)
            ax.scatter(t, rank, s=2, c="k")
            ax.set(title=f"{name}, cue {cue}", xlabel="step", ylabel="neuron (left to right)",
                   xlim=(-1, cfg.time_steps), ylim=(-1, cfg.neurons))
    ax = axes[4]
    ax.plot([c["task"] for c in curve], label="task loss")
    ax.plot([c["accuracy"] for c in curve], label="batch accuracy")
    ax.set(xlabel="training step", title="training (pruning stages after the first phase)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/brain_dynamics"))
    parser.add_argument("--quick", action="store_true", help="a small network and few steps (CI)")
    parser.add_argument("--gamma", type=float, default=None, help="wiring-cost strength")
    parser.add_argument("--keep", type=float, default=None, help="fraction of synapses left after pruning")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    cfg = Config(**QUICK) if args.quick else Config()
    for name in ("gamma", "keep", "seed"):
        if getattr(args, name) is not None:
            setattr(cfg, name, getattr(args, name))
    args.out.mkdir(parents=True, exist_ok=True)

    net, sg, inputs, outputs = build(cfg)
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    initial = evaluate(cfg, net, sg, inputs, outputs)
    curve = train(cfg, net, sg, inputs, outputs, cfg.steps, opt, gen, "train")
    trained = evaluate(cfg, net, sg, inputs, outputs)
    rasters = {"trained": raster_trials(cfg, net, inputs, outputs)}
    life = brain.Lifecycle(brain.PruningSchedule("decreasing", cfg.stages, final_keep=cfg.keep), net.graph.num_edges,
                           "magnitude", seed=cfg.seed)
    stages = []
    for stage in range(cfg.stages):
        report = life.step(stage, net, optimizer=opt)
        curve += train(cfg, net, sg, inputs, outputs, cfg.finetune_steps, opt, gen, f"stage {stage}")
        stages.append({"stage": stage, "removed": report.removed, **evaluate(cfg, net, sg, inputs, outputs)})
    rasters["pruned"] = raster_trials(cfg, net, inputs, outputs)
    results = {"config": asdict(cfg), "initial": initial, "trained": trained, "stages": stages, "curve": curve}
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    plot(args.out / "raster.png", cfg, sg, rasters, curve)
    final = stages[-1]
    print("| network | accuracy | synapses | wiring cost | mean rate |")
    print("|---|---|---|---|---|")
    for name, row in (("initial", initial), ("trained", trained), ("pruned", final)):
        print(f"| {name} | {row['accuracy']:.3f} | {row['synapses']} | {row['wiring_cost']:.1f} | {row['mean_rate']:.3f} |")
    print(f"spiking network: accuracy {initial['accuracy']:.3f} -> {trained['accuracy']:.3f} trained -> "
          f"{final['accuracy']:.3f} with {final['synapses']}/{trained['synapses']} synapses "
          f"({final['synapses'] / trained['synapses']:.0%}), wiring cost {trained['wiring_cost']:.1f} -> "
          f"{final['wiring_cost']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
