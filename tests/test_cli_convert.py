"""``python -m gnnkit.cli.convert``: generate + convert, exit codes 0 / 2 / 1, and converter errors."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gnnkit.cli.convert import main
from gnnkit.data.convert import GeneratorSpec, convert, generate
from gnnkit.data.ondisk import OnDiskGraph
from gnnkit.graph import Graph

ROOT = Path(__file__).resolve().parents[1]


def test_cli_convert_generate_small_budget_equals_in_memory_csr(tmp_path, capsys):
    # 30k edges through chunks and buckets of 2k: the sort never holds more than a fifteenth of the graph
    code = main([str(tmp_path / "src"), str(tmp_path / "out"), "--generate", "chung-lu:3000:30000:4",
                 "--chunk-edges", "2000", "--feature-dtype", "bfloat16", "--no-progress"])
    assert code == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert info["num_nodes"] == 3000 and info["num_edges"] == 30000 and info["feature_dtype"] == "bfloat16"
    edges = np.concatenate([np.load(p) for p in sorted((tmp_path / "src" / "edges").glob("*.npy"))]).astype(np.int64)
    csr = Graph(torch.from_numpy(edges[:, 0]), torch.from_numpy(edges[:, 1]), 3000).csr_in()
    g = OnDiskGraph.open(tmp_path / "out")
    assert torch.equal(g.indptr, csr.indptr) and torch.equal(g.indices.long(), csr.indices)
    x = torch.from_numpy(np.load(tmp_path / "src" / "features.npy").astype(np.float32))
    assert torch.equal(g.gather_features(torch.arange(3000)), x.to(torch.bfloat16).float())
    assert g.split("train_idx").numel() == 30 and g.labels().max() < 172


@pytest.mark.parametrize("argv", [
    ["a", "b", "--feature-dtype", "float64"],
    ["a", "b", "--generate", "chung-lu:10:10"],
    ["a", "b", "--generate", "er:10:10:2"],
    ["a", "b", "--chunk-edges", "0"],
    ["a"],
])
def test_cli_convert_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_cli_convert_failed_conversion_exits_1(tmp_path, capsys):
    assert main([str(tmp_path / "missing"), str(tmp_path / "out"), "--no-progress"]) == 1
    assert "not a folder" in capsys.readouterr().err
    (tmp_path / "src").mkdir()
    np.save(tmp_path / "src" / "edges.npy", np.array([[0, 5]]))
    assert main([str(tmp_path / "src"), str(tmp_path / "out"), "--num-nodes", "3", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "dst ids must lie in [0, num_nodes=3), got ids in [5, 5]" in err
    assert not any((tmp_path / "out").iterdir())  # nothing half-written is left


def test_cli_convert_runs_as_a_module(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "gnnkit.cli.convert", str(tmp_path / "s"), str(tmp_path / "o"),
                           "--generate", "chung-lu:50:200:2", "--no-progress"], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["num_edges"] == 200


def test_convert_rejects_bad_input(tmp_path):
    (tmp_path / "src").mkdir()
    np.save(tmp_path / "src" / "edges.npy", np.array([[0, 1]]))
    with pytest.raises(ValueError, match=r"pass num_nodes, or put features\.npy"):
        convert(tmp_path / "src", tmp_path / "out", progress=False)
    with pytest.raises(ValueError, match=r"chunk_edges must be an int >= 1, got 0"):
        convert(tmp_path / "src", tmp_path / "out", chunk_edges=0, num_nodes=2)
    with pytest.raises(ValueError, match=r"feature_dtype must be one of"):
        convert(tmp_path / "src", tmp_path / "out", feature_dtype="int8", num_nodes=2)
    np.save(tmp_path / "src" / "edges.npy", np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"edges\.npy must hold \[E, 2\] integer"):
        convert(tmp_path / "src", tmp_path / "out", num_nodes=2, progress=False)
    np.save(tmp_path / "src" / "edges.npy", np.array([[0, 1]]))
    np.save(tmp_path / "src" / "labels.npy", np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match=r"the vertex counts disagree"):
        convert(tmp_path / "src", tmp_path / "out", num_nodes=2, progress=False)
    convert(tmp_path / "src", tmp_path / "out", progress=False)
    with pytest.raises(ValueError, match=r"already holds a layout"):
        convert(tmp_path / "src", tmp_path / "out", progress=False)


def test_generator_spec_parse():
    assert GeneratorSpec.parse("chung-lu:1_000:20:3", seed=4) == GeneratorSpec("chung-lu", 1000, 20, 3, seed=4)
    with pytest.raises(ValueError, match=r"KIND:NODES:EDGES:FEATURES"):
        GeneratorSpec.parse("chung-lu:1:2")
    with pytest.raises(ValueError, match=r"sizes must be integers"):
        GeneratorSpec.parse("chung-lu:a:2:3")
    with pytest.raises(ValueError, match=r"num_nodes must be an int >= 1"):
        GeneratorSpec("chung-lu", 0, 2, 3)


def test_generate_refuses_a_used_folder(tmp_path):
    generate(GeneratorSpec("chung-lu", 20, 40, 0), tmp_path, progress=False)
    assert not (tmp_path / "features.npy").exists()
    with pytest.raises(ValueError, match=r"already holds edges/"):
        generate(GeneratorSpec("chung-lu", 20, 40, 0), tmp_path, progress=False)
