"""The link protocol as pure state machines: credit, acknowledgement, resend and heartbeats.

No sockets and no clocks here: every method that depends on time takes `now` (monotonic
seconds) and, for the clock offset, `wall_ns` (the wall clock). Control messages to send are
appended to `outbox` as `(kind, fields)` (sender) or `(peer, kind, fields)` (receiver); the
ZeroMQ driver in `link` encodes and sends them, moves data frames, and feeds back what came in.
The protocol itself is described in `link`.

Sessions are kept per peer on the receiving side: a `hello` opens a session for the peer that
sent it and never touches another's, so a third party (on a link without keys) can add a session
of its own but can never make the receiver go back on packets it delivered for the real one.
"""

from __future__ import annotations

from collections import deque
from typing import Any

MAX_PEERS = 1024  # sessions a receiver remembers; beyond it the least recently heard is forgotten


class SenderSession:
    """The sending end's state. `unacked` holds `(seq, frames, nbytes)`; the frames are opaque here.

    Args:
        reliable: `reliable` mode (keep every packet until acknowledged) or `realtime`.
        window: the most packets in flight beyond the last acknowledged one.
        queue: realtime only: packets kept waiting for credit before the oldest is dropped.
        heartbeat_s, timeout_s: ping period, and the silence after which the peer is lost.
        counters: where to count.
        now: the monotonic clock at creation (s).
    """

    def __init__(self, *, reliable: bool, window: int, queue: int, heartbeat_s: float, timeout_s: float,
                 counters: dict[str, int], now: float) -> None:
        self.reliable, self.queue_max = reliable, queue
        self.heartbeat_s, self.timeout_s = heartbeat_s, timeout_s
        self.counters = counters
        for k in ("packets", "bytes", "resends", "dropped", "peer_lost", "rejected"):
            counters.setdefault(k, 0)
        self.sid = ""
        self.next_seq = 0
        self.acked = -1
        self.window = self.win = window  # credit: the smaller of ours and the receiver's
        self.sent_upto = -1  # highest sequence number sent on the current session
        self.unacked: deque[tuple[int, Any, int]] = deque()
        self._kept: set[int] = set()  # realtime: numbers its queue never drops (the ends of streams)
        self.welcomed = False
        self.eos_seq: int | None = None
        self.eos_fields: dict[str, int] = {}
        self.eos_acked = False
        self._eos_sent = False
        self.heard = now
        self._last_ping = -1e18
        self._last_hello = -1e18
        self._offsets: deque[tuple[int, int]] = deque(maxlen=16)  # (rtt_ns, offset_ns)
        self.offset_ns: int | None = None
        self.outbox: list[tuple[str, dict[str, Any]]] = []

    @property
    def credit(self) -> int:
        """Packets that may be sent now (0 while the receiver has not welcomed us)."""
        return self.win - len(self.unacked) if self.welcomed else 0

    def waiting(self) -> int:
        """Packets not sent yet (the newest entries of `unacked`)."""
        n = 0
        for seq, _, _ in reversed(self.unacked):
            if seq <= self.sent_upto:
                break
            n += 1
        return n

    def sendable(self) -> range:
        """Indices into `unacked` of the packets credit lets go now (call `sent` for each that went)."""
        waiting = self.waiting()
        if not waiting or not self.welcomed:
            return range(0)
        # credit counts packets, not numbers: realtime drops leave holes in the numbering
        first = len(self.unacked) - waiting
        return range(first, first + max(0, min(self.win - first, waiting)))

    def queued(self, seq: int, frames: Any, nbytes: int, keep: bool = False) -> None:
        """A new packet numbered `seq` (= `next_seq`); realtime drops the oldest waiting beyond
        `queue`, but never one queued with `keep` (the end of a stream: an event, not data)."""
        self.next_seq = seq + 1
        self.unacked.append((seq, frames, nbytes))
        if not self.reliable:
            if keep:
                self._kept.add(seq)
            # the oldest packet not yet sent goes; those in flight are left to their ack. The hole
            # it leaves in the numbering is fine: a realtime receiver takes any newer number.
            while (waiting := self.waiting()) > self.queue_max:
                i = len(self.unacked) - waiting
                while i < len(self.unacked) and self.unacked[i][0] in self._kept:
                    i += 1
                if i == len(self.unacked):  # (only kept ones wait: they stay, past `queue`)
                    break
                del self.unacked[i]
                self.counters["dropped"] += 1

    def hello(self, now: float) -> None:
        self._last_hello = now
        base = self.unacked[0][0] if self.unacked else self.next_seq
        self.outbox.append(("hello", {"sid": self.sid, "base": base}))

    def due(self, now: float, wall_ns: int) -> bool:
        """Timers: hello while unanswered, ping, eos, a lost peer. True if data may flow."""
        if self.welcomed and now - self.heard > self.timeout_s:
            self.lost(now)
        if not self.welcomed:  # say hello often while unanswered: the first one often goes before TCP is up
            if now - self._last_hello >= min(self.heartbeat_s, 0.05):
                self.hello(now)
            return False
        if now - self._last_ping >= self.heartbeat_s:
            self._last_ping = now
            self.outbox.append(("ping", {"t0": wall_ns}))
            self._eos_sent = False  # say it again (a heartbeat later) until it is acknowledged
        return True

    def eos_due(self) -> bool:
        """End-of-stream goes once every packet before it is on its way (again each heartbeat)."""
        if self.eos_seq is not None and not self.eos_acked and not self._eos_sent and self.waiting() == 0:
            self._eos_sent = True
            self.outbox.append(("eos", {"q": self.eos_seq, **self.eos_fields}))
            return True
        return False

    def on(self, kind: str, f: dict[str, Any], now: float, wall_ns: int) -> None:
        """A control message from the receiver."""
        self.heard = now
        if kind == "welcome":
            if "acked" not in f:  # a receiver that does not know us (it restarted): hello again
                self.welcomed = False
                self.hello(now)
                return
            self.ack(f["acked"], f.get("win", self.win))
            # resend everything after what the receiver holds
            resend = sum(1 for s, _, _ in self.unacked if s <= self.sent_upto)
            self.counters["resends"] += resend if self.welcomed or self.sent_upto >= 0 else 0
            self.sent_upto = self.acked
            self.welcomed = True
            self._eos_sent = False
        elif kind == "ack":
            self.ack(f.get("acked", self.acked), f.get("win", self.win))
            if self.eos_seq is not None and f.get("q") == self.eos_seq:
                self.eos_acked = True
        elif kind == "pong" and "t0" in f and "t1" in f:
            rtt = wall_ns - f["t0"]
            self.counters["rtt_us"] = rtt // 1000
            self._offsets.append((rtt, f["t1"] - (f["t0"] + wall_ns) // 2))
            self.offset_ns = min(self._offsets)[1]
            self.counters["clock_offset_us"] = self.offset_ns // 1000

    def ack(self, acked: int, win: int) -> None:
        self.acked = max(self.acked, acked)
        self.win = max(1, min(win, self.window))
        while self.unacked and self.unacked[0][0] <= self.acked:
            self._kept.discard(self.unacked.popleft()[0])
        self.sent_upto = max(self.sent_upto, self.acked)

    def lost(self, now: float) -> None:
        """The peer went silent: hello again; realtime counts what was in flight as dropped."""
        self.counters["peer_lost"] += 1
        self.welcomed = False
        if not self.reliable:  # what was in flight is gone with the peer
            while self.unacked and self.unacked[0][0] <= self.sent_upto:
                self._kept.discard(self.unacked.popleft()[0])
                self.counters["dropped"] += 1
        self.hello(now)

    def restart(self, sid: str, now: float) -> list[int]:
        """A new session `sid`, nothing kept; returns the numbers that were not acknowledged."""
        lost = [seq for seq, _, _ in self.unacked]
        self.unacked.clear()
        self._kept.clear()
        self.acked = self.sent_upto = self.next_seq - 1
        self.sid = sid
        self.welcomed = False
        self.heard = now
        self.hello(now)
        return lost


class Peer:
    """One sender session, as the receiver sees it."""

    __slots__ = ("ident", "epoch", "expected", "done", "last_delivered", "acked_sent", "eos", "eos_fields",
                 "eos_acked", "heard", "last_gap", "bye")

    def __init__(self, ident: bytes, epoch: int, base: int, now: float) -> None:
        self.ident, self.epoch = ident, epoch
        self.expected = base  # next sequence number to deliver
        self.done = self.last_delivered = base - 1  # highest completed (acknowledged) / delivered
        self.acked_sent = -2
        self.eos: int | None = None
        self.eos_fields: dict[str, Any] = {}
        self.eos_acked = False
        self.heard = now
        self.last_gap = (-1, 0.0)
        self.bye = False

    @property
    def ended(self) -> bool:
        return self.eos is not None and self.expected >= self.eos


class ReceiverSession:
    """The receiving end's state: one `Peer` per sender session, the current one in `current`.

    `on` takes a decoded message from a peer and appends data to deliver to `out`; replies go to
    `outbox`. `complete` and `acknowledge` acknowledge progress. `resume` maps a sender session id to the
    last number the sinks after us hold (a restarted receiver resumes after it).
    """

    def __init__(self, *, reliable: bool, window: int, heartbeat_s: float, timeout_s: float, rsid: str,
                 counters: dict[str, int], now: float, max_peers: int = MAX_PEERS) -> None:
        self.reliable, self.window, self.heartbeat_s, self.timeout_s = reliable, window, heartbeat_s, timeout_s
        self.rsid, self.counters, self.max_peers = rsid, counters, max_peers
        for k in ("packets", "bytes", "rejected", "duplicates", "gaps"):
            counters.setdefault(k, 0)
        self.peers: dict[bytes, Peer] = {}
        self._epochs: dict[int, Peer] = {}
        self.current: Peer | None = None  # the session that delivered last (or greeted first)
        self._epoch = 0
        self.resume: dict[str, int] = {}
        self.outbox: list[tuple[bytes, str, dict[str, Any]]] = []
        self._dirty: set[Peer] = set()  # sessions other than the current one with progress to acknowledge
        self.heard = now
        self._last_ack = 0.0
        self.silent = False

    @property
    def epoch(self) -> int:
        """The current session's number; `complete` takes it."""
        return self.current.epoch if self.current is not None else 0

    @property
    def ended(self) -> bool:
        """The current sender sent end-of-stream and everything before it was delivered."""
        return self.current is not None and self.current.ended

    def welcome(self, p: Peer) -> None:
        self.outbox.append((p.ident, "welcome", {"sid": self.rsid, "acked": p.done, "win": self.window}))

    def hello(self, ident: bytes, base: int, now: float) -> Peer:
        p = self.peers.get(ident)
        if p is None:
            # a new sender session (first contact, or the sender restarted): start at its base.
            # The sinks after us may have more of it than the sender knows (we were killed after
            # they wrote, before our acknowledgement left): resume after that.
            if len(self.peers) >= self.max_peers:
                self._forget(min(self.peers.values(), key=lambda q: q.heard))
            self._epoch += 1
            start = max(base, 0, self.resume.get(ident.decode(errors="replace"), -1) + 1)
            p = self.peers[ident] = self._epochs[self._epoch] = Peer(ident, self._epoch, start, now)
            if self.current is None:
                self.current = p
        # a known session keeps its place whatever the hello says: nothing is delivered twice
        p.heard = now
        self.welcome(p)
        p.acked_sent = p.done
        return p

    def _forget(self, p: Peer) -> None:
        del self.peers[p.ident]
        del self._epochs[p.epoch]
        if self.current is p:
            self.current = None

    def on(self, ident: bytes, kind: str, msg: Any, out: list[Any], now: float, wall_ns: int) -> None:
        if kind == "hello":
            if self.hello(ident, msg.fields.get("base", 0), now) is self.current:
                self._heard(now)
            return
        p = self.peers.get(ident)
        if p is None:  # a sender we have not greeted (we restarted): ask for its hello
            self.outbox.append((ident, "welcome", {"sid": self.rsid}))
            return
        p.heard = now
        if kind == "data":  # (first: the common case)
            self.data(p, msg, out, now)
            return
        if p is self.current:
            self._heard(now)
        if kind == "ping":
            self.outbox.append((ident, "pong", {"t0": msg.fields.get("t0", 0), "t1": wall_ns}))
        elif kind == "bye":
            p.bye = True
        elif kind == "eos":
            p.eos_acked = False  # (again: our acknowledgement may have been lost)
            p.eos = msg.fields.get("q", p.expected)
            p.eos_fields = msg.fields
            if not self.reliable:  # one connection keeps order: whatever came before it is here
                p.expected = max(p.expected, p.eos)
            self.acknowledge(now)

    def _heard(self, now: float) -> None:
        self.heard = now
        self.silent = False

    def data(self, p: Peer, msg: Any, out: list[Any], now: float) -> None:
        seq = msg.seq
        if seq < p.expected:
            self.counters["duplicates"] += 1
            return
        if seq > p.expected and self.reliable:
            # packets went missing in a dropped connection: ask for a resend from here (once per
            # timeout for one hole, since the resends behind it are in flight already)
            self.counters["gaps"] += 1
            if p.last_gap[0] != p.expected or now - p.last_gap[1] > self.timeout_s:
                p.last_gap = (p.expected, now)
                self.welcome(p)
            return
        p.expected = seq + 1
        p.last_delivered = seq
        self.current = p
        self.heard = now
        self.silent = False
        out.append(msg)

    def complete(self, seq: int, epoch: int) -> None:
        """Every packet up to `seq` of session `epoch` is done."""
        p = self._epochs.get(epoch)
        if p is not None and seq > p.done:
            p.done = seq
            if p is not self.current:
                self._dirty.add(p)

    def acknowledge(self, now: float) -> bool:
        """Acknowledge progress and keep heartbeats fed; True when the current peer just went silent."""
        beat = now - self._last_ack >= self.heartbeat_s
        cur = self.current
        if beat:
            self._last_ack = now
            for p in self.peers.values():
                if p is cur or now - p.heard <= self.timeout_s:
                    self._ack(p, True)
        elif cur is not None:
            self._ack(cur, False)
        if self._dirty:
            for p in self._dirty:
                if p.ident in self.peers:
                    self._ack(p, False)
            self._dirty.clear()
        if cur is not None and not self.silent and now - self.heard > self.timeout_s and not cur.ended:
            self.silent = True
            self.counters["peer_lost"] = self.counters.get("peer_lost", 0) + 1
            return True
        return False

    def _ack(self, p: Peer, beat: bool) -> None:
        eos_done = p.ended and p.done >= p.last_delivered
        if beat or p.done != p.acked_sent or (eos_done and not p.eos_acked):
            fields: dict[str, Any] = {"acked": p.done, "win": self.window}
            if eos_done:
                fields["q"] = p.eos
            self.outbox.append((p.ident, "ack", fields))
            p.acked_sent = p.done
            p.eos_acked = eos_done
