"""The benchmark script stays runnable: a --quick run on a small graph, every engine installed."""
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
        (e, w) for e in ("gnnkit", "dgl", "pyg") for w in ("spmm", "gat")
    }
    assert "| spmm |" in proc.stdout and "gnnkit/DGL time" in proc.stdout
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


def test_link_benchmark_quick_runs_both_engines(tmp_path):
    pytest.importorskip("dgl")
    out = tmp_path / "link.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "link.py"), "--quick", "--nodes", "3000", "--edges", "12000",
         "--batch-size", "256", "--steps", "2", "--json", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(out.read_text())
    assert {r["engine"] for r in results} == {"gnnkit", "dgl"} and all(r["pos_edges_per_s"] > 0 for r in results)
    assert "| link SAGE [10, 10] b256 1 neg, 3k vertices |" in proc.stdout and "gnnkit/DGL" in proc.stdout


def test_graph_classification_benchmark_quick_prints_a_row_per_engine():
    pytest.importorskip("torch_geometric")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "graph_classification.py"), "--quick", "--graphs",
                           "200", "--threads", "1"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| 200 |")]
    assert [row.split(" | ")[1] for row in rows] == ["gnnkit", "pyg"]


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
    assert len(row.strip("|").split("|")) == 6  # workload, three modes, two ratios


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
