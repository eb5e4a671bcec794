"""Frozen dataclasses describing a graph, as loaded from YAML or built with `Graph`.

Locations are kept beside the values (`locs`, keyed by field path such as `params.fps` for a
value or `params.fps:key` for its key) and never take part in equality, so a spec built in
Python equals the one loaded from its YAML.
"""

from __future__ import annotations

import re

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import format as fmt
from ..errors import GraphError, Location
from ..format import ON_ERROR, POLICIES, SYNC_MODES



def parse_cpus(value: Any) -> tuple[int, ...] | None:
    """CPU numbers from a list (`[2, 3]`) or a cpuset string (`"0-1,3"`, as taskset and cgroups
    write them); None when `value` is neither."""
    if isinstance(value, str) and re.fullmatch(fmt.CPUSET_PATTERN, value):
        cpus: set[int] = set()
        for part in value.split(","):
            lo, _, hi = part.partition("-")
            cpus.update(range(int(lo), int(hi or lo) + 1))
        return tuple(sorted(cpus)) or None
    if isinstance(value, (list, tuple)) and value and all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in value):
        return tuple(sorted(set(value)))
    return None


def placement_of(device: Any) -> tuple[str | None, tuple[str, ...]] | None:
    """`(device, replicas)` for a node's `device:` value: a device name, or a list of devices to
    run replicas on (a list of one places the node there); None when it is neither."""
    if device is None or isinstance(device, str):
        return device, ()
    if isinstance(device, list) and device and all(isinstance(d, str) for d in device):
        return device[0], tuple(device) if len(set(device)) > 1 else ()
    return None


def option_problem(key: str, value: Any) -> str | None:
    """Why `value` is not valid for the node or input option `key` (None when it is).

    One place for these messages, so YAML loading and builder validation say the same thing.
    """
    if key == "queue" and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        return f"'queue' must be an integer >= 1 (ring slots), got {value!r}"
    choices = {"on_error": ON_ERROR, "sync": SYNC_MODES, "policy": POLICIES}.get(key)
    if choices is not None and (not isinstance(value, str) or value not in choices):
        return f"{key!r} must be one of {', '.join(choices)}, got {value!r}"
    if key == "isolate" and (not isinstance(value, str) or not re.match(fmt.ID_PATTERN, value)):
        return f"'isolate' must be 'process' (a process of its own), 'thread' (the default) or a group name shared by nodes that run in one process, got {value!r}"
    if key == "shm_cap_mb" and (isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0):
        return f"'shm_cap_mb' must be a number > 0 (MiB of shared memory per edge of an isolated node), got {value!r}"
    link = {"mode": fmt.LINK_MODES, "compress": fmt.COMPRESS_CODECS}.get(key)
    if link is not None and value not in link:
        return f"{key!r} must be one of {', '.join(link)} (a link option, used where the edge crosses devices), got {value!r}"
    if key == "quality" and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100):
        return f"'quality' must be an integer 0..100 (jpeg quality, or png/zlib level), got {value!r}"
    if key == "cpus" and parse_cpus(value) is None:
        return f"'cpus' must list CPU numbers, as [2, 3] or \"0-1,3\", got {value!r}"
    if key == "sync_tolerance_ms" and (isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0):
        return f"'sync_tolerance_ms' must be a number >= 0, got {value!r}"
    return None


@dataclass(frozen=True)
class InputSpec:
    """One wired input: `port` of this node reads `node/output`.

    `output` is None when the YAML names only the node (allowed when it has one output).
    `queue` and `policy` are None where the YAML leaves them to the port's defaults.
    """

    port: str
    node: str
    output: str | None = None
    queue: int | None = None
    policy: str | None = None
    mode: str | None = None  # link options: only used where the edge crosses devices
    compress: str | None = None
    quality: int | None = None
    loc: Location | None = field(default=None, compare=False)

    @property
    def source(self) -> str:
        return self.node if self.output is None else f"{self.node}/{self.output}"

    def to_yaml_value(self) -> Any:
        opts = {k: getattr(self, k) for k in fmt.INPUT_KEYS[1:] if getattr(self, k) is not None}
        return {"from": self.source, **opts} if opts else self.source


