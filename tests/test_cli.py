"""The gnnkit command: training output, checkpoint resume, save/load, argument errors."""
import re
from pathlib import Path

import pytest
import torch

from gnnkit.checkpoint import load_checkpoint, previous_path
from conftest import kill_checkpoint_write
from gnnkit.cli import main

# small GAT: it has the most random state (input and attention dropout)
SMALL_GAT = ["train", "--model", "gat", "--hidden", "4", "--heads", "2", "--quiet"]


def _run(capsys, *argv):
    assert main(list(argv)) == 0
    return capsys.readouterr()


def _last_line(captured) -> str:
    return captured.out.strip().splitlines()[-1]


def _same_weights(a: Path, b: Path) -> bool:
    sa, sb = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
    return sa["config"] == sb["config"] and sa["model"].keys() == sb["model"].keys() and all(
        torch.equal(sa["model"][k], sb["model"][k]) for k in sa["model"]
    )


@pytest.mark.parametrize("model", ["gcn", "sage", "gat", "gin"])
def test_train_prints_epochs_and_test_accuracy_last(capsys, model):
    out = _run(capsys, "train", "--model", model, "--epochs", "3", "--hidden", "8", "--heads", "2", "--verbose")
    lines = out.out.strip().splitlines()
    assert re.fullmatch(r"test accuracy: [01]\.\d{4}", lines[-1]), lines[-1]
    epoch_lines = [line for line in lines if line.startswith("epoch")]
    assert len(epoch_lines) == 3 and all(re.search(r"loss \d\.\d{4} .*val acc [01]\.\d{4}", line) for line in epoch_lines)


def test_quiet_prints_only_the_result(capsys):
    out = _run(capsys, "train", "--epochs", "2", "--hidden", "4", "--quiet")
    assert re.fullmatch(r"test accuracy: [01]\.\d{4}\n", out.out) and out.err == ""


def test_same_seed_same_result_other_seed_other_model(tmp_path, capsys):
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        _run(capsys, *SMALL_GAT, "--epochs", "3", "--seed", seed, "--save", str(tmp_path / f"{name}.pt"))
    assert _same_weights(tmp_path / "a.pt", tmp_path / "b.pt")
    assert not _same_weights(tmp_path / "a.pt", tmp_path / "c.pt")


def test_killed_run_resumes_to_the_same_model(tmp_path, capsys, monkeypatch):
    _run(capsys, *SMALL_GAT, "--epochs", "8", "--save", str(tmp_path / "full.pt"))
    base = [*SMALL_GAT, "--epochs", "8", "--checkpoint", str(tmp_path / "run.pt"), "--save", str(tmp_path / "resumed.pt")]

    kill_checkpoint_write(monkeypatch, at=5, partial=True)  # killed writing epoch 5: epoch 4's file intact
    with pytest.raises(KeyboardInterrupt):
        main(base)
    monkeypatch.undo()
    assert load_checkpoint(tmp_path / "run.pt")["state"]["epoch"] == 4
    assert load_checkpoint(previous_path(tmp_path / "run.pt"))["state"]["epoch"] == 3
    resumed = _run(capsys, *base, "--resume")
    assert _same_weights(tmp_path / "full.pt", tmp_path / "resumed.pt")
    uninterrupted = _run(capsys, "train", "--quiet", "--load", str(tmp_path / "full.pt"))
    assert _last_line(resumed) == _last_line(uninterrupted)


def test_finished_run_can_be_extended(tmp_path, capsys):
    full = _run(capsys, *SMALL_GAT, "--epochs", "6", "--save", str(tmp_path / "full.pt"))
    base = [*SMALL_GAT, "--checkpoint", str(tmp_path / "run.pt")]
    _run(capsys, *base, "--epochs", "2")
    extended = _run(capsys, *base, "--epochs", "6", "--resume", "--save", str(tmp_path / "ext.pt"))
    assert _last_line(extended) == _last_line(full)
    assert _same_weights(tmp_path / "full.pt", tmp_path / "ext.pt")


def test_early_stopped_run_does_not_train_on_after_resume(tmp_path, capsys):
    # a large step size makes validation worse within a few epochs, so patience 1 runs out early
    base = ["train", "--model", "gat", "--hidden", "4", "--heads", "2", "--epochs", "20", "--patience", "1", "--lr", "0.5",
            "--checkpoint", str(tmp_path / "run.pt")]
    first = _run(capsys, *base, "--save", str(tmp_path / "first.pt"))
    stopped_at = load_checkpoint(tmp_path / "run.pt")["state"]["epoch"]
    assert stopped_at < 20
    again = _run(capsys, *base, "--resume", "--save", str(tmp_path / "again.pt"))
    assert not any(line.startswith("epoch") for line in again.out.splitlines())
    assert _last_line(again) == _last_line(first) and _same_weights(tmp_path / "first.pt", tmp_path / "again.pt")
    assert load_checkpoint(tmp_path / "run.pt")["state"]["epoch"] == stopped_at


