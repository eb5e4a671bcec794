"""Load graph YAML into a `GraphSpec`, keeping the line and column of every field.

Structural problems (YAML syntax, unknown keys, wrong shapes) are collected, not raised one by
one: `load` raises one `GraphErrors` holding all of them. Semantic checks (types, params, wiring,
cycles) are `validate.check`'s job.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from ..errors import GraphError, GraphErrors, Location
from ..format import DEVICE_KEYS, INPUT_KEYS, LINK_KEYS, NODE_KEYS, TOP_KEYS
from ..node import did_you_mean
from .spec import DeviceSpec, GraphSpec, InputSpec, NodeSpec, option_problem, parse_cpus, placement_of

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Tags a graph may carry: those YAML resolves plain values to, written out or not. Anything else
# (`!!python/object`, `!mytag`) would be dropped on mappings or refused deep inside PyYAML.
_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq", "merge", "timestamp"))
# Aliases may repeat a block (shared params), not multiply the file: a billion-laughs file of
# 100 values expands to 10**9. Refused above this many values, counted with aliases expanded.
MAX_EXPANSION = 10
MIN_EXPANDED = 100_000



class _Doc:
    """Plain values from a YAML node tree, and where each value and key stood."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.errors: list[GraphError] = []
        self.loader: Any = None

    def loc(self, node: yaml.Node) -> Location:
        return Location(self.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def plain(self, node: yaml.Node, locs: dict[str, Location], path: str) -> Any:
        """Convert `node` to plain Python, recording `locs[path]` and `locs[path + ':key']`."""
        locs[path] = self.loc(node)
        if isinstance(node, yaml.MappingNode):
            own = sum(1 for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge")
            self.loader.flatten_mapping(node)
            merged = len(node.value) - own  # `<<: *base` pairs come first; the mapping's own keys override them
            out: dict[Any, Any] = {}
            own_keys: set[Any] = set()
            for i, (knode, vnode) in enumerate(node.value):
                key = self.loader.construct_object(knode, deep=True)
                if not isinstance(key, (str, int, float, bool)) or key is None:
                    self.errors.append(GraphError(f"mapping keys must be plain names, got {key!r}", location=self.loc(knode)))
                    continue
                sub = f"{path}.{key}" if path else str(key)
                if i >= merged and key in own_keys:
                    first = locs[sub + ":key"]
                    msg = f"duplicate key {key!r} (first at line {first.line}); keep one, or merge the two"
                    self.errors.append(GraphError(msg, location=self.loc(knode), field=sub))
                locs[sub + ":key"] = self.loc(knode)
                if i >= merged:
                    own_keys.add(key)
                out[key] = self.plain(vnode, locs, sub)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.plain(v, locs, f"{path}[{i}]") for i, v in enumerate(node.value)]
        return self.loader.construct_object(node, deep=True)


def load(path: str | Path) -> GraphSpec:
    """Read and parse a graph file.

    Raises:
        GraphErrors: every structural problem found, each located at file:line:col.
    """
    spec = load_partial(path)
    if spec.problems:
        raise GraphErrors(spec.problems)
    return spec


def load_partial(path: str | Path) -> GraphSpec:
    """Read a graph file as far as it can be read: structural problems (a bad policy, an
    unknown key) go into `spec.problems` and the rest of the graph is kept, so that
    `validate.check` reports them together with unknown types, missing nodes and cycles.

    Raises:
        GraphErrors: the file cannot be read as a graph at all (unreadable, not YAML, a YAML
            bomb, not a mapping of nodes).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise GraphErrors([GraphError(f"cannot read graph: {e.strerror or e}", location=Location(str(path)))]) from None
    except UnicodeDecodeError:
        raise GraphErrors([GraphError("cannot read graph: not UTF-8 text", location=Location(str(path)))]) from None
    return _read(text, file=str(path))


def load_text(text: str, file: str = "<string>") -> GraphSpec:
    """Parse graph YAML from a string (see `load`)."""
    spec = _read(text, file)
    if spec.problems:
        raise GraphErrors(spec.problems)
    return spec


def _read(text: str, file: str) -> GraphSpec:
    doc = _Doc(file)
    loader = _Loader(text)
    doc.loader = loader
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as e:
        raise GraphErrors([_syntax_error(e, text, file)]) from None
    except yaml.YAMLError as e:
        raise GraphErrors([GraphError(f"invalid YAML: {e}", location=Location(file))]) from None
    finally:
        loader.dispose()
    if root is None:
        raise GraphErrors([GraphError("the graph is empty; expected a mapping with 'nodes:'", location=Location(file, 1, 1))])
    if problem := _unsafe(root, doc):
        raise GraphErrors([problem])
    locs: dict[str, Location] = {}
    try:
        data = doc.plain(root, locs, "")
    except yaml.YAMLError as e:
        raise GraphErrors([GraphError(f"invalid YAML: {e}", location=Location(file))]) from None
    spec = _graph(doc, data, locs, file)
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
        raise GraphErrors(doc.errors)  # no nodes to check further
    return replace(spec, problems=tuple(doc.errors))


def _unsafe(root: yaml.Node, doc: _Doc) -> GraphError | None:
    """A tag the format has no use for, a recursive alias, or aliases that expand far past the
    file's size; None when the tree is safe to convert. Linear in the distinct nodes: the
    expanded size of each node is computed once, however many aliases point at it."""
    size: dict[int, int] = {}
    nodes: dict[int, yaml.Node] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    open_: set[int] = set()
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            size[key] = 1 + sum(size[id(c)] for c in _children(node))
            open_.discard(key)
            continue
        if key in size:
            continue
        if key in open_:
            return GraphError("recursive YAML alias: a value contains itself", location=doc.loc(node))
        if node.tag not in _TAGS:
            return GraphError(f"YAML tag {node.tag.removeprefix('tag:yaml.org,2002:')!r} is not allowed in a graph; "
                              "write the plain value", location=doc.loc(node))
        nodes[key] = node
        if isinstance(node, yaml.ScalarNode):  # most of a graph: settled without a second visit
            size[key] = 1
            continue
        open_.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node))
    distinct = len(nodes)
    limit = max(MIN_EXPANDED, MAX_EXPANSION * distinct)
    if size[id(root)] <= limit:
        return None
    # Point at the smallest value that is already too big: the alias level that tips it over.
    worst = min((n for n in nodes.values() if size[id(n)] > limit), key=lambda n: size[id(n)])
    return GraphError(f"YAML aliases expand this value to {size[id(worst)]:,} values, the file writes {distinct:,} "
                      f"(limit {limit:,}); refusing what looks like a YAML bomb", location=doc.loc(worst))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [c for pair in node.value for c in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _syntax_error(e: yaml.MarkedYAMLError, text: str, file: str) -> GraphError:
    """`invalid YAML: while parsing a flow mapping at 6:13, did not find expected ',' or '}'`."""
    mark = e.problem_mark or e.context_mark
    loc = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
    problem = e.problem or "syntax error"
    cm = e.context_mark
    if e.context and cm and (not mark or (cm.line, cm.column) != (mark.line, mark.column)):
        problem = f"{e.context} at {cm.line + 1}:{cm.column + 1}, {problem}"
    if mark and text[mark.index:mark.index + 1] == "\t":
        problem += "; indent with spaces, not tabs"
    return GraphError(f"invalid YAML: {problem}", location=loc)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    return "a list" if isinstance(value, list) else repr(value)


def _unknown_keys(doc: _Doc, data: dict[Any, Any], allowed: tuple[str, ...], locs: dict[str, Location], path: str, what: str, node_id: str | None = None) -> None:
    for key in data:
        if key not in allowed:
            loc = locs.get(f"{path}.{key}:key" if path else f"{key}:key")
            doc.errors.append(GraphError(f"unknown key {key!r} in {what}{did_you_mean(str(key), allowed)}", node_id=node_id, location=loc))


def _graph(doc: _Doc, data: Any, locs: dict[str, Location], file: str) -> GraphSpec:
    if not isinstance(data, dict):
        doc.errors.append(GraphError(f"expected a mapping with 'nodes:' at the top, got {_kind(data)}", location=locs.get("")))
        return GraphSpec(name=Path(file).stem, file=file)
    _unknown_keys(doc, data, TOP_KEYS, locs, "", "the graph")
    name = data.get("name", Path(file).stem)
    if not isinstance(name, str) or not name:
        doc.errors.append(GraphError(f"'name' must be a non-empty string, got {name!r}", location=locs.get("name")))
        name = Path(file).stem
    nodes_data = data.get("nodes")
    nodes: list[NodeSpec] = []
    if nodes_data is None:
        what = "'nodes:' is empty" if "nodes" in data else "missing 'nodes:'"
        doc.errors.append(GraphError(f"{what}; a graph needs at least one node", location=locs.get("nodes", locs.get(""))))
    elif not isinstance(nodes_data, list):
        msg = f"'nodes' must be a list of nodes, each starting with '- id:', got {_kind(nodes_data)}"
        doc.errors.append(GraphError(msg, location=locs.get("nodes")))
    else:
        by_node = _node_locs(locs)
        for i, nd in enumerate(nodes_data):
            spec = _node(doc, nd, locs, f"nodes[{i}]", by_node.get(f"nodes[{i}]", {}))
            if spec is not None:
                nodes.append(spec)
    devices = _devices(doc, data.get("devices"), locs)
    default = data.get("default_device")
    if default is not None and not isinstance(default, str):
        doc.errors.append(GraphError(f"'default_device' must be a device name, got {default!r}", location=locs.get("default_device")))
        default = None
    description = data.get("description", "")
    glocs = {k: v for k, v in locs.items() if not k.startswith("nodes[")}
    return GraphSpec(name=name, nodes=tuple(nodes), devices=devices, default_device=default,
                     description=str(description or ""), file=file, locs=glocs)


def _node_locs(locs: dict[str, Location]) -> dict[str, dict[str, Location]]:
    """Each node's locations keyed by field (`nodes[3].params.fps` -> `params.fps` under
    `nodes[3]`), in one pass over every location: linear in the file, however many nodes."""
    out: dict[str, dict[str, Location]] = {}
    for k, v in locs.items():
        if not k.startswith("nodes["):
            continue
        end = k.find("]") + 1
        prefix, rest = k[:end], k[end:]
        if end <= 0 or (rest and rest[0] not in ".:"):
            continue
        out.setdefault(prefix, {})[rest[1:] if rest[:1] == "." else rest] = v
    return out


def _node(doc: _Doc, data: Any, locs: dict[str, Location], path: str, nlocs: dict[str, Location]) -> NodeSpec | None:
    if not isinstance(data, dict):
        doc.errors.append(GraphError(f"{path}: expected a mapping with 'id' and 'type', got {data!r}", location=nlocs.get("")))
        return None
    node_id = data.get("id")
    who = node_id if isinstance(node_id, str) else None
    _unknown_keys(doc, data, NODE_KEYS, locs, path, "a node", who)
    ok = True
    # A node without a usable id is named by its position, e.g. `nodes[2]: missing 'id'`.
    where = "" if who else f"{path}: "
    for key, example in (("id", "cam_1"), ("type", "video.synthetic")):
        if key not in data:
            doc.errors.append(GraphError(f"{where}missing {key!r}; add e.g. '{key}: {example}'", node_id=who, location=nlocs.get("")))
            ok = False
        elif not isinstance(data[key], str) or not data[key]:
            doc.errors.append(GraphError(f"{where}{key!r} must be a string such as {example!r}, got {data[key]!r}", node_id=who, location=nlocs.get(key)))
            ok = False
    params = data.get("params") or {}
    if not isinstance(params, dict):
        doc.errors.append(GraphError(f"'params' must be a mapping of name: value, got {params!r}", node_id=who, location=nlocs.get("params")))
        params = {}
    inputs = _inputs(doc, data.get("inputs") or {}, nlocs, who)
    opts: dict[str, Any] = {"on_error": "stop", "sync": None, "sync_tolerance_ms": None, "isolate": None, "shm_cap_mb": None, "cpus": None}
    for key, fallback in list(opts.items()):
        value = data.get(key, fallback)
        msg = None if value is None and fallback is None else option_problem(key, value)
        if msg:
            doc.errors.append(GraphError(msg, node_id=who, location=nlocs.get(key)))
        opts[key] = fallback if msg else value
    on_error, sync, tol = opts["on_error"], opts["sync"], opts["sync_tolerance_ms"]
    placed = placement_of(data.get("device"))
    if placed is None:
        msg = f"'device' must be a device name, or a list of devices to run replicas on, got {data.get('device')!r}"
        doc.errors.append(GraphError(msg, node_id=who, location=nlocs.get("device")))
    device, replicas = placed or (None, ())
    private = data.get("private", False)
    if isinstance(private, list) and all(isinstance(p, str) for p in private):
        private = tuple(private)
    elif not isinstance(private, bool):
        msg = f"'private' must be true (every output) or a list of output ports, got {private!r}"
        doc.errors.append(GraphError(msg, node_id=who, location=nlocs.get("private")))
        private = False
    if not who:
        return None
    return NodeSpec(id=who, type=data["type"] if ok else "", params=params, inputs=inputs, device=device, on_error=on_error,
                    sync=sync, sync_tolerance_ms=None if tol is None else float(tol), isolate=opts["isolate"],
                    shm_cap_mb=None if opts["shm_cap_mb"] is None else float(opts["shm_cap_mb"]), cpus=parse_cpus(opts["cpus"]),
                    replicas=replicas, private=private, locs=nlocs)


def _inputs(doc: _Doc, data: Any, nlocs: dict[str, Location], who: str | None) -> dict[str, InputSpec]:
    if not isinstance(data, dict):
        doc.errors.append(GraphError(f"'inputs' must be a mapping of port: node/port, got {data!r}", node_id=who, location=nlocs.get("inputs")))
        return {}
    out: dict[str, InputSpec] = {}
    for port, value in data.items():
        path = f"inputs.{port}"
        queue = policy = None
        link: dict[str, Any] = {}
        if isinstance(value, dict):
            _unknown_keys(doc, value, INPUT_KEYS, nlocs, path, f"input {port!r}", who)
            queue, policy = value.get("queue"), value.get("policy")
            for key in LINK_KEYS:
                if value.get(key) is not None:
                    if msg := option_problem(key, value[key]):
                        doc.errors.append(GraphError(f"input {port!r}: {msg}", node_id=who, location=nlocs.get(f"{path}.{key}")))
                    else:
                        link[key] = value[key]
            if "from" not in value:
                doc.errors.append(GraphError(f"input {port!r}: missing 'from: node/port'", node_id=who, location=nlocs.get(path)))
                continue
            value, path = value["from"], path + ".from"
            if queue is not None and (msg := option_problem("queue", queue)):
                doc.errors.append(GraphError(f"input {port!r}: {msg}", node_id=who, location=nlocs.get(f"inputs.{port}.queue")))
                queue = None
            if policy is not None and (msg := option_problem("policy", policy)):
                doc.errors.append(GraphError(f"input {port!r}: {msg}", node_id=who, location=nlocs.get(f"inputs.{port}.policy")))
                policy = None
        if not isinstance(value, str) or not value or value.count("/") > 1 or value.startswith("/") or value.endswith("/"):
            doc.errors.append(GraphError(f"input {port!r}: expected 'node/port', got {value!r}", node_id=who, location=nlocs.get(path)))
            continue
        src, _, out_port = value.partition("/")
        out[str(port)] = InputSpec(str(port), src, out_port or None, queue, policy, loc=nlocs.get(path), **link)
    return out


def _devices(doc: _Doc, data: Any, locs: dict[str, Location]) -> tuple[DeviceSpec, ...]:
    if data is None:
        return ()
    if not isinstance(data, dict):
        doc.errors.append(GraphError(f"'devices' must be a mapping of name: {{endpoint: ...}}, got {type(data).__name__}", location=locs.get("devices")))
        return ()
    out = []
    for name, d in data.items():
        path = f"devices.{name}"
        d = {} if d is None else d
        if isinstance(d, str):
            d = {"endpoint": d}
        if not isinstance(d, dict):
            doc.errors.append(GraphError(f"device {name!r}: expected a mapping with 'endpoint', got {d!r}", location=locs.get(path)))
            continue
        _unknown_keys(doc, d, DEVICE_KEYS, locs, path, f"device {name!r}")
        endpoint = d.get("endpoint")
        if endpoint is not None and (not isinstance(endpoint, str) or "://" not in endpoint):
            doc.errors.append(GraphError(f"device {name!r}: 'endpoint' must be a URL such as 'tcp://10.0.0.2:5555', got {endpoint!r}", location=locs.get(path + ".endpoint")))
            endpoint = None
        trusted = d.get("trusted", False)
        if not isinstance(trusted, bool):
            doc.errors.append(GraphError(f"device {name!r}: 'trusted' must be true or false, got {trusted!r}", location=locs.get(path + ".trusted")))
            trusted = False
        out.append(DeviceSpec(str(name), endpoint, trusted, loc=locs.get(path + ":key"), **_device_links(doc, str(name), d, locs, path)))
    return tuple(out)


def _device_links(doc: _Doc, name: str, d: dict[str, Any], locs: dict[str, Location], path: str) -> dict[str, Any]:
    """A device's link keys: endpoints, bind, keys, allow, timeout_s, insecure."""
    out: dict[str, Any] = {}
    for key in ("endpoints", "allow"):
        value = d.get(key)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            doc.errors.append(GraphError(f"device {name!r}: {key!r} must be a list of strings, got {value!r}", location=locs.get(f"{path}.{key}")))
        elif key == "endpoints" and (bad := [v for v in value if "://" not in v]):
            doc.errors.append(GraphError(f"device {name!r}: endpoint {bad[0]!r} must be a URL such as 'tcp://10.0.0.2:5555'", location=locs.get(f"{path}.{key}")))
        else:
            out[key] = tuple(value)
    for key in ("bind", "keys"):
        value = d.get(key)
        if value is not None and (not isinstance(value, str) or not value or (key == "bind" and "://" not in value)):
            what = "a URL such as 'tcp://*:5555'" if key == "bind" else "a key file path without extension, e.g. 'keys/gateway'"
            doc.errors.append(GraphError(f"device {name!r}: {key!r} must be {what}, got {value!r}", location=locs.get(f"{path}.{key}")))
        elif value is not None:
            out[key] = value
    t = d.get("timeout_s")
    if t is not None:
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not t > 0:
            doc.errors.append(GraphError(f"device {name!r}: 'timeout_s' must be a number > 0 (heartbeat timeout), got {t!r}", location=locs.get(f"{path}.timeout_s")))
        else:
            out["timeout_s"] = float(t)
    insecure = d.get("insecure", False)
    if not isinstance(insecure, bool):
        doc.errors.append(GraphError(f"device {name!r}: 'insecure' must be true or false, got {insecure!r}", location=locs.get(f"{path}.insecure")))
    elif insecure:
        out["insecure"] = True
    return out
