"""The planning step: what runs where, and over what (spec -> validate -> **plan** -> run).

`plan(resolved, device)` is a pure function of a validated graph: per node its device, process
group, CPU set and executor; per edge its carrier, with capacity, policy, link mode and
compression. It imports nothing from the runtime, opens nothing and reads no machine state
(the CPUs on offer are an argument), so `edgespeed plan` prints exactly what `run` executes
and tests can check placement without starting a thread.

Carriers:
- `ring`: both ends in one process (the default: a bounded in-process ring);
- `shm`: another process on the same device (`isolate:`), a shared-memory channel;
- `link`: another device, a ZeroMQ link (`mode`, `compress`);
- `replica_dispatch` / `replica_merge`: into or out of a node placed on several devices.

Without a device, the whole graph runs in one process: edges between devices are rings, and
`EdgePlan.devices` still says which devices they join (what `edgespeed graph` draws).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import GraphError, GraphErrors
from .spec import DeviceSpec, GraphSpec, InputSpec, NodeSpec
from .validate import Resolved, placement

DEFAULT_QUEUE = 32
"""Ring slots when neither the YAML nor the input port says. Small packets then move between
threads in batches (the GIL is traded per batch, not per packet), and DEFAULT_MAX_BYTES keeps
frames bounded: 1080p BGR frames stop at 10 per edge."""

DEFAULT_MAX_BYTES = 64 << 20
"""Byte limit of a ring whose size the YAML does not set (an explicit `queue: N` is exact)."""

DEFAULT_SHM_CAP_BYTES = 256 << 20
"""Shared memory of a channel between processes unless a node's `shm_cap_mb` says less."""

CARRIERS = ("ring", "shm", "link", "replica_dispatch", "replica_merge")


@dataclass(frozen=True)
class NodePlan:
    """Where one node runs."""

    id: str
    type: str
    device: str | None  # None: the graph declares no devices
    replicas: tuple[str, ...]  # the devices of a replicated node (`device: [a, b]`)
    process: str | None  # None: the main process; else the process group's name
    executor: str  # "thread" or "process"
    cpus: tuple[int, ...] | None  # the CPUs its thread may run on; None: any


@dataclass(frozen=True)
class LinkPlan:
    """One ZeroMQ link: its name (what both ends and the logs call it), addresses, liveness and
    keys. Both ends read their settings from here, so the two devices cannot disagree."""

    name: str
    sender: str  # the device that connects
    receiver: str  # the device that binds
    connect: str
    bind: str
    timeout_s: float = 3.0  # the receiving device's `timeout_s`: a peer silent this long is gone
    heartbeat_s: float = 0.5  # a quarter of the timeout, at most 0.5 s: three may be lost
    sender_keys: str = ""  # the sender's keypair, a path without extension; "" when plain text
    receiver_keys: str = ""  # the receiver's; the sender trusts its `.key` as the server's key
    allow: tuple[str, ...] = ()  # public key files the receiver lets connect

    @property
    def encrypted(self) -> bool:
        """CURVE (validation makes sure both devices have keys, or neither)."""
        return bool(self.receiver_keys)


@dataclass(frozen=True)
class EdgePlan:
    """How one edge carries its packets."""

    source: str  # "node/output"
    target: str  # "node.port"
    carrier: str  # one of CARRIERS
    capacity: int  # ring slots
    max_bytes: int | None  # byte bound of a ring whose size the YAML leaves open
    policy: str  # block, latest, drop_oldest
    devices: tuple[str, str] | None = None  # (from, to) when the edge joins two devices
    mode: str | None = None  # link: reliable or realtime
    compress: str | None = None  # link: none, jpeg, png, zlib, zstd, lz4
    quality: int | None = None
    private: bool = False  # the producer marks this output private
    shm_cap_bytes: int | None = None  # shm: the channel's shared memory
    links: tuple[LinkPlan, ...] = ()  # the ZeroMQ links carrying it (several into or out of replicas)


