"""Load a FlyWire-size connectome CSV export: gnnkit's chunked reader against a whole-file pandas read.

A synthetic export in FlyWire's layout (``neurons.csv``: ``root_id, group, nt_type``;
``connections.csv``: ``pre_root_id, post_root_id, neuropil, syn_count, nt_type``, one row per
pair and region) is written once to ``--data`` (default: the system temp directory). Each round runs, in separate processes and
alternating, ``gnnkit.brain.read_connectome_csv`` with its default 250k-row chunks, the same
in one chunk, and the peer a pandas user would write: ``pd.read_csv`` of the whole table and a
``groupby([pre, post, nt]).syn_count.sum()`` (ids still raw, no graph). Reported: median load
time (imports excluded) with its spread over rounds, and peak RSS (all three processes import
torch and gnnkit, so the RSS columns compare).

    python benchmarks/connectome_csv.py                 # 140k neurons, 5M rows (~250 MB), 3 rounds
    python benchmarks/connectome_csv.py --quick         # 20k neurons, 200k rows, 1 round
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _worker import run_worker  # noqa: E402

ENGINES = ("gnnkit", "gnnkit_one_chunk", "pandas")
NT = ["ACH", "GABA", "GLUT", "DA", "SER", "OCT"]


def make_export(directory: Path, neurons: int, rows: int, seed: int = 0) -> Path:
    """Write the synthetic export once (kept for later runs with the same size)."""
    import pandas as pd

    directory = directory / f"fly_{neurons}_{rows}"
    if (directory / "connections.csv").exists():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ids = 720575940600000000 + rng.choice(10**9, neurons, replace=False)
    pd.DataFrame({"root_id": ids, "group": rng.choice(["AL", "MB", "LH", "SEZ", "ME"], neurons),
                  "nt_type": rng.choice(NT, neurons)}).to_csv(directory / "neurons.csv", index=False)
    pre, post = rng.integers(0, neurons, rows), rng.integers(0, neurons, rows)
    pd.DataFrame({"pre_root_id": ids[pre], "post_root_id": ids[post],
                  "neuropil": rng.choice(["AL_L", "AL_R", "MB_CA_L", "LH_R", "SEZ"], rows),
                  "syn_count": rng.integers(5, 60, rows),
                  "nt_type": rng.choice(NT, rows, p=[.55, .2, .15, .05, .03, .02])}
                 ).to_csv(directory / "connections.tmp", index=False)
    (directory / "connections.tmp").rename(directory / "connections.csv")  # complete or absent
    return directory


def worker(engine: str, directory: Path) -> dict:
    import pandas as pd

    from gnnkit.brain import read_connectome_csv  # imports stay out of the timing

    t = time.perf_counter()
    if engine == "pandas":
        table = pd.read_csv(directory / "connections.csv")
        merged = table.groupby(["pre_root_id", "post_root_id", "nt_type"]).syn_count.sum()
        edges = len(merged)
    else:
        c = read_connectome_csv(directory, chunk_rows=250_000 if engine == "gnnkit" else 10**9)
        edges = c.num_edges
    return {"engine": engine, "seconds": time.perf_counter() - t, "edges": edges,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "gnnkit_bench_connectome_csv")
    parser.add_argument("--neurons", type=int, default=140_000)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--worker", nargs=2, metavar=("ENGINE", "DIR"), help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker[0], Path(args.worker[1]))))
        return 0
    if args.quick:
        args.neurons, args.rows, args.rounds = 20_000, 200_000, 1
    directory = make_export(args.data, args.neurons, args.rows)
    runs: dict[str, list[dict]] = {e: [] for e in ENGINES}
    for r in range(args.rounds):  # alternating rounds, each engine in a fresh process
        for engine in ENGINES if r % 2 == 0 else ENGINES[::-1]:
            runs[engine].append(run_worker(__file__, [engine, str(directory)], 1, engine))
    print(f"{args.neurons} neurons, {args.rows} connection rows, {args.rounds} round(s), 1 thread")
    print("| engine | load s (median) | spread | peak RSS MB | edges |\n|---|---|---|---|---|")
    for engine, rs in runs.items():
        s = sorted(x["seconds"] for x in rs)
        print(f"| {engine} | {np.median(s):.1f} | {s[0]:.1f}-{s[-1]:.1f} | {max(x['peak_rss_mb'] for x in rs):.0f} | "
              f"{rs[0]['edges']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
