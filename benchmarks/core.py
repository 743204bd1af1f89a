"""CPU benchmark: gnnkit vs DGL 1.1.3 vs PyG on the arxiv-size power-law graph.

Each (engine, workload) runs in its own process so peak RSS is that engine's own.
A round runs every (engine, workload) once, engines alternating (their order rotates from
round to round, so no engine always runs first on a warm or a busy machine). Per process:
one warm-up step, then ``--steps`` timed steps, whose median is the round's time. A table
cell gives the median over ``--rounds`` rounds and the spread (min-max of the round times),
with ratios of the medians to DGL. See ../shared/BENCHMARK-SPEC.md.

Each round also runs, in a process of the same kind, the *floor* of every workload: the
dense GEMMs that training step needs, timed alone with ``torch.mm`` on the same shapes and
threads, plus the bytes its sparse ops must move (:class:`SparseOp`) divided by the copy
bandwidth measured in that process. Rows print ``floor (GEMM s + sparse s)``, ``gnnkit/floor``
and ``gnnkit/DGL``.

Every engine runs its best documented configuration of the same model (full-graph training):
PyG's ``GCNConv(cached=True)`` (its documented setting for transductive full-graph
training: the normalisation is computed once, as gnnkit caches ``gcn_norm`` on the graph);
DGL's graph with its sparse formats created before the timed steps (``create_formats_()``,
DGL's documented way to keep format conversion out of training).

    python benchmarks/core.py                 # full table (a few minutes per round)
    python benchmarks/core.py --quick         # 20k-vertex graph, 1 round of 1 timed step (CI smoke run)
    python benchmarks/core.py --engines gnnkit --workloads gat --rounds 5
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ENGINES = ("gnnkit", "dgl", "pyg")
WORKLOADS = ("spmm", "gcn", "sage", "gat")
N_FULL, DRAWS_FULL = 169_343, 1_200_000
N_QUICK, DRAWS_QUICK = 20_000, 140_000
FEATS, HIDDEN, CLASSES = 128, 256, 40


def power_law_graph(num_nodes: int, draws: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Pareto(1.5)-weighted sources, uniform destinations, symmetrised, deduplicated, no self-loops."""
    rng = np.random.default_rng(seed)
    w = rng.pareto(1.5, num_nodes) + 1
    src = rng.choice(num_nodes, size=draws, p=w / w.sum())
    dst = rng.integers(0, num_nodes, size=draws)
    s, d = np.concatenate([src, dst]), np.concatenate([dst, src])
    key = np.unique(d.astype(np.int64) * num_nodes + s)  # sorted by (dst, src)
    s, d = key % num_nodes, key // num_nodes
    keep = s != d
    return s[keep], d[keep]


def graph_file(quick: bool) -> Path:
    path = Path(tempfile.gettempdir()) / f"gnnkit_bench_graph_{'quick' if quick else 'full'}.npz"
    if not path.exists():
        n, draws = (N_QUICK, DRAWS_QUICK) if quick else (N_FULL, DRAWS_FULL)
        src, dst = power_law_graph(n, draws)
        rng = np.random.default_rng(1)
        x = rng.standard_normal((n, FEATS), dtype=np.float32)
        y = rng.integers(0, CLASSES, n)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, src=src, dst=dst, x=x, y=y, n=n)
        os.replace(tmp, path)
    return path


# ----------------------------------------------------------------- engines
def build_gnnkit(workload, src, dst, n):
    import gnnkit
    from gnnkit.nn import GATConv, GCNConv, SAGEConv

    g = gnnkit.Graph(src, dst, n)
    if workload == "spmm":
        return lambda x: gnnkit.ops.spmm(g, x), None
    layers = {
        "gcn": (GCNConv(FEATS, HIDDEN, activation="relu"), GCNConv(HIDDEN, CLASSES)),
        "sage": (SAGEConv(FEATS, HIDDEN, "mean", activation="relu"), SAGEConv(HIDDEN, CLASSES, "mean")),
        "gat": (GATConv(FEATS, 64, heads=4), GATConv(HIDDEN, CLASSES, heads=1)),
    }[workload]
    if workload in ("gcn", "sage"):  # the ReLU is the conv's own (DGL's too; PyG's convs have none)
        return (lambda x: layers[1](g, layers[0](g, x))), layers
    return (lambda x: layers[1](g, layers[0](g, x).relu())), layers


