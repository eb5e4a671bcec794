"""ZeroMQ link endpoints: a `Sender` (DEALER, connects) and a `Receiver` (ROUTER, binds).

Protocol (every message is a `wire` message; the sender's routing id is its session id):
- the sender opens with `hello{sid, base}` (its oldest unacknowledged sequence number); the
  receiver answers `welcome{sid, acked, win}`, and from then on `ack{acked, win}` whenever the
  packets it took are done (see `Receiver.complete`), plus every `heartbeat_s` as a keep-alive;
- credit: the sender has at most `win` packets beyond the last acknowledged one, so a slow
  consumer slows the producer (backpressure crosses the link) and the receiving ring never fills;
- `mode: reliable` keeps every unacknowledged packet; after a reconnect (the receiver restarted,
  or a gap showed that packets were lost in a dropped connection) the receiver's `welcome`
  says where it is and the sender resends from there. The receiver takes sequence numbers in
  order only, per sender session (a `hello` never resets another session), and drops duplicates, so nothing is lost, nothing is delivered twice, order holds;
- `mode: realtime` keeps at most `queue` packets waiting for credit and drops the oldest when a
  new one comes (counted in `dropped`); packets in flight when the peer is lost count as dropped;
- heartbeats: the sender pings every `heartbeat_s` while it has work; a peer silent for
  `timeout_s` is lost (logged, counted), and the sender says hello again until it answers;
  ZeroMQ reconnects the TCP connection by itself. Pongs carry the receiver's clock: the offset
  from the round trip with the lowest delay of the last 16 travels in each data header
  (`m.off`), and the receiver moves the source stamp onto its own clock with it, so end-to-end
  latency across devices is not skewed by unsynchronized clocks.

The state machines (credit, acknowledgement, resend, heartbeats, one receiver session per
sender session) are in `session`, without sockets or clocks; the classes here drive them over
ZeroMQ. Every receiving socket has libzmq's MAXMSGSIZE set from the message cap, so an oversized
message is refused (the connection dropped) before it is buffered, not after it has arrived.

Counters (in the node's `counters`, so they land in the run report): `packets`, `bytes`,
`bytes_per_s`, `resends`, `dropped`, `rtt_us`, `clock_offset_us`, `peer_lost`, `rejected`
(malformed messages, never a crash), `duplicates`, `refused` (see `security`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import MissingDependency
from ..format import LINK_MODES
from . import wire
from .session import ReceiverSession, SenderSession

log = logging.getLogger("edgespeed.link")
_now = time.time_ns
_mono = time.monotonic

MODES = LINK_MODES  # defined once, in edgespeed/format.py
_CONTROL_MAX = 1 << 16  # the largest control message a sender accepts (they are tens of bytes)
_FRAMING = 1 << 10  # room libzmq's per-frame limit leaves above `max_bytes` (the routing id, ...)


# plain ints of the socket options and flags used per message (the enum members cost a lookup each)
_EVENTS, _POLLIN, _NOBLOCK, _SNDMORE = 15, 1, 1, 2  # zmq.EVENTS, zmq.POLLIN, zmq.NOBLOCK, zmq.SNDMORE


def _zmq() -> Any:
    try:
        import zmq
    except ImportError:  # pragma: no cover - the zmq extra brings it
        raise MissingDependency("pyzmq", "zmq") from None
    assert (zmq.EVENTS, zmq.POLLIN, zmq.NOBLOCK, zmq.SNDMORE) == (_EVENTS, _POLLIN, _NOBLOCK, _SNDMORE)
    wire.FRAME_TYPES.add(zmq.Frame)  # (received frames are read in place)
    return zmq


def _raw_send(sock: Any) -> Callable[..., Any]:
    """The socket's backend `send(data, flags, copy)`: one frame, without the Python layer of
    pyzmq's `send`/`send_multipart` (their routing-id, group and buffer checks cost more than
    the send itself for a small message; our frames are bytes and memoryviews)."""
    zmq = _zmq()
    return super(zmq.Socket, sock).send  # type: ignore[no-any-return]


class _Rate:
    """Bytes per second over the last second or so, as an integer counter."""

    def __init__(self, counters: dict[str, int]) -> None:
        self.counters = counters
        self.t0 = _mono()
        self.n = 0

    def add(self, n: int, t: float | None = None) -> None:
        self.n += n
        if t is None:
            t = _mono()
        if t - self.t0 >= 1.0:
            self.counters["bytes_per_s"] = int(self.n / (t - self.t0))
            self.t0, self.n = t, 0


class Sender(SenderSession):
    """The producing end of a link.

    Args:
        link: the link id, shared with the receiver (`cam/frame -> det.image`).
        endpoint: where the receiver listens (`tcp://10.0.0.2:5555`).
        mode: `reliable` or `realtime` (see the module docstring).
        window: the most packets in flight beyond the last acknowledged one (the receiver's
            own window may make it smaller).
        queue: realtime only: packets kept waiting for credit before the oldest is dropped.
        heartbeat_s, timeout_s: ping period, and the silence after which the peer is lost.
        codec: optional `compress.Codec` for arrays.
        curve: optional `(public, secret, server_public)` Z85 keys (see `security`).
        counters: where to count (a node's `counters`).
    """

    def __init__(self, link: str, endpoint: str, *, mode: str = "reliable", window: int = 8, queue: int = 8,
                 heartbeat_s: float = 0.5, timeout_s: float = 3.0, codec: Any = None,
                 curve: tuple[bytes, bytes, bytes] | None = None, counters: dict[str, int] | None = None) -> None:
        zmq = _zmq()
        super().__init__(reliable=mode == "reliable", window=window, queue=queue, heartbeat_s=heartbeat_s,
                         timeout_s=timeout_s, counters=counters if counters is not None else {}, now=_mono())
        self.link, self.endpoint, self.mode = link, endpoint, mode
        self.codec = codec
        self._rate = _Rate(self.counters)
        self._curve = curve
        self._zmq = zmq
        self._poller = zmq.Poller()
        self._last_pump = 0.0
        self._off_meta: dict[str, int] | None = None  # {"off": offset_ns}, made when the offset changes
        self._connect()
        self.hello(_mono())
        self._out()

    def _connect(self) -> None:
        """A new session: a socket with a new id (nothing queues on a connection that is not up:
        we resend instead)."""
        zmq = self._zmq
        self.sid = os.urandom(8).hex()
        self.sock = sock = zmq.Context.instance().socket(zmq.DEALER)
        sock.routing_id = self.sid.encode()
        sock.immediate = True
        sock.linger = 1000
        sock.sndhwm = sock.rcvhwm = 10_000
        sock.maxmsgsize = _CONTROL_MAX  # (only control messages come back)
        if self._curve is not None:
            sock.curve_publickey, sock.curve_secretkey, sock.curve_serverkey = self._curve
        sock.connect(self.endpoint)
        self._poller.register(sock, zmq.POLLIN)
        self._sock_send = _raw_send(sock)

    # -- the public side ----------------------------------------------------------------------
    def send(self, value: Any, ts_ns: int, pts_ns: int, abort: Any = None, meta: dict[str, Any] | None = None,
             wait: bool = True, keep: bool = False) -> None:
        """Queue one packet and send what credit allows; reliable mode waits for credit unless
        `wait` is false. `meta` travels in the header (replicas put their sequence numbers there).
        `keep`: realtime mode never drops it from its queue (the end of a stream)."""
        if self.offset_ns is not None:
            off = self._off_meta
            if off is None or off["off"] != self.offset_ns:
                off = self._off_meta = {"off": self.offset_ns}
            meta = off if meta is None else {**meta, **off}
        seq = self.next_seq
        frames = wire.encode(self.link, seq, ts_ns, pts_ns, value, meta, self.codec)
        if len(frames) == 2:  # (a header, and one array's memory or bytes)
            f = frames[1]
            nbytes = len(frames[0]) + (len(f) if type(f) is bytes else f.nbytes)
        else:
            nbytes = 0
            for f in frames:
                nbytes += len(f) if type(f) is bytes else f.nbytes
        raw = value.nbytes if type(value) is np.ndarray else _array_bytes(value) or nbytes
        counters = self.counters
        counters["bytes_raw"] = counters.get("bytes_raw", 0) + raw
        self.queued(seq, frames, nbytes, keep)
        unacked = self.unacked
        if self.welcomed:
            # first: the packet leaves before we look at what came back. With nothing else
            # waiting and credit left (the common case), it goes straight out.
            n = len(unacked)
            if 0 < n <= self.win and unacked[-1][0] == seq and (n == 1 or unacked[-2][0] <= self.sent_upto):
                if self._send(frames, copy=False):
                    self.sent_upto = seq
                    counters["packets"] += 1
                    counters["bytes"] += nbytes
                    self._rate.add(nbytes)
            else:
                self._flush()
        # then what came back, unless the packet went and we looked a moment ago: on a small
        # box that work competes with the receiver for the CPU while the packet is in flight
        if not self.welcomed or self.sent_upto < seq or _mono() - self._last_pump > 0.005:
            self.pump(0)
        while wait and self.reliable and self.waiting() > 0 and not (abort is not None and abort.is_set()):
            self.pump(50)  # no credit: backpressure, the producer waits for the consumer

    def reset(self) -> list[int]:
        """Give up on the current peer: a new session (socket and id), nothing kept; returns
        the sequence numbers that were not acknowledged (a replica's dispatcher sends them
        elsewhere). When the peer comes back it greets a stranger and starts afresh."""
        self.sock.close(linger=0)
        self._poller.unregister(self.sock)
        self._connect()
        lost = self.restart(self.sid, _mono())
        self._out()
        return lost

    def close(self, abort: Any = None, linger_s: float | None = None, **eos: int) -> bool:
        """Send end-of-stream (with the int fields `eos`) and wait until everything is
        acknowledged; False if given up."""
        self.eos_seq = self.next_seq  # sent by pump() once every packet before it is on its way
        self.eos_fields = eos
        deadline = None if linger_s is None else _mono() + linger_s
        ok = True
        while not (self.eos_acked and not self.unacked):
            if (abort is not None and abort.is_set()) or (deadline is not None and _mono() > deadline):
                ok = False
                break
            self.pump(50)
        if ok:  # the receiver may go now (a socket closed at once can lose its last words)
            self._send(wire.control("bye", self.link))
        if self.unacked:
            lost = len(self.unacked)
            self.counters["dropped"] += lost if not self.reliable else 0
            self.counters["lost"] = self.counters.get("lost", 0) + (lost if self.reliable else 0)
            log.warning("link %s: closed with %d packets not acknowledged", self.link, lost)
        self.sock.close(linger=0 if not ok else 1000)
        return ok

    # -- the machinery --------------------------------------------------------------------------
    def pump(self, timeout_ms: int) -> None:
        """Handle what came back, send what credit allows, ping when due, detect a lost peer."""
        if self._poller.poll(timeout_ms):
            self._drain()
        self._last_pump = now = _mono()
        lost = self.counters["peer_lost"]
        if self.due(now, _now()):
            self._out()
            self._flush()
            self.eos_due()
        elif self.counters["peer_lost"] != lost:
            log.warning("link %s: no word from %s for %.1f s; reconnecting", self.link, self.endpoint, self.timeout_s)
        self._out()

    def _out(self) -> None:
        """Send the control messages the session has for the receiver."""
        box = self.outbox
        if box:
            for kind, fields in box:
                if not self._send(wire.control(kind, self.link, **fields)) and kind == "eos":
                    self._eos_sent = False  # (again at the next pump)
            box.clear()

    def _flush(self) -> None:
        unacked, counters = self.unacked, self.counters
        for i in self.sendable():
            seq, frames, nbytes = unacked[i]
            if not self._send(frames, copy=False):
                break
            self.sent_upto = seq
            counters["packets"] += 1
            counters["bytes"] += nbytes
            self._rate.add(nbytes)

    def _send(self, frames: list[Any], copy: bool = True) -> bool:
        # ZeroMQ takes a multipart message whole or not at all: only its first frame can be refused
        send = self._sock_send
        try:
            if len(frames) == 1:
                send(frames[0], _NOBLOCK, copy)
            else:
                send(frames[0], _NOBLOCK | _SNDMORE, copy)
                for f in frames[1:-1]:
                    send(f, _NOBLOCK | _SNDMORE, copy)
                send(frames[-1], _NOBLOCK, copy)
            return True
        except self._zmq.Again:
            return False

    def _drain(self) -> None:
        zmq, sock = self._zmq, self.sock
        while sock.get(_EVENTS) & _POLLIN:  # (cheaper than recv raising Again)
            try:
                frames = sock.recv_multipart(_NOBLOCK)
            except zmq.Again:
                return
            try:
                msg = wire.decode(frames, _CONTROL_MAX)
            except wire.WireError:
                self.counters["rejected"] += 1
                continue
            self.on(msg.kind, msg.fields, _mono(), _now())
        self._out()


def _array_bytes(value: Any) -> int:
    """Bytes of the arrays in a record, before compression (for `bytes_raw` next to `bytes`)."""
    if isinstance(value, dict):
        return sum(_array_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_array_bytes(v) for v in value)
    return value.nbytes if isinstance(value, np.ndarray) else 0


class Receiver(ReceiverSession):
    """The consuming end of a link: binds, takes packets in order, acknowledges completion.

    Args:
        link: the link id (messages for another link are rejected).
        bind: the address to listen on (`tcp://*:5555`).
        mode, window, heartbeat_s, timeout_s: see `Sender`.
        curve: optional `(public, secret)` Z85 keys of this device; peers are checked by the
            ZAP handler of `security` against `allow`.
        max_bytes: the largest message accepted (also libzmq's MAXMSGSIZE on the socket, so a
            bigger one is refused before it is buffered).
    """

    def __init__(self, link: str, bind: str, *, mode: str = "reliable", window: int = 8, heartbeat_s: float = 0.5,
                 timeout_s: float = 3.0, curve: tuple[bytes, bytes] | None = None, zap_domain: str | None = None,
                 max_bytes: int = wire.MAX_MESSAGE_BYTES, counters: dict[str, int] | None = None) -> None:
        zmq = _zmq()
        super().__init__(reliable=mode == "reliable", window=window, heartbeat_s=heartbeat_s, timeout_s=timeout_s,
                         rsid=os.urandom(8).hex(), counters=counters if counters is not None else {}, now=_mono())
        self.link, self.bind, self.mode, self.max_bytes = link, bind, mode, max_bytes
        self._rate = _Rate(self.counters)
        self.sock = zmq.Context.instance().socket(zmq.ROUTER)
        self.sock.router_mandatory = True
        self.sock.linger = 1000
        self.sock.sndhwm = self.sock.rcvhwm = 10_000
        self.sock.maxmsgsize = max_bytes + _FRAMING  # (libzmq counts each frame; ours are checked in `wire`)
        if curve is not None:
            self.sock.curve_server = True
            self.sock.curve_publickey, self.sock.curve_secretkey = curve
            self.sock.zap_domain = (zap_domain or link).encode()
            self.sock.zap_enforce_domain = True  # no ZAP handler answering: refuse, never let everyone in
        self.sock.bind(bind)
        self._sock_send = _raw_send(self.sock)
        self._rcvtimeo = -1
        self._zmq = zmq

    @property
    def peer(self) -> bytes | None:
        """The current sender's routing id (its session id), None before the first hello."""
        return self.current.ident if self.current is not None else None

    @property
    def eos_fields(self) -> dict[str, Any]:
        return self.current.eos_fields if self.current is not None else {}

    @property
    def bye(self) -> bool:
        return self.current is not None and self.current.bye

    @property
    def session(self) -> str:
        """The current sender's session id ('' before the first one says hello)."""
        return self.peer.decode(errors="replace") if self.peer is not None else ""

    def recv(self, timeout_ms: int) -> list[wire.Message]:
        """Data messages to deliver now, in order (may be empty); handles everything else.

        A data message is delivered at once: what queued behind it is taken by the next call
        (whose receive returns at once), so nothing waits for the messages after it."""
        out: list[wire.Message] = []
        sock = self.sock
        if timeout_ms != self._rcvtimeo:
            sock.rcvtimeo = self._rcvtimeo = timeout_ms
        recv = sock.recv
        again = self._zmq.Again
        flags = 0  # the first receive waits (up to the timeout) inside ZeroMQ: one call, not poll + recv
        for _ in range(1024):
            try:
                frame = recv(flags, copy=False)
            except again:
                break
            frames = [frame]
            while frame.more:  # (the rest of a multipart message is there already; no RCVMORE query)
                frame = recv(0, False)
                frames.append(frame)
            self._take(frames, out)
            if out or not sock.get(_EVENTS) & _POLLIN:  # (cheaper than recv raising Again)
                break
            flags = _NOBLOCK
        if not out:  # (a delivery returns at once: `complete` acknowledges it, the next call ticks)
            self.tick()
        return out

    def complete(self, seq: int, epoch: int) -> None:
        """Every packet up to `seq` of session `epoch` is done: acknowledge it (credit for more)."""
        super().complete(seq, epoch)
        self.tick()

    def tick(self) -> None:
        """Acknowledge progress, and keep the sender's heartbeat fed."""
        if self.acknowledge(_mono()):
            log.info("link %s: no word from the sender for %.1f s (idle, or gone); waiting for it", self.link, self.timeout_s)
        self._out()

    def _out(self) -> None:
        box = self.outbox
        if box:
            for ident, kind, fields in box:
                self._to(ident, wire.control(kind, self.link, **fields))
            box.clear()

    def _to(self, ident: bytes, frames: list[bytes]) -> None:
        """Send a one-frame control message to the sender `ident` (a ROUTER: its id first)."""
        try:
            self._sock_send(ident, _NOBLOCK | _SNDMORE, True)
            self._sock_send(frames[0], _NOBLOCK, True)
        except self._zmq.ZMQError:  # (Again is one)
            pass  # the peer is gone: it says hello again when it comes back

    def _take(self, frames: list[Any], out: list[wire.Message]) -> None:
        if len(frames) < 2:
            self.counters["rejected"] += 1
            return
        ident = frames[0].bytes
        try:
            msg = wire.decode(frames[1:], self.max_bytes)
        except wire.WireError as e:
            self.counters["rejected"] += 1
            if self.counters["rejected"] <= 3:
                log.warning("link %s: dropped a malformed message (%s)", self.link, e)
            return
        if msg.link != self.link:
            self.counters["rejected"] += 1
            return
        now = _mono()
        n = len(out)
        self.on(ident, msg.kind, msg, out, now, _now() if msg.kind == "ping" else 0)
        if len(out) > n:
            meta = msg.meta
            if meta:
                off = meta.get("off")
                if type(off) is int:
                    msg.ts_ns += off  # the source stamp, on this device's clock
            counters, nbytes = self.counters, msg.nbytes
            counters["packets"] += 1
            counters["bytes"] += nbytes
            self._rate.add(nbytes, now)
        if self.outbox:
            self._out()

    def close(self) -> None:
        """After end-of-stream, wait (a little) for the sender's goodbye, then close."""
        deadline = _mono() + 2 * self.heartbeat_s + 0.5
        while self.ended and not self.bye and _mono() < deadline:
            self.recv(20)
        self.tick()
        self.sock.close(linger=1000)


def run_until(cond: Callable[[], bool], pump: Callable[[int], None], timeout_s: float) -> bool:
    """Pump an endpoint until `cond()` or the timeout (for tools and tests)."""
    deadline = _mono() + timeout_s
    while not cond():
        if _mono() > deadline:
            return False
        pump(20)
    return True
