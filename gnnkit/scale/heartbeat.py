"""A heartbeat between the ranks of a multi-node run: a silent peer is noticed in seconds, not after ``--timeout``.

A peer that dies closes its sockets and gloo fails at once; a peer that is stopped (SIGSTOP,
a frozen VM, a cut network link) closes nothing, so a collective waits the whole process
group timeout, which large runs set long (minutes) for slow epochs and checkpoints. Here a
daemon thread on every rank writes an increasing counter under its own key of the
rendezvous store every ``interval_s`` seconds and reads its peers' counters, and a second
daemon thread judges them: a peer whose counter has not moved for ``timeout_s`` seconds (on this rank's monotonic clock, so the
machines' clocks need not agree) is reported by rank id. The store runs in rank 0's
process, so a silent rank 0 shows as store calls that do not return (a stopped server keeps
its socket open, and the client's timeout does not cover that), reported as rank 0.

The threads use their own store connection and no collective, so it never queues behind the
training's collectives; it only reads and writes a few bytes per peer and beat.

A rank whose Python code holds the GIL longer than ``timeout_s`` (a long C call that does not
release it) would stop beating too; torch's and gloo's calls release it.
"""
from __future__ import annotations

import datetime
import os
import sys
import threading
import time
from typing import Callable

import torch.distributed as dist

__all__ = ["Heartbeat", "DEFAULT_HEARTBEAT_TIMEOUT_S"]

DEFAULT_HEARTBEAT_TIMEOUT_S = 30.0  # with the 5 s beat, a silent peer is reported within about 35-40 s
_KEY = "gnnkit/heartbeat/{}"
# what a rank writes under its key when stop() ends its beating: it finished, it is not lost
# (a peer still busy after training, e.g. writing a large checkpoint, must not report it)
_FINISHED = b"finished"


