"""Bounded rings: one per edge, from a producer's output port to one consumer input.

A ring holds references (the producer's frozen array, never a copy). All rings into one node
share that node's lock and condition, so the node sleeps on one condition whatever input its
next packet arrives on.

Policies (set per input in YAML: `{from: cam/frame, queue: 2, policy: latest}`):
- `block`: lossless; a full ring makes the producer wait (backpressure). Default for files.
- `drop_oldest`: a full ring drops its oldest packet to take the new one (bounded latency,
  every packet kept until it is pushed out). Counted in `dropped`.
- `latest`: like `drop_oldest`, and the consumer always takes the newest packet, dropping any
  backlog it finds (the freshest frame for a slow consumer; a live preview). Counted in `dropped`.

The end of a stream (a multi-stream source's `StreamEnd`) is an event, not data, and no policy
drops it, as GStreamer's leaky queues never drop events: a camera that went away must reach the
nodes that keep state for it, or that state stays for the life of the run. A lossy ring drops
the oldest data around it, and under `latest` the consumer takes it before the newest packet.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from typing import Protocol

from ..types import StreamEnd
from .packet import Packet

SMALL_BYTES = 64 << 10
"""Queued array bytes up to which a consumer takes the whole ring in one batch (`pop_batch`)."""


class Carrier(Protocol):
    """The producer's side of an edge, all a worker uses to send: a `Ring`, or a shared-memory
    channel written in the producer's own thread (`fuse.DirectCarrier`). A new carrier needs
    only these."""

    name: str  # `producer/port -> consumer.input`, for metrics and errors

    def put(self, pkt: Packet) -> bool:
        """Hand `pkt` on (a full edge blocks or drops by its policy); False if it was discarded."""
        ...

    def close(self) -> None:
        """The producer has ended: the consumer sees the end once what was put is taken."""
        ...


class Ring:
    """A bounded FIFO of packets with a backpressure policy.

    Args:
        name: `producer/port -> consumer.input`, for metrics and errors.
        capacity: slots (>= 1).
        policy: `block`, `latest` or `drop_oldest`.
        cond: the consumer's condition (its lock is shared by all rings into the consumer).
        max_bytes: also full once the queued arrays hold this many bytes (always room for one
            packet). Like GStreamer's queue limits, this lets small packets flow in large
            batches while big frames stay bounded in memory.
    """

    __slots__ = ("name", "capacity", "policy", "_buf", "queued", "_cond", "_not_full", "closed", "dead",
                 "dropped", "peak", "puts", "_block", "_latest", "_low", "_lock", "max_bytes", "bytes", "stream_dropped",
                 "doorbell", "ends")

    def __init__(self, name: str, capacity: int, policy: str, cond: threading.Condition | None = None,
                 max_bytes: int | None = None) -> None:
        if capacity < 1:
            raise ValueError(f"ring {name!r}: capacity must be >= 1, got {capacity}")
        self.name = name
        self.capacity = capacity
        self.policy = policy
        self._buf: deque[Packet] = deque()
        # The same deque, read-only by contract: the consumer's worker tests it for emptiness
        # under `cond` in its hot loop, where a method call per check would cost more than the hop.
        self.queued = self._buf
        self._cond = cond or threading.Condition(threading.Lock())
        self._lock = self._cond._lock  # type: ignore[attr-defined]
        self._not_full = threading.Condition(self._lock)
        self._block = policy == "block"
        self._latest = policy == "latest"
        # A blocked producer is woken once the ring is half empty, not on every pop: it then
        # refills a batch in one go instead of trading the GIL with its consumer per packet.
        self._low = capacity // 2
        self.max_bytes = max_bytes if max_bytes is not None else 1 << 62
        self.bytes = 0
        self.closed = False   # the producer sent end-of-stream
        self.dead = False     # the consumer is gone: puts are discarded, producers never block
        self.dropped = 0
        self.stream_dropped: dict[str, int] | None = None  # drops of packets from named streams (made at the first)
        self.peak = 0
        self.puts = 0
        self.doorbell: Doorbell | None = None  # set while its consumer waits in a poll, not on `cond`
        self.ends = 0  # stream ends queued in a lossy ring (never dropped); a block ring does not count

    @property
    def cond(self) -> threading.Condition:
        return self._cond

    def __len__(self) -> int:
        return len(self._buf)

    # -- producer side -----------------------------------------------------------------------
    def _full(self, incoming: int) -> bool:
        return len(self._buf) >= self.capacity or (bool(self._buf) and self.bytes + incoming > self.max_bytes)

    def put(self, pkt: Packet) -> bool:
        """Enqueue `pkt`; under `block` wait for room. Returns False if it was discarded."""
        # (acquire/release, not `with`: half the cost of the context protocol, on every hop)
        lock = self._lock
        lock.acquire()
        try:
            buf = self._buf
            size = pkt.nbytes
            if not self.dead and (len(buf) >= self.capacity or (buf and self.bytes + size > self.max_bytes)):  # (_full, inlined)
                if self._block:
                    while not self.dead and self._full(size):
                        self._not_full.wait()
                else:
                    while self._full(size):
                        gone = self._oldest_data() if self.ends else buf.popleft()
                        if gone is None:  # (only stream ends queued: they stay, a few past capacity)
                            break
                        self.bytes -= gone.nbytes
                        self.dropped += 1
                        if gone.stream is not None:
                            self._count_stream(gone.stream, 1)
            if self.dead:
                self.dropped += 1
                return False
            if not self._block and type(pkt.value) is StreamEnd:
                self.ends += 1
            buf.append(pkt)
            self.bytes += size
            self.puts += 1
            n = len(buf)
            if n > self.peak:
                self.peak = n
            cond = self._cond
            if cond._waiters:  # type: ignore[attr-defined]  # skip notify()'s checks when nobody waits
                cond.notify()
            if self.doorbell is not None:
                self.doorbell.ring()
            return True
        finally:
            lock.release()

    def has_room(self) -> bool:
        """A `put` would not wait (lossy rings never do)."""
        return not self._block or not self._full(0)

    def fill(self, pkt: Packet) -> bool:
        """`put` by the ring's own consumer, filling it from a channel (feed.py): it never waits,
        which would be waiting on itself. The caller reads on only while `has_room()`, so the
        ring's bound holds within one packet and the backpressure stays in the channel."""
        if not self._block:
            return self.put(pkt)
        with self._lock:
            if self.dead:
                self.dropped += 1
                return False
            self._buf.append(pkt)
            self.bytes += pkt.nbytes
            self.puts += 1
            self.peak = max(self.peak, len(self._buf))
            return True

    def close(self) -> None:
        """End-of-stream: the consumer sees it once the ring is drained."""
        with self._cond:
            self.closed = True
            self._cond.notify_all()
            if self.doorbell is not None:
                self.doorbell.ring()

    # -- consumer side (call with `cond` held) -------------------------------------------------
    def ready(self) -> bool:
        return bool(self._buf)

    def finished(self) -> bool:
        """Closed and drained: nothing more will come."""
        return self.closed and not self._buf

    def pop(self) -> Packet:
        """Take the next packet (the newest under `latest`, after any stream end queued). The
        ring must be non-empty."""
        buf = self._buf
        if self.ends:
            return self._pop_lossy_end()
        if self._latest and len(buf) > 1:
            self.dropped += len(buf) - 1
            pkt = buf.pop()
            for gone in buf:
                if gone.stream is not None:
                    self._count_stream(gone.stream, 1)
            buf.clear()
            self.bytes = 0
        else:
            pkt = buf.popleft()
            self.bytes -= pkt.nbytes
        if self._block and self._not_full._waiters and (len(buf) <= self._low or self.bytes < self.max_bytes // 2):  # type: ignore[attr-defined]
            self._not_full.notify()
        return pkt

    def pop_batch(self) -> list[Packet]:
        """Take up to half the ring's slots at once (`block` rings only: nothing may be dropped).

        The consumer works through the batch outside the lock while the producer refills the
        other half, so the arrays in flight on the edge stay within 1.5x its capacity (what a
        buffer pool allocates). Packets that hold at most SMALL_BYTES of arrays (counts,
        detections, scalars) are taken all at once: they pin no pooled frame, and a batch twice
        as long halves the GIL hand-offs per packet (a 10-node chain of small packets, three
        interleaved pairs of runs on one box: 15.7-17.5k packets/s with half-ring batches, 16.0-18.9k
        with whole ones).
        """
        buf = self._buf
        n = len(buf) if self.bytes <= SMALL_BYTES else min(len(buf), max(1, self.capacity // 2))
        batch = [buf.popleft() for _ in range(n)]
        self.bytes = sum(p.nbytes for p in buf) if buf else 0
        if self._not_full._waiters:  # type: ignore[attr-defined]
            self._not_full.notify()
        return batch

    def _oldest_data(self) -> Packet | None:
        """Remove and return the oldest packet that is not a stream end (None: there is none)."""
        for i, p in enumerate(self._buf):
            if type(p.value) is not StreamEnd:
                del self._buf[i]
                return p
        return None

    def _pop_lossy_end(self) -> Packet:
        """`pop` with stream ends queued: FIFO under drop_oldest; under latest, the data before
        the first end is dropped (it is stale) and the end is taken."""
        buf = self._buf
        if not self._latest:
            pkt = buf.popleft()
            self.bytes -= pkt.nbytes
            if type(pkt.value) is StreamEnd:
                self.ends -= 1
            return pkt
        while type(buf[0].value) is not StreamEnd:
            gone = buf.popleft()
            self.bytes -= gone.nbytes
            self.dropped += 1
            if gone.stream is not None:
                self._count_stream(gone.stream, 1)
        self.ends -= 1
        return buf.popleft()

    def _count_stream(self, stream: str, n: int) -> None:
        if self.stream_dropped is None:
            self.stream_dropped = {}
        self.stream_dropped[stream] = self.stream_dropped.get(stream, 0) + n

    def peek(self) -> Packet:
        return self._buf[0]

    def head(self) -> Packet:
        """The packet `pop` would take. The ring must be non-empty."""
        if self._latest and self.ends:
            return next(p for p in self._buf if type(p.value) is StreamEnd)
        return self._buf[-1] if self._latest else self._buf[0]

    def kill(self) -> None:
        """The consumer stopped for good: drop what is queued and never block producers again."""
        with self._cond:
            self.dead = True
            self.dropped += len(self._buf)
            self._buf.clear()
            self.bytes = 0
            self.ends = 0
            self._not_full.notify_all()
            self._cond.notify_all()
            if self.doorbell is not None:
                self.doorbell.ring()


class Doorbell:
    """Wakes a consumer that waits in `poll()` rather than on its rings' condition: one whose
    other inputs are shared-memory channels (feed.py), which it cannot wait on through a
    condition. Rung under the ring's lock, and only once the consumer has armed it (under the
    same lock, after finding nothing to take), so a busy edge costs no syscall per packet and no
    wake-up is lost between the consumer's look and its poll."""

    __slots__ = ("fd", "_w", "armed")

    def __init__(self) -> None:
        self.fd, self._w = os.pipe()
        os.set_blocking(self.fd, False)
        os.set_blocking(self._w, False)
        self.armed = False

    def ring(self) -> None:
        if self.armed:
            self.armed = False
            try:
                os.write(self._w, b"\0")
            except BlockingIOError:  # (the pipe is full of rings: the consumer is waking anyway)
                pass

    def clear(self) -> None:
        try:
            while os.read(self.fd, 512):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        self.armed = False
        os.close(self.fd)
        os.close(self._w)