@dataclass(frozen=True)
class Plan:
    """A validated graph, placed: what `Run` executes."""

    graph: str
    device: str | None  # the device whose part this is; None: the whole graph in one process
    nodes: dict[str, NodePlan]
    edges: tuple[EdgePlan, ...]
    spare_cpus: tuple[int, ...] | None = None  # CPUs no node claims (for the runtime's own threads)
    # per node with several inputs: the inputs each source upstream of it feeds, over the whole
    # graph (across processes and devices), so the end of a stream waits for every one of them
    stream_feeds: dict[str, dict[str, frozenset[str]]] = field(default_factory=dict)

    def links(self) -> dict[tuple[str, str], tuple[LinkPlan, ...]]:
        """The ZeroMQ links of each edge of this part, by (consumer, port)."""
        out: dict[tuple[str, str], tuple[LinkPlan, ...]] = {}
        for e in self.edges:
            if e.links:
                node, port = e.target.rsplit(".", 1)
                out[(node, port)] = e.links
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain data for `edgespeed plan --json`."""
        edges = [asdict(e) for e in self.edges]
        for e, plain in zip(self.edges, edges):
            for lk, d in zip(e.links, plain["links"]):
                d["encrypted"] = lk.encrypted
        return {"graph": self.graph, "device": self.device, "nodes": {k: asdict(v) for k, v in self.nodes.items()},
                "edges": edges, "spare_cpus": self.spare_cpus}


def plan(resolved: Resolved, device: str | None = None, *, cpus: frozenset[int] | None = None) -> Plan:
    """Place a validated graph.

    Args:
        resolved: `graph.check(spec)`.
        device: plan only this device's part (`run --device`); None for the whole graph.
        cpus: the CPUs this process may use (`os.sched_getaffinity(0)`); None: no pinning
            checks, and nodes without `cpus` may run anywhere.

    Raises:
        KeyError: `device` is not declared.
        GraphErrors: a node's `cpus` names a CPU outside `cpus`.
    """
    spec = resolved.spec
    if device is not None and device not in {d.name for d in spec.devices}:
        raise KeyError(device)
    where = placement(spec)
    wired = links(spec, where) if spec.devices else {}
    sets, spare = cpu_sets(spec, cpus)
    nodes = {n.id: NodePlan(n.id, n.type, where.get(n.id), n.replicas, group_of(n), "process" if group_of(n) else "thread",
                            sets.get(n.id)) for n in spec.nodes if _runs_on(n, where, device)}
    edges = []
    for n in spec.nodes:
        for port, inp in resolved.inputs[n.id].items():
            producer = spec.node(inp.node)
            if n.id not in nodes and inp.node not in nodes:
                continue
            edges.append(_edge(resolved, n, port, inp, producer, where, device, wired.get((n.id, port), ())))
    feeds = {nid: f for nid, f in stream_feeds(resolved).items() if nid in nodes}
    return Plan(spec.name if device is None else f"{spec.name}@{device}", device, nodes, tuple(edges), spare, feeds)


def stream_feeds(resolved: Resolved) -> dict[str, dict[str, frozenset[str]]]:
    """For each node with several inputs: source id -> the input ports it feeds through the graph."""
    inputs = resolved.inputs
    ups: dict[str, set[str]] = {}  # node -> the sources upstream of it (a source: itself)

    def sources(nid: str) -> set[str]:  # iterative: a long chain must not hit the recursion limit
        stack = [nid]
        while stack:
            top = stack[-1]
            before = [i.node for i in inputs[top].values()]
            todo = [u for u in before if u not in ups]
            if todo:
                stack.extend(todo)
                continue
            stack.pop()
            ups[top] = set().union(*(ups[u] for u in before)) if before else {top}
        return ups[nid]

    out: dict[str, dict[str, frozenset[str]]] = {}
    for nid, ins in inputs.items():
        if len(ins) > 1:
            by_source: dict[str, set[str]] = {}
            for port, inp in ins.items():
                for src in sources(inp.node):
                    by_source.setdefault(src, set()).add(port)
            out[nid] = {src: frozenset(ports) for src, ports in by_source.items()}
    return out


def _runs_on(n: NodeSpec, where: dict[str, str], device: str | None) -> bool:
    if device is None:
        return True
    return device in n.replicas if n.replicas else where[n.id] == device


def _edge(r: Resolved, n: NodeSpec, port: str, inp: InputSpec, producer: NodeSpec, where: dict[str, str], device: str | None,
          wired: tuple[LinkPlan, ...]) -> EdgePlan:
    decl = r.ports[n.id][0][port]
    cap = inp.queue or decl.queue
    src_dev, dst_dev = where.get(inp.node), where.get(n.id)
    joins = (src_dev, dst_dev) if src_dev is not None and dst_dev is not None and (src_dev != dst_dev or n.replicas or producer.replicas) else None
    private = producer.private is True or (isinstance(producer.private, tuple) and inp.output in producer.private)
    carrier, shm_bytes = "ring", None
    if device is not None and n.replicas:
        carrier = "replica_dispatch" if where[inp.node] == device else "link"
    elif device is not None and producer.replicas:
        carrier = "replica_merge" if where[n.id] == device else "link"
    elif device is not None and src_dev != dst_dev:
        carrier = "link"
    elif group_of(n) != group_of(producer):
        carrier, shm_bytes = "shm", shm_cap(n, producer)
    linked = carrier != "ring" and carrier != "shm" or joins is not None
    return EdgePlan(inp.source, f"{n.id}.{port}", carrier,
                    cap or DEFAULT_QUEUE, None if cap else DEFAULT_MAX_BYTES, inp.policy or decl.policy or "block",
                    devices=joins, mode=(inp.mode or "reliable") if linked else None,
                    compress=(inp.compress or "none") if linked else None, quality=inp.quality if linked else None,
                    private=private, shm_cap_bytes=shm_bytes, links=wired)


def links(spec: GraphSpec, where: dict[str, str]) -> dict[tuple[str, str], tuple[LinkPlan, ...]]:
    """The links of every edge that joins devices, by (consumer, port), over the whole graph:
    every device numbers them alike, so each finds the same port for the k-th link into a
    device (`addresses`) whichever part of the graph it runs.

    An edge into a replicated node is a link to each replica; the results of a replicated node
    come back to a device over a link from each replica, shared by all its consumers there.
    """
    devices = {d.name: d for d in spec.devices}
    incoming: dict[str, int] = {}
    merges: dict[str, tuple[LinkPlan, ...]] = {}  # a replicated producer's links back (see split)
    out: dict[tuple[str, str], tuple[LinkPlan, ...]] = {}

    def keys(dev: DeviceSpec) -> str:
        return key_path(spec, dev.keys) if dev.keys else ""

    def link(name: str, src: str, dst: str) -> LinkPlan:
        k = incoming[dst] = incoming.get(dst, -1) + 1
        to = devices[dst]
        timeout = to.timeout_s or 3.0
        peers = [devices[src]] + [devices[a] for a in to.allow if a in devices]
        allow = [keys(d) + ".key" for d in peers if d.keys] + [key_path(spec, a) for a in to.allow if a.endswith(".key")]
        return LinkPlan(name, src, dst, *addresses(to, k), timeout_s=timeout, heartbeat_s=min(0.5, timeout / 4),
                        sender_keys=keys(devices[src]), receiver_keys=keys(to), allow=tuple(allow))

    for n in spec.nodes:
        for port, inp in n.inputs.items():
            producer = spec.node(inp.node)
            label = f"{inp.source} -> {n.id}.{port}"
            if n.replicas:
                out[(n.id, port)] = tuple(link(f"{label} @{r}", where[inp.node], r) for r in n.replicas)
            elif producer.replicas:
                dst = where[n.id]
                if inp.node not in merges:
                    merges[inp.node] = tuple(link(f"{inp.source} -> {dst} @{r}", r, dst) for r in producer.replicas)
                out[(n.id, port)] = merges[inp.node]
            elif where[inp.node] != where[n.id]:
                out[(n.id, port)] = (link(label, where[inp.node], where[n.id]),)
    return out


def key_path(spec: GraphSpec, path: str) -> str:
    """A key file named in the YAML: relative paths are relative to the graph file's folder."""
    p = Path(path)
    if not p.is_absolute() and spec.file and not spec.file.startswith("<"):
        p = Path(spec.file).resolve().parent / p
    return str(p)


