"""``--config FILE.toml``: the file's values are used, flags override them, bad keys and values exit 2."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import usage_error
from gnnkit.cli import main

BASE = ["train", "--epochs", "2", "--quiet"]


def _toml(tmp_path: Path, text: str) -> str:
    path = tmp_path / "run.toml"
    path.write_text(text)
    return str(path)


def _saved_config(path: Path) -> dict:
    return torch.load(path, weights_only=True)["config"]


def test_config_value_is_used(tmp_path, capsys):
    cfg = _toml(tmp_path, "hidden = 5\nmodel = 'sage'\n")
    assert main([*BASE, "--config", cfg, "--save", str(tmp_path / "m.pt")]) == 0
    saved = _saved_config(tmp_path / "m.pt")
    assert (saved["model"], saved["hidden_features"]) == ("sage", 5)


def test_flag_on_the_command_line_overrides_the_file(tmp_path, capsys):
    cfg = _toml(tmp_path, "hidden = 5\n")
    assert main([*BASE, "--hidden", "7", "--config", cfg, "--save", str(tmp_path / "m.pt")]) == 0  # flag before
    assert _saved_config(tmp_path / "m.pt")["hidden_features"] == 7
    assert main([*BASE, "--config", cfg, "--hidden", "6", "--save", str(tmp_path / "m.pt")]) == 0  # flag after
    assert _saved_config(tmp_path / "m.pt")["hidden_features"] == 6


def test_config_gives_the_same_run_as_the_flags(tmp_path, capsys):
    main([*BASE, "--hidden", "4", "--weight-decay", "0.001", "--seed", "2"])
    by_flags = capsys.readouterr().out
    cfg = _toml(tmp_path, "hidden = 4\nweight_decay = 1e-3\nseed = 2\n")  # an underscore key
    main([*BASE, "--config", cfg])
    assert capsys.readouterr().out == by_flags
    cfg = _toml(tmp_path, "hidden = 4\nweight-decay = 1e-3\nseed = 2\n")  # a dash key
    main([*BASE, "--config", cfg])
    assert capsys.readouterr().out == by_flags


def test_boolean_keys_switch_flags(tmp_path, capsys):
    cfg = _toml(tmp_path, "quiet = true\nverbose = true\n")
    assert main(["train", "--epochs", "2", "--config", cfg]) == 0
    out = capsys.readouterr()
    assert re.fullmatch(r"test accuracy: [01]\.\d{4}\n", out.out) and out.err == ""
    cfg = _toml(tmp_path, "verbose = false\n")
    assert main(["train", "--epochs", "2", "--config", cfg]) == 0
    assert not any(line.startswith("epoch") for line in capsys.readouterr().out.splitlines())


@pytest.mark.parametrize("text, message", [
    ("epochz = 3\n", r"unknown key 'epochz' \(the options of this command: .*epochs"),
    ("[train]\nepochs = 3\n", r"unknown key 'train'"),
    ("config = 'other.toml'\n", r"unknown key 'config'"),
    ("epochs = 'ten'\n", r"key 'epochs': --epochs: invalid literal for int\(\) with base 10: 'ten'"),
    ("epochs = 0\n", r"key 'epochs': --epochs: must be a positive integer, got 0"),
    ("dropout = 1.5\n", r"key 'dropout': --dropout: must lie in \[0, 1\), got 1.5"),
    ("model = 'mlp'\n", r"key 'model': --model: invalid choice: 'mlp'"),
    ("quiet = 'yes'\n", r"key 'quiet': --quiet: expected true or false, got 'yes'"),
    ("epochs = true\n", r"key 'epochs': --epochs: expected a value for --epochs, got True"),
    ("hidden = [4, 8]\n", r"key 'hidden': --hidden: takes one value, got the list \[4, 8\]"),
    ("epochs = \n", r"is not valid TOML"),
])
def test_bad_config_exits_2_naming_the_key(tmp_path, capsys, text, message):
    err = usage_error(capsys, [*BASE, "--config", _toml(tmp_path, text)])
    assert f"--config {tmp_path / 'run.toml'}" in err and re.search(message, err), err


def test_missing_config_file_exits_2(tmp_path, capsys):
    err = usage_error(capsys, [*BASE, "--config", str(tmp_path / "none.toml")])
    assert f"--config {tmp_path / 'none.toml'} does not exist" in err


def test_config_serves_other_commands(tmp_path, capsys):
    cfg = _toml(tmp_path, "parts = 3\nmethod = 'contiguous'\n")
    assert main(["partition", "--config", cfg]) == 0
    assert "3 parts by contiguous" in capsys.readouterr().out
    err = usage_error(capsys, ["partition", "--config", _toml(tmp_path, "epochs = 3\n")])
    assert "unknown key 'epochs'" in err  # a train option is not a partition option


def test_readme_config_example_parses(tmp_path):
    """The ``toml`` block of README's command-line section is a valid ``gnnkit train`` config."""
    from gnnkit.cli import build_parser
    from gnnkit.cli.config import config_arguments, read_toml

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```toml\n(.*?)```", readme, re.S).group(1)
    path = Path(_toml(tmp_path, block))
    parser, subparsers = build_parser("train")
    extra = config_arguments(subparsers["train"], read_toml(path), path)
    args = parser.parse_args(["train", *extra, "--seed", "3"])
    assert (args.model, args.epochs, args.weight_decay, args.seed, args.verbose) == ("gat", 300, 5e-4, 3, True)
    assert args.log_dir == Path("runs/gat")


@settings(max_examples=25, deadline=None)
@given(epochs=st.integers(1, 10_000), hidden=st.integers(1, 512), weight_decay=st.floats(0, 1, allow_nan=False),
       model=st.sampled_from(["gcn", "sage", "gat", "gin"]), quiet=st.booleans(), dash=st.booleans())
def test_config_and_flags_parse_to_the_same_namespace(tmp_path_factory, epochs, hidden, weight_decay, model, quiet, dash):
    from gnnkit.cli import build_parser
    from gnnkit.cli.config import config_arguments, read_toml

    key = "weight-decay" if dash else "weight_decay"
    path = tmp_path_factory.mktemp("cfg") / "run.toml"
    path.write_text(f"epochs = {epochs}\nhidden = {hidden}\n{key} = {weight_decay!r}\nmodel = '{model}'\n"
                    f"quiet = {str(quiet).lower()}\n")
    parser, subparsers = build_parser("train")
    from_file = parser.parse_args(["train", *config_arguments(subparsers["train"], read_toml(path), path)])
    flags = ["train", "--epochs", str(epochs), "--hidden", str(hidden), "--weight-decay", repr(weight_decay),
             "--model", model] + ["--quiet"] * quiet
    assert vars(from_file) == vars(parser.parse_args(flags))