def build_dgl(workload, src, dst, n):
    os.environ.setdefault("DGLBACKEND", "pytorch")
    import dgl
    import dgl.nn as dglnn
    import torch

    g = dgl.graph((torch.from_numpy(src), torch.from_numpy(dst)), num_nodes=n)
    if workload in ("gcn", "gat"):
        g = dgl.add_self_loop(g)
    g.create_formats_()  # COO, CSR and CSC built now, not inside the first (warm-up) step
    if workload == "spmm":
        return lambda x: dgl.ops.copy_u_sum(g, x), None
    layers = {
        "gcn": (dglnn.GraphConv(FEATS, HIDDEN, activation=torch.relu), dglnn.GraphConv(HIDDEN, CLASSES)),
        "sage": (dglnn.SAGEConv(FEATS, HIDDEN, "mean", activation=torch.relu), dglnn.SAGEConv(HIDDEN, CLASSES, "mean")),
        "gat": (dglnn.GATConv(FEATS, 64, num_heads=4), dglnn.GATConv(HIDDEN, CLASSES, num_heads=1)),
    }[workload]
    if workload == "gat":
        return (lambda x: layers[1](g, layers[0](g, x).flatten(1).relu()).mean(1)), layers
    if workload in ("gcn", "sage"):
        return (lambda x: layers[1](g, layers[0](g, x))), layers
    return (lambda x: layers[1](g, layers[0](g, x).relu())), layers


def build_pyg(workload, src, dst, n):
    import torch
    import torch_geometric.nn as pnn
    from torch_geometric.utils import scatter

    ei = torch.from_numpy(np.stack([src, dst]))
    if workload == "spmm":
        s, d = ei[0], ei[1]
        return lambda x: scatter(x[s], d, dim=0, dim_size=n, reduce="sum"), None
    layers = {
        # cached=True: the documented setting for full-graph training; the normalised adjacency is built once
        "gcn": (pnn.GCNConv(FEATS, HIDDEN, cached=True), pnn.GCNConv(HIDDEN, CLASSES, cached=True)),
        "sage": (pnn.SAGEConv(FEATS, HIDDEN, aggr="mean"), pnn.SAGEConv(HIDDEN, CLASSES, aggr="mean")),
        "gat": (pnn.GATConv(FEATS, 64, heads=4), pnn.GATConv(HIDDEN, CLASSES, heads=1)),
    }[workload]
    return (lambda x: layers[1](layers[0](x, ei).relu(), ei)), layers


BUILDERS = {"gnnkit": build_gnnkit, "dgl": build_dgl, "pyg": build_pyg}


# ----------------------------------------------------------------- floor
FLOAT_BYTES, INDEX_BYTES = 4, 8  # float32 features and weights, int64 indptr/indices
COPY_BYTES = 1 << 28  # 256 MiB per copy: far larger than any cache, whatever the graph's size


@dataclass(frozen=True)
class SparseOp:
    """The bytes one sparse op must move at the least, over a CSR of ``rows`` rows and ``edges`` entries.

    Byte model (each item read or written once, nothing else; float32 values, int64 ids):

    - the structure: ``indptr`` ``(rows + 1)`` and ``indices`` ``edges`` int64 values;
    - per edge: ``gather`` floats of the source row (an spmm's ``E`` gathered rows of ``F``),
      ``weights`` floats read (edge weights, scores, attention) and ``out_per_edge`` floats
      written (an sddmm's or edge softmax's ``[E, H]`` output);
    - per row: ``row_read`` floats of the row's own operand (an sddmm's destination side) and
      ``out_per_row`` floats written (an spmm's ``[N, F]`` output).

    So an spmm of width ``F`` with scalar weights moves
    ``8 (N + 1) + 8 E + 4 E (F + 1) + 4 N F`` bytes.
    """

    name: str
    rows: int
    edges: int
    gather: int = 0
    weights: int = 0
    out_per_edge: int = 0
    row_read: int = 0
    out_per_row: int = 0

    @property
    def bytes(self) -> int:
        structure = INDEX_BYTES * (self.rows + 1 + self.edges)
        per_edge = self.edges * (self.gather + self.weights + self.out_per_edge)
        per_row = self.rows * (self.row_read + self.out_per_row)
        return structure + FLOAT_BYTES * (per_edge + per_row)


def _spmm(name: str, n: int, e: int, width: int, weights: int) -> SparseOp:
    return SparseOp(name, n, e, gather=width, weights=weights, out_per_row=width)


