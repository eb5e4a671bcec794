"""A worker that reads shared-memory channels itself, in its own thread (`Worker.feed`, `feeds`).

A mixin of `Worker`, set up by `fuse.py`: the channel's reader (`runtime.shm_in`) has no thread;
its generator blocks in the channel's poll, in the consumer's thread (each edge that crosses a
process boundary has a channel of its own, so a channel has one consumer). A consumer with a
deadline of its own (`Node.wake`) sends the time left to it into the generator, which waits no
longer than that and yields None when nothing came.

A consumer with several inputs over channels reads them all (`_consume_fed_many`): what each
channel holds goes into its input's ring without a wait, the rings are matched by the node's
`sync` as ever, and only when nothing matches does the thread wait, in one poll of them all
(and of a `Doorbell` that its in-process inputs' producers ring, where it has such inputs).
"""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Callable
from inspect import GEN_CREATED, getgeneratorstate
from typing import TYPE_CHECKING, Any, cast

from ..errors import NodeError
from ..node import Node
from ..types import StreamEnd
from .packet import Packet, freeze
from .process import ENDED, ShmIn
from .ring import Doorbell, Ring

if TYPE_CHECKING:
    from .worker import Worker

_now = time.time_ns
_DRAIN_MAX = 1024  # packets read from the channel into a lossy ring before one is handled


class ChannelFeed:
    inputs: dict[str, Ring]
    node: Node
    aborted: threading.Event
    feed: Worker | None
    feeds: dict[str, Worker]
    _feed_gen: Any
    _last_pts: int
    _handle: Callable[[str, Packet, dict[str, Packet] | None], None]
    _lifecycle: Callable[[], None]
    _call_and_emit: Callable[..., None]
    _try_set: Callable[[], tuple[dict[str, Packet] | None, bool]]

    def _fed_lifecycle(self, feeds: list[Worker]) -> None:
        """The feeds are set up once and outlive this node's restarts; after this node is done,
        what still arrives is read and let go, so the writer on the other side never waits on a
        consumer that is gone."""
        up: list[Worker] = []
        try:
            for feed in feeds:
                feed.setup_passive()
                up.append(feed)
            if self.feed is not None:
                self._feed_gen = self.feed.node.generate()
            try:
                self._lifecycle()
            finally:
                if not self.aborted.is_set():
                    if self._feed_gen is not None:
                        for _ in self._feed_gen:
                            if self.aborted.is_set():
                                break
                    for port, feed in self.feeds.items():
                        while not self.inputs[port].closed and not self.aborted.is_set():
                            if cast(ShmIn, feed.node).take(0.25) is ENDED:
                                break
                if self._feed_gen is not None:
                    self._feed_gen.close()
        finally:
            for feed in up:
                feed.finish_passive()

    def _fed_packet(self, item: Any, feed: Worker) -> Packet:
        if type(item) is StreamEnd:
            return Packet(-1, _now(), self._last_pts, item, 0, None, item.stream)
        stats = feed.stats  # (the reader's count numbers its packets: it outlives this node's restarts)
        pkt = Packet(stats.packets_out, item.ts_ns if item.ts_ns is not None else _now(), item.pts_ns,
                     freeze(item.outputs["out"]), 0, item.origin, item.stream)
        stats.packets_out += 1
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

    def _consume_fed_many(self) -> None:
        """Inputs over channels, and perhaps in-process rings too. What each channel holds goes
        into its input's ring without a wait, while the ring has room (a full `block` ring leaves
        the backpressure in the channel, as a reader thread blocked in its put did); the rings
        are matched as ever; only when nothing matches does the thread wait, in one poll of the
        channels whose rings have room and of a doorbell its in-process producers ring. It waits
        to the node's deadline if it has one, and a millisecond at a time while slots are out
        (they go back to the writer as they free, as each reader's own wait does)."""
        rings, cond = self.inputs, next(iter(self.inputs.values())).cond
        others = [r for port, r in rings.items() if port not in self.feeds]
        bell = Doorbell() if others else None
        with cond:
            for r in others:
                r.doorbell = bell
        try:
            self._fed_many_loop(bell)
        finally:
            if bell is not None:
                with cond:  # (no producer rings it once it is off its rings)
                    for r in others:
                        r.doorbell = None
                    bell.close()

    def _fed_many_loop(self, bell: Doorbell | None) -> None:
        rings, handle, aborted, node = self.inputs, self._handle, self.aborted, self.node
        cond = next(iter(rings.values())).cond
        feeds = {port: (cast(ShmIn, w.node), w) for port, w in self.feeds.items() if not rings[port].closed}
        timed = type(node).wake is not Node.wake
        poller = select.poll()
        polled: tuple[int, ...] = ()
        while not aborted.is_set():
            for port, (reader, feed) in list(feeds.items()):
                ring = rings[port]
                for _ in range(_DRAIN_MAX):
                    if not ring.has_room():
                        break
                    try:
                        item = reader.take(0.0)
                    except Exception as e:
                        raise NodeError(feed.id, "generate", e) from e
                    if item is None:
                        break
                    if item is ENDED:
                        ring.close()
                        del feeds[port]
                        break
                    ring.fill(self._fed_packet(item, feed))
                    item = None  # (the packet is the slot's only holder: it goes back once handled)
            with cond:
                got, done = self._try_set()
                if got is None and bell is not None:
                    bell.armed = True  # (under the rings' lock: a put after this look rings it)
            if got is not None:
                (port, pkt), *rest = got.items()
                got = None
                handle(port, pkt, dict(rest) if rest else None)
                del pkt, rest
                continue
            if done:
                return
            wait = node.wake_in_s() if timed else None
            if wait is not None and wait <= 0:
                self._call_and_emit("wake", node.wake)  # the deadline passed with no packet
                continue
            looks = [reader.poll_state() for port, (reader, _) in feeds.items() if rings[port].has_room()]
            states = [s for s in looks if s is not None]  # (None: its writer is being restarted)
            fds = tuple(fd for fd, _ in states) + ((bell.fd,) if bell is not None else ())
            if fds != polled:  # (one poll object while the set stays the same)
                poller, polled = select.poll(), fds
                for fd in fds:
                    poller.register(fd, select.POLLIN)
            step = 0.001 if any(out for _, out in states) else 0.01 if len(states) < len(looks) else 0.25
            step = step if wait is None else min(step, wait)
            if fds:
                events = poller.poll(step * 1000)
                if bell is not None and any(fd == bell.fd for fd, _ in events):
                    bell.clear()
            else:  # (every ring full and nothing matched cannot last: matching drops or takes)
                time.sleep(step)
