"""How a worker with several inputs picks what goes into one call: its node's `sync`.

- `any`: each packet as it arrives (round robin over ready inputs), the others None;
- `latest`: on each packet of the trigger input, the newest packet of each other input;
- `timestamp`: packets whose pts agree within `sync_tolerance_ms`, the others dropped;
- `trigger`: each trigger packet with the other inputs' packets of its pts, waited for.
A mixin of `Worker`, which owns the rings and the state named below; every method runs under
the rings' shared condition. The end of a stream is never matched or dropped: whichever input it
is next on, it goes first, alone (a node keeping state per stream must see it).
"""

from __future__ import annotations

import threading
from typing import Any

from ..metrics import NodeStats
from ..types import StreamEnd
from .packet import Packet
from .ring import Ring

def _end_next(ring: Ring) -> bool:
    """The ring's next packet is the end of a stream (a `latest` ring hands its ends over first)."""
    return bool(ring.ends) if ring.policy == "latest" else bool(ring.queued) and type(ring.peek().value) is StreamEnd


# the method of each `sync` (looked up per call: a dict of bound methods would be built per call)
_MATCHERS = {"any": "_match_any", "latest": "_match_latest", "timestamp": "_match_timestamp", "trigger": "_match_trigger"}


class InputMatching:
    inputs: dict[str, Ring]
    node: Any
    sync: str
    tol_ns: int
    stats: NodeStats
    aborted: threading.Event
    _order: list[str]
    _rr: int
    _held: dict[str, Packet]
    _waiting: Packet | None

    def _next_set(self) -> dict[str, Packet] | None:
        cond = next(iter(self.inputs.values())).cond
        with cond:
            while True:
                if self.aborted.is_set():
                    return None
                got, done = self._try_set()
                if got is not None:
                    return got
                if done:
                    return None
                cond.wait()

    def _try_set(self) -> tuple[dict[str, Packet] | None, bool]:
        """One look at the rings, under their condition: the next call's packets, or None and
        whether every input has ended."""
        for port, ring in self.inputs.items():  # a stream's end is not matched: it goes first
            if _end_next(ring):
                return {port: ring.pop()}, False  # (from a latest ring: the end, the data before it dropped)
        return self._match()

    def _leftovers(self) -> tuple[dict[str, Packet] | None, bool]:
        """An input that a match needs has ended: what the others hold can match nothing now and
        is dropped, but the ends of streams still go, one per call; done once every input has
        ended (an end may still be on its way on one)."""
        for port, ring in self.inputs.items():
            while ring.ready():
                if _end_next(ring):
                    return {port: ring.pop()}, False
                ring.pop()
                self.stats.dropped += 1
        return None, all(r.finished() or r.dead for r in self.inputs.values())

    def _match(self) -> tuple[dict[str, Packet] | None, bool]:
        return getattr(self, _MATCHERS[self.sync])()  # type: ignore[no-any-return]  # (no dict built per call)

    def _match_any(self) -> tuple[dict[str, Packet] | None, bool]:
        order, n = self._order, len(self._order)
        for k in range(n):
            port = order[(self._rr + k) % n]
            ring = self.inputs[port]
            if ring.ready():
                self._rr = (self._rr + k + 1) % n
                return {port: ring.pop()}, False
        return None, all(r.finished() or r.dead for r in self.inputs.values())

    def _match_latest(self) -> tuple[dict[str, Packet] | None, bool]:
        trigger = self._order[0]
        for port in self._order[1:]:
            ring = self.inputs[port]
            while ring.ready():
                if _end_next(ring):
                    return {port: ring.pop()}, False
                self._held[port] = ring.pop()
        ring = self.inputs[trigger]
        if not ring.ready():
            return self._leftovers() if ring.finished() or ring.dead else (None, False)
        pkt = ring.pop()
        missing = [p for p in self._order[1:] if p not in self._held and not self.node.inputs[p].optional]
        if missing:
            self.stats.dropped += 1  # nothing yet to pair this packet with
            return None, False
        got = {trigger: pkt}
        got.update(self._held)
        return got, False

    def _match_timestamp(self) -> tuple[dict[str, Packet] | None, bool]:
        rings = self.inputs
        while True:
            if any(r.finished() or r.dead for r in rings.values()):
                return self._leftovers()
            if not all(r.ready() for r in rings.values()):
                return None, False
            for p, r in rings.items():  # (one that dropping the heads before it brought up)
                if _end_next(r):
                    return {p: r.pop()}, False
            heads = {p: r.peek() for p, r in rings.items()}
            lo = min(heads.values(), key=lambda k: k.pts_ns)
            hi = max(k.pts_ns for k in heads.values())
            if hi - lo.pts_ns <= self.tol_ns:
                return {p: rings[p].pop() for p in self._order}, False
            for p, k in heads.items():  # the oldest head can no longer match: drop it
                if k is lo:
                    rings[p].pop()
                    self.stats.dropped += 1
                    break

    def _match_trigger(self) -> tuple[dict[str, Packet] | None, bool]:
        """Each trigger packet, with the packet of every other input whose pts matches it.

        Unlike `timestamp`, no trigger packet is dropped for want of a partner: the call waits
        until each other input has shown a packet at or past the trigger's pts (or ended), and
        an input with nothing at that pts gives None (a detector that emitted nothing for that
        frame). Their packets older than the trigger's pts can match nothing any more (their
        trigger packet has been handled) and are dropped; of several at one pts, the last wins.
        A required input with nothing at that pts drops the trigger packet, as `timestamp` does.
        The other inputs are meant to be `block` rings: a `latest` ring hands over its newest
        packet, so a stale one taken off it takes the newer ones with it.
        """
        rings, trigger, others, tol = self.inputs, self._order[0], self._order[1:], self.tol_ns
        head = rings[trigger]
        while True:
            pkt, self._waiting = self._waiting, None  # taken off its ring: the ring's policy chose it
            if pkt is None and _end_next(head):
                return {trigger: head.pop()}, False
            if pkt is None:
                if not head.ready():
                    return self._leftovers() if head.finished() or head.dead else (None, False)
                pkt = head.pop()
            t = pkt.pts_ns
            for p in others:
                ring = rings[p]
                while ring.ready() and (ring.peek().pts_ns < t - tol or _end_next(ring)):
                    if _end_next(ring):  # (it goes first, whatever its pts: this trigger packet waits meanwhile)
                        self._waiting = pkt
                        return {p: ring.pop()}, False
                    ring.pop()
                    self.stats.dropped += 1
                if not ring.ready() and not (ring.finished() or ring.dead):
                    self._waiting = pkt
                    return None, False  # its packet for `t` may still come
            got = {trigger: pkt}
            for p in others:
                ring = rings[p]
                while ring.ready() and ring.peek().pts_ns <= t + tol and not _end_next(ring):
                    got[p] = ring.pop()
            if all(p in got or self.node.inputs[p].optional for p in others):
                return got, False
            self.stats.dropped += 1  # a required input has nothing at this pts
