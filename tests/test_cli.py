"""The gnnkit command: training output, checkpoint resume, save/load, argument errors."""
import pytest

from gnnkit.cli import main


def _run(capsys, *argv):
    assert main(list(argv)) == 0
    return capsys.readouterr()


@pytest.mark.parametrize("model", ["gcn", "sage", "gat", "gin"])
def test_train_prints_epochs_and_test_accuracy_last(capsys, model):
    out = _run(capsys, "train", "--model", model, "--epochs", "3", "--hidden", "8", "--heads", "2")
    lines = out.out.strip().splitlines()
    assert lines[-1].startswith("test accuracy: ")
    acc = float(lines[-1].split(": ")[1])
    assert 0.0 <= acc <= 1.0
    assert sum(line.startswith("epoch") and "val acc" in line for line in lines) == 3


def test_killed_run_resumes_to_the_same_result(tmp_path, capsys):
    full = _run(capsys, "train", "--model", "gat", "--epochs", "8", "--hidden", "4", "--heads", "2", "--quiet")
    ckpt = tmp_path / "run.pt"
    base = ["train", "--model", "gat", "--hidden", "4", "--heads", "2", "--quiet", "--checkpoint", str(ckpt)]
    _run(capsys, *base, "--epochs", "3")  # a run stopped after epoch 3 ...
    resumed = _run(capsys, *base, "--epochs", "8", "--resume")  # ... picks up at epoch 4
    assert resumed.out.strip().splitlines()[-1] == full.out.strip().splitlines()[-1]


def test_resume_refuses_another_configuration(tmp_path, capsys):
    ckpt = tmp_path / "run.pt"
    _run(capsys, "train", "--epochs", "2", "--quiet", "--checkpoint", str(ckpt))
    with pytest.raises(SystemExit, match="another model"):
        main(["train", "--epochs", "4", "--quiet", "--checkpoint", str(ckpt), "--resume", "--hidden", "32"])


def test_save_then_load_gives_the_same_accuracy(tmp_path, capsys):
    path = tmp_path / "model.pt"
    trained = _run(capsys, "train", "--epochs", "5", "--quiet", "--save", str(path))
    loaded = _run(capsys, "train", "--quiet", "--load", str(path))
    assert trained.out.strip().splitlines()[-1] == loaded.out.strip().splitlines()[-1]


@pytest.mark.parametrize("argv, message", [
    (["train", "--model", "mlp"], "invalid choice: 'mlp'"),
    (["train", "--epochs", "0"], "must be a positive integer, got 0"),
    (["train", "--dropout", "1.5"], r"must lie in \[0, 1\), got 1.5"),
    (["train", "--lr", "-1"], "must be >= 0, got -1"),
    ([], "required"),
])
def test_bad_arguments_exit_with_a_message(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    import re
    assert re.search(message, capsys.readouterr().err)


def test_resume_without_checkpoint_is_an_error():
    with pytest.raises(SystemExit, match="--resume needs --checkpoint"):
        main(["train", "--resume", "--epochs", "1"])
