"""The multi-view and inflation benchmarks stay runnable: --quick runs in a subprocess."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_multiview_benchmark_quick_runs_every_engine(tmp_path):
    pytest.importorskip("dgl")
    pytest.importorskip("torch_geometric")
    out = tmp_path / "results.json"
    env = dict(os.environ, DGLBACKEND="pytorch")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "multiview.py"), "--quick", "--workloads", "gcn",
                           "--json", str(out)], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(out.read_text())
    assert {r["engine"] for r in results} == {"gnnkit", "dgl", "pyg"}
    assert all(sum(r["view_edges"]) == r["num_edges"] for r in results)
    assert "| gcn |" in proc.stdout and "gnnkit/DGL time" in proc.stdout


def test_inflation_benchmark_quick_writes_tables_and_plot(tmp_path):
    pytest.importorskip("matplotlib")
    plot, out = tmp_path / "acc.png", tmp_path / "results.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "inflation.py"), "--quick", "--plot", str(plot),
                           "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    results = json.loads(out.read_text())
    assert {r["family"] for r in results["accuracy"]} == {"path", "ring", "tree"}
    assert all(0.0 <= r["acc"] <= 1.0 for r in results["accuracy"])
    assert len(results["cora"]) == 2 and "| path: model |" in proc.stdout and "Cora" in proc.stdout
