"""Tutorial: a brain lifecycle simulation: over-connect, learn, prune, and measure what changed.

The steps:

1. place neurons in the unit square and connect them by the exponential distance rule
   (``gnnkit.brain.spatial_graph``): an over-connected, spatially embedded start;
2. measure the network before: density, clustering, path length, global efficiency, total wire;
3. train a ``SpatialRNN`` (one learnable weight per synapse, one sparse product per time step)
   on a 4-class task whose input enters at the left edge and is read at the right edge, with a
   wiring-cost term (``wiring_cost``: sum of ``|w| * length``) in the loss;
4. prune it over its "lifetime" with a decreasing-rate ``PruningSchedule`` (many synapses early,
   few late; Navlakha et al. 2015): after each stage ``Lifecycle.step`` removes the weakest
   synapses from the graph (not a mask) and re-indexes Adam's state;
5. measure the network after, and plot synapses, accuracy and wire per stage plus the in-degree
   distribution before and after (``brain_lifecycle.png`` in ``--out``).

Run::

    python docs/tutorials/brain_lifecycle.py --out runs/brain_tutorial            # 300 neurons, 6 stages
    python docs/tutorials/brain_lifecycle.py --quick --out /tmp/brain_tutorial    # 150 neurons, 4 stages (CI)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

import gnnkit.brain as brain
from gnnkit.graph import Graph


def task(num: int, in_features: int, steps: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``num`` trials of a constant input held for ``steps`` steps; the class is the quadrant of its first two features.

    Returns:
        ``xs [steps, num, in_features]`` and labels ``[num]`` in ``0..3``.
    """
    x = torch.randn(num, in_features, generator=generator)  # [B, F_in]
    y = (x[:, 0] > 0).long() * 2 + (x[:, 1] > 0).long()  # [B]
    return x.expand(steps, num, in_features), y


def measure(g: Graph, positions: torch.Tensor, inputs: torch.Tensor, outputs: torch.Tensor) -> dict[str, float]:
    """The network metrics this tutorial compares before and after pruning."""
    routing = brain.path_stats(g, sources=inputs, targets=outputs)  # input -> output routes only
    return {
        "synapses": float(g.num_edges),
        "density": brain.density(g),
        "clustering": brain.average_clustering(g),
        "path length": brain.characteristic_path_length(g),
        "global efficiency": brain.global_efficiency(g),
        "in->out efficiency": routing["efficiency"],
        "wire (sum of lengths)": brain.wiring_length(g, positions),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="150 neurons, 4 stages of 40 steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("brain_tutorial"), help="folder for the PNG plot")
    args = parser.parse_args(argv)
    num_neurons, stages, steps_per_stage = (150, 4, 40) if args.quick else (300, 6, 150)
    in_features, time_steps, batch = 8, 6, 64
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    # 1. an over-connected spatial network; input neurons on the left edge, outputs on the right
    sg = brain.spatial_graph(num_neurons, mean_degree=30, seed=args.seed)
    inputs = (sg.positions[:, 0] < 0.15).nonzero().view(-1)
    outputs = (sg.positions[:, 0] > 0.85).nonzero().view(-1)
    print(f"{num_neurons} neurons, {sg.num_edges} synapses; {inputs.numel()} input and {outputs.numel()} output neurons")

    # 2. before
    before = measure(sg.graph, sg.positions, inputs, outputs)
    in_degree_before = torch.bincount(sg.graph.dst, minlength=num_neurons)

    # 3. + 4. learn while the lifecycle prunes to 10 % of the synapses
    net = brain.SpatialRNN(sg.graph, in_features=in_features, out_features=4, input_nodes=inputs, output_nodes=outputs)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    life = brain.Lifecycle(brain.PruningSchedule("decreasing", stages, final_keep=0.1), sg.num_edges, "magnitude")
    test_x, test_y = task(512, in_features, time_steps, gen)
    history = []
    for stage in range(stages + 1):  # the last stage fine-tunes the survivors without pruning
        for _ in range(steps_per_stage):
            xs, y = task(batch, in_features, time_steps, gen)
            ys, _ = net(xs)  # [T, B, 4]
            lengths = brain.edge_lengths(net.graph, sg.positions)  # [E]: the graph shrinks, so per step
            loss = F.cross_entropy(ys[-1], y) + 1e-4 * brain.wiring_cost(net.weight, lengths)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            acc = (net(test_x)[0][-1].argmax(1) == test_y).float().mean().item()
        wire = brain.wiring_cost(net.weight.detach(), brain.edge_lengths(net.graph, sg.positions)).item()
        history.append((stage, net.graph.num_edges, acc, wire))
        print(f"stage {stage}: {net.graph.num_edges:5d} synapses  test accuracy {acc:.3f}  wiring cost {wire:.2f}")
        if stage < stages:
            life.step(stage, net, optimizer=opt)  # removes synapses from the graph and from Adam's state

    # 5. after, side by side
    after = measure(net.graph, sg.positions, inputs, outputs)
    print(f"{'metric':24s} {'before':>10s} {'after':>10s}")
    for key in before:
        print(f"{key:24s} {before[key]:10.4f} {after[key]:10.4f}")

    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    stage_ids = [h[0] for h in history]
    axes[0].plot(stage_ids, [h[1] for h in history], "o-")
    axes[0].set(title="synapses trained in each stage", xlabel="stage", ylabel="synapses")
    axes[1].plot(stage_ids, [h[2] for h in history], "o-", label="test accuracy")
    axes[1].plot(stage_ids, [h[3] / history[0][3] for h in history], "s--", label="wiring cost / stage 0")
    axes[1].set(title="task and wire", xlabel="stage", ylim=(0, 1.05))
    axes[1].legend()
    in_degree_after = torch.bincount(net.graph.dst, minlength=num_neurons)
    bins = range(int(in_degree_before.max()) + 2)
    axes[2].hist([in_degree_before.numpy(), in_degree_after.numpy()], bins=bins, label=["before", "after"])
    axes[2].set(title="in-degree distribution", xlabel="in-degree", ylabel="neurons")
    axes[2].legend()
    fig.tight_layout()
    args.out.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out / "brain_lifecycle.png", dpi=100)
    plt.close(fig)
    print(f"plot: {args.out / 'brain_lifecycle.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
