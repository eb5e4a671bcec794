"""The house stays readable: no module over 500 lines, no import circles among modules."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

REPO = Path(__file__).resolve().parents[1]
PACKAGES = {"edgespeed": "edgespeed", "nodes": "edgespeed.nodes"}  # folder -> import name


def _modules() -> dict[str, Path]:
    mods = {}
    for folder, name in PACKAGES.items():
        for path in (REPO / folder).rglob("*.py"):
            parts = [name, *path.relative_to(REPO / folder).with_suffix("").parts]
            mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return mods


def _top_level_imports(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    """Imports run when the module loads (not those inside functions or `if TYPE_CHECKING:`)."""
    found: list[ast.Import | ast.ImportFrom] = []
    for n in body:
        if isinstance(n, (ast.Import, ast.ImportFrom)):
            found.append(n)
        elif isinstance(n, ast.If) and "TYPE_CHECKING" not in ast.dump(n.test):
            found += _top_level_imports(n.body) + _top_level_imports(n.orelse)
        elif isinstance(n, ast.Try):
            found += _top_level_imports(n.body) + [i for h in n.handlers for i in _top_level_imports(h.body)]
    return found


def test_no_module_is_over_500_lines() -> None:
    long = {str(p.relative_to(REPO)): n for p in _modules().values() if (n := len(p.read_text().splitlines())) > 500}
    assert not long, f"split these by concern: {long}"


def test_no_import_circles() -> None:
    mods = _modules()
    g = nx.DiGraph()
    for name, path in mods.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for n in _top_level_imports(ast.parse(path.read_text()).body):
            if isinstance(n, ast.Import):
                targets = [a.name for a in n.names]
            else:
                base = ".".join(package[:len(package) - n.level + 1] + [n.module or ""]).strip(".") if n.level else n.module or ""
                targets = [base, *(f"{base}.{a.name}" for a in n.names)]
            # a module's own parent packages are always loaded first: not a circle
            g.add_edges_from((name, t) for t in targets if t in mods and t != name and not name.startswith(t + "."))
    cycles = sorted(nx.simple_cycles(g), key=len)
    assert not cycles, "import circles: " + "; ".join(" -> ".join(c) for c in cycles[:5])
