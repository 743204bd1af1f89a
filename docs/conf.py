"""Sphinx configuration: the API reference (autodoc + napoleon), the design notes (MyST) and the tutorials.

Build (warnings are errors, as in CI, ``tests/test_docs.py``)::

    sphinx-build -W --keep-going -b html docs docs/_build/html

Nothing downloads: no intersphinx, no remote images or themes. The tutorials in ``tutorials/`` run
with ``--quick`` while the pages that include them are read (the ``tutorial-output`` directive
below), so the output shown is what this checkout prints, never a pasted copy.
"""
from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # document this checkout's gnnkit, not an installed copy

import gnnkit  # noqa: E402  (after the path is set)

project = "gnnkit"
author = "the gnnkit authors"
copyright = "2026, the gnnkit authors"
release = version = gnnkit.__version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode", "myst_parser"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
# _build: the output; tutorials/*.py are scripts, included by literalinclude, not pages
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "tutorials/*.py", "img/README*"]

# the builtin theme: no extra dependency to install or fetch
html_theme = "alabaster"
html_static_path: list[str] = []
html_theme_options = {"description": "Sparse graph neural networks on PyTorch", "fixed_sidebar": True}

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# gnnkit's docstrings name tensor shapes in a free-text "Shape:" section (STYLE.md): a section of its own
napoleon_custom_sections = ["Shape"]

# design notes: README-style markdown; headings get anchors so "#section" links resolve
myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath"]

# no intersphinx: the build must not touch the network


class TutorialOutput(SphinxDirective):
    """``.. tutorial-output:: name`` runs ``tutorials/<name>.py --quick`` and shows its stdout.

    The script runs once per build in a temporary directory (its files stay out of the source tree),
    with the checkout first on ``PYTHONPATH``; a failing script fails the build with its stderr.
    """

    required_arguments = 1
    # image: a file the script writes into --out, shown under its output (embedded as a data URI,
    # since it is not a file of the source tree)
    option_spec = {"timeout": directives.positive_int, "image": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0]
        script = DOCS / "tutorials" / f"{name}.py"
        if not script.is_file():
            raise self.error(f"tutorial-output: no tutorial script {script}")
        self.env.note_dependency(str(script))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               "MPLBACKEND": "Agg"}
        outdir = Path(self.env.app.outdir).parent / "tutorial_runs" / name
        outdir.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run([sys.executable, str(script), "--quick", "--out", str(outdir)], cwd=outdir, env=env,
                              capture_output=True, text=True, timeout=self.options.get("timeout", 600))
        if proc.returncode != 0:
            raise self.error(f"tutorial {script.name} --quick exited with {proc.returncode}:\n{proc.stderr[-3000:]}")
        block = nodes.literal_block(proc.stdout, proc.stdout)
        block["language"] = "text"
        result: list[nodes.Node] = [block]
        if "image" in self.options:
            png = outdir / self.options["image"]
            if not png.is_file():
                raise self.error(f"tutorial {script.name} --quick wrote no {png.name} into --out")
            uri = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")
            result.append(nodes.image(uri=uri, alt=f"{png.name}, written by {script.name} --quick"))
        return result


def setup(app: Sphinx) -> dict[str, object]:
    app.add_directive("tutorial-output", TutorialOutput)
    return {"parallel_read_safe": True}