def shm_cap(consumer: NodeSpec, producer: NodeSpec) -> int:
    """Bytes of shared memory for the channel between two processes: the smaller `shm_cap_mb`
    of its two ends, else DEFAULT_SHM_CAP_BYTES."""
    caps = [int(m.shm_cap_mb * 2**20) for m in (consumer, producer) if m.shm_cap_mb]
    return min(caps or [DEFAULT_SHM_CAP_BYTES])


def group_of(n: NodeSpec) -> str | None:
    """The process group of a node: None (the main process), its own id, or a shared name."""
    if n.isolate in (None, "thread"):
        return None
    return n.id if n.isolate == "process" else f"group:{n.isolate}"


def cpu_sets(spec: GraphSpec, offered: frozenset[int] | None) -> tuple[dict[str, tuple[int, ...] | None], tuple[int, ...] | None]:
    """The CPUs each node's thread may run on, and the CPUs no node claims.

    A node runs on its `cpus`; the nodes without `cpus` share the CPUs no node claims (all of
    them when the claims cover the machine). Pinning the inference node to a core of its own
    and the rest of the graph to the others keeps decode and preprocessing from preempting it
    (and OpenCV's and FFmpeg's worker threads, which inherit the affinity of the node that
    starts them, from spreading over it).

    Raises:
        GraphErrors: a node's `cpus` names a CPU outside `offered`.
    """
    pinned = {n.id: frozenset(n.cpus) for n in spec.nodes if n.cpus}
    if not pinned:
        return {}, None
    if offered is None:
        return {nid: tuple(sorted(c)) for nid, c in pinned.items()}, None
    have = ",".join(map(str, sorted(offered)))
    errors = [GraphError(f"'cpus' names CPU {', '.join(map(str, sorted(c - offered)))}, which this machine does not offer (it has {have})",
                         node_id=nid, location=spec.node(nid).where("cpus")) for nid, c in pinned.items() if not c <= offered]
    if errors:
        raise GraphErrors(errors)
    rest = tuple(sorted(offered - frozenset().union(*pinned.values()))) or None
    return {n.id: tuple(sorted(pinned[n.id])) if n.id in pinned else rest for n in spec.nodes}, rest


def port_plus(url: str, k: int) -> str:
    """`url` with its port moved up by `k`."""
    m = re.match(r"^(.*):(\d+)$", url)
    if not m:
        raise ValueError(f"endpoint {url!r} has no port")
    return f"{m.group(1)}:{int(m.group(2)) + k}"


def addresses(dev: DeviceSpec, k: int) -> tuple[str, str]:
    """(connect, bind) addresses of the k-th link into `dev`: `endpoints[k]` when the device
    lists them, else `endpoint`'s port + k; it binds `bind` (same rule) or else the endpoint."""
    if dev.endpoints:
        if k >= len(dev.endpoints):
            raise ValueError(f"device {dev.name!r} receives more links than its {len(dev.endpoints)} endpoints")
        connect = dev.endpoints[k]
    else:
        assert dev.endpoint is not None
        connect = port_plus(dev.endpoint, k)
    bind = port_plus(dev.bind, k) if dev.bind else connect
    return connect, bind
