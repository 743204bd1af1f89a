"""gnnkit.checkpoint: checksummed atomic writes, the kept previous file, damaged files named and skipped."""
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import gnnkit.checkpoint as checkpoint
from gnnkit.checkpoint import (
    CheckpointError,
    Checkpointer,
    atomic_save,
    load_checkpoint,
    load_latest,
    previous_path,
    save_checkpoint,
    state_digest,
)


def _state(epoch: int) -> dict:
    gen = torch.Generator().manual_seed(epoch)
    return {"model": {"w": torch.randn(3, 4, generator=gen), "b": torch.zeros(4)}, "state": {"epoch": epoch},
            "opt": {"state": {0: {"step": torch.tensor(float(epoch))}}, "param_groups": [{"betas": (0.9, 0.999)}]}}


def _assert_same(a: dict, b: dict) -> None:
    assert state_digest(a) == state_digest(b)
    torch.testing.assert_close(a["model"]["w"], b["model"]["w"], rtol=0, atol=0)


DAMAGE = {
    "truncated": (lambda b: b[: len(b) // 2], r"is damaged \(\d+ bytes; truncated or overwritten\?\): RuntimeError"),
    "empty": (lambda b: b"", r"is damaged: the file is empty \(0 bytes\)"),
    "bit-flip": (lambda b: b[:-300] + bytes([b[-300] ^ 0x10]) + b[-299:], "is damaged"),
}


# ------------------------------------------------------------------ digest
def test_state_digest_sees_values_dtypes_shapes_keys_and_order():
    base = {"a": torch.arange(4.0), "b": [1, 2.5, "x", None, True]}
    variants = [
        {"a": torch.arange(4.0) + 1e-7, "b": [1, 2.5, "x", None, True]},
        {"a": torch.arange(4.0).double(), "b": [1, 2.5, "x", None, True]},
        {"a": torch.arange(4.0).view(2, 2), "b": [1, 2.5, "x", None, True]},
        {"c": torch.arange(4.0), "b": [1, 2.5, "x", None, True]},
        {"b": [1, 2.5, "x", None, True], "a": torch.arange(4.0)},
        {"a": torch.arange(4.0), "b": (1, 2.5, "x", None, True)},
        {"a": torch.arange(4.0), "b": [1.0, 2.5, "x", None, True]},
    ]
    digests = {state_digest(v) for v in variants}
    assert len(digests) == len(variants) and state_digest(base) not in digests
    assert state_digest(base) == state_digest({"a": torch.arange(4.0), "b": [1, 2.5, "x", None, True]})


def test_state_digest_of_non_contiguous_tensor_equals_its_copy():
    t = torch.randn(4, 6)[:, ::2]
    assert state_digest({"t": t}) == state_digest({"t": t.contiguous()})


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(allow_nan=False, width=32), min_size=1, max_size=8), st.integers(0, 7))
def test_state_digest_changes_with_any_element(values, i):
    t = torch.tensor(values, dtype=torch.float32)
    u = t.clone()
    u[i % len(values)] += 1.0
    assert (state_digest(t) == state_digest(u)) == torch.equal(t, u)


def test_state_digest_rejects_other_objects():
    with pytest.raises(TypeError, match="state_digest: cannot hash object"):
        state_digest({"x": object()})


# ------------------------------------------------------------- save, load
def test_save_then_load_round_trips(tmp_path):
    path = tmp_path / "sub" / "ck.pt"
    digest = save_checkpoint(_state(3), path)
    assert digest == state_digest(_state(3))
    _assert_same(load_checkpoint(path), _state(3))
    assert [p.name for p in path.parent.iterdir()] == ["ck.pt"]  # no temporary file left


def test_files_without_checksum_load_as_they_are(tmp_path):
    atomic_save({"model": {"w": torch.ones(2)}}, tmp_path / "m.pt")
    assert torch.equal(load_checkpoint(tmp_path / "m.pt")["model"]["w"], torch.ones(2))


def test_load_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"checkpoint {tmp_path / 'no.pt'} does not exist"):
        load_checkpoint(tmp_path / "no.pt")


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_file_is_reported_with_its_path_and_reason(tmp_path, damage):
    path = tmp_path / "ck.pt"
    save_checkpoint(_state(1), path)
    fn, reason = DAMAGE[damage]
    path.write_bytes(fn(path.read_bytes()))
    with pytest.raises(CheckpointError, match=f"checkpoint {path} {reason}"):
        load_checkpoint(path)


def test_previous_path_names():
    assert previous_path(Path("/r/ck.pt")) == Path("/r/ck.prev.pt")
    assert previous_path("run") == Path("run.prev")


