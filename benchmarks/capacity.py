"""Capacity: the largest power-law graph on which one full-graph training step fits in a memory budget.

Per engine (gnnkit default, gnnkit memory-saving, DGL 1.1.3, PyG) and model (GCN 128 → 256 → 40;
GAT 128 → 4 heads × 64 → 40, 1 output head), each in a fresh process: load an undirected
Chung-Lu graph (``chung_lu(N, 5 N)`` symmetrised and deduplicated, so E ≈ 10 N; the generator
of examples/large_graph.py), make ``[N, 128]`` features and labels, build the model and run
ONE training step (dropout 0.5 on each layer's input (GAT: and on attention), forward,
cross-entropy over all vertices, backward, Adam). The process's peak resident set (VmHWM,
imports included) is the cell's measurement.

At a few small sizes the peaks are fitted as ``peak = a + b N`` (E/N is fixed by the generator,
so ``b`` holds the per-vertex and per-edge bytes together), and the largest N under the budget is
predicted as ``(budget - a) / b``. ``--verify`` then runs the named cells at their predicted
largest N and prints predicted vs measured peak. A verification run is watched: it is killed if
its resident set passes the budget by 5 % or the machine's available memory falls under 0.5 GB,
and it does not start unless ``MemAvailable`` exceeds the budget by 1 GB.

Engine configurations (each its best documented one for memory):

- ``gnnkit``: ``GNN(GNNConfig(...))`` on a :class:`gnnkit.Graph` with edges sorted by destination
  (its CSR aliases ``src``), float32 features.
- ``gnnkit-saving``: ``GNNConfig(checkpoint=True, feature_dtype="bfloat16")``, bfloat16 features;
  GCN runs on :class:`gnnkit.ops.NormalizedAdjacency` (int32 CSR, transpose shared).
- ``dgl``: ``dgl.graph(..., idtype=torch.int32)`` (DGL's documented memory saving) with
  ``dgl.add_self_loop`` for both models; ``GraphConv(norm="both")``, ``GATConv(feat_drop,
  attn_drop)``. Formats are created lazily, as DGL needs them.
- ``pyg``: ``GCNConv(cached=True)``, ``GATConv(dropout=0.5)`` on an int64 ``edge_index``.

    python benchmarks/capacity.py                               # fit at 3 sizes, 20 GB budget
    python benchmarks/capacity.py --verify gnnkit-saving:gcn dgl:gcn --budget-gb 10
    python benchmarks/capacity.py --quick                       # tiny sizes, no verification (CI)

Run a verification inside ``flock /tmp/gnnkit_bigrun.lock`` on a shared machine.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from memory_model import predict_saving_gat, predict_saving_gcn  # benchmarks/ is the script's directory, so on sys.path

ENGINES = ("gnnkit", "gnnkit-saving", "dgl", "pyg")
MODELS = ("gcn", "gat")
FEATS, HIDDEN, CLASSES, HEADS, DROPOUT = 128, 256, 40, 4, 0.5
DRAWS_PER_VERTEX = 5  # chung_lu draws; symmetrised and deduplicated this gives E ≈ 10 N
SIZES = (50_000, 100_000, 200_000)
QUICK_SIZES = (5_000, 10_000)
# PyG materialises [E, F] (GCN) and [E, H, F] (GAT) messages: fitted at these fractions of SIZES so
# that every fitting run stays under FIT_LIMIT_GB
SIZE_SCALE = {("pyg", "gcn"): 1 / 4, ("pyg", "gat"): 1 / 8,
              # ... and the memory-saving GCN and GAT at 4 times them: at 50k vertices their fixed transients
              # (kernel library, 4 MB blocks, allocator) are a large part of the peak and steepen a fit's slope
              ("gnnkit-saving", "gcn"): 4, ("gnnkit-saving", "gat"): 4}
FIT_LIMIT_GB = 3.0
GB = 1e9


# ------------------------------------------------------------------- graph
def graph_path(n: int) -> Path:
    """The undirected Chung-Lu CSR of ``n`` vertices, generated once into the temp directory."""
    path = Path(tempfile.gettempdir()) / f"gnnkit_capacity_n{n}.npz"
    if not path.exists():
        from gnnkit.data.generators import chung_lu, symmetrize_csr

        g = symmetrize_csr(chung_lu(n, DRAWS_PER_VERTEX * n, seed=0))
        tmp = path.with_name(path.stem + f".{os.getpid()}.tmp.npz")
        np.savez(tmp, indptr=g.indptr, indices=g.indices)
        os.replace(tmp, path)
    return path


def _status(pid: int | str = "self") -> dict[str, int]:
    text = Path(f"/proc/{pid}/status").read_text()
    return {k: int(re.search(k + r":\s+(\d+)", text).group(1)) * 1024 for k in ("VmRSS", "VmHWM")}


def _mem_available() -> int:
    return int(re.search(r"MemAvailable:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1)) * 1024


# ------------------------------------------------------------------ engines
def _features(n: int, dtype) -> tuple:
    """``[N, FEATS]`` standard normal features made in row chunks straight into ``dtype`` (no float32 copy)."""
    import torch

    gen = torch.Generator().manual_seed(1)
    x = torch.empty(n, FEATS, dtype=dtype)
    for a in range(0, n, 1 << 15):  # chunks bound the float32 temporary (16 MB)
        x[a : a + (1 << 15)] = torch.randn(min(1 << 15, n - a), FEATS, generator=gen)
    y = torch.randint(0, CLASSES, (n,), generator=gen)
    return x, y


def build_gnnkit(model: str, indptr: np.ndarray, indices: np.ndarray, saving: bool):
    import torch

    from gnnkit import GNN, GNNConfig, Graph
    from gnnkit.ops import NormalizedAdjacency

    n = indptr.size - 1
    cfg = GNNConfig(model=model, in_features=FEATS, out_features=CLASSES, num_layers=2, dropout=DROPOUT,
                    hidden_features=HIDDEN // HEADS if model == "gat" else HIDDEN, heads=HEADS, out_heads=1,
                    checkpoint=saving, feature_dtype="bfloat16" if saving else None)
    if saving and model == "gcn":
        g = NormalizedAdjacency.from_csr(torch.from_numpy(indptr), torch.from_numpy(indices))
    else:
        dst = torch.repeat_interleave(torch.arange(n), torch.from_numpy(np.diff(indptr)))
        g = Graph(torch.from_numpy(indices), dst, n)  # sorted by destination: csr_in aliases src
    net = GNN(cfg)
    return (lambda x: net(g, x)), net, torch.bfloat16 if saving else torch.float32


def build_dgl(model: str, indptr: np.ndarray, indices: np.ndarray):
    os.environ.setdefault("DGLBACKEND", "pytorch")
    import dgl
    import dgl.nn as dglnn
    import torch
    import torch.nn.functional as F

    n = indptr.size - 1
    dst = torch.repeat_interleave(torch.arange(n, dtype=torch.int32), torch.from_numpy(np.diff(indptr)))
    g = dgl.graph((torch.from_numpy(indices).int(), dst), num_nodes=n, idtype=torch.int32)
    del dst
    g = dgl.add_self_loop(g)
    if model == "gcn":
        convs = torch.nn.ModuleList([dglnn.GraphConv(FEATS, HIDDEN), dglnn.GraphConv(HIDDEN, CLASSES)])

        def fwd(x):
            h = convs[0](g, F.dropout(x, DROPOUT)).relu()
            return convs[1](g, F.dropout(h, DROPOUT))
    else:
        convs = torch.nn.ModuleList([
            dglnn.GATConv(FEATS, HIDDEN // HEADS, HEADS, feat_drop=DROPOUT, attn_drop=DROPOUT),
            dglnn.GATConv(HIDDEN, CLASSES, 1, feat_drop=DROPOUT, attn_drop=DROPOUT)])

        def fwd(x):
            return convs[1](g, convs[0](g, x).flatten(1).relu()).mean(1)
    return fwd, convs, torch.float32


def build_pyg(model: str, indptr: np.ndarray, indices: np.ndarray):
    import torch
    import torch.nn.functional as F
    import torch_geometric.nn as pnn

    n = indptr.size - 1
    dst = torch.repeat_interleave(torch.arange(n), torch.from_numpy(np.diff(indptr)))
    ei = torch.stack([torch.from_numpy(indices), dst])
    del dst
    if model == "gcn":
        convs = torch.nn.ModuleList([pnn.GCNConv(FEATS, HIDDEN, cached=True), pnn.GCNConv(HIDDEN, CLASSES, cached=True)])
    else:
        convs = torch.nn.ModuleList([pnn.GATConv(FEATS, HIDDEN // HEADS, heads=HEADS, dropout=DROPOUT),
                                     pnn.GATConv(HIDDEN, CLASSES, heads=1, dropout=DROPOUT)])

    def fwd(x):
        h = convs[0](F.dropout(x, DROPOUT), ei).relu()
        return convs[1](F.dropout(h, DROPOUT), ei)
    return fwd, convs, torch.float32


def measure(engine: str, model: str, path: Path, threads: int) -> dict:
    """One training step of ``engine``/``model`` on the graph at ``path``, in this process; bytes."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    if engine == "dgl":
        os.environ.setdefault("DGLBACKEND", "pytorch")
        import dgl  # noqa: F401  (imported before the baseline, as the other engines' libraries)
    elif engine == "pyg":
        import torch_geometric.nn  # noqa: F401
    else:
        import gnnkit  # noqa: F401
    # the first optimizer imports torch._dynamo (~160 MB): part of the baseline, not of the graph
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])
    base = _status()["VmRSS"]
    t0 = time.perf_counter()
    z = np.load(path)
    indptr, indices = z["indptr"], z["indices"]
    n, e = indptr.size - 1, indices.size
    if engine.startswith("gnnkit"):
        fwd, module, dtype = build_gnnkit(model, indptr, indices, saving=engine == "gnnkit-saving")
    else:
        fwd, module, dtype = {"dgl": build_dgl, "pyg": build_pyg}[engine](model, indptr, indices)
    del z, indptr, indices  # each engine keeps its own copy (gnnkit's Graph keeps indices as src)
    x, y = _features(n, dtype)
    module.train()
    opt = torch.optim.Adam(module.parameters(), lr=0.01)
    torch.manual_seed(0)
    loss = F.cross_entropy(fwd(x), y)
    loss.backward()
    opt.step()
    st = _status()
    return {"engine": engine, "model": model, "n": n, "e": e, "base": base, "peak": st["VmHWM"],
            "seconds": time.perf_counter() - t0, "loss": float(loss)}


