"""Forecast a diffusion process on a graph with a graph RNN, against a per-vertex RNN that ignores the edges.

Heat starts at a few random vertices of a small-world graph and spreads: at every step
each vertex keeps part of its heat and takes in the mean of its neighbours',

    x_{t+1} = (1 - alpha) x_t + alpha * mean_{u -> v} x_t[u]

The task is one-step-ahead forecasting: read x_1..x_t, predict x_{t+1}. A graph RNN
(graph-convolutional GRU, H_t = GRU(X_t, A_hat H_{t-1}), Y_t = H_t V + b_o) sees the
neighbours; a GRU per vertex with the same width sees only its own history. Many
sequences on the same graph train as one batched graph (``Graph.batch``); training is
backpropagation through time, truncated to windows of ``--bptt`` steps if given.

    python examples/temporal_graph_rnn.py
    python examples/temporal_graph_rnn.py --bptt 5      # truncated BPTT
    python examples/temporal_graph_rnn.py --quick       # CI: a few seconds
"""
from __future__ import annotations

import argparse
import sys

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gnnkit import Graph
from gnnkit.blocks import GRUCell
from gnnkit.nn.graph_rnn import GraphRNN


def small_world(num_nodes: int, extra_edges: int, gen: torch.Generator) -> Graph:
    """A ring where each vertex also links two steps ahead, plus random chords; both edge directions."""
    v = torch.arange(num_nodes)
    src = torch.cat([v, v, torch.randint(0, num_nodes, (extra_edges,), generator=gen)])
    dst = torch.cat([(v + 1) % num_nodes, (v + 2) % num_nodes, torch.randint(0, num_nodes, (extra_edges,), generator=gen)])
    keep = src != dst
    return Graph(torch.cat([src[keep], dst[keep]]), torch.cat([dst[keep], src[keep]]), num_nodes).coalesce()


def simulate(g: Graph, num_sequences: int, steps: int, alpha: float, gen: torch.Generator) -> Tensor:
    """Diffusion from a few random hot vertices: ``[T + 1, S, N]``."""
    n = g.num_nodes
    deg = torch.bincount(g.dst, minlength=n).clamp(min=1).float()
    x = torch.zeros(num_sequences, n)
    hot = torch.rand(num_sequences, n, generator=gen) < 0.1
    x[hot] = torch.rand(int(hot.sum()), generator=gen) * 2
    out = [x]
    for _ in range(steps):
        nbr = torch.zeros_like(x).index_add_(1, g.dst, x[:, g.src]) / deg  # [S, N] mean over in-neighbours
        x = (1 - alpha) * x + alpha * nbr
        out.append(x)
    return torch.stack(out)


class VertexRNN(nn.Module):
    """The baseline: one GRU per vertex over its own series (vectorised over vertices), no edges."""

    def __init__(self, hidden: int):
        super().__init__()
        self.cell = GRUCell(1, hidden)
        self.out = nn.Linear(hidden, 1)

    def forward(self, g: Graph, xs: Tensor, state: Tensor | None = None, detach_every: int | None = None):
        ys, state = self.cell.forward_sequence(xs, state)  # the graph is ignored
        return self.out(ys), state


def as_batch(g: Graph, series: Tensor) -> tuple[Graph, Tensor, Tensor]:
    """``[T + 1, S, N]`` series → (S copies of g as one graph, inputs [T, S N, 1], targets [T, S N, 1])."""
    t1, s, n = series.shape
    flat = series.reshape(t1, s * n, 1)
    return Graph.batch([g] * s), flat[:-1], flat[1:]


def train(model: nn.Module, g: Graph, series: Tensor, epochs: int, batch: int, lr: float, bptt: int | None,
          gen: torch.Generator) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    num = series.shape[1]
    for _ in range(epochs):
        order = torch.randperm(num, generator=gen)
        for i in range(0, num, batch):
            gb, xs, ys = as_batch(g, series[:, order[i : i + batch]])
            window = bptt or xs.shape[0]
            state = None
            for t0 in range(0, xs.shape[0], window):  # truncated BPTT: backward and step per window
                pred, state = model(gb, xs[t0 : t0 + window], state)
                loss = F.mse_loss(pred, ys[t0 : t0 + window])
                opt.zero_grad()
                loss.backward()
                opt.step()
                state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


@torch.no_grad()
def test_mse(model: nn.Module, g: Graph, series: Tensor) -> float:
    model.eval()
    gb, xs, ys = as_batch(g, series)
    pred, _ = model(gb, xs)
    return F.mse_loss(pred, ys).item()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", type=int, default=40)
    p.add_argument("--steps", type=int, default=20, help="time steps T per sequence")
    p.add_argument("--alpha", type=float, default=0.6, help="diffusion rate")
    p.add_argument("--train-sequences", type=int, default=256)
    p.add_argument("--test-sequences", type=int, default=64)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--hidden", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--bptt", type=int, default=None, help="truncate backpropagation to windows of this many steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (tiny models run fastest on one)")
    p.add_argument("--quick", action="store_true", help="64 training sequences in batches of 16, 20 epochs (CI)")
    args = p.parse_args(argv)
    if args.quick:
        args.train_sequences, args.test_sequences, args.epochs, args.batch_size = 64, 32, 20, 16

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    g = small_world(args.nodes, args.nodes // 4, gen)
    train_series = simulate(g, args.train_sequences, args.steps, args.alpha, gen)
    test_series = simulate(g, args.test_sequences, args.steps, args.alpha, gen)
    persistence = F.mse_loss(test_series[:-1], test_series[1:]).item()  # predict "no change"
    models = {
        "graph RNN": GraphRNN("gru", 1, args.hidden, 1, norm="mean", add_self_loops=False, conv_input=True),
        "per-vertex RNN": VertexRNN(args.hidden),
    }
    mse = {}
    for name, model in models.items():
        train(model, g, train_series, args.epochs, args.batch_size, args.lr, args.bptt, gen)
        mse[name] = test_mse(model, g, test_series)
        print(f"{name:>15}: test MSE {mse[name]:.6f}")
    print(f"{'persistence':>15}: test MSE {persistence:.6f}")
    better = "yes" if mse["graph RNN"] < mse["per-vertex RNN"] else "no"
    print(f"final test MSE: graph RNN {mse['graph RNN']:.6f} | per-vertex RNN {mse['per-vertex RNN']:.6f} "
          f"(graph RNN better: {better})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
