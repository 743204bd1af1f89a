"""Every ```python snippet in README.md and docs/*.md runs as written, unless marked not-run.

Each snippet is self-contained, as a reader pastes one: it runs alone in its own subprocess from
an empty directory, so a snippet that needs a name from another snippet, a file that is not there,
or a package that is not installed fails here. A fence other than plain ```python around Python
code (```py, ```python3, ...) would escape this test, so it is refused; every relative link of
README.md must name a file of the repository.

A snippet that deliberately cannot run (it needs the reader's own files or training data) is
marked by an HTML comment on the line before its fence, invisible when rendered::

    <!-- not-run: needs the raw ind.citeseer.* files under data/planetoid -->
    ```python

The reason is required. A marked snippet is not run and not reported as a skip: the marker is
the documentation's own statement, and :func:`test_not_run_markers_are_well_formed` checks
that every marker has a reason and sits right above a python block.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
NOT_RUN = re.compile(r"^<!--\s*not-run:(.*?)-->\s*$")


def _snippets(path: Path) -> list[tuple[str, str]]:
    """``(label, code)`` per runnable python snippet of ``path``; the label is its ``##`` section and line."""
    out: list[tuple[str, str]] = []
    heading, start = "(top)", 0
    in_code, skip, buf, prev = False, False, [], ""
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not in_code and re.match(r"^## ", line):
            heading = line.lstrip("#").strip()
        elif not in_code and line.strip() == "```python":
            in_code, skip, buf, start = True, bool(NOT_RUN.match(prev.strip())), [], lineno
        elif in_code and line.strip() == "```":
            in_code = False
            if not skip:
                out.append((f"{heading}:{start}", "\n".join(buf)))
        elif in_code:
            buf.append(line)
        prev = line
    return out


def _markers(path: Path) -> list[tuple[int, str, str]]:
    """``(line number, reason, next line)`` for every not-run marker in ``path``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found = []
    for i, line in enumerate(lines):
        m = NOT_RUN.match(line.strip())
        if m:
            found.append((i + 1, m.group(1).strip(), lines[i + 1].strip() if i + 1 < len(lines) else ""))
    return found


CASES = [(p.relative_to(ROOT).as_posix(), h, code) for p in [README, *DOCS] for h, code in _snippets(p)]


def test_readme_has_snippets():
    assert sum(1 for f, _, _ in CASES if f == "README.md") >= 3, "README.md lost its python snippets"


@pytest.mark.parametrize("path", [README, *DOCS], ids=lambda p: p.name)
def test_python_fences_are_plain_python(path):
    # the runner only picks up ```python; another tag for Python code would never run
    tags = re.findall(r"^\s*```(py|python3|pycon|ipython|Python)\s*$", path.read_text(encoding="utf-8"), re.M)
    assert not tags, f"{path.name}: use ```python (or a not-run marker), not {tags}"


def test_readme_relative_links_exist():
    links = re.findall(r"\]\((?!https?:|#|mailto:)([^)\s#]+)", README.read_text(encoding="utf-8"))
    assert links, "README.md lost its links to docs/"
    missing = [link for link in links if not (ROOT / link).exists()]
    assert not missing, f"README.md links to files that do not exist: {missing}"


@pytest.mark.parametrize("path", [README, *DOCS], ids=lambda p: p.name)
def test_not_run_markers_are_well_formed(path):
    for lineno, reason, following in _markers(path):
        assert reason, f"{path.name}:{lineno}: a not-run marker needs a reason: <!-- not-run: why -->"
        assert following == "```python", f"{path.name}:{lineno}: a not-run marker must sit on the line before ```python"


@pytest.mark.parametrize("file,heading,code", CASES, ids=[f"{f}::{h}" for f, h, _ in CASES])
def test_readme_snippet_runs(file, heading, code, tmp_path):
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{file} snippet at {heading!r} (section:line) failed:\n{proc.stderr[-3000:]}"
