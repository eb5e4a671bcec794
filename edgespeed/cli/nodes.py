"""`edgespeed nodes [TYPE]`: every node type with its ports, params, defaults and docs.

Rendered from the same declarations the validator checks, so the listing cannot drift from
what a graph may say.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from typing import Any

from ..errors import GraphError, GraphErrors, Location
from ..node import REQUIRED, Node
from ..registry import UnknownType, default_registry


def describe(cls: type[Node]) -> dict[str, Any]:
    """A plain-data description of a node class (also what `--json` prints)."""
    doc = inspect.getdoc(cls) or ""
    return {
        "type": cls.kind,
        "class": f"{cls.__module__}:{cls.__qualname__}",
        "summary": doc.splitlines()[0] if doc else "",
        "doc": doc,
        "source": cls.is_source(),
        "sync": cls.sync if len(cls.inputs) > 1 else None,
        "live_sync": cls.live_sync if len(cls.inputs) > 1 else None,  # downstream of a live source
        "inputs": {n: {"type": i.type.describe(), "optional": i.optional, "queue": i.queue, "policy": i.policy, "doc": i.doc} for n, i in cls.inputs.items()},
        "outputs": {n: {"type": o.type.describe(), "doc": o.doc} for n, o in cls.outputs.items()},
        "params": {
            n: {"type": p.describe(), "required": p.required, "default": None if p.default is REQUIRED else _plain(p.default), "doc": p.doc,
                "reloadable": p.reloadable}
            for n, p in cls.params.items()
        },
    }


def _plain(v: Any) -> Any:
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    return str(v)


def render(d: dict[str, Any]) -> str:
    """The full text description of one node."""
    lines = [f"{d['type']}  ({d['class']})", ""]
    if d["inputs"]:
        lines.append("inputs:")
        for n, i in d["inputs"].items():
            extra = ", optional" if i["optional"] else ""
            extra += f", queue {i['queue']}" if i["queue"] else ""
            extra += f", policy {i['policy']}" if i["policy"] else ""
            lines.append(f"  {n:<16} {i['type']}{extra}{'  ' + i['doc'] if i['doc'] else ''}")
    if d["outputs"]:
        lines.append("outputs:")
        for n, o in d["outputs"].items():
            lines.append(f"  {n:<16} {o['type']}{'  ' + o['doc'] if o['doc'] else ''}")
    if d["sync"]:
        live = d.get("live_sync")
        lines.append(f"sync: {d['sync']}" + (f" ({live} downstream of a live source)" if live and live != d["sync"] else ""))
    if d["params"]:
        lines.append("params:")
        for n, p in d["params"].items():
            default = ("required" if p["required"] else f"default {json.dumps(p['default'])}") + (", reloadable" if p["reloadable"] else "")
            lines.append(f"  {n:<16} {p['type']}, {default}{'  ' + p['doc'] if p['doc'] else ''}")
    if d["doc"]:
        lines += ["", d["doc"]]
    return "\n".join(lines)


def cmd_nodes(args: argparse.Namespace) -> int:
    reg = default_registry()
    if args.type:
        try:
            cls = reg.resolve(args.type)
        except UnknownType as e:
            raise GraphErrors([GraphError(str(e), location=Location("edgespeed nodes"))]) from None
        d = describe(cls)
        print(json.dumps(d, indent=2) if args.json else render(d))
        return 0
    found = reg.all()
    broken = {n: e for n, e in found.items() if isinstance(e, Exception)}
    good = {n: describe(c) for n, c in found.items() if not isinstance(c, Exception)}
    if args.json:
        print(json.dumps({"nodes": list(good.values()), "broken": {n: str(e) for n, e in broken.items()}}, indent=2))
    elif args.describe:
        print("\n\n".join(render(d) for d in good.values()))
    else:
        width = max((len(n) for n in good), default=10)
        for name, d in good.items():
            ports = ", ".join(d["inputs"]) or "-"
            outs = ", ".join(d["outputs"]) or "-"
            print(f"{name:<{width}}  {ports} -> {outs}  {d['summary']}")
    for name, problem in broken.items():
        print(f"warning: node type {name!r} cannot be loaded: {problem}", file=sys.stderr)
    return 0


__all__ = ["cmd_nodes", "describe", "render"]
