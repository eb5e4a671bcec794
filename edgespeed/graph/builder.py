"""Build a graph in Python. The result is the same `GraphSpec` YAML loading gives.

Example:
    >>> g = Graph("quickstart")
    >>> cam = g.add("video.synthetic", id="cam", width=320, height=240, frames=30)
    >>> small = g.add("image.resize", id="small", image=cam.frame, width=160, height=120)
    >>> _ = g.add("sink.null", id="out", data=small.out)
    >>> spec = g.spec()          # validated; errors point at the lines above
    >>> text = g.to_yaml()       # load_text(text) == spec

Port references (`cam.frame`) passed as keyword arguments wire inputs; other keyword arguments
are params, stored as YAML would give them (tuples become lists, paths strings) so that the
spec equals the one loaded from `to_yaml()`. `g.connect(src, dst, queue=..., policy=...)`
wires with ring options.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from ..errors import GraphError, GraphErrors, Location
from ..node import Node, did_you_mean
from .spec import DeviceSpec, GraphSpec, InputSpec, NodeSpec, parse_cpus, placement_of


def _caller() -> Location:
    frame = sys._getframe(2)
    here = __file__
    while frame is not None and frame.f_code.co_filename == here:
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return Location("<builder>")
    return Location(frame.f_code.co_filename, frame.f_lineno)


@dataclass(frozen=True)
class PortRef:
    """`node_id/port`, as produced by `handle.port` or `handle["port"]`."""

    node: str
    port: str

    def __str__(self) -> str:
        return f"{self.node}/{self.port}"


class NodeHandle:
    """What `Graph.add` returns: attribute access names a port of the node."""

    def __init__(self, graph: Graph, node_id: str) -> None:
        self._graph = graph
        self.id = node_id

    def __getattr__(self, port: str) -> PortRef:
        if port.startswith("_"):
            raise AttributeError(port)
        return PortRef(self.id, port)

    def __getitem__(self, port: str) -> PortRef:
        return PortRef(self.id, port)


@dataclass
class _Draft:
    id: str
    type: str
    params: dict[str, Any]
    inputs: dict[str, InputSpec]
    device: str | list[str] | None
    on_error: str
    sync: str | None
    sync_tolerance_ms: float | None
    isolate: str | None = None
    shm_cap_mb: float | None = None
    cpus: tuple[int, ...] | None = None
    locs: dict[str, Location] = field(default_factory=dict)


class Graph:
    """A graph under construction.

    Args:
        name: the graph's name.
        description: free text.
    """

    def __init__(self, name: str, description: str = "") -> None:
        self.name = name
        self.description = description
        self._nodes: list[_Draft] = []
        self._devices: list[DeviceSpec] = []
        self._default_device: str | None = None
        self._errors: list[GraphError] = []  # found while building; reported by spec() with the rest
        self._loc = _caller()

    def device(self, name: str, endpoint: str | None = None, *, trusted: bool = False, default: bool = False) -> str:
        """Declare a device nodes can be placed on; returns its name."""
        self._devices.append(DeviceSpec(name, endpoint, trusted, loc=_caller()))
        if default:
            self._default_device = name
        return name

    def add(
        self,
        type: str | type[Node],  # noqa: A002 - mirrors the YAML key
        *,
        id: str | None = None,  # noqa: A002
        params: dict[str, Any] | None = None,
        device: str | list[str] | None = None,
        on_error: str = "stop",
        sync: str | None = None,
        sync_tolerance_ms: float | None = None,
        isolate: str | None = None,
        shm_cap_mb: float | None = None,
        cpus: list[int] | str | None = None,
        **kwargs: Any,
    ) -> NodeHandle:
        """Add a node; keyword arguments that are `PortRef`s wire inputs, the rest are params.

        Args:
            type: a type name (`image.resize`, `pkg.mod:Class`) or a Node class.
            id: the node id (default: derived from the type, made unique).
            params: params as a dict (merged with keyword params).
            cpus: pin the node to these CPUs (`[1]`, `"2-3"`); the YAML's `cpus:` key.
        """
        loc = _caller()
        type_name = type if isinstance(type, str) else _class_path(type)
        node_id = id or self._fresh_id(type_name)
        draft = _Draft(node_id, type_name, _plain(dict(params or {})), {}, device, on_error, sync, sync_tolerance_ms, isolate, shm_cap_mb,
                       None if cpus is None else parse_cpus(cpus) or cpus)  # type: ignore[arg-type]  # validate reports a bad value
        for key in ("", "id", "type", "params", "device", "on_error", "sync"):
            draft.locs[key] = loc
        for k, v in kwargs.items():
            if isinstance(v, (PortRef, NodeHandle)):
                self._wire(draft, k, v, None, None, loc)
            else:
                draft.params[k] = _plain(v)
        for k in draft.params:
            draft.locs[f"params.{k}"] = draft.locs[f"params.{k}:key"] = loc
        self._nodes.append(draft)
        return NodeHandle(self, node_id)

    def connect(self, src: PortRef | NodeHandle, dst: PortRef, *, queue: int | None = None, policy: str | None = None) -> None:
        """Wire `src` (an output) into `dst` (an input), with optional ring size and policy."""
        loc = _caller()
        for d in self._nodes:
            if d.id == dst.node:
                self._wire(d, dst.port, src, queue, policy, loc)
                return
        ids = [d.id for d in self._nodes]
        msg = f"connect: no node {dst.node!r}{did_you_mean(dst.node, ids)}; add it with g.add(...) before connecting"
        self._errors.append(GraphError(msg, location=loc))

    def _wire(self, d: _Draft, port: str, src: PortRef | NodeHandle, queue: int | None, policy: str | None, loc: Location) -> None:
        node, out = (src.id, None) if isinstance(src, NodeHandle) else (src.node, src.port)
        d.inputs[port] = InputSpec(port, node, out, queue, policy, loc=loc)
        d.locs[f"inputs.{port}"] = d.locs[f"inputs.{port}:key"] = loc

    def _fresh_id(self, type_name: str) -> str:
        base = type_name.rsplit(":", 1)[-1].rsplit(".", 1)[-1].lower() or "node"
        taken = {d.id for d in self._nodes}
        if base not in taken:
            return base
        i = 2
        while f"{base}_{i}" in taken:
            i += 1
        return f"{base}_{i}"

    def build(self) -> GraphSpec:
        """The GraphSpec, not validated."""
        nodes = []
        for d in self._nodes:
            device, replicas = placement_of(d.device) or (None, ())  # `device: [a, b]`: replicas
            nodes.append(NodeSpec(d.id, d.type, dict(d.params), dict(d.inputs), device, d.on_error, d.sync, d.sync_tolerance_ms,
                                  d.isolate, d.shm_cap_mb, d.cpus, replicas, locs=dict(d.locs)))
        return GraphSpec(self.name, tuple(nodes), tuple(self._devices), self._default_device, self.description,
                         file=self._loc.file, locs={"": self._loc})

    def spec(self) -> GraphSpec:
        """The validated GraphSpec.

        Raises:
            GraphErrors: every problem, located at the builder call that caused it.
        """
        from .validate import validate

        spec = self.build()
        errors = self._errors + validate(spec)
        if errors:
            raise GraphErrors(errors)
        return spec

    def to_yaml(self) -> str:
        """YAML for this graph; loading it gives a spec equal to `build()`."""
        return self.build().to_yaml()

    def run(self, **options: Any) -> Any:
        """Validate and run this graph in this process; returns the run's report."""
        from ..runtime.scheduler import run_spec

        return run_spec(self.spec(), **options)


def _plain(value: Any) -> Any:
    """`value` as loading its YAML gives it back: tuples as lists, paths as strings."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, PurePath):
        return str(value)
    return value


def _class_path(cls: type[Node]) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"
