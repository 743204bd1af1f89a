"""The brain examples run in --quick mode, write sane outputs, and a killed lifecycle run resumes exactly."""
import csv
import importlib.util
import json
import math
import re
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


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(f"brain_example_{name}", ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG and len(data) > 5_000, path


LIFECYCLE_HEADLINE = re.compile(
    r"^decreasing vs constant: efficiency [+-]\d\.\d{4} \[[+-]\d\.\d{4}, [+-]\d\.\d{4}\] p=\d\.\d{3}, "
    r"robustness .+; decreasing vs increasing: .+ \(one-sided, Holm, n=\d+ seeds\) — "
    r"efficiency (not )?reproduced, robustness (not )?reproduced$")
WIRING_HEADLINE = re.compile(
    r"^wiring cost vs L1 at accuracy \d\.\d{3} vs \d\.\d{3} \(Δ [+-]\d\.\d{3} \[.+\], tolerance ±[\d.]+\): "
    r"Q [+-]\d\.\d{3} \[.+\] p=\d\.\d{3}, σ [+-]\d\.\d{3} \[.+\] p=\d\.\d{3} \(one-sided, Holm, n=\d+ seeds\) — "
    r"(reproduced|not reproduced|partly reproduced|inconclusive: accuracies not matched)$")


def claims_csv(path: Path) -> list[dict]:
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:  # every estimate and bound is a finite number, and the interval holds the estimate
        est, low, high = float(r["estimate"]), float(r["ci_low"]), float(r["ci_high"])
        assert all(math.isfinite(v) for v in (est, low, high)), r
        assert low - 1e-12 <= est <= high + 1e-12, r
        if r["pvalue"]:
            assert 0 < float(r["pvalue"]) <= 1
    return rows


def test_brain_lifecycle_quick_writes_metrics_claims_plots_and_headline(tmp_path):
    proc = run_example("brain_lifecycle.py", tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    with open(tmp_path / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(cfg["seeds"]) >= 2 and len(rows) == 3 * (cfg["stages"] + 1) * len(cfg["seeds"])
    assert json.loads((tmp_path / "metrics.json").read_text()) and (tmp_path / "summary.json").exists()
    for name in ("claims.png", "lifecycle_curves.png", "degree_distribution.png", "layout_before_after.png"):
        assert_png(tmp_path / name)
    for schedule in ("constant", "increasing", "decreasing"):
        for seed in cfg["seeds"]:
            mine = [r for r in rows if r["schedule"] == schedule and int(r["seed"]) == seed]
            edges = [int(r["edges"]) for r in mine]
            assert edges == sorted(edges, reverse=True) and edges[0] > edges[-1]  # pruned over the lifetime
            assert all(0.0 <= float(r["accuracy"]) <= 1.0 for r in mine)
            assert 0 <= float(mine[-1]["io_robustness"]) and 0 < float(mine[-1]["robust_efficiency"]) <= 1.0
    finals = {(r["schedule"], r["seed"]): int(r["edges"]) for r in rows if int(r["stage"]) == cfg["stages"]}
    for seed in cfg["seeds"]:  # equal final density for the three schedules
        assert len({finals[s, str(seed)] for s in ("constant", "increasing", "decreasing")}) == 1
    claims = claims_csv(tmp_path / "claims.csv")
    means = {(r["name"], r["metric"]) for r in claims if r["kind"] == "mean"}
    assert {(s, m) for s in ("constant", "increasing", "decreasing") for m in ("io_efficiency", "io_robustness")} <= means
    primary = [r for r in claims if r["pvalue_holm"]]
    assert len(primary) == 4 and all(float(r["pvalue_holm"]) >= float(r["pvalue"]) for r in primary)
    assert "| decreasing vs constant |" in (tmp_path / "claims.md").read_text()
    assert LIFECYCLE_HEADLINE.match(proc.stdout.splitlines()[-1]), proc.stdout.splitlines()[-1]


def test_brain_lifecycle_killed_run_resumes_with_nothing_lost(tmp_path):
    ex = load_example("brain_lifecycle")
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
    proc = run_example("brain_wiring_cost.py", tmp_path, "--sweep", "--seeds", "1")
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


def test_brain_wiring_cost_quick_claim_writes_tables_plot_and_headline(tmp_path):
    proc = run_example("brain_wiring_cost.py", tmp_path)
    claims = claims_csv(tmp_path / "claims.csv")
    assert {(r["name"], r["metric"]) for r in claims if r["kind"] == "mean"} >= {
        (c, m) for c in ("none", "comm", "l1") for m in ("accuracy", "modularity", "sigma")}
    tests = [r for r in claims if r["pvalue_holm"]]
    assert sorted(r["metric"] for r in tests) == ["modularity", "sigma"]
    data = json.loads((tmp_path / "claims.json").read_text())
    assert len(data["rows"]) == 3 * len(data["seeds"]) and len(data["seeds"]) >= 2
    assert_png(tmp_path / "claims.png")
    assert "| comm − l1 |" in (tmp_path / "claims.md").read_text()
    assert WIRING_HEADLINE.match(proc.stdout.splitlines()[-1]), proc.stdout.splitlines()[-1]


def test_brain_wiring_cost_seeded_run_and_statistics_are_reproducible():
    ex = load_example("brain_wiring_cost")
    cfg = ex.Config(grid=[3, 3, 2], steps=5, test_size=64, seeds=[0, 1], gamma_comm=0.01, gamma_l1=0.01)
    first = ex.claim_runs(cfg, progress=False)
    second = ex.claim_runs(cfg, progress=False)
    assert first == second  # same seeds: bit-identical training, structure and accuracy
    assert {r["cost"] for r in first} == {"none", "comm", "l1"}
    a, b = ex.claim_stats(first, cfg, n_resamples=500), ex.claim_stats(second, cfg, n_resamples=500)
    assert a["tests"] == b["tests"] and a["accuracy"] == b["accuracy"]
    assert ex.claim_headline(a, cfg) == ex.claim_headline(b, cfg)
