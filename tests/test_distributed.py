"""gnnkit.scale.distributed / gnnkit.cli.dist_train: 2 gloo ranks equal one process; faults end runs, never hang.

Ranks run as subprocesses (``python -c`` calling a worker below, or ``python -m
gnnkit.cli.dist_train``) with ``MASTER_PORT`` on a free port; every wait has a deadline, so a
hang fails the test instead of blocking it.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from argparse import Namespace
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from gnnkit import GNN, GNNConfig, Graph
from gnnkit.checkpoint import load_checkpoint, previous_path
from gnnkit.cli.dist_train import build_parser, first_failure, free_port, launch, prepare, rank_part, run
from gnnkit.scale.distributed import PartitionedGNN, PeerError, init_distributed, verify_same_state
from gnnkit.scale.partition import partition

pytest.importorskip("pymetis")

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
WORLD = 3  # the equivalence group: 2-rank runs on ranks {0, 1}, 3-rank runs on all
DEADLINE = 120  # seconds for any group of ranks: only reached by a hang
MODELS = {
    "gcn": dict(model="gcn", num_layers=2),
    "sage": dict(model="sage", num_layers=3, residual=True, norm="layer"),
    "sage-max": dict(model="sage", num_layers=2, reduce="max"),
    "gin": dict(model="gin", num_layers=2),
}


# ----------------------------------------------------------------- scenarios
def scenario_graphs() -> dict[str, tuple[Graph, str]]:
    """Graphs with self-loops, duplicate edges, a vertex without in-edges and isolated vertices."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randint(0, 15, (60,), generator=gen)
    b = torch.randint(0, 15, (60,), generator=gen)
    two = Graph(torch.cat([a, b + 15, torch.tensor([3, 20, 7, 7, 4])]),
                torch.cat([b, a + 15, torch.tensor([22, 5, 7, 7, 4])]), 32)  # 30, 31 isolated
    keep = two.dst != 9  # vertex 9 has no in-edges
    two = Graph(two.src[keep], two.dst[keep], 32)
    rnd = Graph(torch.randint(0, 40, (150,), generator=gen), torch.randint(0, 40, (150,), generator=gen), 40)
    apart = Graph.batch([Graph(a, b, 15), Graph(b, a, 15)])  # two components: contiguous parts, empty halos
    return {"metis": (two, "metis"), "random": (rnd, "random"), "no-halo": (apart, "contiguous")}


def features(g: Graph) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(g.num_nodes, 5, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (g.num_nodes,), generator=gen)
    mask = torch.rand(g.num_nodes, generator=gen) < 0.6
    return x, y, mask


def make_model(name: str) -> GNN:
    torch.manual_seed(0)
    return GNN(GNNConfig(in_features=5, out_features=3, hidden_features=4, dropout=0.0, **MODELS[name])).double()


# -------------------------------------------------------------------- workers
def _scenarios(rank: int, world: int, group, results: dict) -> None:
    """Every scenario × model on ``world`` ranks of ``group``, plus a raw exchange check."""
    from gnnkit.cli.dist_train import _local_loss
    from gnnkit.scale.distributed import HaloExchange, all_reduce_sum, broadcast_parameters, halo_exchange, sync_gradients

    for sname, (g, method) in scenario_graphs().items():
        part = partition(g, world, method, seed=0)[rank]
        exchange = HaloExchange(part, g.num_nodes, group=group)
        x, y, mask = features(g)
        n_train = float(all_reduce_sum([float(mask[part.owned].sum())], group=group))
        for mname in MODELS:
            model = make_model(mname)
            broadcast_parameters(model, group=group)
            net = PartitionedGNN(model, part, exchange)
            logits = net(x[part.owned])
            loss = _local_loss(logits, y[part.owned], mask[part.owned], n_train)
            loss.backward()
            sync_gradients(model.parameters(), group=group)
            results[world, sname, mname] = {"loss": float(all_reduce_sum([loss.item()], group=group)),
                                            "logits": logits.detach(),
                                            "grads": {n: p.grad.clone() for n, p in model.named_parameters()}}
        # the exchange itself: values are the owners' rows; gradients go back and add up
        x_own = x[part.owned].clone().requires_grad_()
        local = halo_exchange(x_own, exchange)
        up = torch.randn(part.num_halo, 5, generator=torch.Generator().manual_seed(10 + rank), dtype=torch.float64)
        (local[part.num_owned:] * up).sum().backward()
        results[world, sname, "exchange"] = {"halo": local[part.num_owned:].detach(), "grad": x_own.grad, "up": up,
                                             "owned": part.owned, "halo_ids": part.halo}


