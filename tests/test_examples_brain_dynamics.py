"""examples/brain_dynamics.py --quick: a spiking network learns the cue task, prunes, and writes its outputs."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_brain_dynamics_quick_trains_prunes_and_plots(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "brain_dynamics.py"), "--quick", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    cfg, trained, final = results["config"], results["trained"], results["stages"][-1]
    assert final["synapses"] == round(cfg["keep"] * trained["synapses"])  # Lifecycle reached its target
    assert trained["wiring_cost"] < results["initial"]["wiring_cost"]  # the wiring cost trained
    assert trained["accuracy"] > 0.8 and final["accuracy"] > 0.8  # two cues: chance is 0.5
    png = (tmp_path / "raster.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000
    assert proc.stdout.strip().splitlines()[-1].startswith("spiking network: accuracy")
