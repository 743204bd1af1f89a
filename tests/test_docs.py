"""The documentation site: it builds with warnings as errors, and every public module is on a page.

``test_docs_build_has_no_warnings`` is the CI docs build: ``sphinx-build -W --keep-going`` into a
temporary directory, in a subprocess (a docstring with broken RST, a design note missing from the
toctree or a failing tutorial fails it, with Sphinx's message). It runs the three tutorials'
``--quick`` modes as part of the build, so it takes about a minute of CPU.
"""
from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# the package areas with a page each in docs/api/ (checkpoint is a module, documented whole)
AREAS = ("graph", "ops", "nn", "blocks", "models", "data", "link", "scale", "inflation", "brain", "cli")


def _require_sphinx() -> None:
    # CI installs the docs tools with the dev extra: there a missing one is a broken environment
    if os.environ.get("CI") == "true":
        importlib.import_module("sphinx")
        importlib.import_module("myst_parser")
    else:
        pytest.importorskip("sphinx")
        pytest.importorskip("myst_parser")


def _documented_modules() -> set[str]:
    """Every module named by an ``automodule`` directive in ``docs/api/*.rst``."""
    found = set()
    for page in DOCS.glob("api/*.rst"):
        found.update(re.findall(r"^\.\. automodule:: (\S+)", page.read_text(encoding="utf-8"), re.M))
    return found


def _public_names(module) -> list[str]:
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [n for n, v in vars(module).items() if not n.startswith("_") and getattr(v, "__module__", None) == module.__name__
            and (inspect.isclass(v) or inspect.isfunction(v))]


def _undocumented(area: str, documented: set[str]) -> list[str]:
    """``module: names`` of ``gnnkit.<area>`` modules whose public names reach no API page."""
    package = importlib.import_module(f"gnnkit.{area}")
    missing = []
    todo = [package]
    while todo:
        pkg = todo.pop()
        exported = {id(getattr(pkg, n)) for n in getattr(pkg, "__all__", ()) if hasattr(pkg, n)}
        exported |= {id(getattr(package, n)) for n in getattr(package, "__all__", ()) if hasattr(package, n)}
        for info in pkgutil.iter_modules(pkg.__path__):
            if info.name.startswith("_"):
                continue
            module = importlib.import_module(f"{pkg.__name__}.{info.name}")
            if info.ispkg:
                todo.append(module)
            if module.__name__ in documented:
                continue
            names = [n for n in _public_names(module) if hasattr(module, n) and not inspect.ismodule(getattr(module, n))
                     and id(getattr(module, n)) not in exported]
            if names:
                missing.append(f"{module.__name__}: {names}")
    return missing


@pytest.mark.parametrize("area", AREAS)
def test_docs_every_public_module_reaches_a_page(area):
    # a name is documented when its package re-exports it (the page's automodule :members: follows
    # __all__) or when its module has an automodule directive of its own on the area's page
    documented = _documented_modules()
    assert f"gnnkit.{area}" in documented, f"docs/api/{area}.rst must automodule gnnkit.{area}"
    missing = _undocumented(area, documented)
    assert not missing, (f"public names on no API page; export them in gnnkit/{area}/__init__.py's __all__ or add "
                         f"'.. automodule:: MODULE' with ':members:' to docs/api/{area}.rst: {missing}")


def test_docs_every_design_note_is_in_the_toctree():
    index = (DOCS / "index.rst").read_text(encoding="utf-8")
    listed = set(re.findall(r"^   (\w+)$", index, re.M))
    notes = {p.stem for p in DOCS.glob("*.md")}
    assert notes <= listed, f"design notes missing from docs/index.rst's toctree: {sorted(notes - listed)}"


def test_docs_build_has_no_warnings(tmp_path):
    _require_sphinx()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS), str(tmp_path / "html")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200,
    )
    assert proc.returncode == 0, f"sphinx-build -W failed:\n{proc.stderr[-6000:]}"
    tutorials = (tmp_path / "html" / "tutorials" / "index.html").read_text(encoding="utf-8")
    # the tutorials' real output is on the page: each one's last line, and the brain plot
    assert re.search(r"test accuracy: 0\.\d{4}", tutorials) and re.search(r"test auc: 0\.\d{4}", tutorials)
    assert "data:image/png;base64," in tutorials
    for area in (*AREAS, "checkpoint"):
        assert (tmp_path / "html" / "api" / f"{area}.html").is_file(), area
