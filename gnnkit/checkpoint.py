"""Checkpoint files that survive a kill: atomic writes, checksums, a kept previous file, loads that run no code.

A training run writes ``ckpt.pt`` with :class:`Checkpointer`: the state goes to a temporary
file that is flushed to disk and then renamed into place (``os.replace`` is atomic on one
filesystem), and the good file it replaces is first renamed to ``ckpt.prev.pt``. Each file
carries a SHA-256 digest of its content (:func:`state_digest`), so a truncated, empty or
bit-flipped file is detected on load, reported with its path and the reason, and resume
falls back to the previous file. Loads use ``torch.load(weights_only=True)``: tensors and
plain containers only, no code runs.
"""
from __future__ import annotations

import glob
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "CheckpointError",
    "Checkpointer",
    "Resumed",
    "atomic_save",
    "load_checkpoint",
    "load_latest",
    "previous_path",
    "save_checkpoint",
    "state_digest",
]

_FORMAT = "gnnkit.checkpoint/1"  # the key that marks a file written by save_checkpoint


class CheckpointError(ValueError):
    """A checkpoint file that exists but cannot be used (damaged, or not a gnnkit checkpoint)."""


def state_digest(obj: Any) -> str:
    """SHA-256 (hex) of a nested state: dicts, lists, tuples, tensors and plain scalars.

    The digest covers keys, container order, tensor dtypes, shapes and bytes, so two states
    agree exactly when their digests do. It is independent of how the state was serialized,
    which makes it usable both as a file checksum and to compare ranks' parameters.

    Raises:
        TypeError: ``obj`` holds something other than the types above.
    """
    h = hashlib.sha256()
    _feed(h, obj)
    return h.hexdigest()


def _feed(h: "hashlib._Hash", obj: Any) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy())  # [numel * itemsize], hashed in place (no copy)
    elif isinstance(obj, dict):
        h.update(f"D{len(obj)}".encode())
        for k, v in obj.items():  # insertion order: it survives pickling
            _feed(h, k)
            _feed(h, v)
    elif isinstance(obj, (list, tuple)):
        h.update(f"{type(obj).__name__[0]}{len(obj)}".encode())
        for v in obj:
            _feed(h, v)
    elif obj is None or isinstance(obj, (bool, int, float, str, bytes, torch.dtype, torch.Size)):
        h.update(f"S{type(obj).__name__}:{obj!r};".encode())
    else:
        raise TypeError(f"state_digest: cannot hash {type(obj).__name__}; a checkpoint holds tensors and plain containers")


def atomic_save(obj: Any, path: str | Path, previous: str | Path | None = None) -> None:
    """``torch.save`` to a temporary file beside ``path``, flush it to disk, then ``os.replace`` it into place.

    ``os.replace`` is atomic on one filesystem, so a run killed mid-write leaves the previous
    file intact. The temporary name carries the process id, so ranks that share a
    directory never write the same temporary file.

    Args:
        obj: what ``torch.save`` writes.
        path: the file.
        previous: if given, an existing ``path`` is renamed to it once the new file is on disk
            (a kill between the two renames leaves both files, at ``previous`` and the temporary).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())  # the rename must not reach the disk before the data
        if previous is not None and path.exists():
            os.replace(path, previous)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    _remove_stale_temporaries(path)


def _remove_stale_temporaries(path: Path) -> None:
    """Delete ``path``'s temporaries left by writers that no longer run (a process killed mid-write).

    Only one process writes a given checkpoint path at a time (one per rank), so a temporary of
    ``path`` whose process id is not alive is garbage; a live writer's temporary is left alone.
    """
    prefix = f"{path.name}.tmp"
    for stale in path.parent.glob(f"{glob.escape(prefix)}*"):
        pid = stale.name[len(prefix):]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
            continue
        except ProcessLookupError:
            pass
        except PermissionError:  # alive, owned by someone else
            continue
        stale.unlink(missing_ok=True)


def previous_path(path: str | Path) -> Path:
    """Where the previous checkpoint of ``path`` is kept: ``ckpt.pt`` -> ``ckpt.prev.pt``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def save_checkpoint(obj: Any, path: str | Path, previous: str | Path | None = None) -> str:
    """Write ``obj`` atomically with its :func:`state_digest`; returns the digest.

    ``previous`` is as in :func:`atomic_save`; :class:`Checkpointer` decides when to keep one.
    """
    digest = state_digest(obj)
    atomic_save({"format": _FORMAT, "sha256": digest, "payload": obj}, path, previous)
    return digest


