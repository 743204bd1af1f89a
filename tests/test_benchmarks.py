"""The benchmark script stays runnable: a --quick run on a small graph, every engine installed."""
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_core_benchmark_quick_runs_every_engine(tmp_path):
    pytest.importorskip("dgl")
    pytest.importorskip("torch_geometric")
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "core.py"), "--quick", "--workloads", "spmm", "gat",
         "--json", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(out.read_text())
    assert {(r["engine"], r["workload"]) for r in results} == {
        (e, w) for e in ("gnnkit", "dgl", "pyg", "floor") for w in ("spmm", "gat")
    }
    assert "| spmm |" in proc.stdout and "gnnkit/DGL time" in proc.stdout and "| gnnkit/floor |" in proc.stdout
    floor = {r["workload"]: r for r in results if r["engine"] == "floor"}
    assert floor["spmm"]["gemm_s"] == 0.0 and floor["gat"]["gemm_s"] > 0.0
    assert all(f["median_s"] == pytest.approx(f["gemm_s"] + f["sparse_s"]) for f in floor.values())
    # every row states its rounds, median and spread
    assert all(r["rounds"] == 1 and r["min_s"] <= r["median_s"] <= r["max_s"] for r in results)
    assert re.search(r"\| spmm \| [0-9.]+ s \([0-9.]+–[0-9.]+\), [0-9,]+ MB, 1 rounds \|", proc.stdout)


def test_power_law_graph_matches_the_spec_at_full_size():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import core
    finally:
        sys.path.pop(0)
    src, dst = core.power_law_graph(core.N_FULL, core.DRAWS_FULL)
    # BENCHMARK-SPEC.md: 2,398,878 directed edges after symmetrising and dropping duplicates/self-loops
    assert src.size == 2_398_878
    assert not (src == dst).any()


def test_link_benchmark_quick_runs_every_engine(tmp_path):
    pytest.importorskip("dgl")
    out = tmp_path / "link.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "link.py"), "--quick", "--nodes", "3000", "--edges", "12000",
         "--batch-size", "256", "--steps", "4", "--profile", "--json", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(out.read_text())
    assert {r["engine"] for r in results} == {"gnnkit", "gnnkit-serial", "dgl", "dgl-worker"}
    assert all(r["pos_edges_per_s"] > 0 for r in results)
    rate = {r["engine"]: r["pos_edges_per_s"] for r in results}
    # the default loader is compared with DGL's faster configuration, the one-core loop with in-process DGL
    vs = " vs DGL 1 sampling worker" if rate["dgl-worker"] > rate["dgl"] else ""
    for what in (f"prefetch thread{vs}", "no prefetch thread"):
        assert f"| link SAGE [10, 10] b256 1 neg, 3k vertices, gnnkit {what} |" in proc.stdout
    # the per-phase split: every gnnkit phase measured (the sampling side's in the prefetch thread too)
    gnnkit = next(r for r in results if r["engine"] == "gnnkit")["phases_ms"]
    assert set(gnnkit) == {"negatives", "dedup+other", "blocks", "feature_gather", "layouts", "producer", "forward",
                           "backward", "optimizer"}
    assert "| forward |" in proc.stdout


def test_graph_classification_benchmark_quick_prints_a_row_per_engine():
    pytest.importorskip("torch_geometric")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "graph_classification.py"), "--quick", "--graphs",
                           "200", "--threads", "1", "--engines", "gnnkit", "pyg", "floor", "--phases",
                           "--optimizer", "foreach"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| 200 |")]
    assert [row.split(" | ")[1] for row in rows] == ["gnnkit", "pyg", "floor"]
    phases = [line.split(" | ")[0] for line in proc.stdout.splitlines() if line.startswith("| ") and "|---" not in line]
    assert phases[-4:] == ["| engine", "| gnnkit", "| pyg", "| floor"]  # CPU per phase, after the epoch table
    assert "Adam foreach" in proc.stdout


