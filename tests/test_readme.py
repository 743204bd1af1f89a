"""Every ```python snippet in README.md runs as written.

The snippets of one ``##`` section (its ``###`` subsections included) share a namespace and run in order, as a reader
would paste them; each section runs in its own subprocess from an empty directory, so a
snippet that needs a name from another section, a file that is not there, or a package
that is not installed fails here.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _sections() -> list[tuple[str, str]]:
    """``(heading, code)`` per section that holds python snippets, code joined in order."""
    out: dict[str, list[str]] = {}
    heading = "(top)"
    in_code, buf = False, []
    for line in README.read_text(encoding="utf-8").splitlines():
        if not in_code and re.match(r"^## ", line):
            heading = line.lstrip("#").strip()
        elif not in_code and line.strip() == "```python":
            in_code, buf = True, []
        elif in_code and line.strip() == "```":
            in_code = False
            out.setdefault(heading, []).append("\n".join(buf))
        elif in_code:
            buf.append(line)
    return [(h, "\n\n".join(codes)) for h, codes in out.items()]


SECTIONS = _sections()


def test_readme_has_snippets():
    assert len(SECTIONS) >= 3, "README.md lost its python snippets"


@pytest.mark.parametrize("heading,code", SECTIONS, ids=[h for h, _ in SECTIONS])
def test_readme_snippet_runs(heading, code, tmp_path):
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"README section {heading!r} failed:\n{proc.stderr[-3000:]}"
