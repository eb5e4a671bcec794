"""The public API stays small, sorted and complete; the engine never imports the node library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import edgespeed

REPO = Path(__file__).resolve().parents[1]


def test_all_is_sorted_and_complete() -> None:
    assert edgespeed.__all__ == sorted(edgespeed.__all__)
    public = {n for n in vars(edgespeed) if not n.startswith("_") and n not in {"annotations", "Any"}}
    modules = {n for n in public if type(getattr(edgespeed, n)).__name__ == "module"}
    assert public - modules == set(edgespeed.__all__) - {"__version__"}


def test_engine_never_imports_the_node_library() -> None:
    for path in (REPO / "edgespeed").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for n in ast.walk(tree):
            absolute = isinstance(n, ast.ImportFrom) and n.level == 0
            names = [a.name for a in n.names] if isinstance(n, ast.Import) else [n.module or ""] if absolute else []
            assert not any(m.startswith("edgespeed.nodes") or m == "nodes" for m in names), f"{path} imports the node library"


def test_nodes_import_only_the_public_api() -> None:
    for path in (REPO / "nodes").rglob("*.py"):
        for n in ast.walk(ast.parse(path.read_text())):
            if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("edgespeed"):
                # public: the top-level API, and edgespeed.infer (sessions' providers, model tools)
                assert n.module in ("edgespeed", "edgespeed.infer") or n.module.startswith(("edgespeed.nodes", "edgespeed.infer.")), \
                    f"{path}: from {n.module} import ..."


def test_heavy_libraries_are_not_imported_by_the_cli_or_validation() -> None:
    code = ("import sys; from edgespeed.cli import main; main(['validate', 'graphs/quickstart.yaml']);"
            "print(sorted(m for m in ('av', 'onnxruntime', 'zmq', 'sounddevice', 'cv2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("[]"), out
