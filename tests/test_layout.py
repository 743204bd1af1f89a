"""The package layout: no import cycles inside gnnkit, and ``import gnnkit`` stays light.

The cycle check reads the source with :mod:`ast` (nothing is imported), so it sees the
imports inside functions too: a function-level import still ties two modules together,
it only hides the cycle until the function runs.
"""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gnnkit"

# No cycle is allowed (cli.train and cli.dist_train both read cli.recipes).
ALLOWED_CYCLES: list[set[str]] = []


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement at any depth, except those under ``if TYPE_CHECKING:`` (never run)."""
    found, stack = [], [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        children = node.orelse if isinstance(node, ast.If) and _is_type_checking(node) else ast.iter_child_nodes(node)
        stack.extend(children)
    return found


def import_graph(package: Path = PACKAGE) -> dict[str, dict[str, int]]:
    """``module -> {imported gnnkit module: line of the first such import}``.

    ``import a.b.c`` runs ``a``, ``a.b`` and ``a.b.c``, so a target brings its packages
    along, except the importer's own packages, which are always running already.
    """
    files = {module_name(p, package.parent): p for p in sorted(package.rglob("*.py"))}
    graph: dict[str, dict[str, int]] = {}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        here = name if is_package else name.rpartition(".")[0]
        edges: dict[str, int] = {}
        for node in _imports(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = here.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            for target in targets:
                for t in [*ancestors(target), target]:
                    if t in files and t != name and t not in ancestors(name):
                        edges.setdefault(t, node.lineno)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[set[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[set[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(graph[w])))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    component = set()
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        component.add(w)
                        if w == v:
                            break
                    if len(component) > 1:
                        found.append(component)
    return found


def describe(component: set[str], graph: dict[str, dict[str, int]]) -> str:
    lines = [f"import cycle among {sorted(component)}:"]
    for a in sorted(component):
        for b, line in sorted(graph[a].items()):
            if b in component:
                lines.append(f"  {a} (line {line}) imports {b}")
    return "\n".join(lines)


# ------------------------------------------------------------------ the scanner itself
def write_package(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path / "pkg"


def scan(tmp_path: Path, files: dict[str, str]) -> tuple[dict[str, dict[str, int]], list[set[str]]]:
    graph = import_graph(write_package(tmp_path, files))
    return graph, cycles(graph)


def test_import_graph_finds_a_function_level_cycle(tmp_path):
    graph, found = scan(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from .b import f\n",
        "pkg/b.py": "def f():\n    from . import a\n",
    })
    assert graph["pkg.a"] == {"pkg.b": 1} and graph["pkg.b"] == {"pkg.a": 2}
    assert found == [{"pkg.a", "pkg.b"}]
    assert "pkg.b (line 2) imports pkg.a" in describe(found[0], graph)


def test_import_graph_counts_the_package_init_of_a_target(tmp_path):
    # importing pkg.nn.layer runs pkg/nn/__init__.py, which imports pkg.blocks: a cycle
    _, found = scan(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/nn/__init__.py": "from .layer import Layer\nfrom ..blocks.mlp import MLP\n",
        "pkg/nn/layer.py": "class Layer: ...\n",
        "pkg/blocks/__init__.py": "from .mlp import MLP\nfrom .source import S\n",
        "pkg/blocks/mlp.py": "class MLP: ...\n",
        "pkg/blocks/source.py": "from ..nn.layer import Layer\nclass S(Layer): ...\n",
    })
    assert found == [{"pkg.nn", "pkg.blocks", "pkg.blocks.source"}]


def test_import_graph_ignores_own_packages_and_type_checking(tmp_path):
    graph, found = scan(tmp_path, {
        "pkg/__init__.py": "from . import a, b, c\n",
        "pkg/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .c import C\n",
        "pkg/b.py": "from pkg import c\n",
        "pkg/c.py": "import pkg\nfrom .a import *\n",  # pkg is c's own package: no edge back to pkg
    })
    assert graph["pkg.a"] == {} and graph["pkg.b"] == {"pkg.c": 1} and graph["pkg.c"] == {"pkg.a": 2}
    assert found == []


# ------------------------------------------------------------------ gnnkit
def test_gnnkit_has_no_import_cycles():
    graph = import_graph()
    assert {"gnnkit.ops._dispatch", "gnnkit.nn", "gnnkit.blocks"} <= set(graph)  # the scan saw the tree
    bad = [c for c in cycles(graph) if c not in ALLOWED_CYCLES]
    assert not bad, "\n".join(describe(c, graph) for c in bad)


def test_blocks_do_not_import_nn():
    graph = import_graph()
    offenders = {m: sorted(t for t in ts if t.startswith("gnnkit.nn")) for m, ts in graph.items() if m.startswith("gnnkit.blocks")}
    assert {m: ts for m, ts in offenders.items() if ts} == {}


# Optional or heavy packages a user of the core never needs. tqdm is absent from the list
# because torch itself imports it.
OPTIONAL = ("dgl", "torch_geometric", "triton", "matplotlib", "networkx", "pymetis", "ogb", "scipy",
            "pandas", "sklearn", "numba", "gnnkit_kernels")

_IMPORT_PROBE = """
import json, sys
import gnnkit
from gnnkit.ops import _dispatch
json.dump({"loaded": sorted(m for m in sys.modules if m.split(".")[0] in %r),
           "kernel_state": sorted(_dispatch._STATE)}, sys.stdout)
