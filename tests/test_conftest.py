"""The suite's collection rules in tests/conftest.py, checked on a throw-away test file in a subprocess."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent

PROBE = '''
import pytest

def test_missing_reference_engine():
    pytest.importorskip("dgl.no_such_module_gnnkit")

@pytest.mark.skipif(True, reason="torch_geometric not installed")
def test_marked_missing_engine():
    pass

def test_other_skip():
    pytest.skip("needs a GPU with 80 GB")

@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_device(device):
    pass
'''


def _run(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess:
    shutil.copy(HERE / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_probe.py").write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    # the repository root first, so the copied conftest imports this checkout's gnnkit
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parent), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )


def test_conftest_missing_engine_skips_outside_ci(tmp_path):
    proc = _run(tmp_path, ci=None)
    assert proc.returncode == 0, proc.stdout
    assert "3 skipped" in proc.stdout


def test_conftest_missing_engine_fails_under_ci(tmp_path):
    proc = _run(tmp_path, ci="true")
    assert proc.returncode == 1, proc.stdout
    # the importorskip fails in the call, the skipif mark in setup (pytest counts that as an error)
    assert "1 failed" in proc.stdout and "1 error" in proc.stdout and "1 skipped" in proc.stdout
    assert "CI=true" in proc.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the rule for machines without CUDA")
def test_conftest_cuda_parametrisations_deselected_without_cuda(tmp_path):
    proc = _run(tmp_path, ci=None)
    assert "1 deselected" in proc.stdout and "cuda" not in proc.stdout.split("short test summary")[-1]
