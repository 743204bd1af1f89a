"""GraphSAGE with neighbour sampling on a generated power-law graph of 10 M vertices and 100 M edges.

    python examples/large_graph.py                          # 10M vertices, >= 100M edges, one full epoch
    python examples/large_graph.py --batches-per-epoch 100  # "epochs" of 100 batches (of 977)
    python examples/large_graph.py --checkpoint ckpt.pt --resume   # continue a killed run
    python examples/large_graph.py --quick                  # 200k vertices, 2M edges, under a minute (CI)

What it does, in order, with the time and memory of each step printed:

1. Generates a directed Chung-Lu graph (``gnnkit.data.generators.chung_lu``: power-law in- and
   out-degrees, exponent 2.5) straight into a CSR by destination, in 4M-edge chunks, and
   removes duplicate edges and self-loops (``dedupe_csr``). ``--edges`` is the number drawn;
   the default over-draws by 3 % so that at least 100M distinct edges remain. No ``Graph``
   with ``src``/``dst`` arrays is built: the sampler reads the CSR (``NeighborSampler.from_csr``),
   which saves ``16 E`` bytes (1.6 GB). ``--graph-cache DIR`` stores the CSR as ``.npy`` and
   later runs memory-map it.
2. Generates features and labels, ``[N, 32]`` float32 (1.28 GB at 10M vertices), in chunks:
   each vertex has a random class and its features are the class centroid plus Gaussian noise.
   The edges are independent of the classes, so on this synthetic task the neighbours add no
   signal: the run measures throughput and memory, and the accuracy only shows that training works.
3. Trains a 2-layer GraphSAGE (mean) on mini-batches of ``--batch-size`` seed vertices drawn
   from a 10 % training set, fan-outs ``--fanouts`` (input layer first), sampling in
   ``--workers`` processes. The sampler holds ``x`` and ``y`` as the graph's vertex data, so each
   batch arrives with ``batch.input_data["x"]`` and ``batch.seed_data["y"]`` gathered in the
   worker. An epoch is every training seed once (977 batches at 10M
   vertices, a few minutes on 2 cores); ``--batches-per-epoch K`` cuts epochs to K batches,
   and then the full-epoch time is printed as an extrapolation from the measured time per
   batch, labelled as such.
4. Prints the sampling throughput alone (seeds/s, median of 20 batches in this process), the
   training throughput (seeds/s through sampling + forward + backward + Adam), epoch time and
   peak resident memory (``ru_maxrss`` of this process and of the largest worker).

The last line is ``val accuracy: X | train seeds/s: Y | peak RSS: Z GB``.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from gnnkit.cli.argtypes import non_negative_int, positive_float, positive_int, probability
from gnnkit.checkpoint import atomic_save, load_checkpoint
from gnnkit.data.generators import CSRGraph, chung_lu, dedupe_csr
from gnnkit.nn import SAGEConv
from gnnkit.data.sampling import DataLoader, MiniBatch, NeighborSampler

FULL = dict(nodes=10_000_000, edges=103_000_000)
QUICK = dict(nodes=200_000, edges=2_000_000)


def _fanouts(text: str) -> list[int]:
    try:
        out = [int(t) for t in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated ints such as 10,5, got {text!r}") from None
    if not out or any(k < 1 and k != -1 for k in out):
        raise argparse.ArgumentTypeError(f"fan-outs must be >= 1 or -1 (all), got {text!r}")
    return out


def peak_rss_gb() -> tuple[float, float]:
    """Peak resident set of this process and of its largest finished child, in GB (Linux: ru_maxrss is KiB)."""
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / 1e9
    return me, kids


class SAGE(nn.Module):
    """GraphSAGE over sampled blocks: ``layers[l]`` runs on ``blocks[l]``.

    Shape:
        x ``[S_0, F]`` (features of ``batch.input_nodes``) → ``[B, C]`` (the seeds).
    """

    def __init__(self, in_features: int, hidden: int, out_features: int, num_layers: int, dropout: float = 0.0):
        super().__init__()
        sizes = [in_features] + [hidden] * (num_layers - 1) + [out_features]
        self.layers = nn.ModuleList(SAGEConv(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.dropout = dropout

    def forward(self, batch: MiniBatch, x: Tensor) -> Tensor:
        h = x
        for i, (block, layer) in enumerate(zip(batch.blocks, self.layers)):
            h = layer(block, h)  # [S_l, F] -> [S_{l+1}, F']
            if i < len(self.layers) - 1:
                # on hidden activations only; torch's CPU dropout draws ~30 ns per element
                h = F.dropout(F.relu(h), self.dropout, self.training)
        return h


def make_graph(args: argparse.Namespace) -> tuple[CSRGraph, float]:
    """The CSR by destination (generated, or memory-mapped from ``--graph-cache``) and the seconds it took."""
    t0 = time.perf_counter()
    cache = None
    if args.graph_cache is not None:
        cache = args.graph_cache / f"chung_lu_n{args.nodes}_e{args.edges}_g{args.exponent}_s{args.seed}"
        if (cache / "indices.npy").is_file():
            g = CSRGraph(np.load(cache / "indptr.npy", mmap_mode="r"), np.load(cache / "indices.npy", mmap_mode="r"))
            tqdm.write(f"graph: memory-mapped from {cache}")
            return g, time.perf_counter() - t0
    g = chung_lu(args.nodes, args.edges, exponent=args.exponent, seed=args.seed, progress=not args.quiet)
    g = dedupe_csr(g, progress=not args.quiet)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        for name in ("indptr", "indices"):
            np.save(cache / f"{name}.tmp.npy", getattr(g, name))
            os.replace(cache / f"{name}.tmp.npy", cache / f"{name}.npy")
    return g, time.perf_counter() - t0


def make_features(num_nodes: int, num_features: int, num_classes: int, seed: int,
                  chunk: int = 1 << 20) -> tuple[Tensor, Tensor]:
    """``x [N, F]`` float32 = class centroid + N(0, 2^2) noise, ``y [N]`` int64; written chunk by chunk."""
    rng = np.random.default_rng([seed, 7])
    centroids = rng.standard_normal((num_classes, num_features)).astype(np.float32)
    x = np.empty((num_nodes, num_features), dtype=np.float32)
    y = np.empty(num_nodes, dtype=np.int64)
    for a in range(0, num_nodes, chunk):
        r = np.random.default_rng([seed, 8, a])
        b = min(a + chunk, num_nodes)
        y[a:b] = r.integers(0, num_classes, b - a)
        x[a:b] = r.standard_normal((b - a, num_features), dtype=np.float32)
        x[a:b] *= 2.0
        x[a:b] += centroids[y[a:b]]
    return torch.from_numpy(x), torch.from_numpy(y)


def sampling_throughput(sampler: NeighborSampler, train_ids: np.ndarray, batch_size: int, batches: int = 20) -> float:
    """Seeds per second of ``sampler.sample`` alone: the median of ``batches`` timed batches after one warm-up."""
    rng = np.random.default_rng(123)
    times = []
    for i in range(batches + 1):
        seeds = rng.choice(train_ids, batch_size, replace=False)
        t = time.perf_counter()
        sampler.sample(seeds, generator=i)
        times.append(time.perf_counter() - t)
    return batch_size / statistics.median(times[1:])


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=positive_int, help=f"vertices (default {FULL['nodes']:,}; --quick {QUICK['nodes']:,})")
    p.add_argument("--edges", type=non_negative_int,
                   help=f"edges drawn before dedupe (default {FULL['edges']:,}; --quick {QUICK['edges']:,})")
    p.add_argument("--exponent", type=float, default=2.5, help="power-law exponent of the degrees")
    p.add_argument("--features", type=positive_int, default=32)
    p.add_argument("--classes", type=positive_int, default=16)
    p.add_argument("--hidden", type=positive_int, default=128)
    p.add_argument("--fanouts", type=_fanouts, default=[10, 10], help="per layer, input layer first")
    p.add_argument("--batch-size", type=positive_int, default=1024)
    p.add_argument("--train-fraction", type=float, default=0.1)
    p.add_argument("--epochs", type=positive_int, default=1)
    p.add_argument("--batches-per-epoch", type=non_negative_int, default=0, help="cut epochs to this many batches (0: full)")
    p.add_argument("--workers", type=non_negative_int, default=1, help="sampling worker processes")
    p.add_argument("--threads", type=positive_int,
                   help="torch threads of the training process (default: 1 with sampling workers, so that on 2 cores "
                        "the worker samples while this process trains, else all)")
    p.add_argument("--lr", type=positive_float, default=0.003)
    p.add_argument("--dropout", type=probability, default=0.0, help="dropout on the hidden activations")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--graph-cache", type=Path, help="store the CSR here as .npy and memory-map it next time")
    p.add_argument("--checkpoint", type=Path, help="write a resumable checkpoint here")
    p.add_argument("--checkpoint-every", type=positive_int, default=50, help="batches between checkpoints")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint if it exists")
    p.add_argument("--stop-after", type=positive_int, help="stop (as if killed) after this many batches of this run")
    p.add_argument("--quick", action="store_true",
                   help=f"{QUICK['nodes']:,} vertices, {QUICK['edges']:,} edges (an epoch is 20 batches)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    size = QUICK if args.quick else FULL
    args.nodes = args.nodes or size["nodes"]
    args.edges = size["edges"] if args.edges is None else args.edges
    if args.resume and args.checkpoint is None:
        p.error("--resume needs --checkpoint PATH")
    if not args.exponent > 2:
        p.error(f"--exponent must be > 2 (a finite mean degree), got {args.exponent}")
    if not 0 < args.train_fraction <= 1:
        p.error(f"--train-fraction must lie in (0, 1], got {args.train_fraction}")
    if args.threads or args.workers:
        torch.set_num_threads(args.threads or 1)
    torch.manual_seed(args.seed)
    show = not args.quiet

    g, gen_s = make_graph(args)
    print(f"graph: {g.num_nodes:,} vertices, {g.num_edges:,} edges (Chung-Lu, exponent {args.exponent}, deduplicated) "
          f"in {gen_s:.1f} s; CSR {g.nbytes / 1e9:.2f} GB; peak RSS {peak_rss_gb()[0]:.2f} GB", flush=True)
    t0 = time.perf_counter()
    x, y = make_features(g.num_nodes, args.features, args.classes, args.seed)
    print(f"features: [{g.num_nodes:,}, {args.features}] float32 ({x.numel() * 4 / 1e9:.2f} GB) in "
          f"{time.perf_counter() - t0:.1f} s; peak RSS {peak_rss_gb()[0]:.2f} GB", flush=True)

    perm = np.random.default_rng([args.seed, 9]).permutation(g.num_nodes)
    n_train = max(1, int(args.train_fraction * g.num_nodes))
    train_ids, val_ids = perm[:n_train].copy(), perm[n_train : n_train + min(20_000, g.num_nodes - n_train)].copy()
    del perm
    # the batches carry x and y: each gathers its input rows once, in the worker that samples it
    sampler = NeighborSampler.from_csr(g.indptr, g.indices, args.fanouts, seed=args.seed, ndata={"x": x, "y": y})
    bare = NeighborSampler.from_csr(g.indptr, g.indices, args.fanouts, seed=args.seed)  # the same CSR, no data
    sps = sampling_throughput(bare, train_ids, args.batch_size)
    print(f"sampling: {sps:,.0f} seeds/s (fan-outs {args.fanouts}, batch {args.batch_size}, one process, median of 20)",
          flush=True)

    model = SAGE(args.features, args.hidden, args.classes, len(args.fanouts), args.dropout)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    loader = DataLoader(sampler, train_ids, args.batch_size, shuffle=True, num_workers=args.workers, seed=args.seed)
    per_epoch = len(loader) if args.batches_per_epoch == 0 else min(args.batches_per_epoch, len(loader))
    run = {k: getattr(args, k) for k in ("nodes", "edges", "exponent", "features", "classes", "hidden", "fanouts",
                                         "batch_size", "train_fraction", "seed", "lr", "dropout")}
    run["batches_per_epoch"] = per_epoch
    epoch, start = 0, 0
    if args.resume and args.checkpoint.exists():
        ckpt = load_checkpoint(args.checkpoint)
        if ckpt["run"] != run:
            p.error(f"--checkpoint {args.checkpoint} was written by another configuration: {ckpt['run']} vs {run}")
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        torch.set_rng_state(ckpt["rng"])
        epoch, start = ckpt["epoch"], ckpt["batch"]
        print(f"resumed from {args.checkpoint} at epoch {epoch}, batch {start}", flush=True)

    def save(e: int, b: int) -> None:
        if args.checkpoint is not None:
            atomic_save({"model": model.state_dict(), "optimizer": opt.state_dict(), "rng": torch.get_rng_state(),
                          "epoch": e, "batch": b, "run": run}, args.checkpoint)

    done_this_run, seeds_seen, train_s, stopped = 0, 0, 0.0, False
    for e in range(epoch, args.epochs):
        first = start if e == epoch else 0
        if first >= per_epoch:
            continue
        model.train()
        bar = tqdm(total=per_epoch, initial=first, desc=f"epoch {e}", unit="batch", disable=not show, file=sys.stderr)
        t_epoch = time.perf_counter()
        n_epoch, loss_sum, correct = 0, 0.0, 0
        batches = loader.epoch_batches(e, start=first)
        for b in range(first, per_epoch):
            batch = next(batches)
            logits = model(batch, batch.input_data["x"])  # [B, C]
            target = batch.seed_data["y"]
            loss = F.cross_entropy(logits, target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            n_epoch += batch.batch_size
            loss_sum += loss.item() * batch.batch_size
            correct += int((logits.argmax(1) == target).sum())
            done_this_run += 1
            if show:
                bar.update()
                bar.set_postfix(loss=f"{loss_sum / n_epoch:.3f}", seeds_per_s=f"{n_epoch / (time.perf_counter() - t_epoch):,.0f}")
            if (b + 1) % args.checkpoint_every == 0 or b + 1 == per_epoch:
                save(e, b + 1) if b + 1 < per_epoch else save(e + 1, 0)
            if args.stop_after is not None and done_this_run >= args.stop_after:
                save(e, b + 1) if b + 1 < per_epoch else save(e + 1, 0)
                stopped = True
                break
        del batches  # shuts the workers down
        bar.close()
        dt = time.perf_counter() - t_epoch
        train_s += dt
        seeds_seen += n_epoch
        nb = max(1, b + 1 - first)
        full_note = "" if per_epoch == len(loader) else (
            f"; a full epoch of {len(loader)} batches would take ~{dt / nb * len(loader):.0f} s (extrapolated)")
        print(f"epoch {e}: {nb} batches, {n_epoch:,} seeds in {dt:.1f} s ({dt / nb * 1e3:.0f} ms/batch, "
              f"{n_epoch / dt:,.0f} seeds/s), loss {loss_sum / max(n_epoch, 1):.4f}, train acc "
              f"{correct / max(n_epoch, 1):.4f}{full_note}", flush=True)
        if stopped:
            print(f"stopped after {done_this_run} batches (--stop-after); resume with --resume", flush=True)
            return 0

    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, val_ids.size, args.batch_size):
            batch = sampler.sample(val_ids[i : i + args.batch_size], generator=i)
            correct += int((model(batch, batch.input_data["x"]).argmax(1) == batch.seed_data["y"]).sum())
    val_acc = correct / max(val_ids.size, 1)
    me, kids = peak_rss_gb()
    checksum = sum(float(t.double().sum()) for t in model.state_dict().values())
    print(f"parameter checksum: {checksum:.8f}")
    print(f"peak RSS: {me:.2f} GB (this process), {kids:.2f} GB (largest sampling worker, "
          f"pages shared with this process by fork)")
    tput = seeds_seen / train_s if train_s else 0.0
    print(f"val accuracy: {val_acc:.4f} | train seeds/s: {tput:,.0f} | peak RSS: {me:.2f} GB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