def _benchmark_modules():
    """``(core, multiview)`` from benchmarks/ (multiview imports core from there)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import core
        import multiview
    finally:
        sys.path.pop(0)
    return core, multiview


@pytest.mark.parametrize("workload", ["gcn", "sage"])
def test_multiview_benchmark_runs_the_same_model_on_every_engine(workload):
    # with gnnkit's weights copied in, DGL's and PyG's benchmark models compute gnnkit's outputs:
    # the table compares engines, not parameterisations
    pytest.importorskip("dgl")
    pytest.importorskip("torch_geometric")
    import torch

    core, mv = _benchmark_modules()
    n = 40
    src, dst = core.power_law_graph(n, 120)
    view = mv.split_views(src, dst, n)
    views = {name: (src[view == i], dst[view == i]) for i, name in enumerate(mv.VIEW_NAMES)}
    torch.manual_seed(0)
    ours, (o1, o2) = mv.build_gnnkit(workload, views, n)
    dgl_model, (d1, ds1, d2, ds2) = mv.build_dgl(workload, views, n)
    pyg_model, (p1, ps1, p2, ps2) = mv.build_pyg(workload, views, n)
    with torch.no_grad():
        for mine, conv, shared, pconv, pshared in ((o1, d1, ds1, p1, ps1), (o2, d2, ds2, p2, ps2)):
            mine.bias.normal_()
            for i, name in enumerate(mv.VIEW_NAMES):
                conv.mods[name].weight.copy_(mine.weight[i])
                (plin,) = [m for key, m in pconv.convs.items() if name in key]  # PyG's ModuleDict key for the edge type
                (plin.lin if workload == "gcn" else plin.lin_l).weight.copy_(mine.weight[i].t())
            for terms in (shared, pshared):
                if workload == "sage":
                    terms.root.weight.copy_(mine.root.t())
                    terms.root.bias.copy_(mine.bias)
                else:
                    terms.bias.copy_(mine.bias)
    x = torch.randn(n, mv.FEATS)
    expect = ours(x)
    torch.testing.assert_close(dgl_model(x), expect, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(pyg_model(x), expect, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_precision_benchmark_quick_runs_and_reports_the_cpu():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "precision.py"), "--quick", "--backend", "aot_eager",
         "--workloads", "gcn"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "torch CPU capability" in proc.stdout
    row = next(line for line in proc.stdout.splitlines() if line.startswith("| gcn |"))
    assert len(row.strip("|").split("|")) == 5  # workload, fp32 and bf16 steps, bf16/fp32, peak RSS


@pytest.mark.slow
def test_precision_benchmark_quick_loss_curve_and_accuracy(tmp_path):
    png = tmp_path / "loss.png"
    script = str(ROOT / "benchmarks" / "precision.py")
    proc = subprocess.run([sys.executable, script, "--quick", "--loss-curve", "--workloads", "gcn", "--plot", str(png)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    row = next(line for line in proc.stdout.splitlines() if line.startswith("| gcn |"))
    assert "%" in row and png.stat().st_size > 0
    proc = subprocess.run([sys.executable, script, "--quick", "--accuracy", "--workloads", "gcn"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    row = next(line for line in proc.stdout.splitlines() if line.startswith("| gcn |"))
    assert row.strip("|").split("|")[-1].strip() == "2"  # seeds


def test_scale_benchmark_quick_generates_converts_and_trains(tmp_path):
    out, png = tmp_path / "scale.json", tmp_path / "scale.png"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "scale.py"), "--quick", "--batches", "2", "--peer",
         "--json", str(out), "--plot", str(png)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (row,) = json.loads(out.read_text())
    assert row["num_nodes"] == 20_000 and row["num_edges"] == 200_000 and row["num_features"] == 16
    assert row["train"]["mode"] == "mmap" and row["peer"]["mode"] == "memory" and row["train"]["batches"] == 2
    # the memory-mapped and the in-memory run train on the same batches from the same initial weights
    assert row["train"]["pass1"]["loss_first"] == row["peer"]["pass1"]["loss_first"]
    assert "| 20,000 / 200,000 / 16 f16 |" in proc.stdout and png.stat().st_size > 0


def test_partition_benchmark_quick_reports_every_method(tmp_path):
    pytest.importorskip("pymetis")
    out = tmp_path / "runs.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "partition.py"), "--nodes", "3000", "--edges", "20000",
         "--parts", "2", "4", "--methods", "fennel", "metis", "--json", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    runs = json.loads(out.read_text())
    assert {(r["method"], r["parts"]) for r in runs} == {(m, p) for m in ("fennel", "metis") for p in (2, 4)}
    assert all(0 < r["edge_cut"] < 1 and 1 <= r["balance"] <= 1.031 and r["peak_mb"] > 0 for r in runs)
    assert re.search(r"\| 4 \| fennel \| [0-9.]+ \([0-9.]+–[0-9.]+\) \|", proc.stdout)


def _benchmark(name: str):
    """The module ``benchmarks/<name>.py`` (its folder on the path only while importing)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