def _exit_with(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
    os._exit(1)  # the main thread may be blocked inside a collective: only a process exit ends it


class Heartbeat:
    """Beat under this rank's key of the rendezvous store and watch the peers' beats, on two daemon threads.

    Args:
        host: the rendezvous store's address (``MASTER_ADDR``, or the store of this round).
        port: its port.
        rank: this rank. world_size: number of ranks (``>= 2``).
        timeout_s: a peer whose beat has not changed for this long is reported silent; store calls
            get the same limit.
        interval_s: seconds between beats (default ``timeout_s / 6``).
        on_silence: called once, on a heartbeat thread, with the message naming the silent rank; it
            should end the process (the default prints the message and exits with status 1).

    Raises:
        ValueError: ``world_size < 2``, ``rank`` outside ``[0, world_size)``, ``timeout_s <= 0``,
            or ``interval_s`` not in ``(0, timeout_s)``.

    Example::

        hb = Heartbeat("10.0.0.1", 29500, rank, world_size).start()
        ...                      # training; a stopped peer ends this process within ~timeout_s
        hb.stop()                # before the final barrier, so a finished peer is not taken for a lost one
    """

    def __init__(self, host: str, port: int, rank: int, world_size: int, timeout_s: float = DEFAULT_HEARTBEAT_TIMEOUT_S,
                 interval_s: float | None = None, on_silence: Callable[[str], None] = _exit_with) -> None:
        if not world_size >= 2:
            raise ValueError(f"world_size must be >= 2 for a heartbeat (one process has no peer), got {world_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must lie in [0, world_size={world_size}), got {rank}")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0 seconds, got {timeout_s}")
        interval_s = timeout_s / 6 if interval_s is None else interval_s
        if not 0 < interval_s < timeout_s:
            raise ValueError(f"interval_s must lie in (0, timeout_s={timeout_s:g}), got {interval_s}")
        self.host, self.port, self.rank, self.world_size = host, int(port), int(rank), int(world_size)
        self.timeout_s, self.interval_s = float(timeout_s), float(interval_s)
        self._on_silence = on_silence
        self._stop, self._lock, self._said = threading.Event(), threading.Lock(), False
        self._peers = [r for r in range(world_size) if r != rank]
        self._keys = {r: _KEY.format(r) for r in range(world_size)}
        self._last: dict[int, bytes | None] = dict.fromkeys(self._peers)
        now = time.monotonic()
        self._changed = dict.fromkeys(self._peers, now)  # a peer that never beats is silent from the start
        self._round_at = now  # end of the last completed store round
        self._beater = threading.Thread(target=self._beat, name="gnnkit-heartbeat", daemon=True)
        self._watcher = threading.Thread(target=self._watch, name="gnnkit-heartbeat-watch", daemon=True)

    def start(self) -> "Heartbeat":
        """Start the threads; returns ``self``."""
        self._beater.start()
        self._watcher.start()
        return self

    def stop(self) -> None:
        """Stop beating and watching (waits for the watcher; a store call in flight is left to its daemon thread).

        The beating thread's last write marks this rank finished, so peers that are still
        training or checkpointing do not take it for a lost rank.
        """
        self._stop.set()
        if self._watcher.is_alive():
            self._watcher.join(self.timeout_s)

    def _silent(self, message: str) -> None:
        with self._lock:  # one verdict, from whichever thread sees the silence first
            if self._said or self._stop.is_set():  # a peer shutting down after stop() is not lost
                return
            self._said = True
        self._on_silence(f"rank {self.rank}: {message}")

    def _store_silent(self, cause: str) -> None:
        self._silent(f"the rendezvous store on rank 0 ({self.host}:{self.port}) did not answer the heartbeat within "
                     f"{self.timeout_s:g} s: rank 0 is stopped, hung or cut off{cause}")

    def _beat(self) -> None:
        """Write this rank's counter and read the peers' every ``interval_s`` seconds."""
        try:
            store = dist.TCPStore(self.host, self.port, is_master=False,
                                  timeout=datetime.timedelta(seconds=self.timeout_s))
            beat = 0
            while not self._stop.is_set():
                store.set(self._keys[self.rank], str(beat))
                beat += 1
                for r in self._peers:  # a loop over ranks, a few bytes each, every interval_s
                    value = store.get(self._keys[r]) if store.check([self._keys[r]]) else None
                    if value != self._last[r]:
                        self._last[r], self._changed[r] = value, time.monotonic()
                self._round_at = time.monotonic()
                self._stop.wait(self.interval_s)
            store.set(self._keys[self.rank], _FINISHED.decode())
        except (RuntimeError, TimeoutError, OSError) as exc:  # DistStoreError is a RuntimeError
            self._store_silent(f". Cause: {str(exc).strip()[:300]}")

    def _watch(self) -> None:
        """Judge the beats. A store call to a stopped rank 0 blocks without timing out (the socket stays
        open), so the age of the last completed round is checked here, on a thread of its own."""
        while not self._stop.wait(self.interval_s):
            now = time.monotonic()
            if now - self._round_at > self.timeout_s:
                self._store_silent(f" (no store round completed for {now - self._round_at:.0f} s)")
                return
            silent = [r for r in self._peers if self._last[r] != _FINISHED and now - self._changed[r] > self.timeout_s]
            if silent:
                ages = ", ".join(f"rank {r}: {now - self._changed[r]:.0f} s" for r in silent)
                self._silent(f"rank{'s' if len(silent) > 1 else ''} {', '.join(map(str, silent))} sent no heartbeat "
                             f"for more than {self.timeout_s:g} s ({ages}): stopped, hung or cut off from this "
                             f"machine; stopping instead of waiting for the collective timeout")
                return

    def __repr__(self) -> str:
        return (f"Heartbeat(rank={self.rank}, world_size={self.world_size}, store={self.host}:{self.port}, "
                f"timeout_s={self.timeout_s:g}, interval_s={self.interval_s:g})")