def floor_plan(workload: str, n: int, e: int, feats: int = FEATS, hidden: int = HIDDEN, classes: int = CLASSES,
               heads: int = 4) -> tuple[list[tuple[int, int, int]], list[SparseOp]]:
    """The GEMMs ``(m, k, p)`` (``[m, k] @ [k, p]``) and sparse ops of one training step of ``workload``.

    Two layers ``feats -> hidden -> classes`` as :func:`build_gnnkit` builds them, each at the
    width gnnkit aggregates (the narrower side for GCN and SAGE). Forward and backward: a
    layer's weight gradient ``X^T dY`` always; ``dY W^T`` and the sparse backward only where a
    gradient flows (not into the first layer's input, which does not require one). GCN and GAT
    run on the graph with one self-loop per vertex (``e + n`` edges; the generator makes none).
    ``"spmm"`` is one forward sum at width ``feats`` and no GEMM.
    """
    if workload == "spmm":
        return [], [_spmm("spmm", n, e, feats, 0)]
    gemms: list[tuple[int, int, int]] = []
    ops: list[SparseOp] = []
    if workload == "gat":
        el = e + n
        for i, (fin, h, fh) in enumerate([(feats, heads, hidden // heads), (hidden, 1, classes)]):
            fout = h * fh
            gemms += [(n, fin, fout), (n, fin, 2 * h), (fin, n, fout), (fin, n, 2 * h)]  # lin, folded att; dW
            if i:
                gemms += [(n, fout, fin), (n, 2 * h, fin)]  # dX
            ops += [SparseOp("sddmm add", n, el, gather=h, row_read=h, out_per_edge=h),
                    SparseOp("edge_softmax", n, el, weights=h, out_per_edge=h),
                    _spmm("spmm", n, el, fout, h),
                    _spmm("spmm backward (dh)", n, el, fout, h),
                    SparseOp("sddmm dot backward (dalpha)", n, el, gather=fout, row_read=fout, out_per_edge=h),
                    SparseOp("edge_softmax backward", n, el, weights=2 * h, out_per_edge=h),
                    SparseOp("score backward to dst", n, el, weights=h, out_per_row=h),
                    SparseOp("score backward to src", n, el, weights=h, out_per_row=h)]
        return gemms, ops
    if workload not in ("gcn", "sage"):
        raise ValueError(f"workload must be one of {WORKLOADS}, got {workload!r}")
    for i, (fin, fout) in enumerate([(feats, hidden), (hidden, classes)]):
        if workload == "gcn":
            el, weights, lin_first = e + n, 1, fout <= fin
            shapes = [(n, fin, fout)]
        else:  # SAGE (mean): W_l on the aggregate and W_r on the root; one GEMM for both when projecting first
            el, weights, lin_first = e, 0, fout < fin
            shapes = [(n, fin, 2 * fout)] if lin_first else [(n, fin, fout), (n, fin, fout)]
        width = fout if lin_first else fin
        gemms += shapes + [(k, m, p) for m, k, p in shapes]  # forward, dW = X^T dY
        if i:
            gemms += [(m, p, k) for m, k, p in shapes]  # dX = dY W^T
        ops.append(_spmm("spmm", n, el, width, weights))
        if lin_first or i:  # a gradient flows through the aggregation
            ops.append(_spmm("spmm backward", n, el, width, weights))
    return gemms, ops


def _median_time(fn, repeats: int) -> float:
    """One warm-up call, then the median of ``repeats`` timed ones (as :func:`time_steps`)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def time_floor(workload: str, n: int, e: int, steps: int) -> dict:
    """Time the workload's GEMMs (``torch.mm`` on random float32 tensors) and the copy bandwidth.

    Returns ``median_s`` (the floor: GEMM seconds + sparse bytes / bandwidth), ``gemm_s``,
    ``sparse_s``, ``sparse_bytes``, ``copy_gbps`` (bytes read + written per second by a
    ``COPY_BYTES`` ``copy_``) and the peak RSS.
    """
    import torch

    gemms, ops = floor_plan(workload, n, e)
    pairs = [(torch.randn(m, k), torch.randn(k, p)) for m, k, p in gemms]
    outs = [torch.empty(m, p) for m, _, p in gemms]

    def run_gemms():
        for (a, b), c in zip(pairs, outs):
            torch.mm(a, b, out=c)

    gemm_s = _median_time(run_gemms, steps) if gemms else 0.0
    del pairs, outs
    src = torch.ones(COPY_BYTES // FLOAT_BYTES)
    dst = torch.empty_like(src)
    copy_s = _median_time(lambda: dst.copy_(src), max(steps, 3))
    gbps = 2 * COPY_BYTES / copy_s / 1e9
    sparse_bytes = sum(op.bytes for op in ops)
    sparse_s = sparse_bytes / (gbps * 1e9)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"median_s": gemm_s + sparse_s, "times": [gemm_s + sparse_s], "gemm_s": gemm_s, "sparse_s": sparse_s,
            "sparse_bytes": sparse_bytes, "copy_gbps": gbps, "peak_mb": peak_mb}


def time_steps(model, layers, x, y, steps: int) -> dict:
    """One warm-up training step, then ``steps`` timed ones (forward, cross-entropy, backward, Adam).

    With no parameters (``layers`` is None) a step is the forward alone, under ``no_grad``.
    Returns the median, every time and the process's peak RSS (MB).
    """
    import torch
    import torch.nn.functional as F

    params = [p for layer in (layers or ()) for p in layer.parameters()]
    opt = torch.optim.Adam(params, lr=0.01) if params else None

    def step():
        if opt is None:
            with torch.no_grad():
                model(x)
            return
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    times = []
    for i in range(steps + 1):  # the first step warms up (layouts, caches, allocator)
        t0 = time.perf_counter()
        step()
        if i:
            times.append(time.perf_counter() - t0)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"median_s": statistics.median(times), "times": times, "peak_mb": peak_mb}


def worker_inputs(quick: bool, threads: int):
    """In a worker process: set the threads and the seed, load ``(src, dst, n, x, y)`` of the graph file."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    data = np.load(graph_file(quick))
    return data["src"], data["dst"], int(data["n"]), torch.from_numpy(data["x"]), torch.from_numpy(data["y"])


def worker(engine: str, workload: str, quick: bool, steps: int, threads: int) -> dict:
    src, dst, n, x, y = worker_inputs(quick, threads)
    if engine == "floor":
        return {"engine": engine, "workload": workload, **time_floor(workload, n, int(src.size), steps),
                "num_nodes": n, "num_edges": int(src.size)}
    model, layers = BUILDERS[engine](workload, src, dst, n)
    return {"engine": engine, "workload": workload, **time_steps(model, layers, x, y, steps),
            "num_nodes": n, "num_edges": int(src.size)}


def run_one(script: str, engine: str, workload: str, args) -> dict | None:
    """Run ``script --worker ENGINE WORKLOAD`` in a fresh process; its last stdout line is the JSON result."""
    cmd = [sys.executable, script, "--worker", engine, workload, "--steps", str(args.steps), "--threads", str(args.threads)]
    if args.quick:
        cmd.append("--quick")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        print(f"  {engine}/{workload} failed: {' | '.join(tail)}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


FLOOR_PARTS = ("gemm_s", "sparse_s", "copy_gbps")


def summarise(runs: list[dict]) -> list[dict]:
    """One row per (engine, workload) from its per-round results: median and min-max of the round times.

    ``median_s`` is the median over rounds of each round's median step time; ``peak_mb`` the
    largest peak RSS of any round.
    """
    by: dict[tuple[str, str], list[dict]] = {}
    for r in runs:
        by.setdefault((r["engine"], r["workload"]), []).append(r)
    rows = []
    for (engine, workload), rs in by.items():
        times = [r["median_s"] for r in rs]
        rows.append({**rs[0], "rounds": len(rs), "median_s": statistics.median(times), "min_s": min(times),
                     "max_s": max(times), "round_medians_s": times, "peak_mb": max(r["peak_mb"] for r in rs),
                     "times": [t for r in rs for t in r["times"]],
                     **{k: statistics.median(r[k] for r in rs) for k in FLOOR_PARTS if k in rs[0]}})
    return rows


def table(results: list[dict], engines: list[str], workloads: list[str]) -> str:
    """Markdown: per workload and engine ``median s (min–max), peak MB, rounds``, then ratios of medians to DGL.

    With floor results (engine ``"floor"``), two more columns: ``floor`` as
    ``total s (GEMM s + sparse s), copy GB/s`` and ``gnnkit/floor``.
    """
    by = {(r["engine"], r["workload"]): r for r in results}
    floor = any(r["engine"] == "floor" for r in results)
    others = [e for e in engines if e != "dgl"]
    head = "| workload | " + " | ".join(engines) + " | " + " | ".join(f"{e}/DGL time" for e in others)
    head += " | floor (GEMM + sparse) | gnnkit/floor |" if floor else " |"
    lines = [head, "|" + "---|" * (1 + len(engines) + len(others) + 2 * floor)]
    for w in workloads:
        cells = []
        for e in engines:
            r = by.get((e, w))
            cells.append("failed" if r is None else
                         f"{r['median_s']:.3f} s ({r['min_s']:.3f}–{r['max_s']:.3f}), {r['peak_mb']:,.0f} MB, "
                         f"{r['rounds']} rounds")
        ratios = []
        for e in others:
            r, d = by.get((e, w)), by.get(("dgl", w))
            ratios.append("—" if r is None or d is None else f"{r['median_s'] / d['median_s']:.2f}×")
        if floor:
            f, k = by.get(("floor", w)), by.get(("gnnkit", w))
            ratios.append("—" if f is None else
                          f"{f['median_s']:.3f} s ({f['gemm_s']:.3f} + {f['sparse_s']:.3f}), {f['copy_gbps']:.1f} GB/s")
            ratios.append("—" if f is None or k is None else f"{k['median_s'] / f['median_s']:.2f}×")
        lines.append(f"| {w} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    return "\n".join(lines)


def bench_main(argv, *, doc: str, script: str, engines, workloads, worker, describe, floor: bool = False) -> int:
    """The command line shared by the CPU benchmarks: one process per (engine, workload) and round,
    engines alternating within each workload, a markdown table of medians and spreads with ratios to DGL.

    ``worker(engine, workload, quick, steps, threads) -> dict`` runs in the child process;
    ``describe(data, args) -> str`` is the header line (``data``: the graph file's arrays).
    ``floor``: each round also runs ``worker("floor", workload, ...)`` in the rotation (unless
    ``--no-floor``), whose result has ``gemm_s``, ``sparse_s`` and ``copy_gbps``.
    """
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--engines", nargs="+", default=list(engines), choices=engines)
    p.add_argument("--workloads", nargs="+", default=list(workloads), choices=workloads)
    p.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up (default 3)")
    p.add_argument("--rounds", type=int, help="alternating runs of every (engine, workload) (default 3; --quick 1)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="small graph, one timed step")
    p.add_argument("--timeout", type=int, default=900, help="seconds per engine process")
    p.add_argument("--json", type=Path, help="also write the raw results here")
    if floor:
        p.add_argument("--no-floor", action="store_true", help="skip the floor (GEMMs + sparse bytes / bandwidth)")
    p.add_argument("--worker", nargs=2, metavar=("ENGINE", "WORKLOAD"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(*args.worker, args.quick, args.steps, args.threads)))
        return 0
    rounds = resolve_rounds(p, args)
    print(describe(np.load(graph_file(args.quick)), args) + f"; median of {rounds} rounds, spread min–max", flush=True)
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is a dependency of gnnkit, but the script runs without it
        def tqdm(it, **_):
            return it
    runs = []
    jobs = []
    kinds = args.engines + (["floor"] if floor and not args.no_floor else [])
    for r in range(rounds):
        order = kinds[r % len(kinds):] + kinds[:r % len(kinds)]  # rotate who goes first
        jobs += [(r, e, w) for w in args.workloads for e in order]
    for rnd, engine, workload in tqdm(jobs, desc="benchmark", unit="run"):
        res = run_one(script, engine, workload, args)
        if res is not None:
            runs.append({**res, "round": rnd})
    results = summarise(runs)
    print(table(results, args.engines, args.workloads))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0 if len(runs) == len(jobs) else 1


def resolve_rounds(p: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """The rounds to run (``--rounds``, else 1 with ``--quick`` and 3 without); ``--quick`` times one step.

    Shared by the scripts that take this file's ``--rounds``/``--steps``/``--quick`` (``step_profile.py``);
    exits through ``p.error`` when either is below 1."""
    if args.quick:
        args.steps = 1
    # None means the default; an explicit 0 is an error, not the default
    rounds = (1 if args.quick else 3) if args.rounds is None else args.rounds
    if rounds < 1 or args.steps < 1:
        p.error(f"--rounds and --steps must be >= 1, got {rounds} and {args.steps}")
    return rounds


def main(argv: list[str] | None = None) -> int:
    def describe(data, args) -> str:
        return (f"graph: {int(data['n']):,} vertices, {data['src'].size:,} edges, {FEATS} features; "
                f"{args.steps} timed steps, {args.threads} threads")

    return bench_main(argv, doc=__doc__, script=__file__, engines=ENGINES, workloads=WORKLOADS, worker=worker,
                      describe=describe, floor=True)


if __name__ == "__main__":
    sys.exit(main())
