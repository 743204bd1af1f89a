"""examples/celegans_development.py runs in --quick mode on the real Witvliet data and writes sane outputs."""
import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("cect", reason="cect is not installed (pip install 'gnnkit[brain]'); CI runs this via the dev extra")

ROOT = Path(__file__).resolve().parents[1]


def test_celegans_development_quick_table_plot_and_headline(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "celegans_development.py"), "--quick", "--out",
                           str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(tmp_path / "development.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["dataset"] for r in rows] == [f"witvliet_{i}" for i in range(1, 9)]
    assert [float(r["age_hours"]) for r in rows] == [0, 5, 8, 16, 23, 27, 50, 50]
    for r in rows:
        assert 0 < float(r["density_chemical"]) < float(r["density_all"]) < 1
        assert 0 < float(r["modularity"]) < 1 and 0 < float(r["modularity_binary"]) < 1 and float(r["sigma"]) > 1
        assert float(r["chem_elec_synapse_ratio"]) == pytest.approx(
            float(r["chemical_synapses"]) / float(r["electrical_synapses"]))
    # the brain gains chemical synapses from birth to adulthood (Witvliet et al. 2021: about six-fold)
    assert float(rows[-1]["chemical_synapses"]) > 4 * float(rows[0]["chemical_synapses"])
    spearman = json.loads((tmp_path / "development.json").read_text())["spearman"]
    assert spearman["chemical_synapses"]["rho"] > 0.9 and spearman["chemical_synapses"]["p"] < 0.01
    png = (tmp_path / "development.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000
    md = (tmp_path / "development.md").read_text()
    assert md.startswith("| dataset | stage | age (h) |") and "Spearman rho vs age" in md
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("L1 (0 h) -> adult (50 h") and "density" in last and "modularity" in last


def test_stage_metrics_uses_small_world_omega_when_metrics_has_it(monkeypatch):
    import importlib.util

    import gnnkit.brain as brain

    spec = importlib.util.spec_from_file_location("celegans_development", ROOT / "examples" / "celegans_development.py")
    ex = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ex)
    calls = []
    monkeypatch.setattr(brain.metrics, "small_world_omega", lambda g, seed=0: calls.append(g.num_nodes) or {"omega": -0.25},
                        raising=False)
    c = brain.load_celegans("witvliet_1", cells="neurons")
    row = ex.stage_metrics(c, louvain_seeds=1, num_random=1)
    assert row["omega"] == -0.25 and calls == [c.num_nodes]
    assert ex.stage_metrics(c, louvain_seeds=1, num_random=1, with_omega=False)["omega"] != row["omega"]
    # every chemical synapse and gap junction counted once in the undirected graph
    und, w = ex.undirected_synapse_graph(c)
    loops = lambda t: float(c.weight(t)[c.graph(t).src == c.graph(t).dst].sum())  # noqa: E731
    assert float(w.sum()) == pytest.approx(row["chemical_synapses"] - loops("chemical") + row["electrical_synapses"]
                                           - loops("electrical"))
