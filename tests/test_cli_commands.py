"""``gnnkit eval``, ``partition``, ``bench`` and ``brain``."""
from __future__ import annotations

import csv
import re
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from conftest import usage_error
from gnnkit.cli import main
from gnnkit.cli.bench import default_benchmarks_dir, table_lines
from gnnkit.data import load_dataset
from gnnkit.scale.part_files import load_part

ROOT = Path(__file__).resolve().parents[1]
BRAIN_SPEC = ROOT / "examples" / "configs" / "brain_lifecycle.toml"


def _run(capsys, *argv: str):
    assert main(list(argv)) == 0
    return capsys.readouterr()


# ------------------------------------------------------------------ eval
def test_eval_of_a_saved_model_reproduces_the_train_test_line(tmp_path, capsys):
    trained = _run(capsys, "train", "--epochs", "4", "--hidden", "4", "--verbose", "--save", str(tmp_path / "m.pt"))
    lines = trained.out.strip().splitlines()
    evaluated = _run(capsys, "eval", str(tmp_path / "m.pt"))
    assert evaluated.out.strip() == lines[-1]
    # the valid split scores the selected model: the best validation accuracy of the epoch lines
    best_val = max(float(re.search(r"val acc ([01]\.\d{4})", line).group(1)) for line in lines[:-1])
    valid = _run(capsys, "eval", str(tmp_path / "m.pt"), "--split", "valid")
    assert valid.out.strip() == f"valid accuracy: {best_val:.4f}"


def test_eval_of_a_link_model_prints_ap_then_auc_like_train(tmp_path, capsys):
    trained = _run(capsys, "train", "--task", "link", "--epochs", "2", "--quiet", "--save", str(tmp_path / "l.pt"))
    evaluated = _run(capsys, "eval", str(tmp_path / "l.pt"))  # the task and split seed come from the file
    assert evaluated.out == trained.out
    valid = _run(capsys, "eval", str(tmp_path / "l.pt"), "--split", "valid").out.splitlines()
    assert [line.split(":")[0] for line in valid] == ["valid ap", "valid auc"] and valid != evaluated.out.splitlines()


@pytest.mark.parametrize("argv, message", [
    (["eval", "/nonexistent/m.pt"], r"MODEL /nonexistent/m.pt does not exist"),
    (["eval", "m.pt", "--split", "train"], r"argument --split: invalid choice: 'train'"),
])
def test_eval_usage_errors_exit_2(capsys, argv, message):
    assert re.search(message, usage_error(capsys, argv))


def test_eval_batch_size_of_a_node_model_exits_2(tmp_path, capsys):
    _run(capsys, "train", "--epochs", "1", "--hidden", "4", "--quiet", "--save", str(tmp_path / "m.pt"))
    err = usage_error(capsys, ["eval", str(tmp_path / "m.pt"), "--batch-size", "8"])
    assert "--batch-size applies to graph models only" in err


def test_eval_of_a_file_that_is_no_model_exits_2(tmp_path, capsys):
    torch.save({"task": "dance"}, tmp_path / "x.pt")
    assert "is not a model written by 'gnnkit train --save'" in usage_error(capsys, ["eval", str(tmp_path / "x.pt")])


# ------------------------------------------------------------------ partition
def test_partition_writes_n_parts_that_cover_the_graph(tmp_path, capsys):
    out = _run(capsys, "partition", "--parts", "3", "--method", "random", "--out", str(tmp_path)).out
    g = load_dataset("cora").graph
    parts = [load_part(tmp_path / f"part-{p}").part for p in range(3)]
    owned = torch.cat([p.owned for p in parts])
    assert torch.equal(owned.sort().values, torch.arange(g.num_nodes))  # every vertex owned exactly once
    edge_ids = torch.cat([p.edge_ids for p in parts])
    assert torch.equal(edge_ids.sort().values, torch.arange(g.num_edges))  # every edge in exactly one part
    meta = torch.load(tmp_path / "partitioning.pt", weights_only=True)
    cut = int(((meta["assignment"][g.src] != meta["assignment"][g.dst])).sum())
    assert meta["edge_cut"] == cut and f"edge cut {cut} " in out and "balance" in out


def test_partition_of_an_edge_list_file(tmp_path, capsys):
    edges = tmp_path / "g.txt"
    edges.write_text("# ring of 6\n" + "".join(f"{i} {(i + 1) % 6}\n" for i in range(6)))
    out = _run(capsys, "partition", "--edges", str(edges), "--num-nodes", "8", "--parts", "2",
               "--method", "contiguous").out
    assert "2 parts by contiguous: 8 vertices, 6 edges, edge cut 2 " in out


@pytest.mark.parametrize("argv, message", [
    (["partition", "--edges", "g.txt"], r"--edges needs --num-nodes"),
    (["partition", "--num-nodes", "5"], r"--num-nodes applies to --edges only"),
    (["partition", "--parts", "5000"], r"--parts 5000 --method metis: .*num_parts"),
    (["partition", "--parts", "0"], r"argument --parts: must be a positive integer, got 0"),
    (["partition", "--dataset", "nope"], r"--dataset 'nope'"),
])
def test_partition_usage_errors_exit_2(capsys, argv, message):
    assert re.search(message, usage_error(capsys, argv))


