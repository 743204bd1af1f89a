"""GPU benchmark: gnnkit's Triton kernels vs torch.sparse (cuSPARSE), DGL and PyG.

Graphs: the core benchmark's power-law graph (169,343 vertices, 2.4M edges, from
benchmarks/core.py) and one 10x larger (1.69M vertices, ~24M edges), 128 float32
features. Workloads:

    spmm     y = A x (sum over in-edges)                     torch.sparse.mm on CSR
    spmm_w   y = A_w x with one weight per edge              torch.sparse.mm on CSR
    sddmm    s_e = <x_src, x_dst> per edge                   torch.sparse.sampled_addmm
    gat      one GAT layer (128 -> 4 heads x 64), forward + backward, self-loops added

Per (graph, workload, engine): the median time of ``--reps`` runs (CUDA events) after
warm-up, the peak device memory above what was allocated before the run (inputs and
parameters excluded), and for the sparse ops the achieved bandwidth: the op's floor
bytes (docs/kernels.md: CSR, each input row once, the output) over the time, as a
fraction of the device's copy bandwidth measured here with ``Tensor.copy_``.

    python benchmarks/gpu.py                            # both graphs, every engine
    python benchmarks/gpu.py --quick                    # 20k-vertex graph only (smoke run)
    python benchmarks/gpu.py --graphs core --workloads gat --engines gnnkit-fused pyg

Targets (issue 7, on an H100-class GPU): spmm >= 60% of the copy bandwidth; the fused
GAT layer >= 2x PyG's speed at <= 0.2x its peak memory. Without a CUDA GPU the script
says so and exits 0.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from core import DRAWS_FULL, FEATS, N_FULL, graph_file, power_law_graph  # noqa: E402

ENGINES = ("gnnkit", "gnnkit-fused", "torch.sparse", "dgl", "pyg")
WORKLOADS = ("spmm", "spmm_w", "sddmm", "gat")
GRAPHS = ("core", "x10")
HEADS, HIDDEN = 4, 64  # the core benchmark's first GAT layer: 128 -> 4 x 64


# ------------------------------------------------------------------ inputs
def load_graph(name: str) -> tuple[np.ndarray, np.ndarray, int]:
    """``(src, dst, n)`` sorted by (dst, src); the 10x graph is cached in the temp directory."""
    if name in ("core", "quick"):
        data = np.load(graph_file(name == "quick"))
        return data["src"], data["dst"], int(data["n"])
    path = Path(tempfile.gettempdir()) / "gnnkit_bench_graph_x10.npz"
    if not path.exists():
        src, dst = power_law_graph(10 * N_FULL, 10 * DRAWS_FULL)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, src=src, dst=dst, n=10 * N_FULL)
        os.replace(tmp, path)
    data = np.load(path)
    return data["src"], data["dst"], int(data["n"])


def copy_bandwidth(torch, nbytes: int = 1 << 30) -> float:
    """Device-to-device copy bandwidth in bytes/s (reads + writes), median of 10 copies."""
    a = torch.empty(nbytes // 4, dtype=torch.float32, device="cuda")
    b = torch.empty_like(a)
    for _ in range(3):
        b.copy_(a)
    times = []
    for _ in range(10):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        b.copy_(a)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    del a, b
    return 2 * nbytes / statistics.median(times)


def floor_bytes(workload: str, n: int, e: int, feats: int) -> int | None:
    """The bytes a kernel must move (docs/kernels.md), with int32 CSR indices and float32 data."""
    idx, val = 4, 4
    if workload == "spmm":
        return (n + 1) * idx + e * idx + 2 * n * feats * val  # CSR, x read once, y written once
    if workload == "spmm_w":
        return (n + 1) * idx + e * (idx + val) + 2 * n * feats * val
    if workload == "sddmm":
        return 2 * e * idx + n * feats * val + e * val  # (row, col) per edge, x once, one score per edge
    return None


# ----------------------------------------------------------------- engines
def fused_gat_attention(torch):
    """``(g, h, a_src, a_dst, slope) -> out``: the fused op, from gnnkit.ops once wired, else its bindings."""
    from gnnkit import ops

    if hasattr(ops, "gat_attention"):
        return lambda g, h, a_src, a_dst, slope: ops.gat_attention(g, h, a_src, a_dst, slope, 0.0)
    from gnnkit.ops import _triton

    class Attention(torch.autograd.Function):
        @staticmethod
        def forward(ctx, g, h, a_src, a_dst, slope):
            out, lse = _triton.gat_forward(g, h, a_src, a_dst, slope, 0.0, 0)
            ctx.g, ctx.slope = g, slope
            ctx.save_for_backward(h, a_src, a_dst, out, lse)
            return out

        @staticmethod
        def backward(ctx, dout):
            h, a_src, a_dst, out, lse = ctx.saved_tensors
            dh, da_src, da_dst = _triton.gat_backward(ctx.g, h, a_src, a_dst, out, lse, dout.contiguous(), ctx.slope, 0.0, 0)
            return None, dh, da_src, da_dst, None

    return Attention.apply


def build(engine: str, workload: str, src, dst, n: int, x, torch):
    """A zero-argument step for (engine, workload), or raise NotImplementedError / ImportError."""
    import torch.nn.functional as F

    dev = x.device
    s, d = torch.from_numpy(src).to(dev), torch.from_numpy(dst).to(dev)
    e = s.numel()
    w = torch.rand(e, device=dev)
    if workload == "gat":
        dy = torch.randn(n, HEADS * HIDDEN, device=dev)

        def train_step(layer, fn):
            params = list(layer.parameters())

            def step():
                for p in params:
                    p.grad = None
                fn().backward(dy)

            return step

    if engine in ("gnnkit", "gnnkit-fused"):
        import gnnkit
        from gnnkit import ops
        from gnnkit.nn import GATConv

        g = gnnkit.Graph(s, d, n)
        if engine == "gnnkit-fused" and workload != "gat":
            raise NotImplementedError("the fused kernel is the GAT layer")
        if workload == "spmm":
            return lambda: ops.spmm(g, x)
        if workload == "spmm_w":
            return lambda: ops.spmm(g, x, w)
        if workload == "sddmm":
            return lambda: ops.sddmm(g, x, x)
        conv = GATConv(FEATS, HIDDEN, heads=HEADS).to(dev)
        if engine == "gnnkit":
            return train_step(conv, lambda: conv(g, x))
        attention = fused_gat_attention(torch)
        gl = g.add_self_loops(only_missing=True)

        def fused():
            h = conv.lin(x).view(-1, HEADS, HIDDEN)  # [N, H, F]
            a_src, a_dst = (h * conv.att_src).sum(-1), (h * conv.att_dst).sum(-1)  # [N, H] each
            return attention(gl, h, a_src, a_dst, conv.negative_slope).reshape(-1, HEADS * HIDDEN) + conv.bias

        return train_step(conv, fused)

    if engine == "torch.sparse":
        if workload == "gat":
            raise NotImplementedError("no attention layer")
        indptr = torch.zeros(n + 1, dtype=torch.int32, device=dev)
        indptr[1:] = torch.cumsum(torch.bincount(d, minlength=n), 0)
        vals = w if workload == "spmm_w" else torch.ones(e, device=dev)
        a = torch.sparse_csr_tensor(indptr, s.to(torch.int32), vals, size=(n, n))  # rows = destinations
        if workload == "sddmm":
            return lambda: torch.sparse.sampled_addmm(a, x, x.t(), beta=0.0)
        return lambda: torch.sparse.mm(a, x)

    if engine == "dgl":
        os.environ.setdefault("DGLBACKEND", "pytorch")
        import dgl
        import dgl.nn as dglnn

        g = dgl.graph((s, d), num_nodes=n)  # raises where DGL was built without CUDA
        if workload == "spmm":
            return lambda: dgl.ops.copy_u_sum(g, x)
        if workload == "spmm_w":
            return lambda: dgl.ops.u_mul_e_sum(g, x, w.unsqueeze(1))
        if workload == "sddmm":
            return lambda: dgl.ops.u_dot_v(g, x, x)
        gl = dgl.add_self_loop(g)  # the power-law graph has no self-loops
        conv = dglnn.GATConv(FEATS, HIDDEN, num_heads=HEADS).to(dev)
        return train_step(conv, lambda: conv(gl, x).flatten(1))

    if engine == "pyg":
        import torch_geometric.nn as pnn
        from torch_geometric.utils import scatter

        if workload == "spmm":
            return lambda: scatter(x[s], d, dim=0, dim_size=n, reduce="sum")
        if workload == "spmm_w":
            return lambda: scatter(x[s] * w.unsqueeze(1), d, dim=0, dim_size=n, reduce="sum")
        if workload == "sddmm":
            return lambda: (x[s] * x[d]).sum(-1)
        ei = torch.stack([s, d])
        conv = pnn.GATConv(FEATS, HIDDEN, heads=HEADS).to(dev)
        return train_step(conv, lambda: conv(x, ei))
    raise ValueError(f"unknown engine {engine!r}")


def measure(torch, step, reps: int) -> tuple[float, int]:
    """``(median seconds, peak bytes allocated above the pre-run level)``."""
    for _ in range(2):  # warm-up: Triton compilation, schedules, allocator
        step()
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        step()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return statistics.median(times), torch.cuda.max_memory_allocated() - base


# ------------------------------------------------------------------ report
def table(results: list[dict]) -> str:
    lines = ["| graph | workload | engine | time (ms) | peak extra (MB) | floor GB/s | of copy BW | vs fastest |",
             "|---|---|---|---|---|---|---|---|"]
    best: dict[tuple[str, str], float] = {}
    for r in results:
        if "time_s" in r:
            key = (r["graph"], r["workload"])
            best[key] = min(best.get(key, float("inf")), r["time_s"])
    for r in results:
        head = f"| {r['graph']} | {r['workload']} | {r['engine']} |"
        if "time_s" not in r:
            lines.append(f"{head} {r['error']} | | | | |")
            continue
        gbs = "" if r.get("floor_gbs") is None else f"{r['floor_gbs']:.0f}"
        frac = "" if r.get("copy_frac") is None else f"{100 * r['copy_frac']:.0f}%"
        ratio = r["time_s"] / best[(r["graph"], r["workload"])]
        lines.append(f"{head} {1e3 * r['time_s']:.3f} | {r['peak_bytes'] / 2**20:,.0f} | {gbs} | {frac} | {ratio:.2f}x |")
    return "\n".join(lines)


def targets(results: list[dict]) -> list[str]:
    by = {(r["graph"], r["workload"], r["engine"]): r for r in results if "time_s" in r}
    out = []
    for graph in sorted({r["graph"] for r in results}):
        spmm = by.get((graph, "spmm", "gnnkit"))
        if spmm is not None and spmm.get("copy_frac") is not None:
            ok = spmm["copy_frac"] >= 0.6
            out.append(f"{graph}: spmm at {100 * spmm['copy_frac']:.0f}% of copy bandwidth (target >= 60%): {'met' if ok else 'NOT met'}")
        fused, pyg = by.get((graph, "gat", "gnnkit-fused")), by.get((graph, "gat", "pyg"))
        if fused is not None and pyg is not None:
            speed = pyg["time_s"] / fused["time_s"]
            mem = fused["peak_bytes"] / max(pyg["peak_bytes"], 1)
            ok = speed >= 2 and mem <= 0.2
            out.append(f"{graph}: fused GAT {speed:.2f}x PyG's speed (target >= 2x) at {mem:.2f}x its peak memory "
                       f"(target <= 0.2x): {'met' if ok else 'NOT met'}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--graphs", nargs="+", default=list(GRAPHS), choices=GRAPHS)
    p.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    p.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=WORKLOADS)
    p.add_argument("--reps", type=int, default=20, help="timed runs after two warm-up runs (default 20)")
    p.add_argument("--quick", action="store_true", help="the 20k-vertex graph only, 3 timed runs")
    p.add_argument("--json", type=Path, help="also write the raw results here")
    args = p.parse_args(argv)

    import torch

    if not torch.cuda.is_available():
        print("benchmarks/gpu.py: no CUDA GPU here (torch.cuda.is_available() is False), so there is nothing "
              "to measure; run it on a machine with a CUDA GPU. The kernels' correctness is tested on the CPU "
              "by tests/test_triton_kernels.py in Triton's interpreter.")
        return 0
    from gnnkit.ops import _dispatch

    if not _dispatch.HAS_TRITON:
        print(f"warning: gnnkit's Triton kernels are not in use ({_dispatch.TRITON_ERROR}); "
              "the gnnkit rows measure the pure-PyTorch reference ops", file=sys.stderr)
    graphs = ["quick"] if args.quick else args.graphs
    reps = 3 if args.quick else args.reps
    bw = copy_bandwidth(torch)
    print(f"device: {torch.cuda.get_device_name()}; measured copy bandwidth {bw / 1e9:,.0f} GB/s; "
          f"torch {torch.__version__}; {reps} timed runs", flush=True)
    results = []
    for name in graphs:
        src, dst, n = load_graph(name)
        print(f"graph {name}: {n:,} vertices, {src.size:,} edges, {FEATS} features", flush=True)
        torch.manual_seed(0)
        x = torch.randn(n, FEATS, device="cuda")
        for workload in args.workloads:
            for engine in args.engines:
                row = {"graph": name, "workload": workload, "engine": engine, "num_nodes": n, "num_edges": int(src.size)}
                try:
                    step = build(engine, workload, src, dst, n, x, torch)
                except NotImplementedError:
                    continue  # the engine has no such op (torch.sparse has no GAT layer)
                except Exception as exc:  # an engine missing or built without CUDA: report it, keep going
                    first_line = (str(exc).splitlines() or [""])[0][:80]
                    row["error"] = f"unavailable: {type(exc).__name__}: {first_line}"
                    results.append(row)
                    print(f"  {workload}/{engine}: {row['error']}", flush=True)
                    continue
                try:
                    t, peak = measure(torch, step, reps)
                except torch.cuda.OutOfMemoryError:
                    row["error"] = "out of memory"
                else:
                    row.update(time_s=t, peak_bytes=peak)
                    fb = floor_bytes(workload, n, int(src.size), FEATS)
                    if fb is not None:
                        row.update(floor_bytes=fb, floor_gbs=fb / t / 1e9, copy_frac=fb / t / bw)
                del step
                torch.cuda.empty_cache()
                results.append(row)
                print(f"  {workload}/{engine}: " + (row.get("error") or f"{1e3 * row['time_s']:.3f} ms, "
                      f"{row['peak_bytes'] / 2**20:,.0f} MB"), flush=True)
    print(table(results))
    for line in targets(results):
        print(line)
    if args.json:
        args.json.write_text(json.dumps({"copy_bandwidth": bw, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
