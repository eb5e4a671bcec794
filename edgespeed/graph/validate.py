"""Check a GraphSpec before anything is opened, reporting every problem at once.

Checks: ids (format, duplicates), node types (with "did you mean"), params (type, range,
required, unknown), wiring (missing nodes and ports, unconnected required inputs), port
contracts where both ends declare them, cycles (with their path), and devices.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GraphError, GraphErrors, Location
from ..format import IMAGE_CODECS, is_local_path
from ..node import ID_RE, Input, Node, Output, did_you_mean
from ..registry import Registry, UnknownType, default_registry
from .spec import DeviceSpec, GraphSpec, InputSpec, NodeSpec, option_problem


Ports = tuple[dict[str, Input], dict[str, Output]]


@dataclass(frozen=True)
class Resolved:
    """A validated graph: the spec, each node's class and checked params, and resolved wiring."""

    spec: GraphSpec
    classes: dict[str, type[Node]]
    params: dict[str, dict[str, Any]]
    inputs: dict[str, dict[str, InputSpec]]  # node id -> port -> spec with `output` filled in
    ports: dict[str, Ports]  # node id -> its ports for its params (see Node.declare_ports)


def validate(spec: GraphSpec, registry: Registry | None = None, *, files: bool = False) -> list[GraphError]:
    """Every problem in `spec`, sorted by location (empty when valid); `files` as in `check`."""
    try:
        check(spec, registry, files=files)
    except GraphErrors as e:
        return list(e.errors)
    return []


def check(spec: GraphSpec, registry: Registry | None = None, *, files: bool = False) -> Resolved:
    """Validate `spec` and resolve it.

    `files=True` (what `edgespeed validate` and `run` do) also checks that the local input and
    model files its params name exist; off for a spec whose files appear later (a model written
    by a setup step, ports named by hand).

    Raises:
        GraphErrors: all problems found.
    """
    reg = registry or default_registry()
    errors: list[GraphError] = list(spec.problems)
    by_id = _ids(spec, errors)
    classes = _types(spec, reg, errors)
    _options(spec, errors)
    n_param_errors = len(errors)
    params = _params(spec, classes, errors)
    if files:
        _files(spec, classes, params, errors)
    bad_params = {e.node_id for e in errors[n_param_errors:]}
    ports = _ports(spec, classes, params, bad_params, errors)
    inputs = _wiring(spec, by_id, ports, errors, _models(spec, classes, params))
    _cycles(spec, inputs, errors)
    _devices(spec, errors)
    declared = {d.name for d in spec.devices}
    if spec.devices and set(placement(spec).values()) <= declared and all(set(n.replicas) <= declared for n in spec.nodes):
        _links(spec, inputs, ports, errors)
    if errors:
        raise GraphErrors(errors)
    return Resolved(spec, classes, params, inputs, ports)


def _ids(spec: GraphSpec, errors: list[GraphError]) -> dict[str, NodeSpec]:
    by_id: dict[str, NodeSpec] = {}
    if not spec.nodes and not any(e for e in errors):
        errors.append(GraphError("the graph has no nodes", location=spec.locs.get("nodes") or Location(spec.file)))
    for n in spec.nodes:
        if not ID_RE.match(n.id):
            msg = f"malformed id {n.id!r}: expected lowercase letters, digits and _, starting with a letter; try {_id_like(n.id)!r}"
            errors.append(GraphError(msg, node_id=n.id, location=n.where("id")))
        if n.id in by_id:
            first, here = by_id[n.id].where("id"), n.where("id")
            at = f"line {first.line}" if first and here and first.file == here.file and first.line else str(first)
            errors.append(GraphError(f"duplicate id {n.id!r} (first defined at {at}); give each node its own id", node_id=n.id, location=here))
        else:
            by_id[n.id] = n
    return by_id


def _id_like(text: str) -> str:
    """A valid id close to `text`: `Cam-1` -> `cam_1`."""
    out = re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_")
    return out if out[:1].isalpha() else f"node_{out}".rstrip("_")


def _options(spec: GraphSpec, errors: list[GraphError]) -> None:
    """Node and input options. YAML loading checks these too; this catches builder-made specs."""
    for n in spec.nodes:
        for key in ("on_error", "sync", "sync_tolerance_ms", "isolate", "shm_cap_mb", "cpus"):
            value = getattr(n, key)
            if value is not None and (msg := option_problem(key, value)):
                errors.append(GraphError(msg, node_id=n.id, location=n.where(key)))
        for port, inp in n.inputs.items():
            for key in ("queue", "policy"):
                value = getattr(inp, key)
                if value is not None and (msg := option_problem(key, value)):
                    errors.append(GraphError(f"input {port!r}: {msg}", node_id=n.id, location=inp.loc or n.where(f"inputs.{port}")))


