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
  order only and drops duplicates, so nothing is lost, nothing is delivered twice, order holds;
- `mode: realtime` keeps at most `queue` packets waiting for credit and drops the oldest when a
  new one comes (counted in `dropped`); packets in flight when the peer is lost count as dropped;
- heartbeats: the sender pings every `heartbeat_s` while it has work; a peer silent for
  `timeout_s` is lost (logged, counted), and the sender says hello again until it answers;
  ZeroMQ reconnects the TCP connection by itself. Pongs carry the receiver's clock: the offset
  from the round trip with the lowest delay of the last 16 travels in each data header
  (`m.off`), and the receiver moves the source stamp onto its own clock with it, so end-to-end
  latency across devices is not skewed by unsynchronized clocks.

Counters (in the node's `counters`, so they land in the run report): `packets`, `bytes`,
`bytes_per_s`, `resends`, `dropped`, `rtt_us`, `clock_offset_us`, `peer_lost`, `rejected`
(malformed messages, never a crash), `duplicates`, `refused` (see `security`).
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import MissingDependency
from . import wire

log = logging.getLogger("edgespeed.link")
_now = time.time_ns
_mono = time.monotonic

MODES = ("reliable", "realtime")


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


class Sender:
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
        self.link, self.endpoint, self.mode = link, endpoint, mode
        self.reliable = mode == "reliable"
        self.queue_max = queue
        self.heartbeat_s, self.timeout_s = heartbeat_s, timeout_s
        self.codec = codec
        self.counters = counters if counters is not None else {}
        for k in ("packets", "bytes", "resends", "dropped", "peer_lost", "rejected"):
            self.counters.setdefault(k, 0)
        self._rate = _Rate(self.counters)
        self._curve = curve
        self._zmq = zmq
        self._poller = zmq.Poller()
        self._connect()
        self.next_seq = 0
        self.acked = -1
        self.window = self.win = window  # credit: the smaller of ours and the receiver's
        self.sent_upto = -1  # highest sequence number sent on the current session
        self.unacked: deque[tuple[int, list[Any], int]] = deque()  # (seq, frames, bytes)
        self.welcomed = False
        self.eos_seq: int | None = None
        self.eos_fields: dict[str, int] = {}
        self.eos_acked = False
        self._eos_sent = False
        self._last_pump = 0.0
        self.heard = _mono()
        self._last_ping = 0.0
        self._last_hello = 0.0
        self._offsets: deque[tuple[int, int]] = deque(maxlen=16)  # (rtt_ns, offset_ns)
        self.offset_ns: int | None = None
        self._off_meta: dict[str, int] | None = None  # {"off": offset_ns}, made when the offset changes
        self._hello()

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
        if self._curve is not None:
            sock.curve_publickey, sock.curve_secretkey, sock.curve_serverkey = self._curve
        sock.connect(self.endpoint)
        self._poller.register(sock, zmq.POLLIN)
        self._sock_send = _raw_send(sock)

    # -- the public side ----------------------------------------------------------------------
    def send(self, value: Any, ts_ns: int, pts_ns: int, abort: Any = None, meta: dict[str, Any] | None = None,
             wait: bool = True) -> None:
        """Queue one packet and send what credit allows; reliable mode waits for credit unless
        `wait` is false. `meta` travels in the header (replicas put their sequence numbers there)."""
        if self.offset_ns is not None:
            off = self._off_meta
            if off is None or off["off"] != self.offset_ns:
                off = self._off_meta = {"off": self.offset_ns}
            meta = off if meta is None else {**meta, **off}
        seq = self.next_seq
        frames = wire.encode(self.link, seq, ts_ns, pts_ns, value, meta, self.codec)
        self.next_seq = seq + 1
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
        unacked = self.unacked
        unacked.append((seq, frames, nbytes))
        if not self.reliable:
            self._drop_excess()
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
        while wait and self.reliable and self._waiting() > 0 and not (abort is not None and abort.is_set()):
            self.pump(50)  # no credit: backpressure, the producer waits for the consumer

    @property
    def credit(self) -> int:
        """Packets that may be sent now (0 while the receiver has not welcomed us)."""
        return self.win - len(self.unacked) if self.welcomed else 0

    def reset(self) -> list[int]:
        """Give up on the current peer: a new session (socket and id), nothing kept; returns
        the sequence numbers that were not acknowledged (a replica's dispatcher sends them
        elsewhere). When the peer comes back it greets a stranger and starts afresh."""
        lost = [seq for seq, _, _ in self.unacked]
        self.unacked.clear()
        self.acked = self.sent_upto = self.next_seq - 1
        self.sock.close(linger=0)
        self._poller.unregister(self.sock)
        self._connect()
        self.welcomed = False
        self.heard = _mono()
        self._hello()
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
    def _waiting(self) -> int:
        """Packets not sent yet (the newest entries of `unacked`)."""
        n = 0
        for seq, _, _ in reversed(self.unacked):
            if seq <= self.sent_upto:
                break
            n += 1
        return n

    def _drop_excess(self) -> None:
        # the oldest packet not yet sent goes; those in flight are left to their ack. The hole
        # it leaves in the numbering is fine: a realtime receiver takes any newer number.
        while (waiting := self._waiting()) > self.queue_max:
            del self.unacked[len(self.unacked) - waiting]
            self.counters["dropped"] += 1

    def pump(self, timeout_ms: int) -> None:
        """Handle what came back, send what credit allows, ping when due, detect a lost peer."""
        if self._poller.poll(timeout_ms):
            self._drain()
        self._last_pump = now = _mono()
        if self.welcomed and now - self.heard > self.timeout_s:
            self._lost()
        if not self.welcomed:  # say hello often while unanswered: the first one often goes before TCP is up
            if now - self._last_hello >= min(self.heartbeat_s, 0.05):
                self._hello()
            return
        if now - self._last_ping >= self.heartbeat_s:
            self._last_ping = now
            self._send(wire.control("ping", self.link, t0=_now()))
            self._eos_sent = False  # say it again (a heartbeat later) until it is acknowledged
        self._flush()
        if self.eos_seq is not None and not self.eos_acked and not self._eos_sent and self._waiting() == 0:
            self._eos_sent = self._send(wire.control("eos", self.link, q=self.eos_seq, **self.eos_fields))

    def _flush(self) -> None:
        waiting = self._waiting()  # (the newest entries of `unacked`)
        if not waiting:
            return
        # credit counts packets, not numbers: realtime drops leave holes in the numbering
        unacked = self.unacked
        first = len(unacked) - waiting
        room = self.win - first
        counters = self.counters
        for i in range(first, first + min(room, waiting)):
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
                msg = wire.decode(frames, 1 << 16)
            except wire.WireError:
                self.counters["rejected"] += 1
                continue
            self.heard = _mono()
            self._on(msg)

    def _on(self, msg: wire.Message) -> None:
        f = msg.fields
        if msg.kind == "welcome":
            if "acked" not in f:  # a receiver that does not know us (it restarted): hello again
                self.welcomed = False
                self._hello()
                return
            self._ack(f["acked"], f.get("win", self.win))
            # resend everything after what the receiver holds
            resend = sum(1 for s, _, _ in self.unacked if s <= self.sent_upto)
            self.counters["resends"] += resend if self.welcomed or self.sent_upto >= 0 else 0
            self.sent_upto = self.acked
            self.welcomed = True
            self._eos_sent = False
        elif msg.kind == "ack":
            self._ack(f.get("acked", self.acked), f.get("win", self.win))
            if self.eos_seq is not None and f.get("q") == self.eos_seq:
                self.eos_acked = True
        elif msg.kind == "pong" and "t0" in f and "t1" in f:
            t3 = _now()
            rtt = t3 - f["t0"]
            self.counters["rtt_us"] = rtt // 1000
            self._offsets.append((rtt, f["t1"] - (f["t0"] + t3) // 2))
            self.offset_ns = min(self._offsets)[1]
            self.counters["clock_offset_us"] = self.offset_ns // 1000

    def _ack(self, acked: int, win: int) -> None:
        self.acked = max(self.acked, acked)
        self.win = max(1, min(win, self.window))
        while self.unacked and self.unacked[0][0] <= self.acked:
            self.unacked.popleft()
        self.sent_upto = max(self.sent_upto, self.acked)

    def _hello(self) -> None:
        self._last_hello = _mono()
        base = self.unacked[0][0] if self.unacked else self.next_seq
        self._send(wire.control("hello", self.link, sid=self.sid, base=base))

    def _lost(self) -> None:
        self.counters["peer_lost"] += 1
        log.warning("link %s: no word from %s for %.1f s; reconnecting", self.link, self.endpoint, self.timeout_s)
        self.welcomed = False
        if not self.reliable:  # what was in flight is gone with the peer
            while self.unacked and self.unacked[0][0] <= self.sent_upto:
                self.unacked.popleft()
                self.counters["dropped"] += 1
        self._hello()


def _array_bytes(value: Any) -> int:
    """Bytes of the arrays in a record, before compression (for `bytes_raw` next to `bytes`)."""
    if isinstance(value, dict):
        return sum(_array_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_array_bytes(v) for v in value)
    return value.nbytes if isinstance(value, np.ndarray) else 0


class Receiver:
    """The consuming end of a link: binds, takes packets in order, acknowledges completion.

    Args:
        link: the link id (messages for another link are rejected).
        bind: the address to listen on (`tcp://*:5555`).
        mode, window, heartbeat_s, timeout_s: see `Sender`.
        curve: optional `(public, secret)` Z85 keys of this device; peers are checked by the
            ZAP handler of `security` against `allow`.
        max_bytes: the largest message accepted.
    """

    def __init__(self, link: str, bind: str, *, mode: str = "reliable", window: int = 8, heartbeat_s: float = 0.5,
                 timeout_s: float = 3.0, curve: tuple[bytes, bytes] | None = None, zap_domain: str | None = None,
                 max_bytes: int = wire.MAX_MESSAGE_BYTES, counters: dict[str, int] | None = None) -> None:
        zmq = _zmq()
        self.link, self.bind, self.mode = link, bind, mode
        self.reliable = mode == "reliable"
        self.window, self.heartbeat_s, self.timeout_s, self.max_bytes = window, heartbeat_s, timeout_s, max_bytes
        self.counters = counters if counters is not None else {}
        for k in ("packets", "bytes", "rejected", "duplicates", "gaps"):
            self.counters.setdefault(k, 0)
        self._rate = _Rate(self.counters)
        self.rsid = os.urandom(8).hex()
        self.sock = zmq.Context.instance().socket(zmq.ROUTER)
        self.sock.router_mandatory = True
        self.sock.linger = 1000
        self.sock.sndhwm = self.sock.rcvhwm = 10_000
        if curve is not None:
            self.sock.curve_server = True
            self.sock.curve_publickey, self.sock.curve_secretkey = curve
            self.sock.zap_domain = (zap_domain or link).encode()
        self.sock.bind(bind)
        self._sock_send = _raw_send(self.sock)
        self._rcvtimeo = -1
        self._zmq = zmq
        self.peer: bytes | None = None  # the current sender's routing id (its session id)
        self.epoch = 0  # sender sessions seen; `complete` ignores numbers of an older one
        self.expected = 0  # next sequence number to deliver
        self.done = -1  # highest sequence number completed (acknowledged)
        self.last_delivered = -1
        self._acked_sent = -2
        self.eos: int | None = None
        self.eos_fields: dict[str, Any] = {}
        self.eos_acked = False
        self.heard = _mono()
        self._last_ack = 0.0
        self._last_gap = (-1, 0.0)
        self.silent = False
        self.bye = False
        self.resume: dict[str, int] = {}  # sender session -> last seq the sinks after us hold

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
            self._on(frames, out)
            if out or not sock.get(_EVENTS) & _POLLIN:  # (cheaper than recv raising Again)
                break
            flags = _NOBLOCK
        self.tick()
        return out

    @property
    def session(self) -> str:
        """The current sender's session id ('' before the first one says hello)."""
        return self.peer.decode(errors="replace") if self.peer is not None else ""

    @property
    def ended(self) -> bool:
        """The sender sent end-of-stream and everything before it was delivered."""
        return self.eos is not None and self.expected >= self.eos

    def complete(self, seq: int, epoch: int) -> None:
        """Every packet up to `seq` of session `epoch` is done: acknowledge it (credit for more)."""
        if epoch == self.epoch and seq > self.done:
            self.done = seq
        self.tick()

    def tick(self) -> None:
        """Acknowledge progress, and keep the sender's heartbeat fed."""
        now = _mono()
        if self.peer is None:
            return
        eos_done = self.ended and self.done >= self.last_delivered
        if self.done != self._acked_sent or (eos_done and not self.eos_acked) or now - self._last_ack >= self.heartbeat_s:
            extra = {"q": self.eos} if eos_done else {}
            self._reply(wire.control("ack", self.link, acked=self.done, win=self.window, **extra))
            self._acked_sent, self._last_ack = self.done, now
            self.eos_acked = eos_done
        if not self.silent and now - self.heard > self.timeout_s and not self.ended:
            self.silent = True
            self.counters["peer_lost"] = self.counters.get("peer_lost", 0) + 1
            log.info("link %s: no word from the sender for %.1f s (idle, or gone); waiting for it", self.link, self.timeout_s)

    def _reply(self, frames: list[bytes]) -> None:
        if self.peer is not None:
            self._to(self.peer, frames)

    def _to(self, ident: bytes, frames: list[bytes]) -> None:
        """Send a one-frame control message to the sender `ident` (a ROUTER: its id first)."""
        try:
            self._sock_send(ident, _NOBLOCK | _SNDMORE, True)
            self._sock_send(frames[0], _NOBLOCK, True)
        except self._zmq.ZMQError:  # (Again is one)
            pass  # the peer is gone: it says hello again when it comes back

    def _on(self, frames: list[Any], out: list[wire.Message]) -> None:
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
        kind = msg.kind
        if kind == "hello":
            self._hello(ident, msg)
            return
        if ident != self.peer:  # a sender we have not greeted (we restarted): ask for its hello
            self._to(ident, wire.control("welcome", self.link, sid=self.rsid))
            return
        self.heard = now = _mono()
        if self.silent:
            self.silent = False
            log.info("link %s: the sender is back", self.link)
        if kind == "data":  # (first: the common case)
            self._data(msg, out, now)
        elif kind == "ping":
            self._reply(wire.control("pong", self.link, t0=msg.fields.get("t0", 0), t1=_now()))
        elif msg.kind == "bye":
            self.bye = True
        elif msg.kind == "eos":
            self.eos_acked = False  # (again: our acknowledgement may have been lost)
            self.eos = msg.fields.get("q", self.expected)
            self.eos_fields = msg.fields
            if not self.reliable:  # one connection keeps order: whatever came before it is here
                self.expected = max(self.expected, self.eos)
            self.tick()

    def _hello(self, ident: bytes, msg: wire.Message) -> None:
        sid, base = msg.fields.get("sid"), msg.fields.get("base", 0)
        if ident != self.peer:
            # a new sender session (first contact, or the sender restarted): start at its base
            log.debug("link %s: sender %s, base %d", self.link, sid, base)
            self.peer = ident
            self.epoch += 1
            # the sinks after us may have more of this session than the sender knows (we were
            # killed after they wrote, before our acknowledgement left): resume after it
            self.expected = max(base, 0, self.resume.get(ident.decode(errors="replace"), -1) + 1)
            self.done = self.last_delivered = self.expected - 1
            self.eos = None
            self.eos_acked = False
            self.bye = False
        self.heard = _mono()
        self.silent = False
        self._reply(wire.control("welcome", self.link, sid=self.rsid, acked=self.done, win=self.window))
        self._acked_sent, self._last_ack = self.done, _mono()

    def _data(self, msg: wire.Message, out: list[wire.Message], now: float) -> None:
        seq = msg.seq
        if seq < self.expected:
            self.counters["duplicates"] += 1
            return
        if seq > self.expected and self.reliable:
            # packets went missing in a dropped connection: ask for a resend from here (once per
            # timeout for one hole, since the resends behind it are in flight already)
            self.counters["gaps"] += 1
            if self._last_gap[0] != self.expected or now - self._last_gap[1] > self.timeout_s:
                self._last_gap = (self.expected, now)
                self._reply(wire.control("welcome", self.link, sid=self.rsid, acked=self.done, win=self.window))
            return
        self.expected = seq + 1
        self.last_delivered = seq
        meta = msg.meta
        if meta:
            off = meta.get("off")
            if type(off) is int:
                msg.ts_ns += off  # the source stamp, on this device's clock
        counters, nbytes = self.counters, msg.nbytes
        counters["packets"] += 1
        counters["bytes"] += nbytes
        self._rate.add(nbytes, now)
        out.append(msg)

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