def worker_equivalence(rank: int, world: int, out: str) -> None:
    """2-rank scenarios on a subgroup of ranks {0, 1}, 3-rank ones (a vertex in two halos) on all three."""
    import torch.distributed as dist

    from gnnkit.scale.distributed import HaloExchange

    init_distributed("gloo", timeout_s=60)
    pair = dist.new_group([0, 1])  # collective: every rank creates it
    results = {}
    if rank < 2:
        _scenarios(rank, 2, pair, results)
    _scenarios(rank, world, None, results)
    # ranks holding parts of different partitionings are caught on every rank
    g, _ = scenario_graphs()["random"]
    try:
        HaloExchange(partition(g, world, "random", seed=rank)[rank], g.num_nodes)
        results["mismatch"] = "no error"
    except ValueError as exc:
        results["mismatch"] = str(exc)
    verify_same_state(7, "ab" * 32, "in the test")  # equal on every rank: passes
    try:
        verify_same_state(rank, "00" * 32, "in the test")
        results["verify"] = "no error"
    except ValueError as exc:
        results["verify"] = str(exc)
    torch.save(results, Path(out) / f"rank{rank}.pt")


def start_ranks(world: int, target: list[str], port: int, env_extra: dict | None = None,
                ranks: list[int] | None = None) -> list[subprocess.Popen]:
    """Start ``ranks`` (default all) as subprocesses; ``target`` is the argv after the interpreter."""
    procs = []
    for rank in ranks if ranks is not None else range(world):
        env = dict(os.environ, RANK=str(rank), WORLD_SIZE=str(world), LOCAL_WORLD_SIZE=str(world),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1", **(env_extra or {}))
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(TESTS), env.get("PYTHONPATH", "")])
        procs.append(subprocess.Popen([sys.executable, *[a.replace("{rank}", str(rank)) for a in target]], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT))
    return procs


def finish(procs: list[subprocess.Popen], deadline: float = DEADLINE) -> list[tuple[int, str, str, float]]:
    """Wait for every process (killing all at the deadline); ``(returncode, stdout, stderr, seconds)`` each."""
    t0, results = time.monotonic(), []
    for p in procs:
        try:
            out, err = p.communicate(timeout=max(1.0, deadline - (time.monotonic() - t0)))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail(f"ranks still running after {deadline} s: a hang")
        results.append((p.returncode, out, err, time.monotonic() - t0))
    return results


@pytest.fixture(scope="module")
def cora_parts(tmp_path_factory):
    d = tmp_path_factory.mktemp("parts")
    args = build_parser().parse_args(["--prepare", "--parts", "2", "--parts-dir", str(d), "--quiet"])
    paths = prepare(args)
    assert [p.name for p in paths] == ["part-0", "part-1"]
    return d


def wait_for(path: Path, procs: list[subprocess.Popen], deadline: float = DEADLINE) -> None:
    """Poll until ``path`` exists (the ranks are training); fail if they end or hang first."""
    t0 = time.monotonic()
    while not path.exists():
        if any(p.poll() is not None for p in procs) or time.monotonic() - t0 > deadline:
            errs = [p.communicate(timeout=5)[1][-1500:] if p.poll() is not None else "(running)" for p in procs]
            for p in procs:
                p.kill()
            pytest.fail(f"the run ended or hung before {path} appeared: {errs}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def groups(tmp_path_factory, cora_parts):
    """Start every multi-process run at once: most of their time is interpreter start-up and timeouts."""
    out = tmp_path_factory.mktemp("equiv")
    started = {
        "equivalence": (start_ranks(WORLD, ["-c", f"import test_distributed as t; t.worker_equivalence({{rank}}, {WORLD}, {str(out)!r})"],
                                    free_port()), out),
    }
    # the CLI's path: torchrun (its agent plus 2 workers), in a thread so that it overlaps the rest
    logs = [open(out / name, "w+") for name in ("launch.out", "launch.err")]
    pool = ThreadPoolExecutor(1)
    started["launch"] = (pool.submit(launch, 2, ["--parts-dir", str(cora_parts), "--model", "sage", "--epochs", "3", "--quiet"],
                                     DEADLINE, stdout=logs[0], stderr=logs[1]), logs)
    yield started
    pool.shutdown(wait=True)
    for f in logs:
        f.close()
    del started["launch"]
    for value in started.values():
        for p in value[0]:
            if p.poll() is None:
                p.kill()
                p.communicate()


@pytest.fixture(scope="module")
def equivalence(groups):
    procs, out = groups["equivalence"]
    for rc, _, err, _ in finish(procs):
        assert rc == 0, err[-3000:]
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]