@dataclass(frozen=True)
class NodeSpec:
    """One node of the graph."""

    id: str
    type: str
    params: Mapping[str, Any] = field(default_factory=dict)
    inputs: Mapping[str, InputSpec] = field(default_factory=dict)
    device: str | None = None
    on_error: str = "stop"
    sync: str | None = None
    sync_tolerance_ms: float | None = None
    isolate: str | None = None
    shm_cap_mb: float | None = None
    cpus: tuple[int, ...] | None = None  # pin the node's thread (and the threads it starts) to these CPUs
    replicas: tuple[str, ...] = ()  # `device: [gw1, gw2]`: the node runs on each, packets balanced
    private: bool | tuple[str, ...] = False  # True: every output; or the private output ports
    locs: Mapping[str, Location] = field(default_factory=dict, compare=False)

    def where(self, key: str = "") -> Location | None:
        """The location of field `key`, falling back to its parents and then the node."""
        while True:
            if key in self.locs:
                return self.locs[key]
            if not key:
                return None
            key = key.rsplit(".", 1)[0] if "." in key else ("" if ":" not in key else key.split(":")[0])

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.params:
            out["params"] = dict(self.params)
        if self.inputs:
            out["inputs"] = {k: v.to_yaml_value() for k, v in self.inputs.items()}
        if self.replicas:
            out["device"] = list(self.replicas)
        elif self.device is not None:
            out["device"] = self.device
        if self.on_error != "stop":
            out["on_error"] = self.on_error
        if self.sync is not None:
            out["sync"] = self.sync
        if self.sync_tolerance_ms is not None:
            out["sync_tolerance_ms"] = self.sync_tolerance_ms
        if self.isolate is not None:
            out["isolate"] = self.isolate
        if self.shm_cap_mb is not None:
            out["shm_cap_mb"] = self.shm_cap_mb
        if self.cpus is not None:
            out["cpus"] = list(self.cpus)
        if self.private:
            out["private"] = True if self.private is True else list(self.private or ())
        return out


@dataclass(frozen=True)
class DeviceSpec:
    """A device that nodes can be placed on, and the endpoint its links listen on.

    Incoming links take `endpoint`'s port and the next ones, one per edge, unless `endpoints`
    lists them; `bind` is the local address when peers reach the device through another one
    (NAT, a proxy); `keys` names its keypair (`keys/gw` for `keys/gw.key` and `.key_secret`);
    `allow` the peers accepted besides the devices that send to it; `timeout_s` the heartbeat
    timeout of its links; `insecure: true` accepts links into it without keys (anyone who can
    reach its ports can then inject data).
    """

    name: str
    endpoint: str | None = None
    trusted: bool = False
    endpoints: tuple[str, ...] = ()
    bind: str | None = None
    keys: str | None = None
    allow: tuple[str, ...] = ()
    timeout_s: float | None = None
    insecure: bool = False
    loc: Location | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.endpoint is not None:
            out["endpoint"] = self.endpoint
        if self.trusted:
            out["trusted"] = True
        for key in ("endpoints", "bind", "keys", "allow", "timeout_s", "insecure"):
            value = getattr(self, key)
            if value:
                out[key] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True)
class GraphSpec:
    """A whole graph: nodes in declaration order, devices, and where it came from."""

    name: str
    nodes: tuple[NodeSpec, ...] = ()
    devices: tuple[DeviceSpec, ...] = ()
    default_device: str | None = None
    description: str = ""
    file: str = field(default="<graph>", compare=False)
    locs: Mapping[str, Location] = field(default_factory=dict, compare=False)
    # What `load_partial` could not read (bad keys, shapes, option values); `check` reports
    # these with everything else, and skips what they leave unknown (a node without a type).
    problems: tuple[GraphError, ...] = field(default=(), compare=False, repr=False)

    def node(self, node_id: str) -> NodeSpec:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        if self.devices:
            out["devices"] = {d.name: d.to_dict() for d in self.devices}
        if self.default_device is not None:
            out["default_device"] = self.default_device
        out["nodes"] = [n.to_dict() for n in self.nodes]
        return out

    def to_yaml(self) -> str:
        """YAML text that `load_text` turns back into an equal spec."""
        import yaml

        text: str = yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None, width=100)
        return text

    def with_params(self, overrides: Mapping[tuple[str, str], tuple[Any, Location]]) -> GraphSpec:
        """A copy with `(node, param) -> (value, location)` applied (`--set node.param=value`)."""
        from dataclasses import replace

        nodes = []
        for n in self.nodes:
            mine = {p: v for (nid, p), v in overrides.items() if nid == n.id}
            if mine:
                params = dict(n.params) | {p: v for p, (v, _) in mine.items()}
                locs = dict(n.locs) | {f"params.{p}": loc for p, (_, loc) in mine.items()}
                locs |= {f"params.{p}:key": loc for p, (_, loc) in mine.items()}
                n = replace(n, params=params, locs=locs)
            nodes.append(n)
        return replace(self, nodes=tuple(nodes))
