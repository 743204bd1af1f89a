"""A byte-mutation fuzzer over every kind of file gnnkit reads: each damaged file loads or raises a documented error.

The corpus is real files: the raw Cora Planetoid pickles (written from the bundled Cora in the
published pickle format by ``tests/planetoid_files.py``), the bundled
``cora.npz``, ``gnnkit.save`` outputs of a batched graph and of a heterogeneous graph, a TU
dataset folder and an edge-list folder as the dataset tests write them, and a checkpoint from
``gnnkit.checkpoint.save_checkpoint``. A seeded mutation flips bits, overwrites bytes with
boundary values, inserts, deletes, duplicates or truncates, one to four times, anywhere in one
file of the target. For zip containers (``.npz``, ``torch.save``) a second mode mutates one
member and rebuilds the archive with correct CRCs, and for ``gnnkit.save`` files re-seals the
SHA-256 record, so the mutation reaches the parsers behind the integrity checks.

Each batch of mutations runs in one subprocess (a segfault or a hang must fail the test, not
kill pytest) under a 4 GiB address-space limit (a mutated size field must not take the shared
machine's memory). The worker prints a line before and after each case, so a crash or a
timeout names the offending target, seed and mode. Every outcome must be "loaded" or one of
the error types the loader documents; anything else fails the test with the seed to replay
(``mutate(content, seed, mode)`` is deterministic).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

import pytest
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CORA_FILES = [f"ind.cora.{s}" for s in ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index")]
# Allowed outcomes besides loading: the loaders' documented errors. CheckpointError is a ValueError;
# read_planetoid documents pickle.UnpicklingError for a pickle asking for a class outside its allowlist.
DOCUMENTED = (ValueError, TypeError, IndexError, OSError)
EXTRA_DOCUMENTED = {"planetoid": (pickle.UnpicklingError,)}
INTERESTING = [b"\x00", b"\xff", b"\x7f", b"\x80", b"\xff\xff\xff\xff", b"\x00\x00\x00\x80", b"\xff\xff\xff\x7f",
               b"-1", b"0", b"99999999999999999999", b"nan", b"inf", b"1e308", b",", b"\n", b" ", b"#", b"\r\n"]
SEAL_DIGEST = 64  # gnnkit.graph.io: the zip comment is the 64-character SHA-256 hex of every byte before its length


# ------------------------------------------------------------------ mutations
def mutate(content: bytes, seed: int) -> bytes:
    """One to four seeded byte edits of ``content``: flip, overwrite, insert, delete, duplicate or truncate."""
    rng = random.Random(seed)
    buf = bytearray(content)
    for _ in range(rng.randint(1, 4)):
        op = rng.choice(("flip", "flip", "overwrite", "insert", "delete", "duplicate", "truncate"))
        pos = rng.randrange(len(buf) + 1)
        if op == "flip" and buf:
            pos = min(pos, len(buf) - 1)
            buf[pos] ^= 1 << rng.randrange(8)
        elif op == "overwrite" and buf:
            value = rng.choice(INTERESTING)
            buf[pos:pos + len(value)] = value
        elif op == "insert":
            buf[pos:pos] = rng.choice(INTERESTING) if rng.random() < 0.5 else rng.randbytes(rng.randint(1, 8))
        elif op == "delete":
            del buf[pos:pos + rng.randint(1, 16)]
        elif op == "duplicate" and buf:
            start = rng.randrange(len(buf))
            buf[pos:pos] = buf[start:start + rng.randint(1, 32)]
        elif op == "truncate":
            del buf[pos:]
    return bytes(buf)


def mutate_member(content: bytes, seed: int, seal: bool) -> bytes:
    """Mutate one member of the zip ``content`` and rebuild the archive (valid CRCs; re-sealed if ``seal``)."""
    rng = random.Random(seed)
    with zipfile.ZipFile(io.BytesIO(content)) as z:
        members = [(info, z.read(info.filename)) for info in z.infolist()]
    target = rng.randrange(len(members))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for i, (info, data) in enumerate(members):
            z.writestr(info, mutate(data, seed) if i == target else data)
    body = out.getvalue()
    if not seal:
        return body
    covered = body[:-2]  # up to the comment-length field of the end record, as gnnkit.graph.io seals it
    return covered + struct.pack("<H", SEAL_DIGEST) + hashlib.sha256(covered).hexdigest().encode("ascii")


def mutated(content: bytes, seed: int, mode: str) -> bytes:
    """``mode``: ``"bytes"`` (anywhere in the file), ``"member"`` or ``"member-sealed"`` (inside one zip member)."""
    if mode == "bytes":
        return mutate(content, seed)
    return mutate_member(content, seed, seal=mode == "member-sealed")


# ------------------------------------------------------------------ the corpus
def _load_planetoid(root: Path) -> object:
    from gnnkit.data import read_planetoid
    return read_planetoid(root / "planetoid", "cora")


def _load_cora_npz(root: Path) -> object:
    from gnnkit.data import load_npz
    return load_npz(root / "cora.npz")


def _load_graph(root: Path) -> object:
    import gnnkit
    return gnnkit.load(root / "graph.npz")


def _load_hetero(root: Path) -> object:
    import gnnkit
    return gnnkit.load(root / "hetero.npz")


def _load_tu(root: Path) -> object:
    from gnnkit.data import load_tu
    return load_tu("TOY", root / "tu")


def _load_edgelist(root: Path) -> object:
    from gnnkit.data import load_edgelist
    return load_edgelist("toy", root / "edgelist")


def _load_checkpoint(root: Path) -> object:
    from gnnkit.checkpoint import load_checkpoint
    return load_checkpoint(root / "ckpt.pt")


# target -> (loader, files it reads relative to the corpus root, mutation modes)
TARGETS: dict[str, tuple[Callable[[Path], object], list[str], tuple[str, ...]]] = {
    "planetoid": (_load_planetoid, [f"planetoid/{f}" for f in CORA_FILES], ("bytes",)),
    "cora_npz": (_load_cora_npz, ["cora.npz"], ("bytes", "member")),
    "graph_file": (_load_graph, ["graph.npz"], ("bytes", "member-sealed")),
    "hetero_file": (_load_hetero, ["hetero.npz"], ("bytes", "member-sealed")),
    "tu": (_load_tu, [f"tu/TOY/raw/TOY_{k}.txt" for k in
                      ("A", "graph_indicator", "graph_labels", "node_labels", "node_attributes", "edge_labels",
                       "edge_attributes")], ("bytes",)),
    "edgelist": (_load_edgelist, ["edgelist/toy/edges.txt", "edgelist/toy/features.npy", "edgelist/toy/labels.npy",
                                  "edgelist/toy/split.npz"], ("bytes",)),
    "checkpoint": (_load_checkpoint, ["ckpt.pt"], ("bytes", "member")),
}


def build_corpus(root: Path) -> None:
    """Write one good file (set) per target under ``root``, with the writers the other tests use."""
    import gnnkit
    from gnnkit.checkpoint import save_checkpoint
    from gnnkit.data import BUNDLED
    from planetoid_files import write_planetoid
    from test_datasets import _write_edgelist, _write_tu
    from test_io import _base_graph, _hetero

    write_planetoid(BUNDLED["cora"], root / "planetoid", "cora")
    shutil.copyfile(BUNDLED["cora"], root / "cora.npz")
    torch.manual_seed(0)
    gnnkit.save(root / "graph.npz", _base_graph())
    gnnkit.save(root / "hetero.npz", _hetero())
    _write_tu(root / "tu" / "TOY" / "raw", "TOY", {
        "A": [(1, 2), (2, 1), (2, 3), (3, 2), (4, 5), (5, 4)], "graph_indicator": [1, 1, 1, 2, 2, 3],
        "graph_labels": [-1, 1, 1], "node_labels": [2, 3, 2, 4, 2, 3],
        "node_attributes": [(0.5, 1.0), (1.5, 2.0), (2.5, 3.0), (3.5, 4.0), (4.5, 5.0), (5.5, 6.0)],
        "edge_labels": [1, 1, 0, 0, 2, 2], "edge_attributes": [0.1, 0.1, 0.2, 0.2, 0.3, 0.3],
    })
    _write_edgelist(root / "edgelist" / "toy", "0 1 0.5\n1 2 1.5\n# a comment\n2 3 1.0\n3 0 2.0\n")
    model = torch.nn.Linear(3, 2)
    save_checkpoint({"model": model.state_dict(), "epoch": 3, "history": [0.5, 0.25]}, root / "ckpt.pt")


# ------------------------------------------------------------------ the subprocess harness
_WORKER = r"""
import json, resource, sys, traceback
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
sys.path.insert(0, sys.argv[1])
import test_fuzz_files as fz
root, cases = Path(sys.argv[2]), json.loads(sys.stdin.read())
pristine = {}
for target, seed, mode in cases:
    load, files, _ = fz.TARGETS[target]
    name = files[seed % len(files)] if mode == "bytes" else files[0]
    pristine.setdefault(name, (root / name).read_bytes())
    print(json.dumps({"start": [target, seed, mode, name]}), flush=True)
    (root / name).write_bytes(fz.mutated(pristine[name], seed, mode))
    try:
        load(root)
        outcome = "loaded"
    except BaseException as exc:
        outcome = type(exc).__module__ + "." + type(exc).__qualname__
        if not isinstance(exc, fz.DOCUMENTED + fz.EXTRA_DOCUMENTED.get(target, ())):
            outcome += " | " + "".join(traceback.format_exception_only(exc)).strip()[-500:]
    finally:
        (root / name).write_bytes(pristine[name])
    print(json.dumps({"done": [target, seed, mode, name, outcome]}), flush=True)
