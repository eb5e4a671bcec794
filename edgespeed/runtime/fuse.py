"""Process boundaries without forwarding threads: the ends of a shared-memory channel run in
the threads of the nodes on either side of it.

A boundary is two engine nodes: `runtime.shm_out`, which writes packets into the channel, and
`runtime.shm_in`, which reads them in the other process. Given threads of their own, a 64-byte
packet from a source to an isolated node woke four threads (source -> ring -> shm_out -> pipe ->
shm_in -> ring -> node) and took 1.7-3.5x raw pyzmq's one-way time. Here:
- the producer's output into a `shm_out` is a `DirectCarrier`: the producer's thread writes the
  channel itself (a full channel blocks it, as a full `block` ring would);
- a consumer whose only input comes from a `shm_in` reads the channel itself (`Worker.feed`,
  feed.py): its thread blocks in the channel's `poll` (each crossing edge has a channel of its
  own, so a node that feeds several across a boundary writes one channel for each). A
  consumer with a deadline of its own (`Node.wake`, as `image.mux` has) sends it into the
  reader's generator, which then waits no longer than that and yields None when nothing came.
That leaves two wake-ups, one per process, as raw pyzmq has.

An edge with `policy: latest` or `drop_oldest` has a ring on either side, where it drops: the
writer's, so a stalled channel never blocks the producer, and the reader's, so the backlog that
crossed is not taken in turn. The reading consumer fills its ring from the channel itself
(feed.py). On the writer's side the producer moves what its ring holds into the channel for as
long as the channel takes it without waiting (`LossyCarrier`); what it cannot take yet stays in
the ring, which keeps dropping by the policy, and is moved by the process's one `pump` thread
as soon as the reader gives slots back. The pump runs only while some channel is backed up, so
a consumer that keeps up costs no thread at all, and a backed-up one costs the one wake-up a
writer thread would (one per process however many channels are backed up; a record too long
for the descriptor pipe is always sent by the pump, whose send may wait). Knowing that a write
will not wait takes Linux's pipe polling and FIONREAD: elsewhere the writer keeps a `shm_out`
thread. A node with several inputs reads its
channels itself: each into its input's ring, where they are matched by its `sync` with its
in-process inputs (whose producers then ring a `Doorbell` it polls with the channels, not the
rings' condition: feed.py). A channel whose writer's process is being restarted is looked at
every few milliseconds meanwhile, so the other inputs go on.
The cost of the fusion: a transform's process time includes the write into the channel (a
descriptor on a pipe, or a copy when its frame is not already in a slot), and a consumer
cannot read its input ahead while it works (the channel's slots still buffer up to 8 packets).
"""

from __future__ import annotations

import os
import select
import threading
import time
from typing import TYPE_CHECKING

from ..errors import NodeError
from .packet import Packet
from .ring import Ring
from .shm import NONBLOCKING_WRITES, SEND_WAITS

if TYPE_CHECKING:
    from .worker import Worker

_WRITER, _READER = "runtime.shm_out", "runtime.shm_in"


