"""Shared test helpers and the suite's collection rules.

Helpers: seeded random graphs, tie-free values, the dense oracle adjacency and ``DEVICES`` (the
devices to parametrise over: ``"cuda"`` only where it exists). Import them with
``from conftest import random_graph, dense_adjacency, tie_free, DEVICES`` (pytest puts ``tests/`` on
``sys.path``). Fixture ``raw_cora``: a directory with Cora's raw Planetoid files, written from the
bundled copy, so no test reads a path outside the repository. Everything here is for tests only;
the dense matrices are oracles.

Rules (so that ``-rs`` lists only skips that say something):

- CUDA parametrisations (a ``device`` parameter equal to ``"cuda"``) are collected only where
  CUDA exists; elsewhere they are deselected, not reported as hundreds of skips.
- Under ``CI=true`` a comparison test skipped because ``dgl`` or ``torch_geometric`` is missing
  fails instead: CI installs the ``dev`` extras, so a missing reference engine is a broken
  environment, not a reason to pass without comparing.
"""
from __future__ import annotations

import os
import re

import pytest
import torch

from gnnkit import Graph

HAS_CUDA = torch.cuda.is_available()
# Tests parametrise over these; "cuda" is only listed where it can run.
DEVICES = ["cpu"] + (["cuda"] if HAS_CUDA else [])

# The reference engines of the comparison tests; a skip naming one of them fails under CI=true.
COMPARISON_DEPS = ("dgl", "torch_geometric", "brian2")
# pytest.importorskip says "could not import 'dgl.x': ..."; skipif marks say "dgl not installed".
_MISSING_DEP = re.compile(r"could not import '(%s)[.'\w]*|\b(%s) (is )?not installed" % (("|".join(COMPARISON_DEPS),) * 2))


def _is_cuda_item(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return False
    dev = callspec.params.get("device")
    return isinstance(dev, (str, torch.device)) and torch.device(dev).type == "cuda"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect CUDA parametrisations on a machine without CUDA (test files may list their own)."""
    if HAS_CUDA:
        return
    keep, drop = [], []
    for item in items:
        (drop if _is_cuda_item(item) else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _skip_reason(report: pytest.TestReport) -> str:
    # a skip's longrepr is (path, lineno, "Skipped: reason")
    longrepr = report.longrepr
    return longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Under ``CI=true``, turn a skip for a missing comparison engine into a failure."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") != "true" or not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = _skip_reason(report)
    if _MISSING_DEP.search(reason):
        report.outcome = "failed"
        report.longrepr = (
            f"CI=true: {reason!r}. A comparison engine ({', '.join(COMPARISON_DEPS)}) is missing; "
            'CI installs them with pip install -e ".[dev]", so this environment is broken.'
        )


def random_graph(num_nodes: int, num_edges: int, seed: int = 0, num_src_nodes: int | None = None) -> Graph:
    """``num_edges`` uniform random edges (duplicates and self-loops possible), edges unsorted.

    With ``num_src_nodes`` the graph is bipartite: ``src`` in ``[0, num_src_nodes)``.
    """
    gen = torch.Generator().manual_seed(seed)
    ns = num_nodes if num_src_nodes is None else num_src_nodes
    src = torch.randint(0, max(ns, 1), (num_edges,), generator=gen)
    dst = torch.randint(0, max(num_nodes, 1), (num_edges,), generator=gen)
    return Graph(src, dst, num_nodes, num_src_nodes=num_src_nodes)


def dense_adjacency(g: Graph, w: torch.Tensor | None = None, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``[N, num_src_nodes]`` with ``A[dst, src]`` = the sum of ``w`` over parallel edges (1 per edge by default).

    Differentiable in ``w``. An oracle for tests, never library code.
    """
    a = torch.zeros(g.num_nodes, g.num_src_nodes, dtype=dtype)
    vals = torch.ones(g.num_edges, dtype=dtype) if w is None else w.to(dtype)
    return a.index_put((g.dst, g.src), vals, accumulate=True)


def tie_free(shape: tuple[int, ...], seed: int = 0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Distinct values spaced 0.1 apart, centred on 0, in random order.

    For max/min tests: no two elements tie, so the arg-max and the gradient are unique and
    finite differences with gradcheck's eps (1e-6) never cross a tie.
    """
    gen = torch.Generator().manual_seed(seed)
    n = 1
    for s in shape:
        n *= s
    vals = (torch.randperm(n, generator=gen).to(dtype) - (n - 1) / 2) * 0.1
    return vals.reshape(shape)


@pytest.fixture
def graph_factory():
    return random_graph


@pytest.fixture(scope="session")
def raw_cora(tmp_path_factory: pytest.TempPathFactory):
    """A directory holding the eight raw Planetoid files of Cora, written from the bundled ``cora.npz``.

    Written once per session in the published pickle format (``tests/planetoid_files.py``), so the
    tests of the raw reader need no files outside the repository. Read-only for the tests.
    """
    from gnnkit.data import BUNDLED
    from planetoid_files import write_planetoid

    return write_planetoid(BUNDLED["cora"], tmp_path_factory.mktemp("planetoid"), "cora")


def kill_checkpoint_write(monkeypatch, at: int, partial: bool = False) -> None:
    """Make the ``at``-th call of ``gnnkit.checkpoint.atomic_save`` raise KeyboardInterrupt, as a killed run.

    The file being replaced stays intact; with ``partial`` a half-written temporary file is left beside it.
    Undo with ``monkeypatch.undo()`` (or the fixture's teardown).
    """
    import gnnkit.checkpoint as checkpoint

    real_save, calls = checkpoint.atomic_save, []

    def killed(obj, path, previous=None):
        calls.append(path)
        if len(calls) == at:
            if partial:
                path.with_name(path.name + ".tmp").write_bytes(b"partial")
            raise KeyboardInterrupt
        real_save(obj, path, previous)

    monkeypatch.setattr(checkpoint, "atomic_save", killed)


def usage_error(capsys, argv: list[str]) -> str:
    """Run ``gnnkit ARGV`` in this process, check it exits with status 2 and return its stderr."""
    from gnnkit.cli import main

    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    return capsys.readouterr().err
