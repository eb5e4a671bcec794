"""A node run as replicas on several devices: `device: [gw1, gw2, cloud]`.

The graph is cut as for any crossing (see `devices`), with three kinds of link node:

- `runtime.replica_out` on the upstream device deals packets to the replicas, one ZeroMQ link
  each, to whichever has credit (so a faster or less loaded replica takes more), numbering
  them `g` = 0, 1, 2, ... in the header. When a replica's link is lost (heartbeat timeout), the
  packets it had not acknowledged go to the others; the lost link starts a new session, so a
  replica that comes back starts afresh and gets work again.
- on each replica device a `link_in` notes every packet's `g`, the node runs as usual, and a
  `link_out` sends each result back with its packet's `g` (matched by the source stamp, which
  the node passes through); a packet that gave no result is sent as a `skip`.
- `runtime.replica_in` on the downstream device takes the results of all replicas and puts
  them back in `g` order before the next node, dropping any second copy (a packet sent again
  after its replica was lost, whose first result had already come). It ends when every packet
  the dispatcher sent is accounted for (the total travels with each end of stream).

Acknowledgements chain as on any link: the merge acknowledges a result once the nodes after it
are done with it, a replica acknowledges the dispatcher once its result is acknowledged, and
each header carries `lw`, the lowest `g` the dispatcher still holds: everything below it was
delivered, which lets a restarted merge know where to resume (a result it had handed on but not
yet acknowledged when it was killed comes again: at-least-once for the merging device). While
the next result is late (its replica died, and it is on its way from another), the merge
acknowledges the results it holds, so the replicas keep the credit to bring it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

from ..node import Param
from ..registry import default_registry
from ..types import Stamped
from .linkends import Downstream, ReceivingEnd, SendingEnd, receiver, sender_curve

log = logging.getLogger("edgespeed.link")

_SUMMED = ("packets", "bytes", "bytes_raw", "resends", "dropped", "peer_lost", "rejected", "duplicates")


class ReplicaOut(SendingEnd):
    """(internal) Deals packets to the replicas of a node, one link each, by available credit."""

    kind = "runtime.replica_out"
    links: list[str] = Param(doc="link ids, one per replica")
    endpoints: list[str] = Param(doc="where each replica listens")
    server_keys: list[str] = Param([], doc="each replica device's public key file")

    def setup(self) -> None:
        from ..transport.compress import codec_for
        from ..transport.link import Sender

        codec = codec_for(self.compress, self.quality)
        self._senders = [
            Sender(link, endpoint, mode=self.mode, window=self.window, queue=self.queue, heartbeat_s=self.heartbeat_s,
                   timeout_s=self.timeout_s, codec=codec, curve=sender_curve(self.keys, self.server_keys[i] if self.keys else ""),
                   counters={})
            for i, (link, endpoint) in enumerate(zip(self.links, self.endpoints))
        ]
        self._reliable = self.mode == "reliable"
        self._sent: list[dict[int, tuple[int, Any, int, int, str | None]]] = [{} for _ in self._senders]  # link seq -> packet
        self._waiting: deque[tuple[int, Any, int, int, str | None]] = deque()  # (g, value, ts_ns, pts_ns, stream), lowest g first
        self._g = 0
        self._lost = [0] * len(self._senders)
        self._rr = 0
        self._dropped = 0  # realtime: packets no replica had credit for
        self.counters.update(reassigned=0, dropped=0)
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._pumper = threading.Thread(target=self._pump, name=f"edgespeed:{self.id}:link", daemon=True)
        self._pumper.start()

    def _pump(self) -> None:
        while not self._idle.wait(0.005):
            with self._lock:
                self._tick(0)
                self._dispatch(wait=False)

    def process(self, data: Any = None, **unused: Any) -> None:
        env = self.engine_packet
        with self._lock:
            self._waiting.append((self._g, data, env.ts_ns, env.pts_ns, env.stream))
            self._g += 1
            if not self._reliable:
                while len(self._waiting) > self.queue:
                    self._waiting.popleft()
                    self._dropped += 1
            self._dispatch(wait=self._reliable)

    def _dispatch(self, wait: bool) -> None:
        """Send waiting packets to replicas with credit; with `wait`, until none is left."""
        from ..transport.wire import WireError

        abort = self.ctx.aborted
        while self._waiting:
            i = self._pick()
            if i is None:
                if not wait or (abort is not None and abort.is_set()):
                    return
                self._tick(10)  # no replica has credit: backpressure
                continue
            g, value, ts, pts, stream = item = self._waiting.popleft()
            sender = self._senders[i]
            low = min([g, *(p[0] for sent in self._sent for p in sent.values())])
            if self._waiting:
                low = min(low, self._waiting[0][0])
            seq = sender.next_seq
            try:
                meta: dict[str, Any] = {"g": g, "lw": low} if stream is None else {"g": g, "lw": low, "s": stream}
                sender.send(value, ts, pts, meta=meta, wait=False)
            except WireError as e:
                raise ValueError(f"edge {self.links[i]} crosses devices: {e}") from None
            self._sent[i][seq] = item

    def _pick(self) -> int | None:
        """The replica with the most credit (ties in turn), or None when none has any."""
        best, most = None, 0
        n = len(self._senders)
        for k in range(n):
            i = (self._rr + k) % n
            credit = self._senders[i].credit
            if credit > most:
                best, most = i, credit
        if best is not None:
            self._rr = (best + 1) % n
        return best

    def _tick(self, timeout_ms: int) -> None:
        """Pump every link; forget what was acknowledged; take back what a lost replica held."""
        for i, sender in enumerate(self._senders):
            sender.pump(timeout_ms if i == 0 else 0)
            sent = self._sent[i]
            for seq in [q for q in sent if q <= sender.acked]:
                del sent[seq]
            if sender.counters["peer_lost"] > self._lost[i]:
                self._lost[i] = sender.counters["peer_lost"]
                back = sorted(sent[q] for q in sender.reset() if q in sent)
                sent.clear()
                if back:
                    log.warning("replica link %s lost; its %d unacknowledged packets go to the others", self.links[i], len(back))
                    self.counters["reassigned"] += len(back)
                    self._waiting.extendleft(reversed(back))
        for key in _SUMMED:
            self.counters[key] = sum(s.counters.get(key, 0) for s in self._senders) + (self._dropped if key == "dropped" else 0)
        for i, sender in enumerate(self._senders):
            self.counters[f"packets_{i}"] = sender.counters.get("packets", 0)

    def teardown(self) -> None:
        self._idle.set()
        self._pumper.join()
        abort = self.ctx.aborted
        with self._lock:  # everything sent and acknowledged (or taken back and sent elsewhere)
            while (self._waiting or any(self._sent)) and not (abort is not None and abort.is_set()):
                self._dispatch(wait=False)
                self._tick(10)
            for sender in self._senders:
                sender.close(abort=abort, linger_s=None if sender.welcomed else 2 * self.timeout_s, g=self._g)


class ReplicaIn(ReceivingEnd):
    """(internal) Takes the results of a node's replicas and puts them back in order."""

    kind = "runtime.replica_in"
    links: list[str] = Param(doc="link ids, one per replica")
    binds: list[str] = Param(doc="addresses to listen on, one per replica")
    window: int = Param(16, ge=1, doc="credit given to each replica")

    def setup(self) -> None:
        import zmq

        self._rx = [receiver(self, link, bind, {}) for link, bind in zip(self.links, self.binds)]
        self._poller = zmq.Poller()
        for rx in self._rx:
            self._poller.register(rx.sock, zmq.POLLIN)
        self._next: int | None = None  # the next packet number to deliver
        self._floor: int | None = None  # after a restart: every number below it was delivered
        self._held: dict[int, tuple[Any, list[Any]]] = {}  # g -> (message, its entry): out of order
        self._entries: list[deque[list[Any]]] = [deque() for _ in self._rx]  # per link: [seq, epoch, done]
        self._emitted: deque[list[Any]] = deque()  # entries handed downstream, not yet done
        self._n = 0
        self._total: int | None = None
        self._finished: float | None = None
        self._moved = time.monotonic()
        self._tracker: Downstream | None = None
        self._unnumbered = 0  # results without a packet number (not from a replica): dropped
        self.counters.update(duplicates=0, skipped=0, resumed=0)

    def generate(self) -> Any:
        while True:
            if self.stopping:
                deadline = time.monotonic() + 2.0
                while self._emitted and time.monotonic() < deadline:
                    self._progress()
                    time.sleep(0.01)
                return
            self._poller.poll(2 if self._emitted or self._held else 50)
            for i, rx in enumerate(self._rx):
                for msg in rx.recv(0):
                    self._take(i, rx, msg)
                total = rx.eos_fields.get("g")
                if type(total) is int:
                    self._total = total
            yield from self._deliver()
            self._progress()
            self._tally()
            if self._total is not None and (self._next or 0) >= self._total and not self._emitted:
                # all delivered: let every replica still there finish its end of stream too
                if self._finished is None:
                    self._finished = time.monotonic()
                if all(rx.ended or rx.peer is None or rx.silent for rx in self._rx) or time.monotonic() - self._finished > 2 * self.timeout_s:
                    return

    def _take(self, i: int, rx: Any, msg: Any) -> None:
        entry = [msg.seq, rx.epoch, False]
        self._entries[i].append(entry)
        g, low = msg.meta.get("g"), msg.meta.get("lw", 0)
        if type(g) is not int or type(low) is not int:
            entry[2] = True
            self._unnumbered += 1
            return
        if self._next is None:  # (re)started: everything below `lw` was delivered before
            self._next = low
        elif low > self._next:
            # only after a restart: what we do not hold below `lw` was delivered by the process
            # before us (what we hold, we acknowledged while stalled: still ours to deliver)
            self._floor = max(self._floor or 0, low)
        if g < self._next or g in self._held:
            entry[2] = True  # a second copy: its packet went to another replica too
            self.counters["duplicates"] += 1
            return
        self._held[g] = (msg, entry)

    def _deliver(self) -> Any:
        now = time.monotonic()
        if self._held and self._next not in self._held and now - self._moved > 3 * self.timeout_s:
            # nothing has come for the next number in three heartbeat timeouts, while later ones
            # wait: it was delivered before this device restarted (or is lost); go on after it
            resume = min(self._held)
            log.warning("replicas: packet %s never came; resuming at %d", self._next, resume)
            self.counters["resumed"] += 1
            self._next = resume
        while True:
            if self._next not in self._held:
                below = [k for k in self._held if self._floor is not None and k < self._floor]
                if not below:
                    break
                self._next = min(below)  # a gap: delivered before the restart
            msg, entry = self._held.pop(self._next)
            self._next += 1
            self._moved = now
            if msg.meta.get("skip"):
                entry[2] = True
                self.counters["skipped"] += 1
                continue
            self._emitted.append(entry)
            self._n += 1
            stream = msg.meta.get("s")
            yield Stamped({"out": msg.value}, pts_ns=msg.pts_ns, ts_ns=msg.ts_ns, stream=stream if type(stream) is str else None)
            del msg
        if self._floor is not None:
            self._next, self._floor = max(self._next or 0, self._floor), None

    def _progress(self) -> None:
        """Acknowledge, per link and in its order, the results every node after us is done with."""
        if self._emitted:
            if self._tracker is None:
                self._tracker = Downstream(self.ctx, self.id)
            done = self._tracker.done(self._n)
            while self._emitted and len(self._emitted) > self._n - done:
                self._emitted.popleft()[2] = True
        if self._held and self._next not in self._held and time.monotonic() - self._moved > self.timeout_s / 2:
            # stalled: the next result is on its way from another replica (its first one was
            # lost), behind results we hold. Acknowledge what we hold, or the replicas run out
            # of credit and never get to it. (A crash of this device would lose what it holds.)
            for _, entry in self._held.values():
                entry[2] = True
        for rx, entries in zip(self._rx, self._entries):
            last = None
            while entries and entries[0][2]:
                last = entries.popleft()
            if last is not None:
                rx.complete(last[0], last[1])
            else:
                rx.tick()

    def _tally(self) -> None:
        for key in ("packets", "bytes", "rejected", "gaps", "peer_lost"):
            self.counters[key] = sum(rx.counters.get(key, 0) for rx in self._rx) + (self._unnumbered if key == "rejected" else 0)
        for i, rx in enumerate(self._rx):
            self.counters[f"packets_{i}"] = rx.counters.get("packets", 0)

    def teardown(self) -> None:
        for rx in self._rx:
            rx.close()


for _cls in (ReplicaOut, ReplicaIn):
    default_registry().register(_cls)
