"""`edgespeed validate GRAPH...` and the graph-loading shared by every command."""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path
from collections.abc import Callable
from typing import Any

from ..errors import GraphError, GraphErrors, Location
from ..graph import GraphSpec
from ..graph.load import load_partial
from ..graph.validate import Resolved, check


def resolve_path(name: str) -> Path:
    """A graph file; a missing path falls back to the built-in graph of that name.

    `edgespeed run quickstart` and `edgespeed run graphs/quickstart.yaml` both work outside the
    source tree, because the ready graphs are installed as `edgespeed.graphs`.
    """
    p = Path(name)
    if p.exists():
        return p
    stem = p.stem if p.suffix in (".yaml", ".yml") else p.name
    if len(p.parts) <= 2 and (len(p.parts) == 1 or p.parts[0] == "graphs"):
        from importlib.resources import files

        try:
            builtin = files("edgespeed.graphs").joinpath(f"{stem}.yaml")
            if builtin.is_file():
                return Path(str(builtin))
        except ModuleNotFoundError:
            pass
    return p


def builtin_graphs() -> list[str]:
    from importlib.resources import files

    try:
        return sorted(f.name[:-5] for f in files("edgespeed.graphs").iterdir() if f.name.endswith(".yaml"))
    except ModuleNotFoundError:
        return []


def _no_graph(name: str) -> str:
    """`no such graph file or built-in graph 'quikstart'; did you mean 'quickstart'?`."""
    from ..node import did_you_mean

    known = builtin_graphs()
    p = Path(name)
    if len(p.parts) == 1 and known:
        stem = p.stem if p.suffix in (".yaml", ".yml") else p.name
        return f"no such graph file or built-in graph {stem!r}{did_you_mean(stem, known)}"
    return f"no such graph file; built-in graphs: {', '.join(known)}" if known else "no such graph file"


def parse_overrides(items: list[str], spec: GraphSpec) -> GraphSpec:
    """Apply `--set node.param=value` (value parsed as YAML), checking node names."""
    import yaml

    from ..node import did_you_mean

    errors: list[GraphError] = []
    out: dict[tuple[str, str], tuple[Any, Location]] = {}
    ids = [n.id for n in spec.nodes]
    for item in items:
        loc = Location(f"--set {item}")
        target, eq, text = item.partition("=")
        node_id, dot, param = target.partition(".")
        if not eq or not dot or not node_id or not param:
            errors.append(GraphError(f"expected NODE.PARAM=VALUE, got {item!r}", location=loc))
            continue
        if node_id not in ids:
            errors.append(GraphError(f"no node {node_id!r}{did_you_mean(node_id, ids)}", location=loc))
            continue
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
        out[(node_id, param)] = (value, loc)
    if errors:
        raise GraphErrors(errors)
    return spec.with_params(out)


def load_checked(name: str, overrides: list[str] | None = None, edit: Callable[[GraphSpec], GraphSpec] | None = None) -> Resolved:
    """Load, apply overrides (and `edit`, e.g. a device's keys file) and validate; raises GraphErrors with every problem."""
    path = resolve_path(name)
    if not path.exists():
        raise GraphErrors([GraphError(_no_graph(name), location=Location(name))])
    spec = load_partial(path)  # structural problems are reported by `check`, with all the rest
    if overrides:
        spec = parse_overrides(overrides, spec)
    return check(edit(spec) if edit is not None else spec, files=True)


def cmd_validate(args: argparse.Namespace) -> int:
    errors: list[GraphError] = []
    for name in args.graphs:
        try:
            r = load_checked(name)
        except GraphErrors as e:
            if getattr(args, "debug", False):
                traceback.print_exc()
            errors.extend(e.errors)
            continue
        print(f"{name}: ok ({len(r.spec.nodes)} nodes, {sum(len(v) for v in r.inputs.values())} edges)")
    if errors:
        for err in errors:
            print(str(err), file=sys.stderr)
        return 2
    return 0
