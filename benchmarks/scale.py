"""Out-of-core scale: generate, convert and train sampled GraphSAGE on memory-mapped power-law graphs.

For each size (vertices, edges), three worker processes, one after another:

1. ``generate``: a Chung-Lu edge list in chunks (:func:`gnnkit.data.convert.generate`), with
   ``[N, F]`` float16 features, labels and a papers100M-like split (1 % train);
2. ``convert``: the 3-pass external sort into the on-disk layout (:func:`gnnkit.data.convert.convert`);
   the generated edge list is then deleted (``--keep-source`` keeps it);
3. ``train``: 2-layer GraphSAGE (mean), fan-outs 15/10, batch 1024, hidden 256, Adam, for
   ``--batches`` batches straight from the memory map (sampling with
   :meth:`OnDiskGraph.sampler`, features with :meth:`OnDiskGraph.gather_features`), then the
   *same* batches again. Before pass 1 the layout's pages are evicted from the page cache
   (``posix_fadvise(DONTNEED)`` on its own files only), so pass 1 reads from disk and pass 2
   from the page cache where it kept them; major/minor faults come from ``getrusage``. When the
   process's resident set passes ``--rss-budget-gb`` the mapped pages are released
   (``madvise(DONTNEED)``; they stay in the page cache).
   With ``--peer``, the same batches also run on the layout read into memory (arrays copied
   to RAM) in alternating processes: the in-memory peer of the memory-mapped run.

Each phase runs in its own process (:func:`_worker.run_worker`), so each peak RSS is its own.
Times per 1,000 batches are the measured time of ``--batches`` batches scaled to 1,000.

    flock /tmp/gnnkit_bigrun.lock python benchmarks/scale.py --sizes 10M 100M 1.5B --root /work/bigdata
    python benchmarks/scale.py --quick        # 20k vertices, 200k edges, 10 batches (CI smoke run)
    python benchmarks/scale.py --merge a.json b.json --plot docs/img/scale.png   # one table and plot of several runs
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _worker import run_worker  # noqa: E402

from gnnkit.cli.argtypes import positive_float, positive_int  # noqa: E402
from gnnkit.data.convert import GeneratorSpec, convert, generate  # noqa: E402
from gnnkit.data.ondisk import OnDiskGraph  # noqa: E402
from gnnkit.data.sampling import batch_generator  # noqa: E402
from gnnkit.nn import SAGEConv  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"quick": (20_000, 200_000), "10M": (1_000_000, 10_000_000), "100M": (10_000_000, 100_000_000),
         "300M": (100_000_000, 300_000_000),
         "500M": (100_000_000, 500_000_000), "1.5B": (100_000_000, 1_500_000_000)}


def _rss() -> int:
    """Resident bytes now (``/proc/self/statm``), mapped file pages included."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _evict(path: Path) -> None:
    """Drop this layout's clean pages from the page cache (its own files only)."""
    for f in path.iterdir():
        if f.is_file():
            fd = os.open(f, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


class SAGE(nn.Module):
    """Two mean-aggregating SAGE layers on the blocks of a batch. Shape: ``[S_0, F]`` → ``[B, C]``."""

    def __init__(self, in_features: int, hidden: int, out_features: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([SAGEConv(in_features, hidden), SAGEConv(hidden, out_features)])

    def forward(self, blocks: list, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.layers[0](blocks[0], x))  # [S_1, hidden]
        return self.layers[1](blocks[1], h)  # [B, C]


# ------------------------------------------------------------------ workers
def worker_generate(args: argparse.Namespace) -> dict:
    n, e = SIZES[args.size]
    spec = GeneratorSpec("chung-lu", n, e, args.features, seed=args.seed)
    t = time.perf_counter()
    generate(spec, args.dir / "source", chunk_edges=args.chunk_edges, feature_dtype="float16", progress=args.progress)
    secs = time.perf_counter() - t
    size = sum(f.stat().st_size for f in (args.dir / "source").rglob("*") if f.is_file())
    return {"generate_s": secs, "source_bytes": size, "generate_peak_gb": _peak_gb()}


def worker_convert(args: argparse.Namespace) -> dict:
    t = time.perf_counter()
    g = convert(args.dir / "source", args.dir / "layout", chunk_edges=args.chunk_edges, feature_dtype="float16",
                progress=args.progress)
    secs = time.perf_counter() - t
    return {"convert_s": secs, "convert_edges_per_s": g.num_edges / secs, "disk_bytes": g.disk_bytes(),
            "num_nodes": g.num_nodes, "num_edges": g.num_edges, "num_features": g.num_features,
            "convert_peak_gb": _peak_gb()}


def worker_train(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    g = OnDiskGraph.open(args.dir / "layout")
    _evict(g.path)
    if args.in_memory:  # the peer: the same arrays copied into RAM
        g._arrays = {k: np.array(v) for k, v in g._arrays.items()}
    labels = g.labels()  # [N] int64 in RAM
    train = g.split("train_idx").numpy()
    order = np.random.default_rng(args.seed).permutation(train.size)
    sampler = g.sampler([15, 10], seed=args.seed)
    model = SAGE(g.num_features, 256, max(g.num_classes, 2))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    budget = args.rss_budget_gb * 2**30
    bs = min(1024, train.size)
    nb = args.batches
    out: dict = {"batches": nb, "mode": "memory" if args.in_memory else "mmap"}
    for pas in (1, 2):
        if not args.in_memory:
            g.release_pages()  # pass 2 starts with nothing resident: its pages come from the page cache
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        parts = {"sample": 0.0, "gather": 0.0, "step": 0.0}
        losses = []
        t0 = time.perf_counter()
        for b in range(nb):
            # windows of the shuffled training set, wrapping around: distinct seeds in each batch
            seeds = train[order[(b * bs + np.arange(bs)) % train.size]]
            t = time.perf_counter()
            batch = sampler.sample(seeds, batch_generator(args.seed, 0, b))
            t1 = time.perf_counter()
            x = g.gather_features(batch.input_nodes)  # [S_0, F] float32
            t2 = time.perf_counter()
            loss = F.cross_entropy(model(batch.blocks, x), labels[batch.seeds])
            opt.zero_grad()
            loss.backward()
            opt.step()
            t3 = time.perf_counter()
            parts["sample"] += t1 - t
            parts["gather"] += t2 - t1
            parts["step"] += t3 - t2
            losses.append(float(loss))
            if not args.in_memory and b % 8 == 7 and _rss() > budget:
                g.release_pages()
        secs = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        out[f"pass{pas}"] = {"s_per_1000": secs / nb * 1000, "major_faults": r1.ru_majflt - r0.ru_majflt,
                             "minor_faults": r1.ru_minflt - r0.ru_minflt, "loss_first": losses[0],
                             "loss_last": statistics.mean(losses[-min(5, nb):]),
                             **{f"{k}_s_per_1000": v / nb * 1000 for k, v in parts.items()}}
    out["train_peak_gb"] = _peak_gb()
    return out


# -------------------------------------------------------------------- driver
def _run(script: Path, phase: str, size: str, folder: Path, args: argparse.Namespace, extra: list[str] = ()) -> dict:
    wargs = [phase, "--size", size, "--dir", str(folder), "--batches", str(args.batches), "--chunk-edges",
             str(args.chunk_edges), "--features", str(args.features), "--rss-budget-gb", str(args.rss_budget_gb),
             *(["--progress"] if args.progress else []), *extra]
    return run_worker(script, wargs, 1, f"{phase} {size}")


def table(rows: list[dict]) -> str:
    head = ("| graph (N / E / F) | generate | convert (edges/s) | disk | mmap pass 1 / pass 2 per 1,000 batches "
            "| major faults pass 1 / 2 | in-memory peer per 1,000 batches | peak RSS gen / conv / train |")
    lines = [head, "|" + "---|" * 8]
    for r in rows:
        t = r["train"]
        peer = r.get("peer")
        peer_txt = f"{peer['pass2']['s_per_1000']:.0f} s" if peer else "-"
        lines.append(
            f"| {r['num_nodes']:,} / {r['num_edges']:,} / {r['num_features']} f16 | {r['generate_s']:.0f} s "
            f"| {r['convert_s']:.0f} s ({r['convert_edges_per_s'] / 1e6:.1f} M/s) | {r['disk_bytes'] / 1e9:.1f} GB "
            f"| {t['pass1']['s_per_1000']:.0f} s / {t['pass2']['s_per_1000']:.0f} s ({t['batches']} batches) "
            f"| {t['pass1']['major_faults']:,} / {t['pass2']['major_faults']:,} | {peer_txt} "
            f"| {r['generate_peak_gb']:.1f} / {r['convert_peak_gb']:.1f} / {t['train_peak_gb']:.1f} GB |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    e = [r["num_edges"] for r in rows]
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for key, label in (("pass1", "memory-mapped, pass 1 (page cache evicted)"), ("pass2", "memory-mapped, pass 2")):
        ax.plot(e, [r["train"][key]["s_per_1000"] for r in rows], "o-", label=label)
    peers = [(r["num_edges"], r["peer"]["pass2"]["s_per_1000"]) for r in rows if r.get("peer")]
    if peers:
        ax.plot(*zip(*peers), "s--", label="arrays in RAM (peer)")
    ax.set_xscale("log")
    ax.set_yscale("log")  # a cold pass is 3-15x a warm one
    ax.set_xlabel("edges")
    ax.set_ylabel("seconds per 1,000 batches")
    ax.set_title("Sampled GraphSAGE (15/10, batch 1024, hidden 256), 1 thread", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--worker", choices=("generate", "convert", "train"))
    p.add_argument("--size", choices=sorted(SIZES))
    p.add_argument("--dir", type=Path)
    p.add_argument("--in-memory", action="store_true")
    p.add_argument("--threads", type=positive_int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=["10M", "100M", "1.5B"])
    p.add_argument("--root", type=Path, default=None, help="where graphs are written (default: a temporary folder)")
    p.add_argument("--batches", type=positive_int, default=200, help="batches per pass")
    p.add_argument("--features", type=positive_int, default=64)
    p.add_argument("--chunk-edges", type=positive_int, default=1 << 24)
    p.add_argument("--rss-budget-gb", type=positive_float, default=12.0)
    p.add_argument("--peer", action="store_true", help="also train on the arrays copied into RAM")
    p.add_argument("--keep-source", action="store_true")
    p.add_argument("--reuse", action="store_true", help="reuse a finished layout and its recorded phases")
    p.add_argument("--progress", action="store_true")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--plot", type=Path, default=None)
    p.add_argument("--merge", type=Path, nargs="+", default=None,
                   help="print the table and plot of earlier --json files instead of running")
    args = p.parse_args(argv)
    if args.merge:
        rows = sorted((r for f in args.merge for r in json.loads(f.read_text())), key=lambda r: r["num_edges"])
        print(table(rows))
        if args.plot:
            plot(rows, args.plot)
        return 0
    if args.worker:
        fn = {"generate": worker_generate, "convert": worker_convert, "train": worker_train}[args.worker]
        print(json.dumps(fn(args)))
        return 0
    if args.quick:
        args.sizes, args.batches, args.features = ["quick"], min(args.batches, 10), min(args.features, 16)
    root = args.root or Path(tempfile.mkdtemp(prefix="gnnkit_scale_"))
    script = Path(__file__).resolve()
    rows = []
    for size in args.sizes:
        folder = root / f"scale_{size}"
        record = folder / "phases.json"
        r = json.loads(record.read_text()) if args.reuse and record.is_file() else {}
        if "convert_s" not in r:
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            r.update(_run(script, "generate", size, folder, args))
            r.update(_run(script, "convert", size, folder, args))
            if not args.keep_source:
                shutil.rmtree(folder / "source")
            record.write_text(json.dumps(r))
        r["train"] = _run(script, "train", size, folder, args)
        if args.peer:
            r["peer"] = _run(script, "train", size, folder, args, ["--in-memory"])
        record.write_text(json.dumps(r))
        rows.append(r)
        print(json.dumps({"size": size, **r}), file=sys.stderr, flush=True)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    if args.plot:
        plot(rows, args.plot)
    if args.root is None:
        shutil.rmtree(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
