"""One device's part of a graph: `edgespeed run g.yaml --device NAME`.

The graph is cut at device boundaries the way `process.split` cuts it at process boundaries:
every edge that crosses devices (crossing c, numbered in graph order) becomes a
`runtime.link_out` node `link_out_c` on the producing device (a sink that keeps the edge's
queue and policy, so `policy: latest` drops before anything crosses) and a `runtime.link_in`
node `link_in_c` on the consuming device (a relay source that keeps the original stamps),
talking ZeroMQ (`transport.link`). Without `--device` the same graph runs in one process and
the links are plain in-process edges.

Addresses: the i-th edge into a device (in graph order) is served on `endpoints[i]` when the
device lists them, else on `endpoint`'s port + i; the receiving side binds `bind` (same port
rule) or else the endpoint itself. Both sides derive the same numbering from the same file.

Acknowledgement: a `link_in` acknowledges a packet once every node downstream of it on this
device has finished with it (exactly, from the consumers' counters, when its consumers are
single-input sinks; otherwise when its downstream part of the graph has gone idle), and a
reliable `link_out` downstream has had it acknowledged by the next device. So a device killed
with -9 loses nothing that was acknowledged: the sender resends the rest. What a sink had
written when the kill came, before the acknowledgement left, comes again (at-least-once at a
crash; the link polls every 2 ms while packets are out, so that is at most one or two).
"""

from __future__ import annotations

import logging
import re
import threading
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..graph.spec import DeviceSpec, GraphSpec, InputSpec, NodeSpec
from ..graph.validate import placement
from ..node import Input, Node, Output, Param
from ..registry import default_registry
from ..types import Stamped
from .process import fresh_ids

log = logging.getLogger("edgespeed.link")


class LinkOut(Node):
    """(internal) Sends `data` to another device over a ZeroMQ link (`transport.link.Sender`)."""

    kind = "runtime.link_out"
    data = Input()
    link: str = Param(doc="link id: the edge it carries")
    endpoint: str = Param(doc="where the receiving device listens")
    mode: str = Param("reliable", doc="reliable or realtime")
    window: int = Param(8, ge=1, doc="packets in flight beyond the last acknowledged one")
    queue: int = Param(8, ge=1, doc="realtime: packets waiting for credit before the oldest is dropped")
    compress: str = Param("none", doc="none, jpeg, png or zlib")
    quality: int | None = Param(None, doc="jpeg quality, or png/zlib level")
    heartbeat_s: float = Param(0.5, gt=0)
    timeout_s: float = Param(3.0, gt=0)
    keys: str = Param("", doc="this device's keypair (path without extension); empty for plain text")
    server_key: str = Param("", doc="the receiving device's public key file")

    def setup(self) -> None:
        from ..transport import security
        from ..transport.compress import codec_for
        from ..transport.link import Sender

        curve = None
        if self.keys:
            public, secret = security.load(self.keys, secret=True)
            server, _ = security.load(self.server_key)
            assert secret is not None
            curve = (public, secret, server)
        self._sender = Sender(self.link, self.endpoint, mode=self.mode, window=self.window, queue=self.queue,
                              heartbeat_s=self.heartbeat_s, timeout_s=self.timeout_s, codec=codec_for(self.compress, self.quality),
                              curve=curve, counters=self.counters)
        # Between packets a helper thread keeps the link going (acknowledgements, credit,
        # heartbeats, queued realtime packets). ZeroMQ sockets may change threads behind a lock.
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._pumper = threading.Thread(target=self._pump, name=f"edgespeed:{self.id}:link", daemon=True)
        self._pumper.start()

    def _pump(self) -> None:
        while not self._idle.wait(0.005):
            with self._lock:
                self._sender.pump(0)

    def process(self, data: Any = None, **unused: Any) -> None:
        from ..transport.wire import WireError

        env = self._env
        try:
            with self._lock:
                self._sender.send(data, env.ts_ns, env.pts_ns, abort=getattr(self, "_abort", None))
        except WireError as e:
            raise ValueError(f"edge {self.link} crosses devices: {e}") from None

    def teardown(self) -> None:
        self._idle.set()
        self._pumper.join()
        self._sender.close(abort=getattr(self, "_abort", None))