def _core():
    return _benchmark("core")


def test_floor_byte_model_counts_a_tiny_gcn_by_hand():
    core = _core()
    gemms, ops = core.floor_plan("gcn", n=4, e=6, feats=3, hidden=5, classes=2)
    # 4 vertices, 6 edges + 4 self-loops = 10. Layer 1 (3 -> 5) aggregates x first (width 3),
    # and no gradient flows into x; layer 2 (5 -> 2) projects first (width 2) and its spmm has a backward.
    # spmm bytes: 8 (N + 1) + 8 E + 4 E (F + 1 weight) + 4 N F
    assert [op.bytes for op in ops] == [
        8 * 5 + 8 * 10 + 4 * 10 * (3 + 1) + 4 * 4 * 3,  # 328
        8 * 5 + 8 * 10 + 4 * 10 * (2 + 1) + 4 * 4 * 2,  # 272: layer 2 forward
        272,  # layer 2 backward (A^T dY, same width)
    ]
    assert sum(op.bytes for op in ops) == 872
    assert sorted(gemms) == sorted([(4, 3, 5), (3, 4, 5), (4, 5, 2), (5, 4, 2), (4, 2, 5)])


def test_floor_byte_model_counts_spmm_sage_and_gat_by_hand():
    core = _core()
    gemms, ops = core.floor_plan("spmm", n=4, e=6, feats=3)
    assert gemms == [] and [op.bytes for op in ops] == [8 * 5 + 8 * 6 + 4 * 6 * 3 + 4 * 4 * 3]  # 208, no weights
    # SAGE (mean, unweighted, no self-loops): layer 1 (3 -> 5) aggregates x; layer 2 (5 -> 2) projects first
    gemms, ops = core.floor_plan("sage", n=4, e=6, feats=3, hidden=5, classes=2)
    assert [op.bytes for op in ops] == [8 * 5 + 8 * 6 + 4 * 6 * 3 + 4 * 4 * 3,  # 208: layer 1 forward
                                        8 * 5 + 8 * 6 + 4 * 6 * 2 + 4 * 4 * 2,  # 168: layer 2 forward
                                        168]  # layer 2 backward
    assert sorted(gemms) == sorted([(4, 3, 5), (4, 3, 5), (3, 4, 5), (3, 4, 5), (4, 5, 4), (5, 4, 4), (4, 4, 5)])
    # GAT, 2 heads of 1 then 1 head of 2; 10 edges with loops. Layer 2 (H=1, F'=2): the spmm moves
    # 8*5 + 8*10 + 4*10*(2 + 1) + 4*4*2 = 272; the score sddmm gathers 1 and writes 1 float per edge
    # and reads 1 per destination row: 120 + 4*(10*(1 + 1) + 4*1) = 216
    gemms, ops = core.floor_plan("gat", n=4, e=6, feats=3, hidden=2, classes=2, heads=2)
    second = {op.name: op.bytes for op in ops[8:]}
    assert second["spmm"] == 272 and second["sddmm add"] == 216
    assert second["edge_softmax"] == 120 + 4 * (10 + 10) and second["edge_softmax backward"] == 120 + 4 * (20 + 10)
    assert len(ops) == 16 and len(gemms) == 4 + 6


def test_floor_columns_in_the_markdown_row():
    core = _core()
    row = {"workload": "gcn", "rounds": 3, "min_s": 0.9, "max_s": 1.1, "peak_mb": 100.0}
    results = [{**row, "engine": "gnnkit", "median_s": 1.0}, {**row, "engine": "dgl", "median_s": 2.0},
               {**row, "engine": "floor", "median_s": 0.5, "gemm_s": 0.375, "sparse_s": 0.125, "copy_gbps": 10.25}]
    lines = core.table(results, ["gnnkit", "dgl"], ["gcn"]).splitlines()
    assert lines[0] == "| workload | gnnkit | dgl | gnnkit/DGL time | floor (GEMM + sparse) | gnnkit/floor |"
    assert lines[1] == "|---|---|---|---|---|---|"
    assert lines[2].endswith("| 0.50× | 0.500 s (0.375 + 0.125), 10.2 GB/s | 2.00× |")


