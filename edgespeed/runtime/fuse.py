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
(feed.py); the writer's side keeps its `shm_out` thread. A node with several inputs reads its
channels itself: each into its input's ring, where they are matched by its `sync` with its
in-process inputs (whose producers then ring a `Doorbell` it polls with the channels, not the
rings' condition: feed.py). A channel whose writer's process is being restarted is looked at
every few milliseconds meanwhile, so the other inputs go on.
The cost of the fusion: a transform's process time includes the write into the channel (a
descriptor on a pipe, or a copy when its frame is not already in a slot), and a consumer
cannot read its input ahead while it works (the channel's slots still buffer up to 8 packets).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ..errors import NodeError
from .packet import Packet
from .ring import Ring

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
            if ring.policy != "block" or id(ring) not in producer_of:
                continue
            producer, port = producer_of[id(ring)]
            outs = producer.outputs[port]
            carrier = DirectCarrier(w, ring)
            outs[outs.index(ring)] = carrier
            carriers.append(carrier)
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
