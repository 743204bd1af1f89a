"""One benchmark measurement in a fresh process: the runner every alternating-rounds benchmark shares.

Each engine runs in its own process so its peak RSS is its own and no library's state (thread
pools, caches, allocator) leaks into the next measurement; the worker prints one JSON line last.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def run_worker(script: str | Path, worker_args: list[str], threads: int | None, what: str) -> dict:
    """Run ``python script --worker *worker_args [--threads T]`` and return the JSON of its last stdout line.

    ``threads`` also sets ``OMP_NUM_THREADS`` (read by DGL's OpenMP runtime at import); ``None``
    leaves each library its own default.

    Raises:
        RuntimeError: the worker failed (the message names ``what`` and ends with its stderr).
    """
    cmd = [sys.executable, str(script), "--worker", *worker_args]
    env = dict(os.environ)
    if threads:
        cmd += ["--threads", str(threads)]
        env["OMP_NUM_THREADS"] = str(threads)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
