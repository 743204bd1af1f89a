"""Each tutorial in docs/tutorials/ runs with --quick, in its own process, and ends with its result."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "docs" / "tutorials"


def _run(name: str, out: Path) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "MPLBACKEND": "Agg", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    proc = subprocess.run([sys.executable, str(TUTORIALS / f"{name}.py"), "--quick", "--out", str(out)],
                          cwd=out, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{name}.py --quick failed:\n{proc.stderr[-3000:]}"
    return proc.stdout


def test_tutorials_are_all_tested():
    assert sorted(p.stem for p in TUTORIALS.glob("*.py")) == ["brain_lifecycle", "link_prediction",
                                                              "node_classification"]


def test_tutorial_node_classification_quick(tmp_path):
    out = _run("node_classification", tmp_path)
    assert "ndata['x']: (2708, 1433) torch.float32" in out
    acc = float(re.search(r"^test accuracy: (0\.\d+)$", out, re.M).group(1))
    assert acc > 1 / 7  # better than guessing among 7 classes after 30 epochs


def test_tutorial_link_prediction_quick(tmp_path):
    out = _run("link_prediction", tmp_path)
    m = re.search(r"^test auc: (0\.\d+)  test ap: (0\.\d+)$", out, re.M)
    assert m and float(m.group(1)) > 0.5  # better than a random ranking


def test_tutorial_brain_lifecycle_quick_prunes_to_a_tenth_and_writes_its_plot(tmp_path):
    out = _run("brain_lifecycle", tmp_path)
    before, after = (float(v) for v in re.search(r"^synapses +([\d.]+) +([\d.]+)$", out, re.M).groups())
    assert after == round(0.1 * before)  # PruningSchedule(final_keep=0.1) ends at exactly this count
    png = tmp_path / "brain_lifecycle.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
