"""`edgespeed schema`: the JSON Schema of the graph format, for editor completion.

Generated from the same definitions the loader and the nodes use: the top-level and node keys,
input and policy forms, and each registered node type's params (an `if type == X then params`
clause per type), so an editor completes param names and flags bad values as you type.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .. import format as fmt
from ..node import Node
from ..params import json_schema
from ..registry import default_registry

_ID = {"type": "string", "pattern": fmt.ID_PATTERN}
_SOURCE = {"type": "string", "pattern": r"^[a-z][a-z0-9_]*(/[A-Za-z0-9_]+)?$", "description": "node_id/port"}


def node_params_schema(cls: type[Node]) -> dict[str, Any]:
    props = {}
    for name, p in cls.params.items():
        s = json_schema(p.annotation, p.bounds or None)
        if p.doc:
            s["description"] = p.doc
        props[name] = s
    required = [n for n, p in cls.params.items() if p.required]
    out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        out["required"] = required
    return out


def graph_schema() -> dict[str, Any]:
    """The whole schema (draft 2020-12)."""
    reg = default_registry()
    classes = {n: c for n, c in reg.all().items() if not isinstance(c, Exception)}
    input_obj = {
        "type": "object",
        "properties": {"from": _SOURCE, "queue": {"type": "integer", "minimum": 1}, "policy": {"enum": list(fmt.POLICIES)},
                       "mode": {"enum": list(fmt.LINK_MODES), "description": "link delivery where the edge crosses devices"},
                       "compress": {"enum": list(fmt.COMPRESS_CODECS), "description": "link compression where the edge crosses devices"},
                       "quality": {"type": "integer", "minimum": 0, "maximum": 100, "description": "jpeg quality, or png/zlib level"}},
        "required": ["from"],
        "additionalProperties": False,
    }
    node = {
        "type": "object",
        "properties": {
            "id": _ID,
            "type": {"anyOf": [{"enum": sorted(classes)}, {"type": "string", "pattern": fmt.PLUGIN_TYPE_PATTERN}]},
            "params": {"type": "object"},
            "inputs": {"type": "object", "additionalProperties": {"anyOf": [_SOURCE, input_obj]}},
            "device": {"type": "string"},
            "on_error": {"enum": list(fmt.ON_ERROR)},
            "sync": {"enum": list(fmt.SYNC_MODES)},
            "sync_tolerance_ms": {"type": "number", "minimum": 0},
            "isolate": {"type": "string", "pattern": fmt.ID_PATTERN, "description": "process, thread, or a group name"},
            "shm_cap_mb": {"type": "number", "exclusiveMinimum": 0},
            "cpus": {"anyOf": [{"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1},
                               {"type": "string", "pattern": r"^\d+(-\d+)?(,\d+(-\d+)?)*$"}],
                     "description": "pin the node to these CPUs; nodes without cpus keep off every pinned CPU"},
            "private": {"anyOf": [{"type": "boolean"}, {"type": "array", "items": {"type": "string"}}],
                        "description": "true (every output) or the output ports whose data may only go to trusted devices"},
        },
        "required": ["id", "type"],
        "additionalProperties": False,
        "allOf": [
            {"if": {"properties": {"type": {"const": name}}}, "then": {"properties": {"params": node_params_schema(cls)}}}
            for name, cls in classes.items()
        ],
    }
    device = {
        "type": "object",
        "properties": {"endpoint": {"type": "string"}, "trusted": {"type": "boolean"},
                       "endpoints": {"type": "array", "items": {"type": "string"}, "description": "one per incoming link"},
                       "bind": {"type": "string", "description": "local listen address when peers reach it through another"},
                       "keys": {"type": "string", "description": "keypair path without extension (edgespeed keys generate)"},
                       "allow": {"type": "array", "items": {"type": "string"}, "description": "extra peers: device names or .key files"},
                       "timeout_s": {"type": "number", "exclusiveMinimum": 0, "description": "heartbeat timeout of its links"},
                       "insecure": {"type": "boolean", "description": "accept links into it without keys"}},
        "additionalProperties": False,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "EdgeSpeed graph",
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "description": {"type": "string"},
            "nodes": {"type": "array", "items": node},
            "devices": {"type": "object", "additionalProperties": {"anyOf": [device, {"type": "string"}, {"type": "null"}]}},
            "default_device": {"type": "string"},
        },
        "required": ["nodes"],
        "additionalProperties": False,
    }


def cmd_schema(args: argparse.Namespace) -> int:
    text = json.dumps(graph_schema(), indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    else:
        print(text, end="")
    return 0
