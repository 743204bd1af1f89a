"""Every example script runs in its --quick mode and prints its final metric."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_cora_seeds_quick():
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "cora_seeds.py"), "--quick", "--model", "gcn"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"gcn on cora: test accuracy \d+\.\d\d ± \d+\.\d\d % over 2 seeds", last), last