def _types(spec: GraphSpec, reg: Registry, errors: list[GraphError]) -> dict[str, type[Node]]:
    classes: dict[str, type[Node]] = {}
    unread = {p.node_id for p in spec.problems}
    # `type: mynodes:Blur` with mynodes.py beside the graph file
    folder = Path(spec.file).resolve().parent if Path(spec.file).is_file() else None
    for n in spec.nodes:
        if not n.type and n.id in unread:
            continue  # the loader reported its missing or malformed type
        try:
            classes[n.id] = reg.resolve(n.type, (folder,) if folder and ":" in n.type else ())
        except UnknownType as e:
            errors.append(GraphError(str(e), node_id=n.id, location=n.where("type")))
        except ImportError as e:
            errors.append(GraphError(str(e).splitlines()[0], node_id=n.id, location=n.where("type")))
    return classes


def _params(spec: GraphSpec, classes: dict[str, type[Node]], errors: list[GraphError]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for n in spec.nodes:
        cls = classes.get(n.id)
        if cls is None:
            continue
        values, problems = cls.check_params(dict(n.params))
        unknown = [p for p in n.params if p not in cls.params]
        for name, msg in problems:
            if name not in n.params and _misspelt(name, unknown):
                continue  # "unknown param 'widht'; did you mean 'width'?" already says it
            if name not in n.params:
                loc = n.where("params") if "params" in n.locs else n.where("type")
            elif name not in cls.params:
                loc = n.where(f"params.{name}:key")
            else:
                loc = n.where(f"params.{name}")
            errors.append(GraphError(msg, node_id=n.id, location=loc, field=f"params.{name}"))
        out[n.id] = values
    return out


def _files(spec: GraphSpec, classes: dict[str, type[Node]], params: dict[str, dict[str, Any]], errors: list[GraphError]) -> None:
    """Input and model files named by params that declare a `kind`: a local one must exist and
    be a file (or a folder). URLs and `builtin:` samples are the node's to open."""
    for n in spec.nodes:
        cls = classes.get(n.id)
        for name, p in (cls.params.items() if cls else ()):
            # the value as written: Path() turns `rtsp://cam/1` into `rtsp:/cam/1`
            value = n.params.get(name, params.get(n.id, {}).get(name))
            if p.kind is None or value is None or not isinstance(value, (str, Path)) or not is_local_path(str(value)):
                continue
            if msg := _file_problem(Path(value), p.kind):
                errors.append(GraphError(f"param {name!r}: {msg}", node_id=n.id, location=n.where(f"params.{name}"), field=f"params.{name}"))


def _file_problem(path: Path, kind: str) -> str | None:
    what, _, want = kind.replace("_", " ").partition(" ")
    label = f"{what} {want}"  # "model file", "input folder"
    if not path.exists():
        where = "" if path.is_absolute() else f" (relative to {Path.cwd()})"
        return f"{label} {str(path)!r} not found{where}"
    if want == "file" and path.is_dir():
        return f"{str(path)!r} is a folder; expected the {label} itself"
    if want == "folder" and not path.is_dir():
        return f"{str(path)!r} is a file; expected a folder ({label})"
    return None


def _ports(spec: GraphSpec, classes: dict[str, type[Node]], params: dict[str, dict[str, Any]],
           bad_params: set[str | None], errors: list[GraphError]) -> dict[str, Ports]:
    """Each node's ports for its params; nodes whose ports depend on params (a model's inputs)
    say so here, so contracts are checked before anything runs."""
    out: dict[str, Ports] = {}
    for n in spec.nodes:
        cls = classes.get(n.id)
        if cls is None:
            continue
        dynamic = cls.declare_ports.__func__ is not Node.declare_ports.__func__  # type: ignore[attr-defined]
        if n.id in bad_params:
            if not dynamic:  # a dynamic node's ports are unknown without good params: not checked
                out[n.id] = (cls.inputs, cls.outputs)
            continue
        try:
            out[n.id] = cls.declare_ports(params[n.id])
        except Exception as e:  # a node's own check (e.g. an unreadable model): one located line,
            # and its edges go unchecked rather than reported against ports it may not have
            text = str(e).strip().splitlines()
            msg = text[0] if text else type(e).__name__
            errors.append(GraphError(msg[:1].lower() + msg[1:], node_id=n.id, location=_param_location(n, msg)))
    return out


def _models(spec: GraphSpec, classes: dict[str, type[Node]], params: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Node id -> the file name of the model it runs (a `model_file` param), so that a port
    contract broken by a model's outputs names the model, not only the node running it."""
    out = {}
    for n in spec.nodes:
        cls = classes.get(n.id)
        for name, p in (cls.params.items() if cls else ()):
            value = params.get(n.id, {}).get(name)
            if p.kind == "model_file" and isinstance(value, (str, Path)):
                out[n.id] = Path(value).name
    return out


def _param_location(n: NodeSpec, msg: str) -> Location | None:
    """Where a node's own check points: `paths[2]: ...` at that list item, `lines: ...` at that
    param, when the file has them; else at the node's params."""
    m = re.match(r"([a-z_][a-z0-9_]*)(\[\d+\])?: ", msg)
    if m:
        for key in (f"params.{m.group(1)}{m.group(2) or ''}", f"params.{m.group(1)}"):
            if key in n.locs:
                return n.locs[key]
    return n.where("params") or n.where("type")


def _misspelt(name: str, given: Iterable[object]) -> bool:
    """True when one of `given` is a close misspelling of `name` (it got a "did you mean")."""
    return any(difflib.get_close_matches(str(g), [name], n=1, cutoff=0.6) for g in given)


def _wiring(spec: GraphSpec, by_id: dict[str, NodeSpec], ports: dict[str, Ports], errors: list[GraphError],
            models: dict[str, str]) -> dict[str, dict[str, InputSpec]]:
    from dataclasses import replace

    resolved: dict[str, dict[str, InputSpec]] = {}
    for n in spec.nodes:
        cls_ports = ports.get(n.id)
        cls_inputs = cls_ports[0] if cls_ports else None
        mine: dict[str, InputSpec] = {}
        for port, inp in n.inputs.items():
            loc = inp.loc or n.where(f"inputs.{port}")
            if cls_inputs is not None and port not in cls_inputs:
                hint = did_you_mean(port, cls_inputs) if cls_inputs else f"; {n.type!r} has no inputs (it is a source)"
                errors.append(GraphError(f"unknown input {port!r}{hint}", node_id=n.id, location=n.where(f"inputs.{port}:key"), field=f"inputs.{port}"))
                continue
            src = by_id.get(inp.node)
            if src is None:
                errors.append(GraphError(f"input {port!r}: no node {inp.node!r}{did_you_mean(inp.node, by_id)}", node_id=n.id, location=loc, field=f"inputs.{port}"))
                continue
            src_ports = ports.get(src.id)
            if src_ports is None:
                continue
            src_outputs = src_ports[1]
            out_port = inp.output
            if not src_outputs:
                errors.append(GraphError(f"input {port!r}: node {src.id!r} has no outputs (it is a sink); read from a node with outputs", node_id=n.id, location=loc, field=f"inputs.{port}"))
                continue
            if out_port is None:
                if len(src_outputs) != 1:
                    has = ", ".join(f"{src.id}/{o}" for o in src_outputs) or "none"
                    errors.append(GraphError(f"input {port!r}: node {src.id!r} has {len(src_outputs)} outputs; name one: {has}", node_id=n.id, location=loc, field=f"inputs.{port}"))
                    continue
                out_port = next(iter(src_outputs))
            if out_port not in src_outputs:
                has = ", ".join(src_outputs) or "no outputs (it is a sink)"
                errors.append(GraphError(f"input {port!r}: node {src.id!r} has no output {out_port!r}; it has: {has}", node_id=n.id, location=loc, field=f"inputs.{port}"))
                continue
            if cls_inputs is not None:
                why = src_outputs[out_port].type.mismatch(cls_inputs[port].type)
                if why:
                    of = f" (an output of model {models[src.id]!r})" if src.id in models else ""
                    errors.append(GraphError(f"input {port!r}: {src.id}/{out_port}{of} does not fit: {why}", node_id=n.id, location=loc, field=f"inputs.{port}"))
            mine[port] = replace(inp, output=out_port)
        if cls_inputs is not None:
            unknown = [p for p in n.inputs if p not in cls_inputs]
            for port, decl in cls_inputs.items():
                written = f"inputs.{port}" in n.locs  # in the file, but unreadable: reported when loaded
                if port not in n.inputs and not decl.optional and not written and not _misspelt(port, unknown):
                    errors.append(GraphError(f"input {port!r} is not connected; wire it as '{port}: node/port'", node_id=n.id, location=n.where("inputs") or n.where("id"), field=f"inputs.{port}"))
        resolved[n.id] = mine
    return resolved


def _cycles(spec: GraphSpec, inputs: dict[str, dict[str, InputSpec]], errors: list[GraphError]) -> None:
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(n.id for n in spec.nodes)
    g.add_edges_from((inp.node, nid) for nid, ports in inputs.items() for inp in ports.values())
    if nx.is_directed_acyclic_graph(g):
        return
    order = {n.id: i for i, n in enumerate(spec.nodes)}
    by_id = {n.id: n for n in spec.nodes}
    for k, cycle in enumerate(nx.simple_cycles(g)):
        if k >= 10:
            break
        first = min(cycle, key=order.__getitem__)
        i = cycle.index(first)
        path = cycle[i:] + cycle[:i] + [first]
        closer = by_id[first]
        back = next((p for p, inp in inputs[first].items() if inp.node == path[-2]), None)
        loc = closer.where(f"inputs.{back}") if back else closer.where("id")
        errors.append(GraphError(f"cycle: {' -> '.join(path)}; a graph must be acyclic", node_id=first, location=loc))


def _devices(spec: GraphSpec, errors: list[GraphError]) -> None:
    names = [d.name for d in spec.devices]
    seen = set()
    for d in spec.devices:
        if d.name in seen:
            errors.append(GraphError(f"device {d.name!r} is declared twice", location=d.loc))
        seen.add(d.name)
        if not ID_RE.match(d.name):
            errors.append(GraphError(f"malformed device name {d.name!r}: expected lowercase letters, digits and _", location=d.loc))
    if spec.default_device is not None and spec.default_device not in names:
        hint = did_you_mean(spec.default_device, names) if names else "; declare it under devices:"
        errors.append(GraphError(f"default_device {spec.default_device!r} is not a declared device{hint}", location=spec.locs.get("default_device")))
    for n in spec.nodes:
        for dev in n.replicas or ([n.device] if n.device is not None else []):
            if dev not in names:
                hint = did_you_mean(dev, names) if names else "; no devices: are declared"
                errors.append(GraphError(f"unknown device {dev!r}{hint}", node_id=n.id, location=n.where("device")))
        if len(set(n.replicas)) != len(n.replicas):
            errors.append(GraphError(f"'device' lists a device twice: {', '.join(n.replicas)}", node_id=n.id, location=n.where("device")))


def placement(spec: GraphSpec) -> dict[str, str]:
    """Each node's device: its `device:`, else `default_device`, else the first declared device."""
    if not spec.devices:
        return {}
    default = spec.default_device or spec.devices[0].name
    return {n.id: n.device or default for n in spec.nodes}


def _links(spec: GraphSpec, inputs: dict[str, dict[str, InputSpec]], ports: dict[str, tuple[dict[str, Any], dict[str, Any]]],
           errors: list[GraphError]) -> None:
    """Devices without nodes, and each edge that crosses devices: an endpoint to reach, keys on
    both ends or neither, data the wire can carry, no private data leaving for a device that is
    not trusted. A replicated node (`device: [a, b]`) has one link in and one out per replica."""
    from ..transport.wire import DTYPES

    where = placement(spec)
    devices = {d.name: d for d in spec.devices}
    by_id = {n.id: n for n in spec.nodes}
    consumers: dict[str, list[tuple[NodeSpec, InputSpec]]] = {}
    for c in spec.nodes:
        for i in inputs.get(c.id, {}).values():
            consumers.setdefault(i.node, []).append((c, i))
    used = set(where.values()).union(*(n.replicas for n in spec.nodes))
    for d in spec.devices:
        if d.name not in used:
            errors.append(GraphError(f"device {d.name!r} has no nodes; place some with 'device: {d.name}', or remove it", location=d.loc))
        for peer in d.allow:
            if peer not in devices and not peer.endswith(".key"):
                msg = f"device {d.name!r}: 'allow' entry {peer!r} is neither a device{did_you_mean(peer, list(devices))} nor a .key file"
                errors.append(GraphError(msg, location=d.loc))
    for n in spec.nodes:
        if n.replicas:
            _replica_shape(by_id, n, inputs, consumers.get(n.id, []), where, errors)
        for port, inp in inputs.get(n.id, {}).items():
            if inp.node not in where:
                continue
            producer = by_id[inp.node]
            sources = producer.replicas or (where[inp.node],)
            targets = n.replicas or (where[n.id],)
            pairs = [(devices[a], devices[b]) for a in sources for b in targets if a != b or n.replicas or producer.replicas]
            edge, loc = f"{inp.node}/{inp.output} -> {n.id}.{port}", n.where(f"inputs.{port}")
            if pairs:
                out_type = ports.get(inp.node, ({}, {}))[1].get(inp.output or "")
                why = _cannot_travel(getattr(out_type, "type", None), inp.compress, DTYPES)
                if why:
                    errors.append(GraphError(f"edge {edge} crosses devices, but {why}", node_id=n.id, location=loc))
            for src, dst in pairs:
                if not (dst.endpoint or dst.endpoints):
                    msg = f"edge {edge} crosses from device {src.name!r} to {dst.name!r}, which has no endpoint; add 'endpoint: tcp://HOST:PORT' to it"
                    errors.append(GraphError(msg, node_id=n.id, location=loc))
                if bool(src.keys) != bool(dst.keys):
                    has, lacks = (src, dst) if src.keys else (dst, src)
                    msg = f"edge {edge}: device {has.name!r} has keys but {lacks.name!r} has none; an encrypted link needs keys on both devices"
                    errors.append(GraphError(msg, node_id=n.id, location=loc))
                if keyless := _keyless(edge, src, dst):
                    errors.append(GraphError(keyless, node_id=n.id, location=loc))
                private = producer.private is True or (isinstance(producer.private, tuple) and inp.output in producer.private)
                if private and not dst.trusted and src.name != dst.name:
                    msg = (f"private data would leave device {src.name!r}: edge {edge} goes to device {dst.name!r}, which is not trusted; "
                           f"send derived data only (detections, counts), or mark {dst.name!r} 'trusted: true'")
                    errors.append(GraphError(msg, node_id=n.id, location=loc))


def _keyless(edge: str, src: DeviceSpec, dst: DeviceSpec) -> str | None:
    """A link between two devices without keys must be chosen on the receiving one: anyone who can
    reach its port (the link id is in the shared YAML) could otherwise inject packets unnoticed."""
    if src.keys or dst.keys or dst.insecure or src.name == dst.name:
        return None
    return (f"edge {edge}: the link from device {src.name!r} to {dst.name!r} has no keys, so anyone who reaches "
            f"{dst.name!r} can inject data; make keys (edgespeed keys generate NAME, then 'keys: keys/NAME' on both "
            f"devices), or mark {dst.name!r} 'insecure: true'")


def _cannot_travel(t: Any, compress: str | None, dtypes: frozenset[str]) -> str | None:
    """Why values of port type `t` cannot cross a link (None when they can, or nobody knows)."""
    if t is None or t.kind != "array" or not t.dtype:
        return None
    dt = np.dtype(t.dtype)
    if dt.newbyteorder("<").str not in dtypes:
        return f"its {dt.name} arrays cannot travel (a link carries bool, int8..int64, uint8..uint64 and float16..float64 arrays)"
    if compress in IMAGE_CODECS and (dt != np.uint8 or t.ndim not in (None, 2, 3)):
        return f"'compress: {compress}' is for uint8 images and the port carries {t.describe()}; use zstd, lz4 or zlib"
    return None


def _replica_shape(by_id: dict[str, NodeSpec], n: NodeSpec, inputs: dict[str, dict[str, InputSpec]],
                   consumers: list[tuple[NodeSpec, InputSpec]], where: dict[str, str], errors: list[GraphError]) -> None:
    """A replicated node takes one input from one device and feeds nodes on one device, none replicated."""
    loc = n.where("device")
    mine = inputs.get(n.id, {})
    if len(mine) != 1:
        errors.append(GraphError(f"runs as replicas on {', '.join(n.replicas)}, so it must have exactly one wired input, it has {len(mine)}",
                                 node_id=n.id, location=loc))
    for inp in mine.values():
        if inp.node in where and by_id[inp.node].replicas:
            errors.append(GraphError(f"runs as replicas and so does its input {inp.node!r}; put a node on one device between them",
                                     node_id=n.id, location=loc))
    if len({i.output for _, i in consumers}) > 1:
        errors.append(GraphError("runs as replicas, so only one of its outputs may be wired (its results are merged back into order)",
                                 node_id=n.id, location=loc))
    if len({where[c.id] for c, _ in consumers}) > 1 or any(c.replicas for c, _ in consumers):
        errors.append(GraphError("runs as replicas, so the nodes it feeds must all be on one device (where its results are put back in order)",
                                 node_id=n.id, location=loc))