DAMAGE = {"truncated": lambda b: b[: len(b) // 2], "empty": lambda b: b"", "bit-flip": lambda b: b[:-200] + bytes([b[-200] ^ 1]) + b[-199:]}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_resume_falls_back_to_the_previous_checkpoint(tmp_path, capsys, damage):
    ckpt = tmp_path / "run.pt"
    base = ["train", "--hidden", "4", "--quiet", "--checkpoint", str(ckpt)]
    _run(capsys, "train", "--hidden", "4", "--quiet", "--epochs", "5", "--save", str(tmp_path / "full.pt"))
    _run(capsys, *base, "--epochs", "3")
    ckpt.write_bytes(DAMAGE[damage](ckpt.read_bytes()))
    resumed = _run(capsys, *base, "--epochs", "5", "--resume", "--save", str(tmp_path / "resumed.pt"))
    assert f"checkpoint {ckpt} is damaged" in resumed.err
    assert f"resuming from {previous_path(ckpt)} instead" in resumed.err
    assert _same_weights(tmp_path / "full.pt", tmp_path / "resumed.pt")
    assert load_checkpoint(ckpt)["state"]["epoch"] == 5


def test_resume_with_every_checkpoint_damaged_is_an_error_that_keeps_the_files(tmp_path, capsys):
    ckpt = tmp_path / "run.pt"
    base = ["train", "--hidden", "4", "--quiet", "--checkpoint", str(ckpt)]
    _run(capsys, *base, "--epochs", "2")
    ckpt.write_bytes(b"")
    prev = previous_path(ckpt)
    prev.write_bytes(prev.read_bytes()[:100])
    before = ckpt.read_bytes(), prev.read_bytes()
    with pytest.raises(SystemExit) as exc:
        main([*base, "--epochs", "4", "--resume"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"checkpoint {ckpt} is damaged: the file is empty" in err and f"checkpoint {prev} is damaged" in err
    assert (ckpt.read_bytes(), prev.read_bytes()) == before


def test_resume_without_a_checkpoint_says_it_starts_afresh(tmp_path, capsys):
    ckpt = tmp_path / "typo.pt"
    out = _run(capsys, "train", "--hidden", "4", "--quiet", "--epochs", "1", "--checkpoint", str(ckpt), "--resume")
    assert f"no checkpoint at {ckpt}: starting from epoch 1" in out.err
    assert load_checkpoint(ckpt)["state"]["epoch"] == 1


@pytest.mark.parametrize("change", [["--hidden", "8"], ["--lr", "0.1"], ["--seed", "3"], ["--model", "sage"]])
def test_resume_refuses_another_configuration(tmp_path, capsys, change):
    ckpt = tmp_path / "run.pt"
    _run(capsys, "train", "--epochs", "1", "--hidden", "4", "--quiet", "--checkpoint", str(ckpt))
    with pytest.raises(SystemExit) as exc:
        main(["train", "--epochs", "2", "--hidden", "4", "--quiet", "--checkpoint", str(ckpt), "--resume", *change])
    assert exc.value.code == 2
    assert re.search(r"checkpoint .* was written for another run \(different .*\)", capsys.readouterr().err)


def test_save_then_load_gives_the_same_accuracy(tmp_path, capsys):
    path = tmp_path / "model.pt"
    trained = _run(capsys, "train", "--epochs", "3", "--hidden", "4", "--quiet", "--save", str(path))
    saved = torch.load(path, weights_only=True)
    assert saved["config"]["model"] == "gcn" and saved["config"]["in_features"] == 1433
    loaded = _run(capsys, "train", "--quiet", "--load", str(path))
    assert _last_line(trained) == _last_line(loaded)


def test_data_dir_trains_on_the_raw_files_like_the_bundled_copy(raw_cora, capsys):
    bundled = _run(capsys, "train", "--epochs", "3", "--hidden", "4", "--quiet")
    raw = _run(capsys, "train", "--epochs", "3", "--hidden", "4", "--quiet", "--data-dir", str(raw_cora))
    assert _last_line(raw) == _last_line(bundled)


@pytest.mark.parametrize("argv, message", [
    (["train", "--model", "mlp"], "invalid choice: 'mlp'"),
    (["train", "--epochs", "0"], "must be a positive integer, got 0"),
    (["train", "--epochs", "-3"], "must be a positive integer, got -3"),
    (["train", "--epochs", "ten"], "invalid positive_int value: 'ten'"),
    (["train", "--dropout", "1.5"], r"must lie in \[0, 1\), got 1.5"),
    (["train", "--lr", "-1"], "must be > 0, got -1"),
    (["train", "--lr", "0"], "must be > 0, got 0"),
    (["train", "--weight-decay", "-0.1"], "must be >= 0, got -0.1"),
    (["train", "--patience", "-1"], "must be an integer >= 0, got -1"),
    (["train", "--hidden", "0"], "must be a positive integer, got 0"),
    (["train", "--resume", "--epochs", "1"], "--resume needs --checkpoint PATH"),
    (["train", "--dataset", "citeseer"], r"'citeseer' is not bundled \(bundled: \['cora'\]\)"),
    (["train", "--data-dir", "/nonexistent/planetoid"], r"/nonexistent/planetoid/ind\.cora\.x"),
    (["train", "--load", "/nonexistent/model.pt"], "--load /nonexistent/model.pt does not exist"),
    (["bench", "--benchmarks-dir", "/nonexistent/benchmarks"], "no benchmarks folder at /nonexistent/benchmarks"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    ([], "required"),
])
def test_bad_arguments_exit_with_a_message(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert re.search(message, capsys.readouterr().err)
