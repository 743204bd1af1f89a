"""A/B: gnnkit at another git revision against this working tree, on ``benchmarks/core.py``'s workloads.

Answers "did this change slow the hot path?" in one run: each revision's gnnkit is imported
from its own tree (``gnnkit`` and ``gnnkit_kernels`` put first on ``PYTHONPATH``), the two
alternate round by round so that a busy or quiet spell of the machine hits both, and each
round is ``benchmarks/core.py --engines gnnkit`` of this tree (same graph, same steps).

    python benchmarks/ab.py --base c77f667 --rounds 3 --steps 5
    python benchmarks/ab.py --base HEAD~3 --workloads gcn sage --quick

Prints per workload the median step time of each side, the spread (min-max of the round
medians) and head/base.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from core import WORKLOADS  # noqa: E402  the workloads this compares


def import_root(tree: Path, where: Path) -> Path:
    """A folder holding ``gnnkit`` and ``gnnkit_kernels`` links into ``tree`` (its installed layout)."""
    where.mkdir(parents=True, exist_ok=True)
    for name, target in (("gnnkit", tree / "gnnkit"), ("gnnkit_kernels", tree / "kernels")):
        link = where / name
        if not link.exists():
            link.symlink_to(target, target_is_directory=True)
    return where


def checkout(rev: str, where: Path) -> Path:
    """A detached worktree of ``rev`` at ``where`` (made once, reused)."""
    if not (where / "gnnkit").exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), rev], check=True,
                       capture_output=True)
    return where


def one_round(path: Path, args: argparse.Namespace, out: Path) -> dict[str, float]:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "core.py"), "--engines", "gnnkit", "--steps", str(args.steps),
           "--threads", str(args.threads), "--workloads", *args.workloads, "--json", str(out)]
    if args.quick:
        cmd.append("--quick")
    env = {**os.environ, "PYTHONPATH": str(path)}
    subprocess.run(cmd, check=True, env=env, capture_output=True, text=True)
    rows = json.loads(out.read_text())
    return {r["workload"]: r["median_s"] for r in rows if r.get("engine") == "gnnkit" and "median_s" in r}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", required=True, help="git revision to compare against (e.g. c77f667, HEAD~1)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=WORKLOADS)
    p.add_argument("--quick", action="store_true", help="core.py's small graph")
    args = p.parse_args(argv)
    tmp = Path(tempfile.gettempdir()) / "gnnkit_ab"
    base_tree = checkout(args.base, tmp / f"tree-{args.base.replace('/', '_').replace('~', '-')}")
    sides = {"base": import_root(base_tree, tmp / "root-base"), "head": import_root(ROOT, tmp / "root-head")}
    times: dict[str, dict[str, list[float]]] = {s: {w: [] for w in args.workloads} for s in sides}
    for r in range(args.rounds):
        order = list(sides) if r % 2 == 0 else list(reversed(sides))
        for side in order:
            for w, t in one_round(sides[side], args, tmp / f"{side}.json").items():
                times[side][w].append(t)
            print(f"round {r + 1}/{args.rounds} {side}: done", file=sys.stderr, flush=True)
    print(f"| workload | base {args.base} | head | head/base |")
    print("|---|---|---|---|")
    for w in args.workloads:
        b, h = times["base"][w], times["head"][w]
        if not b or not h:
            print(f"| {w} | failed | failed | |")
            continue
        mb, mh = statistics.median(b), statistics.median(h)
        print(f"| {w} | {mb:.3f} s ({min(b):.3f}-{max(b):.3f}) | {mh:.3f} s ({min(h):.3f}-{max(h):.3f}) | {mh / mb:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
