"""examples/large_graph.py: the --quick run, checkpoint/resume reproducing an uninterrupted run, bad flags."""
import importlib.util
import re
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "large_graph.py"
_spec = importlib.util.spec_from_file_location("large_graph_example", SCRIPT)
example = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(example)
SMALL = ["--nodes", "20000", "--edges", "150000", "--batch-size", "128", "--batches-per-epoch", "5", "--epochs", "2",
         "--workers", "0", "--threads", "1", "--quiet"]


@pytest.fixture(autouse=True)
def keep_threads():
    # the script sets torch's thread count; run in-process (no interpreter start-up per run), restore it after
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


class Result:
    def __init__(self, returncode: int, stdout: str, stderr: str):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run(*args: str, ok: bool = True, capsys=None) -> Result:
    try:
        code = example.main(list(args))
    except SystemExit as exc:  # argparse errors
        code = exc.code
    captured = capsys.readouterr()
    if ok:
        assert code == 0, captured.err[-3000:]
    return Result(code, captured.out, captured.err)


def checksum(out: str) -> str:
    m = re.search(r"^parameter checksum: (-?\d+\.\d+)$", out, re.M)
    assert m, out
    return m.group(1)


def test_quick_run_prints_throughput_epoch_time_and_peak_memory(capsys):
    out = run("--quick", capsys=capsys).stdout
    graph_line = r"^graph: 200,000 vertices, 1,9\d\d,\d{3} edges .* in \d+\.\d s; CSR 0\.0\d GB; peak RSS \d+\.\d\d GB$"
    assert re.search(graph_line, out, re.M), out
    assert re.search(r"^sampling: [\d,]+ seeds/s \(fan-outs \[10, 10\], batch 1024", out, re.M), out
    assert re.search(r"^epoch 0: 20 batches, 20,000 seeds in \d+\.\d s \(\d+ ms/batch, [\d,]+ seeds/s\)", out, re.M), out
    assert re.search(r"^peak RSS: \d+\.\d\d GB \(this process\), \d+\.\d\d GB \(largest sampling worker", out, re.M), out
    last = out.strip().splitlines()[-1]
    m = re.fullmatch(r"val accuracy: (\d\.\d{4}) \| train seeds/s: [\d,]+ \| peak RSS: \d+\.\d\d GB", last)
    assert m, last
    assert float(m.group(1)) > 1 / 16 + 0.2  # 16 classes; features carry the class, so training must beat chance


def test_a_stopped_run_resumes_to_the_same_model(tmp_path, capsys):
    straight = checksum(run(*SMALL, capsys=capsys).stdout)
    ckpt = tmp_path / "ckpt.pt"
    first = run(*SMALL, "--checkpoint", str(ckpt), "--stop-after", "3", capsys=capsys).stdout
    assert "stopped after 3 batches" in first and ckpt.is_file()
    second = run(*SMALL, "--checkpoint", str(ckpt), "--resume", capsys=capsys).stdout
    assert "resumed from" in second and "at epoch 0, batch 3" in second
    assert re.search(r"^epoch 0: 2 batches", second, re.M) and re.search(r"^epoch 1: 5 batches", second, re.M)
    assert checksum(second) == straight
    # a finished run resumed again trains nothing more and gives the same model
    third = run(*SMALL, "--checkpoint", str(ckpt), "--resume", capsys=capsys).stdout
    assert "at epoch 2, batch 0" in third and checksum(third) == straight


def test_resume_refuses_another_configuration(tmp_path, capsys):
    ckpt = tmp_path / "ckpt.pt"
    run(*SMALL, "--checkpoint", str(ckpt), "--stop-after", "1", capsys=capsys)
    proc = run(*SMALL, "--hidden", "64", "--checkpoint", str(ckpt), "--resume", ok=False, capsys=capsys)
    assert proc.returncode == 2 and "written by another configuration" in proc.stderr


@pytest.mark.parametrize("flags,message", [
    (["--resume"], "--resume needs --checkpoint"),
    (["--fanouts", "10,0"], "fan-outs must be >= 1 or -1"),
    (["--fanouts", "a"], "comma-separated ints"),
    (["--batch-size", "0"], "must be a positive integer"),
    (["--train-fraction", "0"], r"--train-fraction must lie in \(0, 1\]"),
    (["--exponent", "2"], "--exponent must be > 2"),
    (["--lr", "0"], "argument --lr: must be > 0"),
    (["--dropout", "1"], r"argument --dropout: must lie in \[0, 1\)"),
])
def test_bad_flags(flags, message, capsys):
    proc = run("--quick", *flags, ok=False, capsys=capsys)
    assert proc.returncode == 2 and re.search(message, proc.stderr), proc.stderr[-1000:]


def test_graph_cache_is_memory_mapped_on_the_second_run(tmp_path, capsys):
    args = ["--nodes", "5000", "--edges", "30000", "--batch-size", "64", "--batches-per-epoch", "2", "--workers", "0",
            "--quiet", "--graph-cache", str(tmp_path)]
    first = run(*args, capsys=capsys).stdout
    second = run(*args, capsys=capsys).stdout
    assert "memory-mapped" not in first and "graph: memory-mapped from" in second
    assert checksum(first) == checksum(second)