"""


def run_python(code: str, env_changes: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("GNNKIT_DISABLE_KERNELS", None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env.update(env_changes)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)


def test_import_gnnkit_loads_no_optional_package_and_compiles_nothing(tmp_path):
    cache = tmp_path / "cache"
    proc = run_python(_IMPORT_PROBE % (OPTIONAL,), {"GNNKIT_CACHE_DIR": str(cache)}, tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result == {"loaded": [], "kernel_state": []}
    assert not cache.exists()  # no build started
    assert proc.stderr == ""


_FIRST_OP = """
import torch, gnnkit
g = gnnkit.Graph([0, 1, 1], [1, 0, 1], 2)
out = gnnkit.ops.spmm(g, torch.tensor([[1.0], [2.0]]), None, "sum")
assert out.tolist() == [[2.0], [3.0]], out
from gnnkit.ops import _dispatch
assert _dispatch.backend("spmm", torch.ones(1)) == "cpu", _dispatch.KERNEL_ERROR
"""


@pytest.fixture
def fake_compiler(tmp_path):
    """A ``$CXX`` that copies this machine's cached kernel build to its ``-o`` path (a real build takes seconds)."""
    from gnnkit.ops import _dispatch

    if not _dispatch.HAS_KERNELS:
        pytest.skip(f"compiled kernels unavailable: {_dispatch.KERNEL_ERROR}")
    from gnnkit_kernels.cpu import library_path

    script = tmp_path / "fake-cxx"
    script.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        while [ "$#" -gt 0 ]; do if [ "$1" = "-o" ]; then out="$2"; fi; shift; done
        echo "built" >> "{tmp_path / 'builds.log'}"
        cp "{library_path()}" "$out"
    """))
    script.chmod(0o755)
    return script


def test_first_op_builds_the_kernel_once_per_machine_with_a_notice(tmp_path, fake_compiler):
    env = {"GNNKIT_CACHE_DIR": str(tmp_path / "cache"), "CXX": str(fake_compiler)}
    first = run_python(_FIRST_OP, env, tmp_path)
    assert first.returncode == 0, first.stderr
    notice = [line for line in first.stderr.splitlines() if line]
    assert len(notice) == 1 and "compiling the CPU kernels once into" in notice[0] and str(tmp_path / "cache") in notice[0]
    second = run_python(_FIRST_OP, env, tmp_path)  # the cached build: no notice, no compiler run
    assert second.returncode == 0, second.stderr
    assert second.stderr == ""
    assert (tmp_path / "builds.log").read_text().splitlines() == ["built"]


def test_kernel_status_is_loaded_on_first_read(tmp_path):
    code = "import json, sys\nfrom gnnkit import ops\nfrom gnnkit.ops import _dispatch\n" \
           "before = sorted(_dispatch._STATE)\nhas = ops.HAS_KERNELS\n" \
           "json.dump([before, has, _dispatch.KERNEL_ERROR, sorted(_dispatch._STATE)], sys.stdout)"
    proc = run_python(code, {"GNNKIT_DISABLE_KERNELS": "1"}, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [[], False, "disabled by GNNKIT_DISABLE_KERNELS=1", ["cpu"]]


def test_load_kernels_rejects_an_unknown_device_type():
    from gnnkit.ops import _dispatch

    with pytest.raises(ValueError, match=r"device_type must be one of \('cpu', 'cuda'\), got 'tpu'"):
        _dispatch.load_kernels("tpu")


# ------------------------------------------------------------------ vocabulary
OLD_NAMES = {"aggr", "aggregator", "edge_attr", "e"}  # the team's words are `reduce` and `edge_weight`
VOCABULARY_PACKAGES = ("nn", "blocks", "models", "inflation", "brain", "scale")


def old_keyword_parameters(paths: list[Path]) -> list[str]:
    """``file:line function(param)`` for every parameter with an old name, except a deprecated
    keyword-only alias (or dataclass InitVar) whose function hands it to ``renamed_keyword``."""
    found = []
    for path in paths:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            forwarded = {a.id for call in ast.walk(node) if isinstance(call, ast.Call)
                         and getattr(call.func, "id", None) == "renamed_keyword" for a in call.args if isinstance(a, ast.Name)}
            args = node.args
            for arg in args.posonlyargs + args.args + args.kwonlyargs:
                # a dataclass receives its deprecated InitVar positionally in __post_init__
                alias_ok = arg.arg in forwarded and (arg in args.kwonlyargs or node.name == "__post_init__")
                if arg.arg in OLD_NAMES and not alias_ok:
                    found.append(f"{path.name}:{node.lineno} {node.name}({arg.arg})")
    return found


def test_old_vocabulary_scan_flags_positional_and_unforwarded_names(tmp_path):
    path = tmp_path / "mod.py"
    path.write_text(textwrap.dedent("""
        def a(g, x, e=None): ...
        def b(g, *, aggr=None): ...
        def c(g, reduce=None, *, aggr=None):
            return renamed_keyword("c", "aggr", "reduce", aggr, reduce, None)
    """))
    assert [s.split(" ", 1)[1] for s in old_keyword_parameters([path])] == ["a(e)", "b(aggr)"]


def test_layers_and_models_use_reduce_and_edge_weight():
    paths = [p for name in VOCABULARY_PACKAGES for p in ([PACKAGE / name] if name.endswith(".py") else sorted((PACKAGE / name).rglob("*.py")))]
    assert len(paths) > 20
    assert old_keyword_parameters(paths) == []


def test_every_subpackage_is_in_pyprojects_package_list():
    # pyproject lists packages explicitly (gnnkit_kernels maps to kernels/); a subpackage missing
    # from the list works in an editable install and is absent from a wheel.
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {module_name(p, ROOT) for p in PACKAGE.rglob("__init__.py")}
    assert found - listed == set(), f"add these to [tool.setuptools] packages: {sorted(found - listed)}"
