"""OGB's ``Evaluator`` for a dataset name, loaded without OGB's import-time side effects."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

__all__ = ["ogb_evaluator"]

_EVALUATOR: dict[str, Any] = {}
_EVAL_PACKAGE = {"ogbn": "nodeproppred", "ogbl": "linkproppred", "ogbg": "graphproppred"}


def ogb_evaluator(name: str) -> Any:
    """``ogb.{node,link,graph}proppred.Evaluator(name)``, importing it without side effects.

    ``import ogb.nodeproppred`` runs the package ``__init__``, which imports OGB's PyG and
    DGL dataset classes (torch_geometric and dgl: about 10 s here) and, through
    ``ogb/version.py``, starts a thread that asks the package index whether ogb is outdated.
    The Evaluator needs neither, so unless the subpackage is already imported its module
    file (``ogb/<kind>proppred/evaluate.py``) is loaded on its own: the same class, no network.

    Raises:
        ImportError: ogb is not installed (``pip install 'gnnkit[ogb]'``).
        ValueError: a name OGB does not know.
    """
    package = _EVAL_PACKAGE.get(name[:4])
    if package is None:
        raise ValueError(f"name must start with one of {sorted(_EVAL_PACKAGE)} (an OGB dataset), got {name!r}")
    if f"ogb.{package}" in sys.modules:
        cls = sys.modules[f"ogb.{package}"].Evaluator
    else:
        if package not in _EVALUATOR:
            spec = importlib.util.find_spec("ogb")  # locates the package without importing it
            if spec is None or spec.origin is None:
                raise ImportError(f"ogb.{package}.Evaluator needs the ogb package: pip install 'gnnkit[ogb]' (ogb>=1.3.6)")
            path = Path(spec.origin).parent / package / "evaluate.py"
            mod_spec = importlib.util.spec_from_file_location(f"_gnnkit_ogb_{package}_evaluate", path)
            module = importlib.util.module_from_spec(mod_spec)
            mod_spec.loader.exec_module(module)
            _EVALUATOR[package] = module
        cls = _EVALUATOR[package].Evaluator
    try:
        return cls(name)
    except ValueError as exc:
        raise ValueError(f"ogb.{package}.Evaluator does not know dataset {name!r}: {str(exc).splitlines()[0]}") from exc
