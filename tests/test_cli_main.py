"""The ``gnnkit`` command as a whole: --version, help and examples, exit codes, --device, --verbose, --log-dir."""
from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import gnnkit
from gnnkit.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[1]
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
QUICK_TRAIN = ["train", "--epochs", "3", "--hidden", "4"]


def _gnnkit(*argv: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``python -m gnnkit ARGV`` in a fresh process (exit codes and import side effects are its own)."""
    full_env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
                "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "gnnkit", *argv], capture_output=True, text=True, env=full_env,
                          timeout=300, cwd=cwd or ROOT)


def _python(code: str, cache: Path) -> subprocess.CompletedProcess:
    """``python -c CODE`` with a fresh kernel cache folder ``cache``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GNNKIT_CACHE_DIR": str(cache)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_version_prints_the_package_version():
    proc = _gnnkit("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"gnnkit {gnnkit.__version__}"


def test_help_lists_every_command_and_the_exit_codes_without_importing_them(tmp_path):
    code = ("import sys\nfrom gnnkit.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit as e:\n"
            "    print(e.code, sorted(m for m in sys.modules if m.startswith('gnnkit.cli.') or m == 'gnnkit.data'))")
    proc = _python(code, tmp_path / "cache")
    for name, _ in COMMANDS:
        assert re.search(rf"^\s+{name}\b", proc.stdout, re.M), name
    for line in ("0  success", "1  runtime failure", "2  usage error", "--config FILE.toml"):
        assert line in proc.stdout
    # only the --help of the package itself ran: no subcommand module, no dataset code, no kernel build
    assert proc.stdout.strip().splitlines()[-1] == "0 []"
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("name", [name for name, _ in COMMANDS])
def test_each_command_help_shows_an_example(capsys, name):
    with pytest.raises(SystemExit) as exc:
        main([name, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and re.search(rf"^\s+gnnkit {name} ", text, re.M)
    assert "--config FILE.toml" in text


def test_every_command_help_builds_no_kernel(tmp_path):
    code = ("import sys\nfrom gnnkit.cli import COMMANDS, main\nfor name, _ in COMMANDS:\n    try:\n"
            "        main([name, '--help'])\n    except SystemExit as e:\n        assert e.code == 0, name\n")
    _python(code, tmp_path / "cache")
    assert not (tmp_path / "cache").exists()  # the kernels are built by the first op, not by parsers or imports


def test_python_dash_m_gnnkit_runs_train_with_the_test_line_last():
    proc = _gnnkit(*QUICK_TRAIN, "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert re.fullmatch(r"test accuracy: [01]\.\d{4}\n", proc.stdout)


def test_usage_error_exits_2_naming_the_flag():
    proc = _gnnkit("train", "--epochs", "0")
    assert proc.returncode == 2
    assert "gnnkit train: error: argument --epochs: must be a positive integer, got 0" in proc.stderr


def test_unknown_command_exits_2():
    proc = _gnnkit("frobnicate")
    assert proc.returncode == 2 and "invalid choice: 'frobnicate'" in proc.stderr


def test_runtime_failure_exits_1_with_the_traceback(monkeypatch, capsys):
    import gnnkit.cli.partition

    def broken(args):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(gnnkit.cli.partition, "run", broken)
    assert main(["partition"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: disk on fire" in err and "gnnkit partition: failed (exit status 1)" in err


# ------------------------------------------------------------------ --device
@NO_CUDA
@pytest.mark.parametrize("argv", [["train"], ["eval", "model.pt"], ["brain", str(ROOT / "examples/configs/brain_lifecycle.toml")]])
def test_device_cuda_without_cuda_exits_2_naming_device(tmp_path, capsys, argv):
    if argv[0] == "eval":
        main([*QUICK_TRAIN, "--quiet", "--save", str(tmp_path / "model.pt")])
        argv = ["eval", str(tmp_path / "model.pt")]
        capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--device", "cuda"])
    assert exc.value.code == 2
    assert "--device cuda: CUDA is not available on this machine" in capsys.readouterr().err


@NO_CUDA
def test_device_cuda_without_cuda_exits_2_in_a_process():
    proc = _gnnkit(*QUICK_TRAIN, "--device", "cuda")
    assert proc.returncode == 2 and "--device cuda: CUDA is not available" in proc.stderr and proc.stdout == ""


def test_device_auto_and_cpu_give_the_same_result_on_cpu(capsys):
    if torch.cuda.is_available():
        pytest.skip("auto picks cuda here")
    main([*QUICK_TRAIN, "--quiet", "--device", "cpu"])
    cpu = capsys.readouterr().out
    main([*QUICK_TRAIN, "--quiet", "--device", "auto"])
    assert capsys.readouterr().out == cpu


def test_device_choices_are_checked(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--device", "tpu"])
    assert exc.value.code == 2 and "argument --device: invalid choice: 'tpu'" in capsys.readouterr().err


def test_parts_refuses_a_non_cpu_device(capsys):
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA for the usage error to come first")
    with pytest.raises(SystemExit) as exc:
        main(["train", "--parts", "2", "--device", "cuda"])
    assert exc.value.code == 2 and "--device cuda" in capsys.readouterr().err


# ------------------------------------------------------------------ --verbose and the progress bar
def test_default_shows_metrics_in_the_progress_bar_not_as_lines(capsys):
    assert main(QUICK_TRAIN) == 0
    out = capsys.readouterr()
    assert not any(line.startswith("epoch") for line in out.out.splitlines())
    assert re.fullmatch(r"test accuracy: [01]\.\d{4}\n", out.out)
    assert re.search(r"3/3 .*loss=\d\.\d{3}, val_acc=[01]\.\d{3}", out.err)  # tqdm's postfix on stderr


def test_verbose_prints_one_line_per_epoch_and_the_test_line_last(capsys):
    assert main([*QUICK_TRAIN, "--verbose"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("|")[0].split() for line in lines[:-1]] == [["epoch", "1"], ["epoch", "2"], ["epoch", "3"]]
    assert re.fullmatch(r"test accuracy: [01]\.\d{4}", lines[-1])


def test_quiet_wins_over_verbose(capsys):
    assert main([*QUICK_TRAIN, "--verbose", "--quiet"]) == 0
    out = capsys.readouterr()
    assert re.fullmatch(r"test accuracy: [01]\.\d{4}\n", out.out) and out.err == ""


# ------------------------------------------------------------------ --log-dir
def test_log_dir_writes_the_epochs_as_csv_png_and_tensorboard(tmp_path, capsys):
    assert main([*QUICK_TRAIN, "--verbose", "--log-dir", str(tmp_path / "logs")]) == 0
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
    with open(tmp_path / "logs" / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["epoch", "loss", "val_loss", "val_acc"]
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    # the CSV holds the numbers the --verbose lines print
    for row, line in zip(rows, printed):
        assert f"loss {float(row['loss']):.4f}" in line and f"val acc {float(row['val_acc']):.4f}" in line
    assert (tmp_path / "logs" / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    try:
        import torch.utils.tensorboard  # noqa: F401
    except ImportError:
        return
    assert list((tmp_path / "logs").glob("events.out.tfevents.*"))


def test_log_dir_without_matplotlib_warns_and_keeps_the_csv(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    with pytest.warns(RuntimeWarning, match="matplotlib is not installed, so no curves.png"):
        assert main([*QUICK_TRAIN, "--quiet", "--log-dir", str(tmp_path)]) == 0
    assert (tmp_path / "metrics.csv").exists() and not (tmp_path / "curves.png").exists()


def test_log_dir_works_for_link_tasks(tmp_path, capsys):
    assert main(["train", "--task", "link", "--epochs", "2", "--quiet", "--log-dir", str(tmp_path)]) == 0
    with open(tmp_path / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["epoch"] for r in rows] == ["1", "2"] and "val_auc" in rows[0]


def test_parts_refuses_log_dir(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--parts", "2", "--log-dir", str(tmp_path)])
    assert exc.value.code == 2 and "--parts does not support --log-dir" in capsys.readouterr().err
