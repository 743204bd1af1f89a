"""The node-function examples run in --quick mode and print their final metric."""
import re
import subprocess
import sys
from pathlib import Path

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
