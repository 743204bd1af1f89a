"""Partitioning in bounded memory: gnnkit's streaming Fennel/LDG vs pymetis on the whole graph.

The graph is a directed Chung-Lu power-law graph (``gnnkit.data.generators.chung_lu``, CSR by
destination), generated once into raw ``indptr``/``indices`` files in the temp folder. Each
(method, parts) runs in its own process, methods alternating from round to round:

* ``fennel``/``ldg``: memory-map the CSR, ``stream_partition`` (BFS order, 2 refinement
  passes), then ``write_parts`` (one directory per part: structure, owned rows of a 16-wide
  float32 feature matrix, halo map). Timed: partition and write separately.
* ``metis``: pymetis on the symmetrised, deduplicated whole graph (``symmetrize_csr`` then
  ``pymetis.part_graph``), as ``partition(g, P, "metis")`` does. Skipped above ``--metis-max-edges``
  (pymetis on 62 M edges peaks at 18.6 GB, issue 15).

Reported per cell: median seconds over rounds (min–max), peak RSS of the process
(``VmHWM`` of ``/proc/self/status``, memory-mapped CSR pages included; ``resource.getrusage``
off Linux) and its ratio to the CSR's bytes,
the same above the RSS right after ``import gnnkit`` (the interpreter and torch, about 280 MB),
the directed edge cut (edges whose endpoints lie in different parts, the halo traffic) and
the balance (largest part over ``N / P``).

    python benchmarks/partition.py --quick                   # 200k vertices, 2M edges, 1 round
    python benchmarks/partition.py --nodes 500000 --edges 5000000 --rounds 3
    flock /tmp/gnnkit_bigrun.lock python benchmarks/partition.py --nodes 2449029 --edges 61859140 --rounds 1
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _worker import run_worker  # noqa: E402

METHODS = ("fennel", "ldg", "metis")
FEATURES = 16


def _peak_mb() -> float:
    """This process's peak RSS in MB.

    Linux's ``VmHWM`` is the high-water mark of this process image alone; ``getrusage``'s
    ``ru_maxrss`` also keeps the parent's peak at the fork (a driver that generated the graph
    would lend the worker its own 1 GB), so it is only the fallback elsewhere.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def graph_dir(nodes: int, edges: int) -> Path:
    """Generate the Chung-Lu CSR once (in this process) and keep it as raw files."""
    d = Path(tempfile.gettempdir()) / f"gnnkit_bench_partition_{nodes}_{edges}"
    if not (d / "done").exists():
        from gnnkit.data.generators import chung_lu

        d.mkdir(parents=True, exist_ok=True)
        g = chung_lu(nodes, edges, seed=0, progress=True)
        g.indptr.tofile(d / "indptr.bin")
        g.indices.tofile(d / "indices.bin")
        x = np.memmap(d / "x.bin", dtype=np.float32, mode="w+", shape=(nodes, FEATURES))
        rng = np.random.default_rng(1)
        for a in range(0, nodes, 1 << 20):  # features written in chunks: never [N, F] float64 in memory
            x[a:a + (1 << 20)] = rng.standard_normal((min(1 << 20, nodes - a), FEATURES), dtype=np.float32)
        x.flush()
        (d / "done").write_text("")
    return d


