"""The node-function examples run in --quick mode and print their final metric."""
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_example(name: str) -> str:
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / name), "--quick"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip().splitlines()[-1]


def test_mpnn_graph_classification_quick():
    last = run_example("mpnn_graph_classification.py")
    m = re.fullmatch(r"final test accuracy: (\d\.\d{4}) \(max readout, 100 test graphs\)", last)
    assert m, last
    assert float(m.group(1)) >= 0.9, last  # cycles vs paths: the seeded quick run separates them


def test_temporal_graph_rnn_quick():
    last = run_example("temporal_graph_rnn.py")
    m = re.fullmatch(r"final test MSE: graph RNN (\d+\.\d{6}) \| per-vertex RNN (\d+\.\d{6}) \(graph RNN better: (yes|no)\)",
                     last)
    assert m, last
    assert m.group(3) == "yes" and float(m.group(1)) < float(m.group(2)), last


def test_mpnn_graph_classification_on_tu_files(tmp_path, capsys):
    # 40 TU graphs: triangles (class 1) and 3-vertex paths (class 2), node label 7 everywhere
    a, indicator, labels = [], [], []
    for b in range(40):
        base = 3 * b + 1
        pairs = [(0, 1), (1, 2)] + ([(2, 0)] if b % 2 else [])
        a += [(base + u, base + v) for u, v in pairs] + [(base + v, base + u) for u, v in pairs]
        indicator += [b + 1] * 3
        labels.append(1 + b % 2)
    folder = tmp_path / "TOY"
    folder.mkdir()
    (folder / "TOY_A.txt").write_text("".join(f"{u}, {v}\n" for u, v in a))
    (folder / "TOY_graph_indicator.txt").write_text("".join(f"{i}\n" for i in indicator))
    (folder / "TOY_graph_labels.txt").write_text("".join(f"{y}\n" for y in labels))
    (folder / "TOY_node_labels.txt").write_text("7\n" * len(indicator))
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "mpnn_graph_classification.py"), "--tu", "TOY",
                           "--data-dir", str(tmp_path), "--epochs", "2"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert re.fullmatch(r"final test accuracy: \d\.\d{4} \(max readout, 8 test graphs\)", proc.stdout.strip().splitlines()[-1])
    spec = importlib.util.spec_from_file_location("mpnn_example", ROOT / "examples" / "mpnn_graph_classification.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    with pytest.raises(SystemExit) as exc:
        example.main(["--tu", "NOPE", "--data-dir", str(tmp_path)])
    assert exc.value.code == 2 and "TU file missing: NOPE_A.txt" in capsys.readouterr().err
