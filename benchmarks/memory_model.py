"""Check docs/memory_model.md's formulas against measured peak resident memory.

For each graph size, a fresh process loads a Chung-Lu graph (CSR by destination, built
by the parent) and measures, stage by stage, the growth of its resident set (``VmRSS``)
and the peak within each stage (``VmHWM``, reset between stages through
``/proc/self/clear_refs``), all relative to the resident set after imports and a warm-up:

1. ``graph``: a :class:`gnnkit.Graph` over the CSR (+ its cached ``csr_in``);
2. ``data``: features ``[N, F]`` float32 and labels;
3. ``full``: one full-graph training step of a 2-layer GraphSAGE (mean), peak;
4. ``sampled``: 20 mini-batch steps with ``NeighborSampler`` on the same model, peak.

The prediction for each stage is :func:`predict`, the formula of the doc with this
run's N, E, F, H, C and (for sampled training) the block sizes of the batches.

    python benchmarks/memory_model.py            # 3 sizes up to 1M vertices / 20M edges
    python benchmarks/memory_model.py --quick    # one small size
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

SIZES = [(250_000, 5_000_000), (1_000_000, 5_000_000), (1_000_000, 20_000_000)]
QUICK_SIZES = [(50_000, 500_000)]
F, H, C = 64, 128, 16
FANOUTS, BATCH = [15, 10], 8192
GB = 1e9


# ------------------------------------------------------------------- the model
def layer_activations(rows: int, f_in: int, f_out: int) -> int:
    """Bytes a GraphSAGE (mean/sum) layer keeps for backward on ``rows`` destinations.

    It keeps the narrower of its input and output widths at the destinations (the
    aggregate when it aggregates first, the projected copy it aggregates when it projects
    first) and its output (the next ReLU's output, or the log-softmax of the last layer).
    """
    return 4 * rows * (f_out + min(f_in, f_out))


def predict(n: int, e: int, widths: list[int], blocks: list[tuple[int, int, int]] | None = None) -> dict[str, float]:
    """Bytes of each stage by docs/memory_model.md ("Formulas"), for a GraphSAGE with ``widths = [F, H, ..., C]``.

    Args:
        n, e: vertices and edges of a graph whose edges are sorted by destination.
        widths: feature widths, input first.
        blocks: ``(S_src, S_dst, E_block)`` of each block of the largest sampled batch.
    """
    f, widest = widths[0], max(widths)
    graph = 16 * e + 8 * n  # src + dst (src doubles as csr_in.indices) + csr_in.indptr
    data = 4 * n * f + 8 * n  # features + int64 labels
    acts = sum(layer_activations(n, a, b) for a, b in zip(widths[:-1], widths[1:]))
    reverse_csr = 16 * e + 8 * n  # csr_out (eid + indices, indptr): built in the first backward, then cached
    # the backward peak is either argsort's scratch while csr_out is built or a [N, widest] gradient pair
    full = acts + 8 * n + reverse_csr + max(16 * e, 8 * n * widest)  # + 8N in-degree cache (mean)
    out = {"graph": graph, "data": data, "full": full}
    if blocks is not None:
        s0 = blocks[0][0]
        per_block = sum(40 * eb + 8 * ss + 16 * sd + layer_activations(sd, a, b)
                        for (ss, sd, eb), a, b in zip(blocks, widths[:-1], widths[1:]))
        out["sampled"] = 4 * n + 8 * s0 + 4 * s0 * f + per_block + 8 * blocks[0][1] * widest
    return out


def predict_saving_gcn(n: int, e: int, widths: list[int], storage_bytes: int = 2) -> dict[str, float]:
    """Bytes of one full-graph GCN training step in gnnkit's memory-saving configuration.

    ``GNNConfig(checkpoint=True, feature_dtype="bfloat16")`` on a symmetric
    :class:`gnnkit.ops.NormalizedAdjacency` (docs/memory_model.md, "Memory-saving full-graph
    training"), for 2 layers ``widths = [F, H, C]``; ``e`` edges without self-loops. Returns the
    adjacency, the data and the step's peak (all above the baseline).
    """
    f, h, c = widths
    adjacency = 8 * (n + 1) + 8 * (e + n)  # indptr + int32 ids + float32 values, loops added, transpose shared
    data = storage_bytes * n * f + 8 * n  # bfloat16 features + int64 labels
    # layer 1 forward: q = Â dropout(x) in float32 beside the stored output h1
    forward = 4 * n * f + storage_bytes * n * h
    # layer 2 backward: h1 and its gradient (storage dtype) and three [N, C] float32 tensors (the incoming
    # gradient, dZ, Â^T dZ); the logits and the log-softmax's saved output are freed by then
    backward = 2 * storage_bytes * n * h + 12 * n * c
    return {"adjacency": adjacency, "data": data, "full": adjacency + data + max(forward, backward)}


def predict_saving_gat(n: int, e: int, widths: list[int], heads: int, storage_bytes: int = 2) -> dict[str, float]:
    """Bytes of one full-graph GAT training step in gnnkit's memory-saving configuration.

    ``GNNConfig(model="gat", checkpoint=True, feature_dtype="bfloat16")`` on a :class:`gnnkit.Graph`
    sorted by destination (docs/memory_model.md, "Memory-saving full-graph training"), 2 layers
    ``widths = [F, H F', C]`` with ``heads = H`` hidden heads (one output head); ``e`` edges without
    self-loops. Each layer is the hand-written checkpoint of ``gnnkit/nn/_gat_checkpoint.py``. Returns
    the graph structures, the data and the step's peak (all above the baseline).
    """
    f, hidden, c = widths
    width = hidden // heads  # F' of a hidden head
    loops = e + n  # the self-loop graph GATConv attends over
    # the Graph (src aliased by its csr_in) + its self-loop copy + that copy's csr_out (built in backward)
    graph = (16 * e + 8 * (n + 1)) + (16 * loops + 8 * (n + 1)) + (16 * loops + 8 * (n + 1))
    data = storage_bytes * n * f + 8 * n  # bfloat16 features + int64 labels
    # the peak is the first layer's backward: its stored output and the gradient reaching it, [N, H]
    # statistics (lse, scores a and their gradient), and per head two [N, F'] float32 tensors (the
    # head's output gradient and its projection, then the projection's gradient) and five float32 [E]
    # tensors (scores/attention, dropped attention, its gradient, two index temporaries) and a bool one
    kept = 2 * storage_bytes * n * hidden + 4 * n * (heads + 2 * heads + 2 * heads) + 4 * n
    head = 8 * n * width + 21 * loops
    return {"graph": graph, "data": data, "full": graph + data + kept + head}


# ----------------------------------------------------------------- measuring
def _status() -> dict[str, int]:
    text = Path("/proc/self/status").read_text()
    return {k: int(re.search(k + r":\s+(\d+)", text).group(1)) * 1024 for k in ("VmRSS", "VmHWM")}


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def measure(path: Path, mode: str) -> dict:
    """Run graph, data and ``mode`` (``"full"`` or ``"sampled"``) in this process.

    Returns bytes relative to the post-import resident set: for each stage the resident
    set after it and the peak within it.
    """
    import torch
    import torch.nn.functional as Fn

    from gnnkit import Graph
    from gnnkit.nn import SAGEConv
    from gnnkit.data.sampling import NeighborSampler

    torch.set_num_threads(1)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.l1, self.l2 = SAGEConv(F, H), SAGEConv(H, C)

        def forward(self, g1, g2, x):
            return self.l2(g2, Fn.relu(self.l1(g1, x)))

    # warm-up on a tiny graph: loads the kernels and torch's lazy state before the baseline
    # (constructing the first torch.optim optimizer imports ~160 MB of torch._dynamo)
    tiny = Graph(torch.tensor([0, 1]), torch.tensor([1, 0]), 2)
    warm = Net()
    warm_opt = torch.optim.Adam(warm.parameters())
    warm(tiny, tiny, torch.randn(2, F)).sum().backward()
    warm_opt.step()
    NeighborSampler(tiny, FANOUTS).sample([0])
    z = np.load(path)
    indptr, indices = z["indptr"], z["indices"]
    n, e = indptr.size - 1, indices.size
    if not _reset_peak():
        raise RuntimeError("/proc/self/clear_refs is not writable: per-stage peaks cannot be measured")
    base = _status()["VmRSS"] - indptr.nbytes - indices.nbytes  # the loaded CSR counts as the graph's
    stages = {}

    def stage(name: str) -> None:
        st = _status()
        stages[name] = {"rss": st["VmRSS"] - base, "peak": st["VmHWM"] - base}
        _reset_peak()

    dst = torch.from_numpy(np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr)))
    g = Graph(torch.from_numpy(indices), dst, n)  # edges sorted by dst: csr_in aliases src
    g.csr_in()
    del indptr
    stage("graph")
    torch.manual_seed(0)
    x = torch.randn(n, F)
    y = torch.randint(0, C, (n,))
    stage("data")
    model = Net()
    opt = torch.optim.Adam(model.parameters())
    largest = None
    if mode == "full":
        mask = torch.rand(n) < 0.1
        loss = Fn.cross_entropy(model(g, g, x)[mask], y[mask])
        loss.backward()
        opt.step()
        del loss
        stage("full")
        return {"n": n, "e": e, "mode": mode, "base": base, "stages": stages, "predicted": predict(n, e, [F, H, C])}
    sampler = NeighborSampler(g, FANOUTS, seed=0)
    rng = np.random.default_rng(0)
    for _ in range(20):
        batch = sampler.sample(rng.choice(n, BATCH, replace=False))
        sizes = [(b.num_src_nodes, b.num_nodes, b.num_edges) for b in batch.blocks]
        if largest is None or sizes[0][0] > largest[0][0]:
            largest = sizes
        opt.zero_grad()
        out = model(batch.blocks[0], batch.blocks[1], x[batch.input_nodes])
        Fn.cross_entropy(out, y[batch.seeds]).backward()
        opt.step()
        del batch, out
    stage("sampled")
    return {"n": n, "e": e, "mode": mode, "base": base, "stages": stages, "predicted": predict(n, e, [F, H, C], largest),
            "largest_batch": largest}


def graph_path(n: int, e: int) -> Path:
    path = Path(tempfile.gettempdir()) / f"gnnkit_memory_model_n{n}_e{e}.npz"
    if not path.exists():
        from gnnkit.data.generators import chung_lu, dedupe_csr

        g = dedupe_csr(chung_lu(n, e, seed=0))
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, indptr=g.indptr, indices=g.indices)
        os.replace(tmp, path)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", type=Path)
    p.add_argument("--worker", nargs=2, metavar=("GRAPH", "MODE"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(measure(Path(args.worker[0]), args.worker[1])))
        return 0
    rows = []
    for n, e in QUICK_SIZES if args.quick else SIZES:
        path = graph_path(n, e)
        for mode in ("full", "sampled"):  # one process each: no memory retained from the other
            proc = subprocess.run([sys.executable, __file__, "--worker", str(path), mode], capture_output=True, text=True,
                                  timeout=1800)
            if proc.returncode != 0:
                raise RuntimeError(proc.stderr[-3000:])
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print(f"2-layer GraphSAGE (mean), F={F}, H={H}, C={C}; sampled: fan-outs {FANOUTS}, batch {BATCH} (largest of 20); "
          "GB = 1e9 bytes; stages are measured above the post-import resident set, the peak-RSS rows include it\n")
    print("| N | E | stage | predicted GB | measured GB | error |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        st, pred = r["stages"], r["predicted"]
        names = ("graph", "data", r["mode"]) if r["mode"] == "full" else (r["mode"],)
        for name in names:
            # graph and data stay resident: compare what each adds; a training stage: its peak above them
            before = {"graph": 0, "data": st["graph"]["rss"], "full": st["data"]["rss"], "sampled": st["data"]["rss"]}[name]
            got = (st[name]["rss"] if name in ("graph", "data") else st[name]["peak"]) - before
            err = (got - pred[name]) / pred[name]
            print(f"| {r['n']:,} | {r['e']:,} | {name} | {pred[name] / GB:.3f} | {got / GB:.3f} | {100 * err:+.0f} % |")
        # what decides whether a run fits: the whole process's peak, imports included (measured baseline)
        total_pred = r["base"] + pred["graph"] + pred["data"] + pred[r["mode"]]
        total = r["base"] + max(v["peak"] for v in st.values())
        print(f"| {r['n']:,} | {r['e']:,} | **peak RSS, {r['mode']} training** | {total_pred / GB:.3f} | {total / GB:.3f} | "
              f"{100 * (total - total_pred) / total_pred:+.0f} % |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