class LinkIn(Node):
    """(internal) Receives packets from another device; ends at that side's end of stream."""

    kind = "runtime.link_in"
    out = Output()
    link: str = Param(doc="link id: the edge it carries")
    bind: str = Param(doc="address to listen on")
    mode: str = Param("reliable", doc="reliable or realtime")
    window: int = Param(8, ge=1, doc="credit given to the sender")
    heartbeat_s: float = Param(0.5, gt=0)
    timeout_s: float = Param(3.0, gt=0)
    keys: str = Param("", doc="this device's keypair (path without extension); empty for plain text")
    allow: list[str] = Param([], doc="public key files of the peers allowed to connect")
    max_mb: float = Param(256.0, gt=0, doc="largest message accepted, MiB")
    relay = True  # ends at its upstream's end of stream; a stop ends it too (see generate)

    def setup(self) -> None:
        from ..transport import security
        from ..transport.link import Receiver

        curve = None
        if self.keys:
            public, secret = security.load(self.keys, secret=True)
            assert secret is not None
            curve = (public, secret)
            security.allow(self.link, [security.load(p)[0] for p in self.allow])
        else:
            security.warn_plaintext(self.link, self.bind)
        self._rx = Receiver(self.link, self.bind, mode=self.mode, window=self.window, heartbeat_s=self.heartbeat_s,
                            timeout_s=self.timeout_s, curve=curve, max_bytes=int(self.max_mb * 2**20), counters=self.counters)
        self._emitted: deque[tuple[int, int]] = deque()  # (seq, epoch) handed downstream, not yet done
        self._n = 0  # packets handed downstream
        self._tracker: _Downstream | None = None

    def generate(self) -> Any:
        from ..transport import security

        rx = self._rx
        while True:
            if self.stopping:  # the device is stopping: take nothing more, acknowledge what is done
                self._settle(2.0)
                return
            # while packets are out downstream, look often: an acknowledgement that waits is a
            # packet delivered again if this device dies before sending it
            batch = rx.recv(2 if self._emitted else 50)
            while batch:
                msg = batch.pop(0)
                yield Stamped({"out": msg.value}, pts_ns=msg.pts_ns, ts_ns=msg.ts_ns)
                self._emitted.append((msg.seq, rx.epoch))
                self._n += 1
                del msg  # let the frames go as soon as downstream is done with them
            self._progress()
            refused = security.refused.get(self.link, 0)
            if refused:
                self.counters["refused"] = refused
            if rx.ended and not self._emitted:
                return

    def _settle(self, timeout_s: float) -> None:
        import time

        deadline = time.monotonic() + timeout_s
        while self._emitted and time.monotonic() < deadline:
            self._progress()
            time.sleep(0.01)
        self._rx.tick()

    def _progress(self) -> None:
        """Acknowledge the packets every downstream node has finished with."""
        if not self._emitted:
            return
        if self._tracker is None:
            run = getattr(self, "_edgespeed_run", None)
            run = run() if run is not None else None
            self._tracker = _Downstream(run, self.id)
        done = self._tracker.done(self._n)
        last = None
        while self._emitted and len(self._emitted) > self._n - done:
            last = self._emitted.popleft()
        if last is not None:
            self._rx.complete(*last)

    def teardown(self) -> None:
        self._rx.close()


class _Downstream:
    """How many of the packets a link_in emitted are done downstream on this device."""

    def __init__(self, run: Any, node_id: str) -> None:
        self.workers: list[Any] = []
        self.exact = False
        if run is None:  # run outside a graph (tests): handed over counts as done
            return
        r = run.resolved
        consumers: dict[str, list[str]] = {}
        for n in r.spec.nodes:
            for inp in r.inputs[n.id].values():
                consumers.setdefault(inp.node, []).append(n.id)
        order, seen, queue = [], {node_id}, deque([node_id])
        while queue:
            for c in consumers.get(queue.popleft(), []):
                if c not in seen:
                    seen.add(c)
                    order.append(c)
                    queue.append(c)
        self.workers = [run.workers[c] for c in order]
        direct = set(consumers.get(node_id, []))
        self.exact = set(order) == direct and all(len(w.inputs) == 1 and w.is_sink for w in self.workers)

    def done(self, emitted: int) -> int:
        if not self.workers:
            return emitted
        if self.exact:  # FIFO rings fed by us alone: what each sink processed or dropped is done
            counts = []
            for w in self.workers:
                (ring,) = w.inputs.values()
                counts.append(emitted if w.stats.state in ("done", "failed") else w.stats.process.n + ring.dropped - _held(w))
            return min(emitted, *counts)
        for w in self.workers:  # otherwise: done when everything downstream of us is idle
            if w.stats.state in ("done", "failed"):
                continue
            if any(len(r) for r in w.inputs.values()) or w._pending or w.node._env is not None or _held(w):
                return 0
            if len(w.inputs) == 1:  # popped but not yet in process(): counts tell
                (ring,) = w.inputs.values()
                if ring.puts - ring.dropped != w.stats.process.n:
                    return 0
        return emitted


