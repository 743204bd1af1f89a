"""The brain examples run in --quick mode, write sane outputs, and a killed lifecycle run resumes exactly."""
import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"


def run_example(name: str, out: Path, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / name), "--quick", "--out", str(out), *args],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def load_lifecycle_module():
    spec = importlib.util.spec_from_file_location("brain_lifecycle_example", ROOT / "examples" / "brain_lifecycle.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG and len(data) > 5_000, path


def test_brain_lifecycle_quick_writes_metrics_plots_and_table(tmp_path):
    proc = run_example("brain_lifecycle.py", tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    with open(tmp_path / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 * (cfg["stages"] + 1) * len(cfg["seeds"])
    assert json.loads((tmp_path / "metrics.json").read_text()) and (tmp_path / "summary.json").exists()
    for name in ("lifecycle_curves.png", "degree_distribution.png", "layout_before_after.png"):
        assert_png(tmp_path / name)
    finals = {}
    for schedule in ("constant", "increasing", "decreasing"):
        mine = [r for r in rows if r["schedule"] == schedule]
        edges = [int(r["edges"]) for r in mine]
        assert edges == sorted(edges, reverse=True) and edges[0] > edges[-1]  # pruned over the lifetime
        assert all(0.0 <= float(r["accuracy"]) <= 1.0 for r in mine)
        assert float(mine[-1]["accuracy"]) > 0.4  # 4 balanced classes: chance is 0.25
        assert 0 < float(mine[-1]["robust_efficiency"]) <= 1.0
        finals[schedule] = edges[-1]
    assert len(set(finals.values())) == 1  # equal final density for the three schedules
    first = [line.split("|")[1].strip() for line in proc.stdout.splitlines() if line.startswith("| ")]
    assert {"constant", "increasing", "decreasing"} <= set(first)  # the comparison table
    assert {"efficiency", "io_efficiency", "robust_accuracy", "wiring_cost"} <= set(first)  # the paired differences
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary["schedules"]) == {"constant", "increasing", "decreasing"}


def test_brain_lifecycle_killed_run_resumes_with_nothing_lost(tmp_path):
    ex = load_lifecycle_module()
    cfg = ex.Config(num_neurons=60, mean_degree=10.0, stages=3, steps_per_stage=6, train_size=256, test_size=128,
                    batch_size=32, seeds=[0], damage_trials=2)
    full = ex.run_schedule(cfg, "decreasing", 0, tmp_path / "full", resume=False, progress=False)
    assert ex.run_schedule(cfg, "decreasing", 0, tmp_path / "crash", stop_after=2, progress=False) is None  # "killed"
    state = torch.load(tmp_path / "crash" / "checkpoints" / "decreasing-seed0.pt", weights_only=True)
    assert state["next_stage"] == 2 and len(state["rows"]) == 2
    resumed = ex.run_schedule(cfg, "decreasing", 0, tmp_path / "crash", resume=True, progress=False)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "ms_per_step"} for r in rows]
    assert strip(resumed["rows"]) == strip(full["rows"])
    assert resumed["final"] == full["final"]
    assert resumed["final_weight"] == full["final_weight"]
    # a finished run is read back, not retrained
    again = ex.run_schedule(cfg, "decreasing", 0, tmp_path / "crash", resume=True, progress=False)
    assert again["rows"] == resumed["rows"]


def test_brain_wiring_cost_quick_sweep(tmp_path):
    proc = run_example("brain_wiring_cost.py", tmp_path)
    with open(tmp_path / "sweep.csv") as fh:
        rows = list(csv.DictReader(fh))
    cfg = json.loads((tmp_path / "sweep.json").read_text())["config"]
    assert len(rows) == len(cfg["seeds"]) * (1 + (len(cfg["gammas"]) - 1) * len(cfg["costs"]))
    assert_png(tmp_path / "sweep.png")
    for r in rows:
        assert -0.5 <= float(r["modularity"]) <= 1.0 and float(r["sigma"]) > 0 and 0 <= float(r["accuracy"]) <= 1
    base = next(r for r in rows if float(r["gamma"]) == 0)
    comm = next(r for r in rows if r["cost"] == "comm" and float(r["gamma"]) > 0)
    # the wiring cost shortens and weakens the synapses; the spatially blind L1 control only weakens them
    assert float(comm["mean_length"]) < float(base["mean_length"])
    assert float(comm["total_weight"]) < float(base["total_weight"])
    assert "| comm |" in proc.stdout and "modularity" in proc.stdout.splitlines()[-1]


def test_brain_density_benchmark_memory_and_synapses_fall_with_density():
    spec = importlib.util.spec_from_file_location("brain_density_bench", ROOT / "benchmarks" / "brain_density.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    args = type("Args", (), dict(neurons=300, degree=30.0, time_steps=2, batch=8, repeats=1, keep=[1.0, 0.25]))()
    full, quarter = bench.density_table(args)
    assert quarter["synapses"] == round(0.25 * full["synapses"])
    assert quarter["synapse_mb"] == pytest.approx(0.25 * full["synapse_mb"], rel=0.01)  # every per-synapse byte goes
    assert quarter["masked_synapse_mb"] == pytest.approx(full["synapse_mb"], rel=0.01)  # masking keeps them all
