"""benchmarks/brain_scale.py: its generator draws the distance rule, and --quick runs both engines."""
import json
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
try:
    import brain_scale
finally:
    sys.path.pop(0)


def test_build_csr_rows_follow_the_offset_table() -> None:
    n, k, decay = 20_000, 12, 1.5
    indptr, indices, weight = brain_scale.build_csr(n, k, decay, chunk=700, seed=0, progress=False)
    assert indptr.dtype == torch.int64 and indices.dtype == torch.int32 and weight.dtype == torch.float32
    assert torch.equal(indptr, torch.arange(n + 1) * k) and weight.shape == indices.shape
    rows = indices.view(n, k).long()
    assert int(rows.min()) >= 0 and int(rows.max()) < n
    offsets = (rows - torch.arange(n).unsqueeze(1) + n // 2).remainder(n) - n // 2  # [N, k] signed, helical
    table = brain_scale.offset_table(round(n ** (1 / 3)), decay).long()
    assert not bool((offsets == 0).any())  # no autapses
    assert bool(torch.isin(offsets.unique(), table.unique()).all())  # only tabulated offsets
    # the drawn offsets have the table's distribution: the mean |offset| within 5 standard errors
    a, t = offsets.abs().double(), table.abs().double()
    assert abs(float(a.mean() - t.mean())) < 5 * float(t.std()) / (n * k) ** 0.5
    again = brain_scale.build_csr(n, k, decay, chunk=1_000, seed=0, progress=False)
    assert torch.equal(again[0], indptr)


def test_brain_scale_quick_prints_both_engines(tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "brain_scale.py"), "--quick", "--threads", "1",
                           "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {r["engine"]: r for r in json.loads(out.read_text())}
    assert set(rows) == {"csr32", "graph"}
    assert rows["csr32"]["synapses"] == rows["graph"]["synapses"] == 20_000 * 20
    assert 8.0 <= rows["csr32"]["bytes_per_synapse"] < 9.0  # int32 id + float32 weight + indptr share
    assert rows["graph"]["bytes_per_synapse"] >= 20.0  # int64 src, dst and CSR ids
    assert abs(rows["csr32"]["mean_rate"] - rows["graph"]["mean_rate"]) < 1e-4  # same network, same dynamics
    assert "| csr32 | 20,000 | 400,000 |" in proc.stdout