def test_failed_write_leaves_the_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "ck.pt"
    save_checkpoint(_state(1), path)
    before = path.read_bytes()

    def broken_save(obj, f):
        f.write(b"half")
        raise KeyboardInterrupt  # killed mid-write

    monkeypatch.setattr(checkpoint.torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(_state(2), path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["ck.pt"]


# ---------------------------------------------------- rotation, fallback
def test_checkpointer_keeps_the_previous_file_byte_for_byte(tmp_path):
    c = Checkpointer(tmp_path / "ck.pt")
    c.save(_state(1))
    first = c.path.read_bytes()
    c.save(_state(2))
    assert c.previous.read_bytes() == first
    _assert_same(load_checkpoint(c.path), _state(2))


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_resume_falls_back_to_previous_and_never_rotates_a_damaged_file(tmp_path, damage):
    c = Checkpointer(tmp_path / "ck.pt")
    c.save(_state(1))
    c.save(_state(2))
    good = c.previous.read_bytes()
    c.path.write_bytes(DAMAGE[damage][0](c.path.read_bytes()))
    resumed = Checkpointer(c.path)
    found = resumed.load()
    assert found.path == c.previous and len(found.problems) == 1 and f"checkpoint {c.path} is damaged" in found.problems[0]
    _assert_same(found.state, _state(1))
    resumed.save(_state(2))  # replaces the damaged file; the good previous one stays
    assert c.previous.read_bytes() == good
    _assert_same(load_checkpoint(c.path), _state(2))


def test_a_new_checkpointer_checks_an_unknown_file_before_rotating_it(tmp_path):
    path = tmp_path / "ck.pt"
    c = Checkpointer(path)
    c.save(_state(1))
    c.save(_state(2))
    good = c.previous.read_bytes()
    path.write_bytes(b"")
    Checkpointer(path).save(_state(3))  # a fresh run, no load: the damaged file is not kept
    assert c.previous.read_bytes() == good


def test_load_latest_uses_previous_when_the_file_is_missing(tmp_path):
    c = Checkpointer(tmp_path / "ck.pt")
    c.save(_state(1))
    c.save(_state(2))
    c.path.unlink()  # as if killed between the two renames
    found = load_latest(c.path)
    assert found.path == c.previous and "does not exist" in found.problems[0]
    _assert_same(found.state, _state(1))


def test_load_latest_without_files_is_none(tmp_path):
    assert load_latest(tmp_path / "ck.pt") is None


def test_load_latest_with_every_file_damaged_names_each(tmp_path):
    c = Checkpointer(tmp_path / "ck.pt")
    c.save(_state(1))
    c.save(_state(2))
    c.path.write_bytes(b"")
    c.previous.write_bytes(c.previous.read_bytes()[:50])
    with pytest.raises(CheckpointError, match=(f"no usable checkpoint to resume from: checkpoint {c.path} is damaged: "
                                               f"the file is empty .*; checkpoint {c.previous} is damaged")):
        load_latest(c.path)


@pytest.mark.parametrize("content,match", [
    ({"format": "gnnkit.checkpoint/1", "sha256": "0" * 64}, r"lacks the field\(s\) \['payload'\]"),
    ({"format": "gnnkit.checkpoint/1", "payload": {}}, r"lacks the field\(s\) \['sha256'\]"),
    ({"format": "gnnkit.checkpoint/1", "sha256": 5, "payload": {}}, r"has a int checksum"),
    ({"format": "gnnkit.checkpoint/1", "sha256": "0" * 64, "payload": {"x": torch.float32}}, r"is damaged: "),
])
def test_load_checkpoint_marked_file_with_bad_fields_is_checkpoint_error(tmp_path, content, match):
    path = tmp_path / "ckpt.pt"
    torch.save(content, path)
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(path)


def test_atomic_save_removes_temporaries_of_dead_writers_only(tmp_path):
    import os
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)  # a process that has exited: its temporary is garbage
    path = tmp_path / "rank1.pt"
    stale = tmp_path / f"rank1.pt.tmp{dead_pid}"
    live = tmp_path / f"rank1.pt.tmp{os.getppid()}"  # a running process's temporary stays
    other = tmp_path / f"rank0.pt.tmp{dead_pid}"  # another path's temporary is not this save's business
    for f in (stale, live, other):
        f.write_bytes(b"partial")
    atomic_save({"w": torch.ones(2)}, path)
    assert not stale.exists() and live.exists() and other.exists()
    assert torch.equal(torch.load(path)["w"], torch.ones(2))
