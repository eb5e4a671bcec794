"""A worker that reads a shared-memory channel itself, in its own thread (`Worker.feed`).

A mixin of `Worker`, set up by `fuse.py`: the channel's reader (`runtime.shm_in`) has no thread;
its generator blocks in the channel's poll, in the consumer's thread (each edge that crosses a
process boundary has a channel of its own, so a channel has one consumer). A consumer with a
deadline of its own (`Node.wake`) sends the time left to it into the generator, which waits no
longer than that and yields None when nothing came.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from inspect import GEN_CREATED, getgeneratorstate
from typing import TYPE_CHECKING, Any

from ..errors import NodeError
from ..node import Node
from ..types import StreamEnd
from .packet import Packet, freeze
from .ring import Ring

if TYPE_CHECKING:
    from .worker import Worker

_now = time.time_ns
_DRAIN_MAX = 1024  # packets read from the channel into a lossy ring before one is handled


class ChannelFeed:
    inputs: dict[str, Ring]
    node: Node
    aborted: threading.Event
    _feed_gen: Any
    _fed: int
    _last_pts: int
    _handle: Callable[[str, Packet, dict[str, Packet] | None], None]
    _lifecycle: Callable[[], None]
    _call_and_emit: Callable[..., None]

    def _fed_lifecycle(self, feed: Worker) -> None:
        """The feed is set up once and outlives this node's restarts; after this node is done,
        what still arrives is read and let go, so the writer on the other side never waits on a
        consumer that is gone."""
        feed.setup_passive()
        try:
            self._feed_gen = feed.node.generate()
            try:
                self._lifecycle()
            finally:
                if not self.aborted.is_set():
                    for _ in self._feed_gen:
                        if self.aborted.is_set():
                            break
                self._feed_gen.close()
        finally:
            feed.finish_passive()

    def _fed_packet(self, item: Any, feed: Worker) -> Packet:
        if type(item) is StreamEnd:
            return Packet(-1, _now(), self._last_pts, item, 0, None, item.stream)
        pkt = Packet(self._fed, item.ts_ns if item.ts_ns is not None else _now(), item.pts_ns,
                     freeze(item.outputs["out"]), 0, item.origin, item.stream)
        self._fed += 1
        feed.stats.packets_out += 1
        return pkt

    def _consume_fed(self, feed: Worker) -> None:
        """Read the channel in this thread, in its poll; a deadline (`Node.wake`) is sent to bound each wait."""
        ((port, ring),) = self.inputs.items()
        if ring.policy != "block":
            return self._consume_fed_lossy(feed, port, ring)
        gen, handle, aborted, node = self._feed_gen, self._handle, self.aborted, self.node
        timed, wait = type(node).wake is not Node.wake, None
        while not aborted.is_set():
            if timed and (wait := node.wake_in_s()) is not None and wait <= 0:
                self._call_and_emit("wake", node.wake)  # the deadline passed with no packet
                continue
            try:
                item = gen.send(wait) if timed and getgeneratorstate(gen) != GEN_CREATED else next(gen)
            except StopIteration:
                return
            except Exception as e:
                raise NodeError(feed.id, "generate", e) from e
            if item is None:  # (the wait ran out: the deadline is looked at again)
                continue
            pkt = self._fed_packet(item, feed)
            item = None  # the packet is the only holder of the slot: it goes back once handled
            handle(port, pkt, None)
            del pkt  # (as above: no reference left while waiting for the next one)

    def _consume_fed_lossy(self, feed: Worker, port: str, ring: Ring) -> None:
        """Under `latest` or `drop_oldest`: what the channel holds goes into the input's ring
        without a wait (the ring drops by its policy and counts it, as in-process), and the ring
        gives the packet to handle: what a reader thread filling that ring did, in this thread.
        Only an empty ring waits in the channel (to the deadline, if the node has one)."""
        gen, handle, aborted, node = self._feed_gen, self._handle, self.aborted, self.node
        timed, wait, drained = type(node).wake is not Node.wake, None, 0
        while not aborted.is_set():
            if timed and (wait := node.wake_in_s()) is not None and wait <= 0:
                self._call_and_emit("wake", node.wake)  # the deadline passed with no packet
                continue
            item = None
            if not ring or drained < _DRAIN_MAX:  # (bounded: under a flood, what is queued still gets handled)
                try:
                    item = next(gen) if getgeneratorstate(gen) == GEN_CREATED else gen.send(0.0 if ring else wait)
                except StopIteration:
                    while ring:  # the channel ended: what the ring holds is still handled
                        with ring.cond:
                            pkt = ring.pop()
                        handle(port, pkt, None)
                    return
                except Exception as e:
                    raise NodeError(feed.id, "generate", e) from e
            if item is not None:
                ring.put(self._fed_packet(item, feed))
                item = None
                drained += 1
                continue
            if ring:
                with ring.cond:
                    pkt = ring.pop()
                drained = 0
                handle(port, pkt, None)
                del pkt  # (no reference left while waiting: the slot goes back)