"""


def run_batch(corpus: Path, cases: list[tuple[str, int, str]], timeout: float) -> list[list]:
    """Run ``cases`` (target, seed, mode) in one subprocess; ``[target, seed, mode, file, outcome]`` each.

    One process for many cases: importing torch costs seconds, a mutated load milliseconds.
    Fails the calling test, naming the case, if the subprocess crashes or runs past ``timeout``.
    """
    work = Path(tempfile.mkdtemp(prefix="work-", dir=corpus.parent)) / "corpus"
    shutil.copytree(corpus, work)  # the worker restores each file, but a crash must not damage the corpus
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    try:
        proc = subprocess.run([sys.executable, "-c", _WORKER, str(HERE), str(work)],
                              input=json.dumps(cases), capture_output=True, text=True, timeout=timeout, env=env)
        stdout, stderr, code = proc.stdout, proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        stderr, code = "", None
    finally:
        shutil.rmtree(work.parent, ignore_errors=True)
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    done = [line["done"] for line in lines if "done" in line]
    if code != 0 or len(done) != len(cases):
        last = next((line["start"] for line in reversed(lines) if "start" in line), None)
        why = "hung (timeout)" if code is None else f"crashed (exit code {code})"
        pytest.fail(f"the loader {why} on case [target, seed, mode, file] = {last}; replay with "
                    f"mutated(content, seed, mode).\n{stderr[-2000:]}")
    return done


def _cases(count_scale: int, first_seed: int) -> list[tuple[str, int, str]]:
    """Seeds ``first_seed, ...`` per target (``COUNTS`` times ``count_scale``), the modes taken in turn."""
    cases = []
    for target, count in COUNTS.items():
        modes = TARGETS[target][2]
        cases += [(target, seed, modes[seed % len(modes)]) for seed in range(first_seed, first_seed + count * count_scale)]
    return cases


# cases per target in the fast run (a few seconds in all after the imports); the slow run takes ten times more
COUNTS = {"planetoid": 16, "cora_npz": 60, "graph_file": 60, "hetero_file": 60, "tu": 80, "edgelist": 80, "checkpoint": 60}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fuzz") / "corpus"
    build_corpus(root)
    return root


def _check(corpus: Path, count_scale: int, first_seed: int) -> None:
    cases = _cases(count_scale, first_seed)
    outcomes = run_batch(corpus, cases, timeout=120 + 0.5 * len(cases))
    bad = [case for case in outcomes if " | " in case[4]]
    assert not bad, f"undocumented exceptions ([target, seed, mode, file, outcome]): {bad[:5]}"
    for target in COUNTS:  # the mutations reach each loader's checks: some of its files are rejected
        assert any(case[4] != "loaded" for case in outcomes if case[0] == target), target


def test_fuzz_files_load_or_raise_documented_errors(corpus):
    _check(corpus, 1, first_seed=0)


@pytest.mark.slow
def test_fuzz_files_many_mutations_slow(corpus):
    _check(corpus, 10, first_seed=10_000)


# Cases the slow run found: damaged checkpoints that unpickled to a dict without its "payload" or
# "sha256" field made load_checkpoint raise KeyError instead of CheckpointError (fixed in gnnkit/checkpoint.py).
@pytest.mark.parametrize("seed,mode", [(10126, "bytes"), (10152, "bytes"), (10557, "member")])
def test_fuzz_files_found_checkpoint_missing_fields_are_checkpoint_errors(corpus, tmp_path, seed, mode):
    from gnnkit.checkpoint import CheckpointError, load_checkpoint

    path = tmp_path / "ckpt.pt"
    path.write_bytes(mutated((corpus / "ckpt.pt").read_bytes(), seed, mode))
    with pytest.raises(CheckpointError, match=r"is damaged: it is marked .* but lacks the field"):
        load_checkpoint(path)


def test_fuzz_files_corpus_loads_unmutated(corpus):
    # the harness's baseline: every pristine target loads
    for load, _, _ in TARGETS.values():
        load(corpus)


def test_fuzz_files_mutations_are_deterministic_and_change_the_bytes():
    content = bytes(range(256)) * 4
    assert mutate(content, 7) == mutate(content, 7)
    assert sum(mutate(content, s) != content for s in range(50)) >= 45  # two flips of one bit may cancel


def test_fuzz_files_harness_reports_a_crash_with_its_seed(corpus, monkeypatch):
    # a loader that kills its process (as a segfault would) must fail the test and name the case
    worker = _WORKER.replace("load(root)\n", "import os; os.abort()\n")
    assert worker != _WORKER
    monkeypatch.setattr(sys.modules[__name__], "_WORKER", worker)
    with pytest.raises(pytest.fail.Exception, match=r"the loader crashed .* \['cora_npz', 3, 'member', 'cora.npz'\]"):
        run_batch(corpus, [("cora_npz", 3, "member")], timeout=120)