# ------------------------------------------------------------------ driver
def run_cell(engine: str, model: str, n: int, threads: int, limit: float | None = None) -> dict:
    """Measure one cell in a fresh process; with ``limit`` (bytes) watch it and kill it past the limit."""
    path = graph_path(n)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    cmd = [sys.executable, __file__, "--worker", engine, model, str(path), "--threads", str(threads)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    killed = None
    while limit is not None and proc.poll() is None:
        try:
            rss = _status(proc.pid)["VmRSS"]
        except (FileNotFoundError, AttributeError):
            break  # exited between poll() and the read
        if rss > 1.05 * limit or _mem_available() < 0.5 * GB:
            proc.kill()
            killed = f"killed at {rss / GB:.2f} GB resident (limit {limit / GB:.1f} GB + 5 %)"
            break
        time.sleep(0.05)
    out, err = proc.communicate()
    if killed:
        return {"engine": engine, "model": model, "n": n, "killed": killed}
    if proc.returncode != 0:
        raise RuntimeError(f"{engine}/{model} at N={n} failed:\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1])


def fit(rows: list[dict]) -> tuple[float, float, float]:
    """Least-squares ``peak = a + b N`` over the rows; returns ``(a, b, mean E/N)``."""
    n = np.array([r["n"] for r in rows], dtype=float)
    peak = np.array([r["peak"] for r in rows], dtype=float)
    b, a = np.polyfit(n, peak, 1)
    return float(a), float(b), float(np.mean([r["e"] / r["n"] for r in rows]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes, no verification")
    p.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument("--sizes", nargs="+", type=int, help="vertex counts to fit on")
    p.add_argument("--budget-gb", type=float, default=20.0)
    p.add_argument("--verify", nargs="*", default=[], metavar="ENGINE:MODEL",
                   help="run these cells at their predicted largest N (watched; see the module docstring)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--fit-limit-gb", type=float, default=FIT_LIMIT_GB,
                   help="kill a fitting run past this resident set (it is then left out of the fit)")
    p.add_argument("--json", type=Path)
    p.add_argument("--worker", nargs=3, metavar=("ENGINE", "MODEL", "GRAPH"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(measure(args.worker[0], args.worker[1], Path(args.worker[2]), args.threads)))
        return 0
    sizes = args.sizes or (QUICK_SIZES if args.quick else SIZES)
    budget = args.budget_gb * GB
    cells = [(e, m) for m in args.models for e in args.engines]
    rows = []
    for k in range(len(sizes)):
        for e, m in cells:
            n = int(sizes[k] * SIZE_SCALE.get((e, m), 1))
            r = run_cell(e, m, n, args.threads, limit=args.fit_limit_gb * GB)
            r["size_index"] = k
            print(f"{e}/{m} N={n:,}: " + (r["killed"] if "killed" in r else f"peak {r['peak'] / GB:.3f} GB"), file=sys.stderr)
            rows.append(r)
    print(f"One full-graph training step, {args.threads} thread(s); undirected Chung-Lu, E ≈ 10 N; F={FEATS}, "
          f"hidden {HIDDEN} (GAT {HEADS} × {HIDDEN // HEADS}), C={CLASSES}; peak = whole-process VmHWM; GB = 1e9 bytes\n")
    print("| model | engine | peak GB at N = ... | fit a (GB) | bytes/vertex | largest N in " + f"{args.budget_gb:g} GB | edges | vs DGL |")
    print("|---|---|---|---|---|---|---|---|")
    preds = {}
    for m in args.models:
        for e in args.engines:
            mine = [r for r in rows if (r["engine"], r["model"]) == (e, m) and "killed" not in r]
            if len(mine) >= 2:
                a, b, epv = fit(mine)
                preds[(e, m)] = {"a": a, "b": b, "n_max": int((budget - a) / b), "e_per_n": epv}
        for e in args.engines:
            cell = [r for r in rows if (r["engine"], r["model"]) == (e, m)]
            peaks = ", ".join(f"{r['n'] / 1e3:g}k: " + ("killed" if "killed" in r else f"{r['peak'] / GB:.3f}") for r in cell)
            pr = preds.get((e, m))
            if pr is None:
                print(f"| {m} | {e} | {peaks} | fewer than 2 sizes fit under --fit-limit-gb | | | | |")
                continue
            vs = f"{pr['n_max'] / preds[('dgl', m)]['n_max']:.2f}×" if ("dgl", m) in preds else "–"
            print(f"| {m} | {e} | {peaks} | {pr['a'] / GB:.3f} | {pr['b']:,.0f} | {pr['n_max']:,} | "
                  f"{int(pr['n_max'] * pr['e_per_n']):,} | {vs} |")
    verified = []
    if args.verify and not args.quick:
        print(f"\nVerification at the predicted largest N for {args.budget_gb:g} GB:\n")
        print("| model | engine | N | E | predicted peak GB (fit) | formula GB | measured peak GB | error (fit) | step s |")
        print("|---|---|---|---|---|---|---|---|---|")
        for cell in args.verify:
            e, m = cell.split(":")
            pr = preds[(e, m)]
            if _mem_available() < budget + GB:
                print(f"| {m} | {e} | {pr['n_max']:,} | – | {args.budget_gb:g} | | not run: MemAvailable "
                      f"{_mem_available() / GB:.1f} GB < budget + 1 GB | | |")
                continue
            r = run_cell(e, m, pr["n_max"], args.threads, limit=budget)
            if "killed" in r:
                print(f"| {m} | {e} | {pr['n_max']:,} | – | {args.budget_gb:g} | | {r['killed']} | | |")
            else:
                pred = pr["a"] + pr["b"] * r["n"]
                formula = "–"
                if (e, m) == ("gnnkit-saving", "gcn"):  # docs/memory_model.md's formula above the measured baseline
                    formula = f"{(r['base'] + predict_saving_gcn(r['n'], r['e'], [FEATS, HIDDEN, CLASSES])['full']) / GB:.2f}"
                elif (e, m) == ("gnnkit-saving", "gat"):
                    full = predict_saving_gat(r["n"], r["e"], [FEATS, HIDDEN, CLASSES], HEADS)["full"]
                    formula = f"{(r['base'] + full) / GB:.2f}"
                print(f"| {m} | {e} | {r['n']:,} | {r['e']:,} | {pred / GB:.2f} | {formula} | {r['peak'] / GB:.2f} | "
                      f"{100 * (r['peak'] - pred) / pred:+.1f} % | {r['seconds']:.0f} |")
            verified.append(r)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "fits": {f"{e}:{m}": v for (e, m), v in preds.items()},
                                         "verified": verified}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