def test_inference_benchmark_quick_runs_every_mode(tmp_path):
    out = tmp_path / "inference.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "inference.py"), "--quick", "--models", "sage",
                           "--out-dir", str(tmp_path / "buffers"), "--json", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(out.read_text())
    assert sorted(r["mode"] for r in results) == ["dgl", "full", "layerwise"]
    assert all(r["base_mb"] <= r["peak_mb"] and r["cpu_s"] > 0 for r in results)
    assert [r["memmap"] for r in results if r["mode"] == "layerwise"] == [True]
    assert list((tmp_path / "buffers").iterdir()) == []  # the worker removed its memory-mapped buffers
    assert re.search(r"\| sage \| [0-9.]+ s \([0-9.]+–[0-9.]+\), CPU [0-9.]+ s, peak [0-9,]+ MB \(base [0-9,]+ MB\), "
                     r"1 rounds \| .*1 rounds, batch 3,000, memmap buffers \| .* \| [0-9.]+× \([0-9.]+×\) \| [0-9.]+× \|",
                     proc.stdout)


def test_inference_benchmark_table_marks_a_stopped_worker():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import inference as bench
    finally:
        sys.path.pop(0)
    row = dict(model="gcn", median_s=2.0, times=[2.0], cpu_s=3.0, base_mb=100.0, peak_mb=300.0, memmap=False)
    results = [dict(row, mode="full", over_gb=16.0), dict(row, mode="layerwise")]
    lines = bench.table(results, ["gcn"], ["full", "layerwise", "dgl"], 1000).splitlines()
    assert lines[2] == ("| gcn | over 16 GB RSS (stopped) | 2.00 s (2.00–2.00), CPU 3.00 s, peak 300 MB (base 100 MB), "
                        "1 rounds, batch 1,000 | — | — | — |")


def test_capacity_benchmark_quick_fits_every_engine(tmp_path):
    pytest.importorskip("dgl")
    pytest.importorskip("torch_geometric")
    out = tmp_path / "capacity.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "capacity.py"), "--quick", "--models", "gcn",
                           "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert set(result["fits"]) == {f"{e}:gcn" for e in ("gnnkit", "gnnkit-saving", "dgl", "pyg")}
    assert all(r["peak"] > r["base"] > 0 for r in result["rows"]) and result["verified"] == []
    assert re.search(r"\| gcn \| gnnkit-saving \| .* \| [0-9,]+ \| [0-9,]+ \| [0-9.]+× \|", proc.stdout)


def test_capacity_benchmark_quick_fits_the_memory_saving_gat(tmp_path):
    out = tmp_path / "capacity.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "capacity.py"), "--quick", "--models", "gat",
                           "--engines", "gnnkit-saving", "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert set(result["fits"]) == {"gnnkit-saving:gat"} and [r["n"] for r in result["rows"]] == [20_000, 40_000]
    assert re.search(r"\| gat \| gnnkit-saving \| .* \| [0-9,]+ \| [0-9,]+ \| – \|", proc.stdout)


def test_sampled_epoch_benchmark_quick_decomposes_a_batch_and_times_the_floor(tmp_path):
    out = tmp_path / "epoch.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "sampled_epoch.py"), "--quick", "--threads", "1", "--variants",
         "decompose-block", "loop-block", "floor", "--dgl-epoch", "100", "--json", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(out.read_text())
    phases = results["decompose-block"][0]["phases"]
    assert set(phases) == {"sample", "gather", "forward", "backward", "optimizer"}
    assert all(p["wall_s"] > 0 and p["cpu_s"] >= 0 for p in phases.values())
    # the seeds are the last block's 1024 destinations; each block's destinations are its first sources
    sizes = results["decompose-block"][0]["sizes"]
    assert sizes[-1][1] == 1024 and all(s >= d for s, d, _ in sizes)
    floor = results["floor"][0]
    assert floor["gflop"] > 0 and floor["shapes"][-1][1] == 1024
    assert "| decompose-block |" in proc.stdout and "| loop-block |" in proc.stdout
    assert re.search(r"GEMM floor: .* -> [0-9.]+ s per 193-batch epoch = [0-9.]+x DGL's 100.0 s", proc.stdout)


