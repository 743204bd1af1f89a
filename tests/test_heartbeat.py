"""The multi-node heartbeat: a stopped (not killed) rank is named within seconds, even with a long ``--timeout``."""
from __future__ import annotations

import re
import signal
import threading
import time

import pytest
import torch.distributed as dist

from gnnkit.cli.dist_train import free_port
from gnnkit.scale import distributed
from gnnkit.scale.heartbeat import Heartbeat
from test_distributed import cora_parts, endless_run, finish, wait_for  # noqa: F401 (cora_parts is a fixture)


class _Verdicts:
    """Collects on_silence messages instead of exiting the test process."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.said = threading.Event()

    def __call__(self, message: str) -> None:
        self.messages.append(message)
        self.said.set()


@pytest.fixture
def store():
    server = dist.TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False)
    yield server


def test_heartbeat_names_a_peer_that_never_beats(store):
    verdicts = _Verdicts()
    beats = [Heartbeat("127.0.0.1", store.port, r, 3, timeout_s=0.8, interval_s=0.1, on_silence=verdicts).start()
             for r in (0, 1)]  # rank 2 stays silent
    try:
        assert verdicts.said.wait(20)
    finally:
        for b in beats:
            b.stop()
    assert all(re.fullmatch(r"rank [01]: rank 2 sent no heartbeat for more than 0.8 s \(rank 2: \d+ s\): stopped, "
                            r"hung or cut off from this machine; stopping instead of waiting for the collective "
                            r"timeout", m) for m in verdicts.messages), verdicts.messages


def test_heartbeat_of_beating_peers_stays_quiet_and_stops(store):
    verdicts = _Verdicts()
    beats = [Heartbeat("127.0.0.1", store.port, r, 2, timeout_s=0.6, interval_s=0.05, on_silence=verdicts).start()
             for r in (0, 1)]
    time.sleep(1.5)  # over twice the limit: each saw the other's counter move
    for b in beats:
        b.stop()
    assert verdicts.messages == [] and not any(b._watcher.is_alive() for b in beats)


def test_heartbeat_names_rank_0_when_its_store_does_not_answer():
    verdicts = _Verdicts()
    port = free_port()  # nothing listens there: rank 0 (which serves the store) is gone
    Heartbeat("127.0.0.1", port, 1, 2, timeout_s=1.0, on_silence=verdicts).start()
    assert verdicts.said.wait(30)
    assert re.match(rf"rank 1: the rendezvous store on rank 0 \(127.0.0.1:{port}\) did not answer the heartbeat "
                    r"within 1 s: rank 0 is stopped, hung or cut off", verdicts.messages[0]), verdicts.messages


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(rank=0, world_size=1), r"world_size must be >= 2 for a heartbeat"),
    (dict(rank=2, world_size=2), r"rank must lie in \[0, world_size=2\), got 2"),
    (dict(rank=0, world_size=2, timeout_s=0), r"timeout_s must be > 0 seconds, got 0"),
    (dict(rank=0, world_size=2, timeout_s=5, interval_s=5), r"interval_s must lie in \(0, timeout_s=5\), got 5"),
])
def test_heartbeat_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Heartbeat("127.0.0.1", 1, **kwargs)


def test_store_address_needs_init_distributed(monkeypatch):
    monkeypatch.setattr(distributed, "_STORE_ADDRESS", [])
    with pytest.raises(RuntimeError, match=r"store_address\(\) needs init_distributed\(\)"):
        distributed.store_address()


def _stop_one(parts, tmp_path, stopped: int, *heartbeat: str) -> tuple[int, str, float]:
    """Two ranks with ``--timeout 600``; SIGSTOP rank ``stopped`` once both train; the survivor's (rc, stderr, s)."""
    procs, ck = endless_run(parts, tmp_path, "--model", "gcn", "--timeout", "600", *heartbeat)
    wait_for(ck / "manifest.json", procs)  # rank 0 checkpointed epoch 1: both ranks train
    procs[stopped].send_signal(signal.SIGSTOP)  # alive but silent: no socket is closed
    t0 = time.monotonic()
    try:
        rc, _, err, _ = finish([procs[1 - stopped]], deadline=90)[0]
        return rc, err, time.monotonic() - t0
    finally:
        procs[stopped].kill()
        procs[stopped].communicate()


@pytest.mark.parametrize("stopped", [0, 1])
def test_a_stopped_rank_is_named_long_before_the_timeout(cora_parts, tmp_path, stopped):  # noqa: F811
    rc, err, seconds = _stop_one(cora_parts, tmp_path, stopped, "--heartbeat-timeout", "4")
    survivor = 1 - stopped
    assert rc == 1 and seconds < 60, err[-2000:]
    # rank 0 serves the store, so when it stops the survivor's watcher sees two symptoms about one
    # interval apart: store rounds stop completing, and rank 0's counter stops changing (its last
    # change may predate the last completed round). Whichever trips first, the verdict names rank 0.
    named = (rf"rank {survivor}: rank 1 sent no heartbeat for more than 4 s" if stopped == 1 else
             rf"rank {survivor}: (the rendezvous store on rank 0 \(127.0.0.1:\d+\) did not answer the heartbeat "
             rf"within 4 s: rank 0 is stopped|rank 0 sent no heartbeat for more than 4 s .*: stopped)")
    assert re.search(rf"gnnkit.cli.dist_train: {named}", err), err[-2000:]


@pytest.mark.slow
def test_a_stopped_rank_is_named_within_60_s_with_the_default_heartbeat(cora_parts, tmp_path):  # noqa: F811
    rc, err, seconds = _stop_one(cora_parts, tmp_path, 1)
    assert rc == 1 and seconds < 60, err[-2000:]
    assert "rank 0: rank 1 sent no heartbeat for more than 30 s" in err, err[-2000:]


def test_heartbeat_does_not_report_a_peer_that_finished(store):
    # rank 1 finishes first (stop() marks it finished); rank 0 keeps watching for over twice the
    # limit, as a rank writing a large checkpoint after the last epoch would
    verdicts = _Verdicts()
    r0 = Heartbeat("127.0.0.1", store.port, 0, 2, timeout_s=0.6, interval_s=0.05, on_silence=verdicts).start()
    r1 = Heartbeat("127.0.0.1", store.port, 1, 2, timeout_s=0.6, interval_s=0.05, on_silence=verdicts).start()
    time.sleep(0.3)
    r1.stop()
    time.sleep(1.6)
    r0.stop()
    assert verdicts.messages == []