def _held(w: Any) -> int:
    """Packets a reliable link further on has sent but not had acknowledged: not done yet, so
    a device in the middle of a chain acknowledges only what the next device has."""
    sender = getattr(w.node, "_sender", None) if isinstance(w.node, LinkOut) else None
    return len(sender.unacked) if sender is not None and sender.reliable else 0


for _cls in (LinkOut, LinkIn):
    default_registry().register(_cls)


# -- cutting the graph at device boundaries --------------------------------------------------------
def _port_plus(url: str, k: int) -> str:
    m = re.match(r"^(.*):(\d+)$", url)
    if not m:
        raise ValueError(f"endpoint {url!r} has no port")
    return f"{m.group(1)}:{int(m.group(2)) + k}"


def _addresses(dev: DeviceSpec, k: int) -> tuple[str, str]:
    """(connect, bind) addresses of the k-th link into `dev`."""
    if dev.endpoints:
        if k >= len(dev.endpoints):
            raise ValueError(f"device {dev.name!r} receives more links than its {len(dev.endpoints)} endpoints")
        connect = dev.endpoints[k]
    else:
        assert dev.endpoint is not None
        connect = _port_plus(dev.endpoint, k)
    bind = _port_plus(dev.bind, k) if dev.bind else connect
    return connect, bind


def _key_path(spec: GraphSpec, path: str) -> str:
    p = Path(path)
    if not p.is_absolute() and spec.file and not spec.file.startswith("<"):
        p = Path(spec.file).resolve().parent / p
    return str(p)


def split(spec: GraphSpec, device: str) -> GraphSpec:
    """The subgraph that `device` runs, with link nodes for every edge that crosses devices.

    Raises:
        KeyError: `device` is not declared.
    """
    devices = {d.name: d for d in spec.devices}
    if device not in devices:
        raise KeyError(device)
    where = placement(spec)
    fresh = fresh_ids(spec)
    incoming: dict[str, int] = {}
    crossings = 0
    nodes: list[NodeSpec] = []

    def keyfile(dev: DeviceSpec) -> str:
        return _key_path(spec, dev.keys) if dev.keys else ""

    for n in spec.nodes:
        mine = where[n.id] == device
        inputs: dict[str, InputSpec] = {}
        for port, inp in n.inputs.items():
            src, dst = devices[where[inp.node]], devices[where[n.id]]
            if src.name == dst.name:
                inputs[port] = inp
                continue
            k = incoming[dst.name] = incoming.get(dst.name, -1) + 1
            c, crossings = crossings, crossings + 1  # the crossing's number in the whole graph
            label = f"{inp.source} -> {n.id}.{port}"
            connect, bind = _addresses(dst, k)
            timeout = dst.timeout_s or 3.0
            link = {"link": label, "mode": inp.mode or "reliable", "timeout_s": timeout, "heartbeat_s": min(0.5, timeout / 4)}
            if mine:  # we receive
                allowed = [src] + [devices[a] for a in dst.allow if a in devices]
                allow = [keyfile(d) + ".key" for d in allowed if d.keys] + [_key_path(spec, a) for a in dst.allow if a.endswith(".key")]
                in_id = fresh(f"link_in_{c}")
                nodes.append(NodeSpec(in_id, LinkIn.kind, {**link, "bind": bind, "keys": keyfile(dst), "allow": allow}))
                inputs[port] = InputSpec(port, in_id, "out", loc=inp.loc)
            elif where[inp.node] == device:  # we send
                params = {**link, "endpoint": connect, "compress": inp.compress or "none", "quality": inp.quality,
                          "keys": keyfile(src), "server_key": keyfile(dst) + ".key" if dst.keys else ""}
                data = replace(inp, port="data", mode=None, compress=None, quality=None)
                nodes.append(NodeSpec(fresh(f"link_out_{c}"), LinkOut.kind, params, {"data": data}))
        if mine:
            nodes.append(replace(n, inputs=inputs, device=None))
    return replace(spec, name=f"{spec.name}@{device}", nodes=tuple(nodes), devices=(), default_device=None)