def worker(method: str, parts: int, folder: Path) -> dict:
    """One measurement; returns seconds, peak RSS, edge cut and balance."""
    import gnnkit  # noqa: F401 - imported before the baseline, as every method needs it
    from gnnkit.scale.streaming import edge_cut_csr

    base_mb = _peak_mb()
    indptr = np.memmap(folder / "indptr.bin", dtype=np.int64, mode="r")
    indices = np.memmap(folder / "indices.bin", dtype=np.int64, mode="r")
    n = indptr.size - 1
    out = {"method": method, "parts": parts, "base_mb": base_mb, "csr_mb": (indptr.nbytes + indices.nbytes) / 2**20}
    t0 = time.perf_counter()
    if method == "metis":
        import pymetis

        from gnnkit.data.generators import CSRGraph, symmetrize_csr

        sym = symmetrize_csr(CSRGraph(np.asarray(indptr), np.asarray(indices)))
        _, a = pymetis.part_graph(parts, adjacency=pymetis.CSRAdjacency(sym.indptr, sym.indices))
        del sym
        assignment = np.asarray(a, dtype=np.int64)
        out["partition_s"], out["write_s"] = time.perf_counter() - t0, 0.0
    else:
        from gnnkit.scale.part_files import write_parts
        from gnnkit.scale.streaming import stream_partition

        assignment = stream_partition(indptr, indices, parts, method)
        t1 = time.perf_counter()
        # a feature matrix that is not in memory either: the writer reads its owned rows in chunks
        x = np.memmap(folder / "x.bin", dtype=np.float32, mode="r", shape=(n, FEATURES))
        with tempfile.TemporaryDirectory(dir=folder) as parts_dir:
            write_parts(indptr, indices, assignment, parts_dir, num_parts=parts, ndata={"x": x})
        out["partition_s"], out["write_s"] = t1 - t0, time.perf_counter() - t1
    out["peak_mb"] = _peak_mb()
    out["edge_cut"] = edge_cut_csr(indptr, indices, assignment) / indices.size
    out["balance"] = float(np.bincount(assignment, minlength=parts).max()) * parts / n
    return out


def summarise(runs: list[dict]) -> list[dict]:
    rows = {}
    for r in runs:
        rows.setdefault((r["method"], r["parts"]), []).append(r)
    out = []
    for (method, parts), rs in rows.items():
        t = [r["partition_s"] + r["write_s"] for r in rs]
        out.append({**rs[0], "rounds": len(rs), "median_s": statistics.median(t), "min_s": min(t), "max_s": max(t),
                    "peak_mb": max(r["peak_mb"] for r in rs)})
    return out


def table(rows: list[dict]) -> str:
    lines = ["| parts | method | time s (min–max) | partition / write s | peak RSS MB | RSS / CSR | above import MB | (above import) / CSR | edge cut | balance |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["parts"], METHODS.index(r["method"]))):
        lines.append(f"| {r['parts']} | {r['method']} | {r['median_s']:.1f} ({r['min_s']:.1f}–{r['max_s']:.1f}) | "
                     f"{r['partition_s']:.1f} / {r['write_s']:.1f} | {r['peak_mb']:,.0f} | "
                     f"{r['peak_mb'] / r['csr_mb']:.2f}× | {r['peak_mb'] - r['base_mb']:,.0f} | "
                     f"{(r['peak_mb'] - r['base_mb']) / r['csr_mb']:.2f}× | {100 * r['edge_cut']:.1f}% | {r['balance']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="200k vertices, 2M edges, 1 round (smoke run)")
    p.add_argument("--nodes", type=int, default=2_449_029)
    p.add_argument("--edges", type=int, default=61_859_140)
    p.add_argument("--parts", type=int, nargs="+", default=[2, 4, 8])
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--metis-max-edges", type=int, default=10_000_000, help="skip pymetis above this many edges")
    p.add_argument("--json", type=Path, help="also write every run as JSON here")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--method", help=argparse.SUPPRESS)
    p.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.method, args.parts[0], args.folder)))
        return 0
    if args.quick:
        args.nodes, args.edges = 200_000, 2_000_000
    if args.rounds < 1:
        p.error(f"--rounds must be >= 1, got {args.rounds}")
    folder = graph_dir(args.nodes, args.edges)
    methods = [m for m in args.methods if m != "metis" or args.edges <= args.metis_max_edges]
    csr_mb = ((args.nodes + 1) + args.edges) * 8 / 2**20
    print(f"Chung-Lu graph: {args.nodes:,} vertices, {args.edges:,} directed edges, CSR {csr_mb:,.0f} MB; "
          f"{args.rounds} round(s), methods alternating; 1 thread", flush=True)
    runs = []
    for r in range(args.rounds):
        order = methods[r % len(methods):] + methods[:r % len(methods)]  # rotate who runs first
        for parts in args.parts:
            for m in order:
                runs.append(run_worker(__file__, ["--method", m, "--parts", str(parts), "--folder", str(folder)], 1,
                                       f"{m} into {parts} parts"))
    if args.json is not None:
        args.json.write_text(json.dumps(runs, indent=1))
    print(table(summarise(runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