class DirectCarrier:
    """An output edge (a `ring.Carrier`) whose consumer runs in the producer's thread: `put` calls it.

    The consumer's worker has no thread: set up when the run starts (`open`), torn down at the
    producer's end of stream; its failure is its own (reported under its id,
    by its `on_error`), after which packets are discarded and the producer never blocks."""

    __slots__ = ("worker", "name", "_up", "dead", "closed", "_lock")

    def __init__(self, worker: Worker, ring: Ring) -> None:
        self.worker = worker
        self.name = ring.name
        self._up = False
        self.dead = False
        self.closed = False
        self._lock = threading.Lock()  # close() may come from another thread than put()

    def open(self) -> bool:
        """Set the consumer up (the run does it at start, before the producer's first packet,
        so a producer drawing its buffers from a channel has slots from its first frame)."""
        if not self._up and not self.dead:
            w = self.worker
            w.stats.state = "setup"
            try:
                w.node.setup()
            except Exception as e:
                self._die(e if isinstance(e, NodeError) else NodeError(w.id, "setup", e))
                return False
            self._up = True
            w.stats.state = "running"
        return self._up

    def put(self, pkt: Packet) -> bool:
        if self.dead or not (self._up or self.open()):
            return False
        try:
            self.worker.deliver(pkt)
            return True
        except NodeError as e:
            self._die(e)
        return False

    def _die(self, e: NodeError) -> None:
        self.dead = True
        self.worker.fail_passive(e)

    def close(self) -> None:
        """The producer's end of stream: the consumer tears down (a channel sends its eos)."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
        if self._up:
            self.worker.finish_passive()
        elif not self.dead:
            self.worker.stats.state = "done"

    def kill(self) -> None:
        self.dead = True


class LossyCarrier(DirectCarrier):
    """A lossy edge into a channel, written by its producer's thread: the ring drops by the
    edge's policy as before, and whatever the channel can take without waiting is moved into it
    at once, the rest when the reader gives slots back (`Pump`). The producer never waits."""

    __slots__ = ("ring", "sender", "_move_lock", "_again")

    def __init__(self, worker: Worker, ring: Ring) -> None:
        from .process import ShmOut

        super().__init__(worker, ring)
        assert isinstance(worker.node, ShmOut)
        self.ring, self.sender = ring, worker.node
        self._move_lock = threading.Lock()
        self._again = False

    def put(self, pkt: Packet) -> bool:
        if self.dead or not self.ring.put(pkt):
            return False
        self.pump()
        return True

    def pump(self) -> None:
        """Move what the channel takes now. Called by the producer and by the pump thread; the
        one that finds the other moving leaves it a note to look again, and never waits."""
        self._again = True  # (before the try: a holder that lets go after this looks again)
        while self._again and self._move_lock.acquire(blocking=False):
            try:
                self._again = False
                self._move()
            finally:
                self._move_lock.release()

    def _move(self) -> None:
        ring, sender = self.ring, self.sender
        while not self.dead:
            with ring.cond:
                if not ring.ready():
                    return
                pkt = ring.head()
            try:
                wait = sender.blocked(pkt.value)
            except Exception as e:  # (SlotsHeld: the edge's own failure)
                self._die(e if isinstance(e, NodeError) else NodeError(self.worker.id, "process", e))
                ring.kill()
                return
            if wait == SEND_WAITS and PUMP.is_current():
                wait = None  # (the pump's own wait: the producer goes on meanwhile)
            if wait is not None:
                PUMP.watch(self, *(wait if wait != SEND_WAITS else (-1, 0)))
                return
            with ring.cond:
                if not ring.ready() or ring.head() is not pkt:
                    continue  # (a newer one came meanwhile: look at that)
                ring.pop()
            DirectCarrier.put(self, pkt)

    def close(self) -> None:
        """End of stream: what the ring holds goes into the channel first, waiting if it must
        (as a lossless edge's end does), then the channel's end."""
        PUMP.forget(self)
        with self._move_lock:
            ring = self.ring
            while not self.dead:
                with ring.cond:
                    if not ring.ready():
                        break
                    pkt = ring.pop()
                DirectCarrier.put(self, pkt)
        ring.close()
        super().close()

    def kill(self) -> None:
        super().kill()
        self.ring.kill()


class Pump:
    """The one thread of a process that moves packets into channels that were backed up
    (`LossyCarrier`): it waits on their readers' slot releases, wakes the carriers that may go
    on, and ends after a second with none waiting (it is started again when one is)."""

    IDLE_S = 1.0
    RETRY_S = 0.01  # a carrier that cannot say which descriptor to wait on is looked at this often
    TICK_S = 0.25  # everyone is looked at this often (slot growth and hold timeouts are timed)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[LossyCarrier, tuple[int, int]] = {}
        self._polling: dict[LossyCarrier, tuple[int, int]] = {}  # what the thread waits on now
        self._thread: threading.Thread | None = None
        self.rounds = 0  # the thread's wake-ups (a backed-up channel costs a few per second)
        self._bell_r, self._bell_w = os.pipe()  # (a carrier added while the thread polls)
        os.set_blocking(self._bell_r, False)
        os.set_blocking(self._bell_w, False)

    def watch(self, carrier: LossyCarrier, fd: int, events: int) -> None:
        with self._lock:
            self._waiting[carrier] = (fd, events)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="edgespeed:pump", daemon=True)
                self._thread.start()
                return
            if threading.current_thread() is self._thread or self._polling.get(carrier) == (fd, events):
                return  # (the thread polls it already, or will next round: a ring would spin it)
        try:
            os.write(self._bell_w, b"\0")
        except BlockingIOError:
            pass

    def forget(self, carrier: LossyCarrier) -> None:
        with self._lock:
            self._waiting.pop(carrier, None)

    @property
    def running(self) -> bool:
        return self._thread is not None

    def is_current(self) -> bool:
        """Called in the pump's thread."""
        return threading.current_thread() is self._thread

    def _run(self) -> None:
        idle_since = time.monotonic()
        while True:
            with self._lock:
                todo, self._waiting = self._waiting, {}
                self._polling = todo
                if not todo and time.monotonic() - idle_since >= self.IDLE_S:
                    self._thread = None
                    return
            if todo:
                idle_since = time.monotonic()
                poller = select.poll()
                poller.register(self._bell_r, select.POLLIN)
                for fd, events in set(todo.values()):
                    if fd >= 0:
                        poller.register(fd, events)
                poller.poll(1000 * (self.RETRY_S if any(fd < 0 for fd, _ in todo.values()) else self.TICK_S))
            else:
                select.select([self._bell_r], [], [], self.IDLE_S)
            try:
                while os.read(self._bell_r, 512):
                    pass
            except BlockingIOError:
                pass
            self.rounds += 1
            with self._lock:
                self._polling = {}
            for carrier in todo:
                carrier.pump()  # (one still backed up watches again)


PUMP = Pump()


class ChannelEdge:
    """What the report says of an edge whose consumer reads its channel with no ring between
    (the ring it replaces had the edge's name and queue): the packets read from the channel."""

    __slots__ = ("name", "capacity", "_reader")
    policy, peak, dropped, stream_dropped = "block", 0, 0, None

    def __init__(self, ring: Ring, reader: Worker) -> None:
        self.name, self.capacity, self._reader = ring.name, ring.capacity, reader

    def __len__(self) -> int:  # (what is in flight sits in the channel's slots, not queued here)
        return 0

    @property
    def puts(self) -> int:
        return self._reader.stats.packets_out


def fuse(workers: dict[str, Worker], rings: list[Ring]) -> tuple[set[str], list[DirectCarrier], list[ChannelEdge]]:
    """Fold the channel ends of this process into their neighbours' threads; returns the ids
    of the workers that no longer need a thread, the carriers to open at start, and what the
    report says of the edges whose rings went."""
    passive: set[str] = set()
    carriers: list[DirectCarrier] = []
    edges: list[ChannelEdge] = []
    many: dict[str, dict[str, Worker]] = {}  # consumer with several inputs -> its channel readers by port
    producer_of = {id(r): (w, port) for w in workers.values() for port, rs in w.outputs.items() for r in rs}
    consumer_of = {id(r): w for w in workers.values() for r in w.inputs.values()}
    for wid, w in workers.items():
        kind = type(w.node).kind
        if kind == _WRITER and len(w.inputs) == 1:
            (ring,) = w.inputs.values()
            lossy = ring.policy != "block"
            if (lossy and not NONBLOCKING_WRITES) or id(ring) not in producer_of:
                continue
            producer, port = producer_of[id(ring)]
            outs = producer.outputs[port]
            carrier = LossyCarrier(w, ring) if lossy else DirectCarrier(w, ring)
            outs[outs.index(ring)] = carrier
            carriers.append(carrier)
            if not lossy:  # (a lossy ring stays: it drops, and the report counts it)
                rings.remove(ring)
            passive.add(wid)
        elif kind == _READER:
            (outs,) = w.outputs.values()  # (one: each crossing edge has a channel of its own)
            if len(outs) != 1 or not isinstance(outs[0], Ring):
                continue
            consumer = consumer_of.get(id(outs[0]))
            if consumer is None or type(consumer.node).kind == _WRITER:
                continue  # (a channel straight into another)
            if len(consumer.inputs) > 1:  # (its rings stay: the matching lives there)
                port = next(p for p, r in consumer.inputs.items() if r is outs[0])
                many.setdefault(consumer.id, {})[port] = w
                continue
            consumer.feed = w
            if outs[0].policy == "block":  # (a lossy ring stays: the consumer fills it, and it counts the drops)
                rings.remove(outs[0])
                edges.append(ChannelEdge(outs[0], w))
            passive.add(wid)
    for cid, readers in many.items():  # (its in-process rings ring a doorbell in its poll)
        workers[cid].feeds = readers
        passive.update(r.id for r in readers.values())
    return passive, carriers, edges