# ------------------------------------------------------------- equivalence
@pytest.mark.parametrize("mname", list(MODELS))
@pytest.mark.parametrize("sname", ["metis", "random", "no-halo"])
@pytest.mark.parametrize("world", [2, 3])
def test_ranks_equal_one_process(equivalence, world, sname, mname):
    g, method = scenario_graphs()[sname]
    x, y, mask = features(g)
    model = make_model(mname)
    logits = model(g, x)
    loss = F.cross_entropy(logits[mask], y[mask])
    loss.backward()
    parts = partition(g, world, method, seed=0)
    for rank, res in enumerate(equivalence[:world]):
        r = res[world, sname, mname]
        torch.testing.assert_close(r["loss"], loss.item(), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(r["logits"], logits[parts[rank].owned].detach(), rtol=1e-5, atol=1e-5)
        for n, p in model.named_parameters():
            torch.testing.assert_close(r["grads"][n], p.grad, rtol=1e-5, atol=1e-5, msg=lambda m: f"{n}: {m}")


@pytest.mark.parametrize("sname", ["metis", "random", "no-halo"])
@pytest.mark.parametrize("world", [2, 3])
def test_halo_exchange_values_and_gradients(equivalence, world, sname):
    g, _ = scenario_graphs()[sname]
    x, _, _ = features(g)
    expected = torch.zeros_like(x)
    copies = torch.zeros(g.num_nodes, dtype=torch.int64)
    for res in equivalence[:world]:
        r = res[world, sname, "exchange"]
        torch.testing.assert_close(r["halo"], x[r["halo_ids"]], rtol=0, atol=0)
        expected.index_add_(0, r["halo_ids"], r["up"])  # each copy's gradient goes back to the owner
        copies[r["halo_ids"]] += 1
    for res in equivalence[:world]:
        r = res[world, sname, "exchange"]
        torch.testing.assert_close(r["grad"], expected[r["owned"]])
    if sname == "no-halo" and world == 2:
        assert int(copies.sum()) == 0  # empty sends and receives both ways
    if sname == "random" and world == 3:
        assert int(copies.max()) == 2  # some vertex is in two halos: its gradients were summed


def test_mismatched_partitionings_raise_on_every_rank(equivalence):
    for res in equivalence:
        assert "ranks hold parts of different partitionings" in res["mismatch"]


def test_ranks_in_different_states_raise_on_every_rank(equivalence):
    for rank, res in enumerate(equivalence):
        assert res["verify"].startswith(f"rank {rank}: the ranks hold different states in the test (rank 0: epoch 0 "
                                        "state 0000000000000000, rank 1: epoch 1"), res["verify"]


# --------------------------------------------------------- end to end, faults
def test_launch_with_torchrun_trains(groups):
    future, (out, err) = groups["launch"]
    rc = future.result(timeout=DEADLINE)
    out.seek(0)
    err.seek(0)
    assert rc == 0, err.read()[-3000:]
    acc = float(out.read().strip().splitlines()[-1].split("test accuracy:")[1])
    assert 0.0 <= acc <= 1.0


def endless_run(parts: Path, out: Path, *argv: str) -> tuple[list[subprocess.Popen], Path]:
    """Two ranks training until killed, each checkpointing into its own folder; rank 0's folder."""
    procs = start_ranks(2, ["-m", "gnnkit.cli.dist_train", "--parts-dir", str(parts), "--epochs", "100000", "--quiet",
                            "--checkpoint-dir", str(out / "ck-{rank}"), *argv], free_port())
    return procs, out / "ck-0"


def test_dead_rank_stops_the_others(cora_parts, tmp_path):
    # the test SIGKILLs rank 1 once epoch 1 is checkpointed: gloo reports the closed connection at once
    procs, ck = endless_run(cora_parts, tmp_path, "--model", "sage", "--timeout", "60")
    wait_for(ck / "manifest.json", procs)  # rank 0 checkpointed epoch 1: both ranks train
    procs[1].kill()  # SIGKILL from outside, as the OOM killer or an operator would
    (rc0, _, err0, seconds), (rc1, _, _, _) = finish(procs, deadline=60)
    assert rc1 == -signal.SIGKILL
    assert rc0 == 1 and seconds < 60
    assert re.search(r"rank 0: communication failed during epoch \d+ ", err0), err0[-2000:]


def test_stalled_rank_times_out(cora_parts, tmp_path):
    # the test SIGSTOPs rank 1: only the timeout ends rank 0's wait (long enough for a slow start-up)
    procs, ck = endless_run(cora_parts, tmp_path, "--model", "gcn", "--timeout", "10")
    wait_for(ck / "manifest.json", procs)
    procs[1].send_signal(signal.SIGSTOP)  # alive but silent: no connection is closed, only the timeout tells
    try:
        rc0, _, err0, _ = finish(procs[:1], deadline=90)[0]
    finally:
        procs[1].kill()
        procs[1].communicate()
    assert rc0 == 1
    assert re.search(r"rank 0: communication failed during epoch \d+ ", err0) and "Timed out" in err0, err0[-2000:]


def test_rank_that_never_joins_times_out(monkeypatch):
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(free_port()))
    t0 = time.monotonic()
    with pytest.raises(PeerError, match=r"rank 0: not all 2 ranks joined the process group at 127.0.0.1:\d+ within 3 s"):
        init_distributed("gloo", timeout_s=3, rank=0, world_size=2)
    assert time.monotonic() - t0 < DEADLINE


