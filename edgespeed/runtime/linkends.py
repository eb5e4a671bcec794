"""What the nodes at either end of a link share: their params, their sockets' settings, the
replica packet numbers (`Tags`) and the downstream progress a receiving end acknowledges by.

`devices` (plain links) and `replicas` (dispatch and merge) both build on this module, and
neither imports the other's nodes.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from ..node import Input, Node, Output, Param
from .context import RunContext


class SendingEnd(Node):
    """(internal) The params of a node that sends over links (`LinkOut`, `replicas.ReplicaOut`)."""

    data = Input()
    mode: str = Param("reliable", doc="reliable or realtime")
    window: int = Param(8, ge=1, doc="packets in flight beyond the last acknowledged one")
    queue: int = Param(8, ge=1, doc="realtime: packets waiting for credit before the oldest is dropped")
    compress: str = Param("none", doc="none, jpeg, png, zlib, zstd or lz4")
    quality: int | None = Param(None, doc="jpeg quality, or png/zlib/zstd level")
    heartbeat_s: float = Param(0.5, gt=0)
    timeout_s: float = Param(3.0, gt=0)
    keys: str = Param("", doc="this device's keypair (path without extension); empty for plain text")

    def unacked(self) -> int:
        """Packets sent over a reliable link and not yet acknowledged by the next device (what
        a device in the middle of a chain must not acknowledge to the one before it)."""
        return 0


class ReceivingEnd(Node):
    """(internal) The params of a node that receives over links (`LinkIn`, `replicas.ReplicaIn`);
    `receiver()` reads them."""

    out = Output()
    mode: str = Param("reliable", doc="reliable or realtime")
    window: int = Param(8, ge=1, doc="credit given to the sender")
    heartbeat_s: float = Param(0.5, gt=0)
    timeout_s: float = Param(3.0, gt=0)
    keys: str = Param("", doc="this device's keypair (path without extension); empty for plain text")
    allow: list[str] = Param([], doc="public key files of the peers allowed to connect")
    max_mb: float = Param(64.0, gt=0, doc="largest message accepted, MiB")  # = wire.MAX_MESSAGE_BYTES
    relay = True  # ends at its upstream's end of stream; a stop ends it too (see generate)


def sender_curve(keys: str, server_key: str) -> tuple[bytes, bytes, bytes] | None:
    """CURVE keys of a link's sending end: its own pair and the receiver's public key."""
    from ..transport import security

    if not keys:
        return None
    public, secret = security.load(keys, secret=True)
    server, _ = security.load(server_key)
    assert secret is not None
    return public, secret, server


def receiver(node: Any, link: str, bind: str, counters: dict[str, int]) -> Any:
    """A link's receiving end with a link node's settings (`keys`, `allow`, `mode`, `window`,
    `heartbeat_s`, `timeout_s`, `max_mb`): CURVE with the allowed peers when it has keys."""
    from ..transport import security
    from ..transport.link import Receiver

    curve = None
    if node.keys:
        public, secret = security.load(node.keys, secret=True)
        assert secret is not None
        curve = (public, secret)
        security.allow(link, [security.load(p)[0] for p in node.allow])
    else:
        security.warn_plaintext(link, bind)
    return Receiver(link, bind, mode=node.mode, window=node.window, heartbeat_s=node.heartbeat_s, timeout_s=node.timeout_s,
                    curve=curve, max_bytes=int(node.max_mb * 2**20), counters=counters)


class Tags:
    """A replica's packets in arrival order, so its results can carry their numbers back.

    The replica-side `link_in` notes each packet's number `g` (given by the dispatcher) under
    a source stamp made unique on this device (the replicated node passes stamps through);
    the replica-side `link_out` matches each result by its stamp, and a packet that gave no
    result becomes a `skip` the merge need not wait for.
    """

    def __init__(self) -> None:
        self.entries: deque[tuple[int, int, int, int]] = deque()  # (index, ts_ns, g, lw)
        self.last_ts = 0
        self.total: int | None = None  # packets the dispatcher sent in all (from its end of stream)
        self.lock = threading.Lock()

    def note(self, msg: Any, index: int) -> int:
        g, lw = msg.meta.get("g"), msg.meta.get("lw", 0)
        if type(g) is not int or type(lw) is not int:
            raise ValueError("a replica's packet lacks its number ('g'); is the sender a replica dispatcher?")
        with self.lock:
            ts: int = max(msg.ts_ns, self.last_ts + 1)
            self.last_ts = ts
            self.entries.append((index, ts, g, lw))
        return ts

    def match(self, ts_ns: int, skip: Any) -> dict[str, int] | None:
        """The number of the packet whose result has stamp `ts_ns` (None: already matched)."""
        with self.lock:
            while self.entries and self.entries[0][1] < ts_ns:
                _, ts, g, lw = self.entries.popleft()
                skip(ts, {"g": g, "lw": lw})
            if self.entries and self.entries[0][1] == ts_ns:
                _, _, g, lw = self.entries.popleft()
                return {"g": g, "lw": lw}
        return None

    def skip_before(self, index: int | None, skip: Any) -> None:
        with self.lock:
            while self.entries and (index is None or self.entries[0][0] < index):
                _, ts, g, lw = self.entries.popleft()
                skip(ts, {"g": g, "lw": lw})


def tags(ctx: RunContext, link: str) -> Tags:
    """The `Tags` of replica link `link` in this run (shared by its link_in and link_out; one
    process may run several replicas)."""
    found: Tags = ctx.shared.setdefault(("tags", link), Tags())
    return found


class Downstream:
    """How many of the packets a link_in emitted are done downstream on this device."""

    def __init__(self, ctx: RunContext, node_id: str) -> None:
        # outside a run (tests) nothing is downstream: handed over counts as done
        self.workers: list[Any] = ctx.after(node_id)
        direct = set(ctx.consumers(node_id))
        self.exact = {w.node.id for w in self.workers} == direct and all(len(w.inputs) == 1 and w.is_sink for w in self.workers)

    def done(self, emitted: int) -> int:
        if not self.workers:
            return emitted
        if self.exact:  # FIFO rings fed by us alone: what each sink processed or dropped is done
            counts = []
            for w in self.workers:
                (ring,) = w.inputs.values()
                counts.append(emitted if w.stats.state in ("done", "failed") else w.stats.process.n + ring.dropped - held(w))
            return min(emitted, *counts)
        for w in self.workers:  # otherwise: done when everything downstream of us is idle
            if w.stats.state in ("done", "failed"):
                continue
            if any(len(r) for r in w.inputs.values()) or w.busy or held(w):
                return 0
            if len(w.inputs) == 1:  # popped but not yet in process(): counts tell
                (ring,) = w.inputs.values()
                if ring.puts - ring.dropped != w.stats.process.n + w.ends_handled:  # (a stream's end is put, not processed)
                    return 0
        return emitted


def held(w: Any) -> int:
    """Packets a reliable link further on has sent but not had acknowledged: not done yet, so
    a device in the middle of a chain acknowledges only what the next device has."""
    return w.node.unacked() if isinstance(w.node, SendingEnd) else 0
