"""Two "nodes" on one machine: two torchrun launches with a c10d rendezvous on loopback.

Each node has its own working directory holding only its own rank's part and its own
checkpoint folder (nothing shared). The 2 nodes x 1 rank run must equal the 1 node x 2 ranks
run; a worker SIGKILLed by the test (no hook in production code) either stops the other node
with a clear error (no restarts) or, under ``--max-restarts 1``, makes both nodes restart from
their checkpoints and finish with the uninterrupted run's weights.
"""
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gnnkit.checkpoint import load_checkpoint
from gnnkit.cli.dist_train import build_parser, free_port, prepare

pytest.importorskip("pymetis")
psutil = pytest.importorskip("psutil")

ROOT = Path(__file__).resolve().parents[1]
DEADLINE = 240  # seconds for a whole launch on a loaded 2-core machine; only a hang reaches it
EPOCHS = 40
TRAIN = ["-m", "gnnkit.cli.dist_train", "--model", "gcn", "--seed", "0", "--timeout", "60", "--threads", "1",
         "--parts-dir", "parts", "--checkpoint-dir", "ck", "--resume", "--save", "model.pt"]


def _env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def torchrun(cwd: Path, *launcher: str, epochs: int = EPOCHS, train: list[str] = TRAIN) -> subprocess.Popen:
    """``torchrun LAUNCHER -m gnnkit.cli.dist_train ...`` in ``cwd`` (its relative parts/ck/model.pt)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", *launcher, *train, "--epochs", str(epochs)]
    cwd.mkdir(parents=True, exist_ok=True)
    with open(cwd / "launch.log", "w") as log:  # a file, not a pipe: readable after a hang too
        proc = subprocess.Popen(cmd, cwd=cwd, env=_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    proc.log_path = cwd / "launch.log"
    return proc


def node(root: Path, name: str, parts: Path, ranks: list[int]) -> Path:
    """A node's own directory with copies of only its ranks' parts."""
    d = root / name
    for r in ranks:
        shutil.copytree(parts / f"part-{r}", d / "parts" / f"part-{r}")
    return d


def two_nodes(root: Path, parts: Path, restarts: int, epochs: int = EPOCHS, train: list[str] = TRAIN) -> list[subprocess.Popen]:
    """Node a (rank 0) and node b (rank 1): c10d ranks follow the sorted node addresses."""
    endpoint = f"127.0.0.1:{free_port()}"
    procs = []
    for i, (name, addr) in enumerate((("a", "127.0.0.1"), ("b", "127.0.0.2"))):
        cwd = node(root, name, parts, [i])
        procs.append(torchrun(cwd, "--nnodes=2", "--nproc-per-node=1", "--rdzv-backend=c10d",
                              f"--rdzv-endpoint={endpoint}", f"--local-addr={addr}", f"--max-restarts={restarts}",
                              "--monitor-interval=0.2", epochs=epochs, train=train))
    return procs


def communicate(procs: list[subprocess.Popen], deadline: float = DEADLINE) -> list[tuple[int, str, float]]:
    """Wait for every launch (killing all at the deadline); ``(returncode, output, seconds)`` each."""
    t0, out = time.monotonic(), []
    for p in procs:
        try:
            p.wait(timeout=max(1.0, deadline - (time.monotonic() - t0)))
        except subprocess.TimeoutExpired:
            for q in procs:
                if q.poll() is None:
                    os.killpg(q.pid, 9)
                    q.wait()
            pytest.fail(f"a launch still ran after {deadline} s: a hang; logs: "
                        + " || ".join(q.log_path.read_text()[-2000:] for q in procs))
        out.append((p.returncode, p.log_path.read_text(), time.monotonic() - t0))
    return out


def kill_worker_when(proc: subprocess.Popen, path: Path, others: list[subprocess.Popen]) -> float:
    """SIGKILL ``proc``'s (torchrun's) worker once ``path`` exists; returns the time of the kill."""
    t0 = time.monotonic()
    while not path.exists():
        if any(p.poll() is not None for p in [proc, *others]) or time.monotonic() - t0 > DEADLINE:
            for p in [proc, *others]:
                if p.poll() is None:
                    os.killpg(p.pid, 9)
            pytest.fail(f"the launches ended or hung before {path} appeared: "
                        f"{[p.log_path.read_text()[-1500:] for p in [proc, *others]]}")
        time.sleep(0.05)
    (worker,) = [c for c in psutil.Process(proc.pid).children() if "gnnkit.cli.dist_train" in " ".join(c.cmdline())]
    worker.kill()
    return time.monotonic()


def same_model(a: Path, b: Path) -> bool:
    sa, sb = torch.load(a, weights_only=True)["model"], torch.load(b, weights_only=True)["model"]
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """At once: the 1 x 2 reference, a 2 x 1 run whose node-b worker is killed under --max-restarts 1, and a
    2 x 1 run whose node-b worker is killed without restarts."""
    root = tmp_path_factory.mktemp("multinode")
    parts = root / "all-parts"
    prepare(build_parser().parse_args(["--prepare", "--parts", "2", "--parts-dir", str(parts), "--quiet"]))
    ref_dir = node(root, "one", parts, [0, 1])
    ref = torchrun(ref_dir, "--standalone", "--nproc-per-node=2")
    restart = two_nodes(root / "restart", parts, restarts=1)
    fault = two_nodes(root / "fault", parts, restarts=0, epochs=100000)
    out = {"root": root}
    try:
        out["restart_kill"] = kill_worker_when(restart[1], root / "restart" / "a" / "ck" / "manifest.json", restart)
        out["fault_kill"] = kill_worker_when(fault[1], root / "fault" / "a" / "ck" / "manifest.json", fault)
        out["fault"] = communicate(fault, deadline=90)
        out["restart"] = communicate(restart)
        out["ref"] = communicate([ref])[0]
    finally:
        for p in (ref, *restart, *fault):
            if p.poll() is None:
                os.killpg(p.pid, 9)
                p.wait()
    return out


def test_two_nodes_kill_stops_the_other_node_with_a_clear_error(runs):
    (rc_a, err_a, t_a), (rc_b, _, _) = runs["fault"]
    assert rc_a != 0 and rc_b != 0
    assert re.search(r"rank 0: communication failed during (epoch \d+|final)", err_a), err_a[-3000:]
    assert t_a < 60  # measured from the kill (communicate starts right after it)


def test_two_nodes_restart_from_per_node_checkpoints_equals_one_node(runs):
    rc_ref, err_ref, _ = runs["ref"]
    assert rc_ref == 0, err_ref[-3000:]
    (rc_a, err_a, _), (rc_b, err_b, _) = runs["restart"]
    assert rc_a == rc_b == 0, err_a[-3000:] + err_b[-3000:]
    root = runs["root"]
    assert same_model(root / "one" / "model.pt", root / "restart" / "a" / "model.pt")
    # restarted once, from the newest epoch every rank agreed on; no epoch lost or repeated after it
    resumed = [int(e) for e in re.findall(r"rank 0: resuming after epoch (\d+) from rank \d+'s checkpoint", err_a)]
    assert len(resumed) == 1 and 1 <= resumed[0] < EPOCHS, err_a[-3000:]
    after = err_a.split("resuming after epoch")[1]
    trained = [int(e) for e in re.findall(r"epoch +(\d+) \| loss", after)]
    assert trained == list(range(resumed[0] + 1, EPOCHS + 1))
    for name, rank in (("a", 0), ("b", 1)):  # each node keeps its own rank's file; node a also the manifest
        ck = root / "restart" / name / "ck"
        assert load_checkpoint(ck / f"rank{rank}.pt")["state"]["epoch"] == EPOCHS
        assert sorted(p.name for p in ck.iterdir() if p.suffix != ".json") == [f"rank{rank}.prev.pt", f"rank{rank}.pt"]
    assert not (root / "restart" / "b" / "ck" / "manifest.json").exists()


@pytest.mark.slow
def test_two_nodes_of_gnnkit_train_equal_one_node_sage(tmp_path):
    """The full form: ``gnnkit train --parts 2`` as the torchrun entry on 2 nodes x 1 rank, uninterrupted, SAGE."""
    parts = tmp_path / "all-parts"
    prepare(build_parser().parse_args(["--prepare", "--parts", "2", "--parts-dir", str(parts), "--quiet"]))
    train = ["-m", "gnnkit.cli.train", "train", "--parts", "2", "--model", "sage", "--seed", "0", "--threads", "1",
             "--parts-dir", "parts", "--checkpoint-dir", "ck", "--save", "model.pt"]
    ref = torchrun(node(tmp_path, "one", parts, [0, 1]), "--standalone", "--nproc-per-node=2", epochs=100, train=train)
    nodes = two_nodes(tmp_path / "two", parts, restarts=0, epochs=100, train=train)
    results = communicate([ref, *nodes], deadline=3 * DEADLINE)
    assert all(rc == 0 for rc, _, _ in results), [out[-2000:] for _, out, _ in results]
    assert same_model(tmp_path / "one" / "model.pt", tmp_path / "two" / "a" / "model.pt")
    accuracy = [re.findall(r"test accuracy: ([0-9.]+)", out) for _, out, _ in results[:2]]
    assert accuracy[0] == accuracy[1] and len(accuracy[0]) == 1