def load_checkpoint(path: str | Path) -> Any:
    """Load a file and verify its checksum; files without one (``atomic_save``, ``--save``) load as they are.

    Raises:
        FileNotFoundError: ``path`` is not a file (the message names it).
        CheckpointError: the file is damaged (truncated, empty, or its content does not match its
            checksum); the message names the path and the reason.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"checkpoint {path} is damaged: the file is empty (0 bytes)")
    try:
        obj = torch.load(path, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure to read is damage; reported, never swallowed
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        raise CheckpointError(
            f"checkpoint {path} is damaged ({size} bytes; truncated or overwritten?): {type(exc).__name__}: {first}"
        ) from exc
    if not (isinstance(obj, dict) and obj.get("format") == _FORMAT):
        return obj
    # a damaged file can still unpickle to a dict that has lost a field (found by tests/test_fuzz_files.py)
    missing = [key for key in ("sha256", "payload") if key not in obj]
    if missing or not isinstance(obj["sha256"], str):
        what = f"lacks the field(s) {missing}" if missing else f"has a {type(obj['sha256']).__name__} checksum"
        raise CheckpointError(f"checkpoint {path} is damaged: it is marked {_FORMAT!r} but {what}")
    try:
        digest = state_digest(obj["payload"])
    except TypeError as exc:  # a damaged payload can hold a type save_checkpoint never writes
        raise CheckpointError(f"checkpoint {path} is damaged: {exc}") from exc
    if digest != obj["sha256"]:
        raise CheckpointError(f"checkpoint {path} is damaged: its content does not match its SHA-256 checksum")
    return obj["payload"]


@dataclass
class Resumed:
    """What :func:`load_latest` found: the state, the file it came from, and what was wrong on the way."""

    state: Any
    path: Path
    problems: list[str] = field(default_factory=list)


def load_latest(path: str | Path) -> Resumed | None:
    """Load ``path``, or ``previous_path(path)`` when ``path`` is missing or damaged.

    Returns:
        The loaded state with the file it came from and a message per file that was skipped
        (``problems``: say them to the user); None when neither file exists.

    Raises:
        CheckpointError: the files that exist are all damaged (the message names each one and why).
    """
    problems, damaged = [], False
    for candidate in (Path(path), previous_path(path)):
        try:
            return Resumed(load_checkpoint(candidate), candidate, problems)
        except FileNotFoundError as exc:  # e.g. killed between the rotation and the write
            problems.append(str(exc))
        except CheckpointError as exc:
            problems.append(str(exc))
            damaged = True
    if damaged:
        raise CheckpointError("no usable checkpoint to resume from: " + "; ".join(problems))
    return None


class Checkpointer:
    """Writes ``path`` once per epoch, keeping the last good file as ``previous_path(path)``.

    A file that is already at ``path`` is moved to the previous slot only when it is known to
    be good: written by this object, loaded by :meth:`load`, or verified once here. A damaged
    one is replaced, so a good previous file is never pushed out by a damaged one.

    Args:
        path: the checkpoint file, e.g. ``ckpt.pt`` (the previous one is ``ckpt.prev.pt``).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.previous = previous_path(self.path)
        self._current_good: bool | None = None  # None: not known yet

    def load(self) -> Resumed | None:
        """:func:`load_latest` on this path; remembers whether ``path`` itself was good."""
        found = load_latest(self.path)
        self._current_good = found is not None and found.path == self.path
        return found

    def save(self, obj: Any) -> str:
        """Rotate a good ``path`` to the previous slot, then write ``obj`` atomically; returns its digest."""
        if self._current_good is None and self.path.exists():
            try:
                load_checkpoint(self.path)
                self._current_good = True
            except CheckpointError:
                self._current_good = False
        digest = save_checkpoint(obj, self.path, self.previous if self._current_good else None)
        self._current_good = True
        return digest