def test_step_profile_splits_self_time_into_gemm_sparse_and_rest():
    sp = _benchmark("step_profile")

    class Event:
        def __init__(self, key, us):
            self.key, self.self_cpu_time_total = key, us

    events = [Event("aten::mm", 3e6), Event("aten::addmm", 1e6), Event("gnnkit::spmm", 2e6),
              Event("gnnkit::edge_softmax", 5e5), Event("aten::relu", 25e4), Event("aten::empty", 25e4)]
    assert sp.split_profile(events) == {"gemm_s": 4.0, "sparse_s": 2.5, "rest_s": 0.5}


def test_step_profile_table_gives_median_and_spread_per_setting():
    sp = _benchmark("step_profile")
    base = {"workload": "gcn", "floor_s": 0.5, "gemm_s": 0.3, "floor_gemm_s": 0.25, "sparse_s": 0.2,
            "floor_sparse_s": 0.25, "rest_s": 0.4, "faults": 1000.0, "sys_s": 0.1, "user_s": 1.0, "copy_gbps": 10.0}
    runs = [{**base, "setting": "default", "step_s": s} for s in (1.0, 2.0, 1.5)]
    runs.append({**base, "setting": "retain", "step_s": 0.75})
    lines = sp.table(runs).splitlines()
    assert lines[0].startswith("| workload | setting | rounds | step s | floor s | step/floor |")
    assert lines[2].startswith("| gcn | default | 3 | 1.500 (1.000–2.000) | 0.500 (0.500–0.500) | 3.00 (2.00–4.00) |")
    assert lines[3].startswith("| gcn | retain | 1 | 0.750 (0.750–0.750) | 0.500 (0.500–0.500) | 1.50 (1.50–1.50) |")


def test_step_profile_quick_run_reports_the_floor_parts_and_page_faults(tmp_path):
    out = tmp_path / "profile.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "step_profile.py"), "--quick", "--workloads", "gcn",
         "--settings", "default", "--json", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run,) = json.loads(out.read_text())
    assert run["workload"] == "gcn" and run["setting"] == "default"
    assert run["gemm_s"] > 0 and run["sparse_s"] > 0 and run["floor_gemm_s"] > 0 and run["floor_sparse_s"] > 0
    assert run["floor_s"] == pytest.approx(run["floor_gemm_s"] + run["floor_sparse_s"])
    assert run["faults"] >= 0 and "| gcn | default | 1 |" in proc.stdout


def test_memory_model_saving_gat_counts_the_graph_structures_a_step_builds():
    # predict_saving_gat's graph term against the bytes of the layouts one memory-saving GAT step leaves cached
    import torch

    from gnnkit import GNN, GNNConfig, Graph

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from memory_model import predict_saving_gat
    finally:
        sys.path.pop(0)
    n, gen = 50, torch.Generator().manual_seed(0)
    src, dst = torch.randint(n, (300,), generator=gen), torch.randint(n, (300,), generator=gen)
    keep = src != dst
    order = torch.argsort(dst[keep] * n + src[keep])  # sorted by destination, no loops, as capacity.py's graphs
    g = Graph(src[keep][order], dst[keep][order], n)
    model = GNN(GNNConfig(model="gat", in_features=8, out_features=3, hidden_features=2, heads=2, checkpoint=True,
                          feature_dtype="bfloat16")).train()
    model(g, torch.randn(n, 8).bfloat16()).sum().backward()
    loops = g.add_self_loops(only_missing=True)
    storages = {}
    for t in (g.src, g.dst, g.csr_in().indptr, g.csr_in().indices, loops.src, loops.dst, *vars(loops.csr_in()).values(),
              *vars(loops.csr_out()).values()):
        if t is not None:
            storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
    assert sum(storages.values()) == predict_saving_gat(n, g.num_edges, [8, 4, 3], 2)["graph"]