# ------------------------------------------------------------------ bench
@pytest.fixture
def bench_dir(tmp_path) -> Path:
    """A stand-in benchmarks folder: one script printing prose and a table (marking --quick), one failing."""
    (tmp_path / "tiny.py").write_text(textwrap.dedent("""\
        import sys
        print("measuring on a tiny graph")
        print("| workload | time |")
        print("|---|---|")
        print(f"| spmm | {'quick' if '--quick' in sys.argv else 'full'} |")
        print("done")
    """))
    (tmp_path / "broken.py").write_text("raise SystemExit(3)\n")
    (tmp_path / "_helper.py").write_text("")
    return tmp_path


def test_bench_prints_only_the_table_of_the_script(bench_dir, capsys):
    out = _run(capsys, "bench", "tiny", "--quick", "--benchmarks-dir", str(bench_dir)).out
    assert out.splitlines() == ["| workload | time |", "|---|---|", "| spmm | quick |"]


def test_bench_list_and_failure(bench_dir, capsys):
    assert _run(capsys, "bench", "--list", "--benchmarks-dir", str(bench_dir)).out.split() == ["broken", "tiny"]
    assert main(["bench", "broken", "tiny", "--benchmarks-dir", str(bench_dir)]) == 1
    out = capsys.readouterr()
    assert "broken failed with exit status 3" in out.err and "| spmm | full |" in out.out


def test_bench_unknown_name_exits_2(bench_dir, capsys):
    assert "NAME nope: no such script" in usage_error(capsys, ["bench", "nope", "--benchmarks-dir", str(bench_dir)])


def test_bench_finds_the_checkout_benchmarks(capsys):
    assert default_benchmarks_dir() == ROOT / "benchmarks"
    assert "core" in _run(capsys, "bench", "--list").out.split()


def test_table_lines_separates_tables():
    assert table_lines("a\n| x |\n|---|\nb\n| y |\n") == ["| x |", "|---|", "", "| y |"]


# ------------------------------------------------------------------ brain
def test_brain_runs_the_example_config_quickly(tmp_path, capsys):
    out = _run(capsys, "brain", str(BRAIN_SPEC), "--quick", "--out", str(tmp_path), "--quiet").out
    with open(tmp_path / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["stage"]) for r in rows] == [0, 1, 2]  # [quick] stages = 2, plus the fine-tuning stage
    for key in ("synapses", "accuracy", "density", "efficiency", "io_efficiency", "clustering", "modularity",
                "wiring_cost", "communicability_wiring_cost"):
        assert key in rows[0], key
    first, last = int(rows[0]["synapses"]), int(rows[-1]["synapses"])
    assert last == round(0.2 * first)  # final_keep = 0.2: the schedule's exact end point
    assert (tmp_path / "metrics.png").read_bytes()[:4] == b"\x89PNG"
    assert re.fullmatch(r"final accuracy: [01]\.\d{4}", out.strip().splitlines()[-1])
    assert f"{float(rows[-1]['accuracy']):.4f}" in out.strip().splitlines()[-1]


@pytest.mark.parametrize("text, message", [
    ("[topolgy]\nnum_nodes = 10\n", r"unknown section 'topolgy'"),
    ("[lifecycle]\nstagez = 2\n", r"unknown key 'stagez' in \[lifecycle\]"),
    ("[task]\nfeaturez = 2\n", r"unknown key 'featurez' in \[task\]"),
    ("[metrics]\nreport = ['happiness']\n", r"\[metrics\] report must be one of .* got 'happiness'"),
    ("[topology]\ngenerator = 'random'\n", r"\[topology\] generator must be one of"),
    ("[topology]\ngenerator = 'spatial'\nnum_nodes = 30\nwidth = 3\n", r"generator 'spatial': .*width"),
    ("[lifecycle]\nschedule = 'sideways'\n", r"\[lifecycle\]: .*sideways"),
    ("seed = 'zero'\n", r"seed must be an integer"),
])
def test_brain_bad_spec_exits_2_naming_the_key(tmp_path, capsys, text, message):
    spec = tmp_path / "spec.toml"
    spec.write_text(text)
    err = usage_error(capsys, ["brain", str(spec), "--out", str(tmp_path / "out"), "--quiet"])
    assert re.search(message, err), err


def test_brain_runs_another_generator_without_the_default_arguments(tmp_path, capsys):
    spec = tmp_path / "spec.toml"
    spec.write_text("[topology]\ngenerator = 'small_world'\nnum_nodes = 40\nk = 6\np = 0.1\n"
                    "[task]\ntrain_size = 64\ntest_size = 64\n"
                    "[lifecycle]\nstages = 1\nsteps_per_stage = 2\nschedule = 'constant'\nfinal_keep = 0.5\n"
                    "[metrics]\nreport = ['density']\n[costs]\nreport = []\n")
    _run(capsys, "brain", str(spec), "--out", str(tmp_path / "out"), "--quiet", "--no-plots")
    with open(tmp_path / "out" / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["stage", "synapses", "train_loss", "accuracy", "density"]
    assert int(rows[1]["synapses"]) == round(0.5 * int(rows[0]["synapses"]))
    assert not (tmp_path / "out" / "metrics.png").exists()