# --------------------------------------------- resume, damaged files, orphans
# `gnnkit train --parts 2` on Cora, 4 GCN epochs; RUN + ["--timeout", "60"] are dist_train's arguments for the same run.
EPOCHS = 40  # enough that the test's SIGKILL lands mid-run (it follows the first checkpoint within 0.05 s)
RUN = ["--dataset", "cora", "--model", "gcn", "--seed", "0", "--epochs", str(EPOCHS), "--quiet"]


def gnnkit_train(*argv: str, env_extra: dict | None = None) -> subprocess.Popen:
    """``python -m gnnkit.cli.train train --parts 2 ...`` in its own session (killed as a group in the end)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", **(env_extra or {}))
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.Popen([sys.executable, "-m", "gnnkit.cli.train", "train", "--parts", "2", *argv], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, start_new_session=True)


def _kill_session(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()


def _same_model(a: Path, b: Path) -> bool:
    sa, sb = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
    return sa["model"].keys() == sb["model"].keys() and all(torch.equal(sa["model"][k], sb["model"][k]) for k in sa["model"])


def _kill_agent(proc: subprocess.Popen, ck: Path, psutil) -> dict:
    """SIGKILL the torchrun agent under ``proc`` once its ranks train; what happened to it and them."""
    t0 = time.monotonic()
    while not ck.exists():  # rank 0 wrote epoch 1: the ranks are training
        if proc.poll() is not None or time.monotonic() - t0 > DEADLINE:
            pytest.fail(f"the run ended or hung before its first checkpoint: {proc.communicate()[1][-2000:]}")
        time.sleep(0.2)
    (agent,) = psutil.Process(proc.pid).children()
    workers = agent.children()
    agent.kill()
    _, err = proc.communicate(timeout=30)  # the ranks hold its stderr open: this also waits for them
    _, alive = psutil.wait_procs(workers, timeout=10)
    for w in alive:
        w.kill()
    return {"rc": proc.returncode, "err": err, "agent": agent.pid, "workers": len(workers), "alive": len(alive),
            "ck_after": ck.read_bytes(), "ck_later": (time.sleep(1), ck.read_bytes())[1]}


@pytest.fixture(scope="module")
def resume_runs(tmp_path_factory):
    """Runs of `gnnkit train --parts 2` that go wrong, and resumes from what they left.

    At once: an uninterrupted run (``full``); a run whose rank 1 is SIGKILLed at epoch 3
    (``killed``); a long run whose torchrun agent is SIGKILLed (``agent``). Then, from copies of
    what ``killed`` left: a resume with ``ck.pt`` truncated on rank 0 (falls back to
    ``ck.prev.pt``) and a path that does not exist on rank 1; and one with both files damaged.
    """
    psutil = pytest.importorskip("psutil")
    d = tmp_path_factory.mktemp("resume")
    full = start_ranks(2, ["-m", "gnnkit.cli.dist_train", *RUN, "--timeout", "60", "--save", str(d / "full.pt")], free_port())
    killed = gnnkit_train(*RUN, "--checkpoint", str(d / "killed" / "ck.pt"))
    agent = gnnkit_train(*RUN[:6], "--epochs", "100000", "--quiet", "--checkpoint", str(d / "agent" / "ck.pt"))
    out = {"dir": d}
    try:
        wait_for(previous_path(d / "killed" / "ck.pt"), [killed])  # epoch 2 is written: rank 1 trains
        (torchrun,) = psutil.Process(killed.pid).children()
        worker1 = [w for w in torchrun.children() if w.environ().get("RANK") == "1"]
        assert len(worker1) == 1
        worker1[0].kill()  # SIGKILL from the test: production code has no fault hook
        out["agent"] = _kill_agent(agent, d / "agent" / "ck.pt", psutil)
        out["killed"] = (*killed.communicate(timeout=DEADLINE), killed.returncode)
    finally:
        for proc in (agent, killed):
            _kill_session(proc)
    ck = {name: d / name / "ck.pt" for name in ("resumed", "all-damaged")}
    for name in ck:
        shutil.copytree(d / "killed", d / name)
    ck["resumed"].write_bytes(ck["resumed"].read_bytes()[:1000])
    ck["all-damaged"].write_bytes(b"")
    prev = previous_path(ck["all-damaged"])
    prev.write_bytes(prev.read_bytes()[:-10])
    out["all-damaged-before"] = (ck["all-damaged"].read_bytes(), prev.read_bytes())
    resume, port = ["-m", "gnnkit.cli.dist_train", *RUN, "--timeout", "60", "--resume"], free_port()
    # rank 1 is given a path that does not exist (a typo, or a machine without the shared directory)
    resumed = [p for rank, path in enumerate((ck["resumed"], d / "rank1" / "ck.pt"))
               for p in start_ranks(2, [*resume, "--checkpoint", str(path), "--save", str(d / "resumed.pt")], port, ranks=[rank])]
    damaged = start_ranks(2, [*resume, "--checkpoint", str(ck["all-damaged"])], free_port())
    out["full"], out["resumed"], out["all-damaged"] = finish(full), finish(resumed), finish(damaged)
    out["ck"] = ck
    return out


def test_killed_rank_is_named_as_the_first_failure(resume_runs):
    _, err, rc = resume_runs["killed"]
    assert rc == 1
    assert err.strip().splitlines()[-1] == ("gnnkit train: rank 1 failed first: it ended without a message (killed by a "
                                            "signal, or a crash in native code); the other ranks stopped because of it")
    ck = resume_runs["dir"] / "killed" / "ck.pt"
    epoch = load_checkpoint(ck)["state"]["epoch"]
    assert 2 <= epoch < EPOCHS  # killed mid-run: the epoch in flight never reached the file
    assert load_checkpoint(previous_path(ck))["state"]["epoch"] == epoch - 1


def test_resume_falls_back_and_equals_an_uninterrupted_run_when_rank_1_cannot_see_the_file(resume_runs):
    assert all(rc == 0 for rc, *_ in resume_runs["full"]), resume_runs["full"][0][2][-2000:]
    (rc0, _, err0, _), (rc1, _, err1, _) = resume_runs["resumed"]
    assert rc0 == rc1 == 0, err0[-2000:] + err1[-2000:]
    ck, d = resume_runs["ck"]["resumed"], resume_runs["dir"]
    assert f"rank 0: checkpoint {ck} is damaged (1000 bytes; truncated or overwritten?): RuntimeError: " in err0
    assert f"resuming from {previous_path(ck)} instead" in err0
    assert re.search(rf"rank 0: resuming from {re.escape(str(previous_path(ck)))} after epoch \d+", err0)
    assert _same_model(d / "full.pt", d / "resumed.pt")  # the later epochs retrained from the previous state
    assert load_checkpoint(ck)["state"]["epoch"] == EPOCHS
    assert not (d / "rank1").exists()  # only rank 0 touches checkpoint files


def test_resume_with_every_checkpoint_damaged_stops_every_rank_and_keeps_the_files(resume_runs):
    ck = resume_runs["ck"]["all-damaged"]
    for rank, (rc, _, err, _) in enumerate(resume_runs["all-damaged"]):
        assert rc == 1
        assert f"rank {rank}: cannot resume: no usable checkpoint to resume from: checkpoint {ck} is damaged: the file " \
               f"is empty (0 bytes); checkpoint {previous_path(ck)} is damaged" in err, err[-2000:]
    assert (ck.read_bytes(), previous_path(ck).read_bytes()) == resume_runs["all-damaged-before"]


def test_killed_agent_takes_its_ranks_along(resume_runs):
    r = resume_runs["agent"]
    assert r["workers"] == 2 and r["alive"] == 0  # both ranks exited (within 10 s: wait_procs' limit)
    assert r["rc"] == 128 + signal.SIGKILL
    assert f"gnnkit train: the torchrun agent (pid {r['agent']}) was killed by SIGKILL" in r["err"]
    assert r["ck_later"] == r["ck_after"]  # no orphan writes the checkpoint any more


def test_watchdog_ends_an_orphaned_rank_with_a_message():
    """The portable guard alone (prctl skipped by posing as another platform): the parent dies, the rank exits."""
    psutil = pytest.importorskip("psutil")
    child = ("import sys, time; from gnnkit.cli.dist_train import exit_with_parent; sys.platform = 'other'; "
             "exit_with_parent(0.1); print('ready', flush=True); time.sleep(30)")
    parent = ("import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', sys.argv[1]]); "
              "print(p.pid, flush=True); time.sleep(30)")
    env = dict(os.environ, RANK="1", PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-c", parent, child], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    orphan = None
    try:
        orphan = psutil.Process(int(proc.stdout.readline()))
        assert proc.stdout.readline().strip() == "ready"  # the child's stdout is the same pipe
        proc.kill()
        orphan.wait(timeout=10)
        err = proc.stderr.read()
        assert f"rank 1: the launcher (pid {proc.pid}) died; exiting" in err, err[-2000:]
    finally:
        _kill_session(proc)
        if orphan is not None and orphan.is_running():
            orphan.kill()


@pytest.mark.parametrize(("notes", "expected"), [
    ({0: [("started", 0, ""), ("done", 5, "")], 1: [("started", 0, ""), ("done", 6, "")]}, None),
    # rank 1 was killed: rank 0's communication error is a consequence
    ({0: [("started", 0, ""), ("peer", 5, "rank 0: communication failed")], 1: [("started", 0, "")]},
     "rank 1 failed first: it ended without a message"),
    # rank 1 was killed and the agent stopped rank 0 before it saw the dead peer (a race CI hit):
    # rank 0's SIGTERM note keeps it from looking as silent as the killed rank
    ({0: [("started", 0, ""), ("stopped", 5, "stopped by the launcher after another rank failed")],
      1: [("started", 0, "")]},
     "rank 1 failed first: it ended without a message"),
    # rank 1's own error came first; torchrun then stopped rank 0 without a note
    ({0: [("started", 0, "")], 1: [("started", 0, ""), ("error", 4, "rank 1: cannot resume: x")]},
     "rank 1 failed first: rank 1: cannot resume: x"),
    ({0: [("started", 0, ""), ("error", 3, "rank 0: a")], 1: [("started", 0, ""), ("error", 2, "rank 1: b")]},
     "rank 1 failed first: rank 1: b"),
    ({0: [("started", 0, ""), ("peer", 3, "rank 0: p")], 1: [("started", 0, ""), ("peer", 2, "rank 1: q")]},
     "rank 1 failed first: rank 1: q"),
])
def test_first_failure_names_the_cause_not_the_consequence(tmp_path, notes, expected):
    for rank, kinds in notes.items():
        for kind, when, message in kinds:
            (tmp_path / f"rank{rank}.{kind}").write_text(f"{when}\n{message}")
    got = first_failure(tmp_path, 2)
    assert got == expected if expected is None else got.startswith(expected), got


# ------------------------------------------------- in-process, one-rank group
@pytest.fixture
def one_rank_group(monkeypatch):
    import torch.distributed as dist

    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(free_port()))
    init_distributed("gloo", timeout_s=30, rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def _args(*argv: str) -> Namespace:
    return build_parser().parse_args(["--quiet", "--dataset", "cora", *argv])


def test_checkpoint_resume_equals_uninterrupted_run(one_rank_group, tmp_path):
    ck, full, resumed = tmp_path / "ck.pt", tmp_path / "full.pt", tmp_path / "resumed.pt"
    for argv in (["--epochs", "3", "--save", str(full)],
                 ["--epochs", "1", "--checkpoint", str(ck)],
                 ["--epochs", "3", "--checkpoint", str(ck), "--resume", "--save", str(resumed)]):
        run(_args("--model", "gcn", "--method", "random", *argv), 0, 1)
    assert load_checkpoint(ck)["state"]["epoch"] == 3
    a, b = torch.load(full, weights_only=True), torch.load(resumed, weights_only=True)
    assert a["config"] == b["config"]
    for k in a["model"]:
        torch.testing.assert_close(a["model"][k], b["model"][k], rtol=0, atol=0)


def test_checkpoint_dir_resume_equals_uninterrupted_run_and_falls_back(one_rank_group, tmp_path, capsys):
    import json

    ck, full, resumed = tmp_path / "ck", tmp_path / "full.pt", tmp_path / "resumed.pt"
    base = ("--model", "gcn", "--method", "random", "--checkpoint-dir", str(ck))
    run(_args(*base, "--epochs", "3", "--save", str(full)), 0, 1)
    manifest = json.loads((ck / "manifest.json").read_text())
    assert (manifest["format"], manifest["epoch"], manifest["world_size"], manifest["files"]) == \
        ("gnnkit.dist-checkpoint/1", 3, 1, ["rank0.pt"])
    assert load_checkpoint(ck / "rank0.pt")["state"]["epoch"] == 3
    (ck / "rank0.pt").write_bytes((ck / "rank0.pt").read_bytes()[:500])  # truncated: epoch 2's file serves
    capsys.readouterr()
    run(_args(*base, "--epochs", "3", "--resume", "--save", str(resumed)), 0, 1)
    err = capsys.readouterr().err
    assert f"rank 0: checkpoint {ck / 'rank0.pt'} is damaged" in err
    assert "rank 0: resuming after epoch 2 from rank 0's checkpoint (rank 0's manifest names epoch 3: later files " \
           "were damaged or missing); epochs held per rank: [2]" in err
    a, b = torch.load(full, weights_only=True), torch.load(resumed, weights_only=True)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_checkpoint_dir_rejects_another_runs_checkpoint(one_rank_group, tmp_path):
    ck = tmp_path / "ck"
    run(_args("--model", "gcn", "--method", "random", "--epochs", "1", "--checkpoint-dir", str(ck)), 0, 1)
    with pytest.raises(ValueError, match=r"rank 0: cannot resume: rank 0: checkpoint .*rank0.pt was written by another "
                                         r"run \(different model, config\)"):
        run(_args("--model", "sage", "--method", "random", "--epochs", "2", "--checkpoint-dir", str(ck), "--resume"), 0, 1)


@pytest.mark.parametrize(("argv", "match"), [
    (["--checkpoint", "a.pt", "--checkpoint-dir", "ck"], "give --checkpoint PATH .* or --checkpoint-dir DIR .*, not both"),
    (["--resume"], "--resume needs --checkpoint PATH or --checkpoint-dir DIR"),
])
def test_dist_train_rejects_checkpoint_combinations(argv, match, capsys):
    from gnnkit.cli.dist_train import main

    with pytest.raises(SystemExit):
        main(argv)
    assert re.search(match, capsys.readouterr().err)


def test_resume_rejects_another_runs_checkpoint(one_rank_group, tmp_path):
    ck = tmp_path / "ck.pt"
    run(_args("--model", "gcn", "--method", "random", "--epochs", "1", "--checkpoint", str(ck)), 0, 1)
    with pytest.raises(ValueError, match="was written by another run"):
        run(_args("--model", "sage", "--method", "random", "--epochs", "2", "--checkpoint", str(ck), "--resume"), 0, 1)


def test_parts_for_another_world_size_are_rejected(one_rank_group, cora_parts):
    with pytest.raises(ValueError, match=r"rank 0: the part in .*part-0 was made for 2 ranks, but world_size is 1"):
        run(_args("--parts-dir", str(cora_parts)), 0, 1)


def test_rank_part_reads_what_prepare_wrote(cora_parts):
    from gnnkit.data import load_dataset

    d = load_dataset("cora")
    parts = partition(d.graph, 2, "metis", seed=0, reorder=False)
    for r in range(2):
        got = rank_part(cora_parts, r, 2)
        assert torch.equal(got.part.owned, parts[r].owned) and torch.equal(got.part.halo, parts[r].halo)
        assert torch.equal(got.part.graph.src, parts[r].graph.src) and torch.equal(got.x, d.x[parts[r].owned])
        assert (got.num_classes, got.num_parts, got.dataset) == (d.num_classes, 2, "cora")


# ---------------------------------------------------------------- bad input
def test_missing_part_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"part-1 holds no part \(found \[\]\).*--prepare --parts 2"):
        rank_part(tmp_path, 1, 2)


def test_init_distributed_needs_environment(monkeypatch):
    for k in ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE"):
        monkeypatch.delenv(k, raising=False)
    with pytest.raises(ValueError, match="init_distributed needs RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT"):
        init_distributed()


def test_verify_same_state_rejects_a_malformed_digest():
    with pytest.raises(ValueError, match="digest must be a SHA-256 as 64 lowercase hex digits"):
        verify_same_state(0, "abc", "now")


def test_init_distributed_rejects_bad_timeout():
    with pytest.raises(ValueError, match="timeout_s must be > 0"):
        init_distributed(timeout_s=0)


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(model="gat"), "model must be one of"),
    (dict(model="sage", norm="batch"), "norm='batch' needs batch statistics over all ranks"),
])
def test_partitioned_gnn_rejects_unsupported_models(kwargs, match):
    model = GNN(GNNConfig(in_features=5, out_features=3, **kwargs))
    part = partition(Graph([0, 1], [1, 0], 2), 1)[0]
    with pytest.raises(ValueError, match=match):
        PartitionedGNN(model, part, exchange=None)


def test_prepare_needs_parts_and_dir():
    with pytest.raises(ValueError, match="--prepare needs --parts N and --parts-dir DIR"):
        prepare(build_parser().parse_args(["--prepare"]))


def test_peer_error_is_a_runtime_error():
    assert issubclass(PeerError, RuntimeError)


# ------------------------------------------------------- gnnkit train --parts
def _cli_with_parts():
    from gnnkit.cli import train as cli

    return cli


def test_cli_parts_maps_options_to_dist_train(monkeypatch, tmp_path):
    cli = _cli_with_parts()
    import gnnkit.cli.dist_train

    calls = []
    monkeypatch.setattr(gnnkit.cli.dist_train, "launch", lambda n, argv: calls.append((n, argv)) or 0)
    ck = tmp_path / "ck.pt"
    assert cli.main(["train", "--parts", "2", "--model", "sage", "--epochs", "3", "--hidden", "8",
                     "--checkpoint", str(ck), "--resume", "--quiet"]) == 0
    (n, argv), = calls
    assert n == 2
    assert argv == ["--dataset", "cora", "--model", "sage", "--seed", "0", "--epochs", "3", "--hidden", "8",
                    "--checkpoint", str(ck), "--resume", "--quiet"]
    build_parser().parse_args(argv)  # dist_train accepts every option it is given


def test_cli_parts_passes_part_and_checkpoint_dirs(monkeypatch, tmp_path):
    cli = _cli_with_parts()
    import gnnkit.cli.dist_train

    calls = []
    monkeypatch.setattr(gnnkit.cli.dist_train, "launch", lambda n, argv: calls.append(argv) or 0)
    assert cli.main(["train", "--parts", "2", "--parts-dir", "p", "--checkpoint-dir", "ck", "--resume"]) == 0
    assert calls[0][-5:] == ["--parts-dir", "p", "--checkpoint-dir", "ck", "--resume"]
    build_parser().parse_args(calls[0])


def test_cli_part_dirs_need_parts(capsys):
    cli = _cli_with_parts()
    with pytest.raises(SystemExit):
        cli.main(["train", "--parts-dir", "p"])
    assert "--parts-dir and --checkpoint-dir apply to --parts N with N > 1" in capsys.readouterr().err


def test_cli_parts_under_torchrun_runs_as_one_rank(monkeypatch):
    cli = _cli_with_parts()
    import gnnkit.cli.dist_train

    calls = []
    monkeypatch.setattr(gnnkit.cli.dist_train, "main", lambda argv: calls.append(argv) or 0)
    monkeypatch.setattr(gnnkit.cli.dist_train, "launch", lambda n, argv: pytest.fail("launched a second torchrun"))
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert cli.main(["train", "--parts", "2", "--epochs", "1"]) == 0
    assert calls and "--epochs" in calls[0]


def test_cli_parts_under_torchrun_needs_the_world_size(monkeypatch, capsys):
    cli = _cli_with_parts()
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job")
    monkeypatch.setenv("WORLD_SIZE", "4")
    with pytest.raises(SystemExit):
        cli.main(["train", "--parts", "2"])
    assert "--parts 2 must equal the ranks torchrun started (WORLD_SIZE=4)" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "match"), [
    (["--model", "gat"], "--parts needs --model in"),
    (["--patience", "5"], "--parts does not support --patience"),
    (["--resume"], "--resume needs --checkpoint PATH or --checkpoint-dir DIR"),
    (["--checkpoint", "a.pt", "--checkpoint-dir", "ck"], "give --checkpoint PATH or --checkpoint-dir DIR, not both"),
])
def test_cli_parts_rejects_unsupported_options(argv, match, capsys):
    cli = _cli_with_parts()
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", "--parts", "2", *argv])
    assert exc.value.code == 2
    assert match in capsys.readouterr().err
