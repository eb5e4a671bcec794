"""Helpers for testing nodes and graphs without threads, sockets or devices.

`run_node` drives the runtime's own `Worker` (the one `edgespeed run` uses), so a node test
tests what runs: the same input matching (`sync: any / latest / timestamp`), output contracts,
error wrapping, pacing from media time and end-of-stream `flush`. It runs synchronously in the
calling thread: inputs are fed in rounds whenever the worker would wait for data.

Example:
    >>> out = run_node(Resizer, params={"width": 8, "height": 4}, inputs={"image": [frame]})
    >>> out["image"][0].shape
    (4, 8, 3)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from .errors import NodeError
from .metrics import NodeStats
from .node import Input, Node, Output, Param
from .registry import default_registry
from .runtime.context import RunContext
from .runtime.packet import Packet, freeze, payload_bytes
from .runtime.ring import Ring
from .runtime.worker import Worker
from .types import Stamped

__all__ = ["ListSink", "ListSource", "run_node"]


def run_node(
    node: type[Node] | str,
    *,
    params: dict[str, Any] | None = None,
    inputs: dict[str, list[Any]] | None = None,
    max_packets: int | None = None,
    node_id: str = "node",
    sync: str | None = None,
    sync_tolerance_ms: float | None = None,
    pts_ns: list[int] | None = None,
    streams: list[str | None] | None = None,
) -> dict[str, list[Any]]:
    """Run one node through the runtime's worker and collect what it emits, per output port.

    Inputs are fed as the runtime feeds them (read-only views, envelope `seq` = the index in
    the list, media time `pts_ns[i]` or 0, wall stamp 0): the i-th items of every given input
    port arrive together, in round i, and the node's `sync` policy matches them as it would in
    a graph (under `any` each packet is its own call, the other inputs None; under `latest` and
    `timestamp` the i-th items meet; an item left without partners is dropped, as in a run).
    A source runs `generate()` until it returns or `max_packets` items were produced, paced
    from media time when it asks for it (`Node.pacing`). `setup` and `teardown` run around it;
    a failure re-raises as the `NodeError` the runtime reports.

    Args:
        node: a Node class or a registered type name.
        params: params, checked as YAML params are.
        inputs: port -> list of values.
        max_packets: stop a source after this many yielded items.
        node_id: the node's id (in errors and logs).
        sync, sync_tolerance_ms: override the class's input matching, as a graph's node may.
        pts_ns: media time of each round (the i-th items of the inputs), e.g. for rate limits.
        streams: the envelope's `stream` of each round (as from a multi-stream source).

    Raises:
        KeyError: an input the node does not have.
        NodeError: the node failed (the cause is chained).
    """
    cls = default_registry().resolve(node) if isinstance(node, str) else node
    inst = cls(node_id, **(params or {}))
    feeds = inputs or {}
    for port in feeds:
        if port not in inst.inputs:
            raise KeyError(f"node {node_id!r} has no input {port!r}; it has: {', '.join(inst.inputs)}")
    feeder = _Rounds(node_id, feeds if feeds or cls.is_source() else dict.fromkeys(inst.inputs, []), pts_ns or [], streams or [])
    collect = {p: Ring(f"{node_id}/{p} -> collected", 1 << 62, "block") for p in inst.outputs}
    stopping = threading.Event()
    failures: list[NodeError] = []
    inst.bind_run(RunContext(stopping))  # Node.stopping, as the scheduler wires it
    if max_packets is not None and not feeds:
        vars(inst)["generate"] = _limited(inst.generate, max_packets)  # this instance only
    worker = Worker(inst, on_error="stop", stats=NodeStats(node_id, cls.kind, counters=inst.counters),
                    inputs=feeder.rings, outputs={p: [r] for p, r in collect.items()},
                    sync=sync or cls.sync, sync_tolerance_ms=cls.sync_tolerance_ms if sync_tolerance_ms is None else sync_tolerance_ms,
                    stopping=stopping, aborted=threading.Event(), on_failure=failures.append)
    worker.run()  # never raises: failures come through on_failure
    if failures:
        raise failures[0]
    return {p: _drain(r) for p, r in collect.items()}


class _Rounds(threading.Condition):
    """The condition every input ring shares; the worker waits on it when nothing matches.

    Being single-threaded, a wait means "the node has taken all it can": feed the next round
    (the i-th item of each input), or close every ring once the lists are used up. The lock is
    reentrant because the rings take it again, from inside the worker's `with cond:`.
    """

    def __init__(self, node_id: str, feeds: dict[str, list[Any]], pts_ns: list[int], streams: list[str | None]) -> None:
        super().__init__(threading.RLock())
        self._feeds = feeds
        self._pts = pts_ns
        self._streams = streams
        self._round = 0
        self._rounds = max((len(v) for v in feeds.values()), default=0)
        # room for every item, so a put never blocks (nothing else would ever make room)
        self.rings = {p: Ring(f"input/{p} -> {node_id}.{p}", len(v) + 1, "block", self) for p, v in feeds.items()}

    def wait(self, timeout: float | None = None) -> bool:
        i = self._round
        if i >= self._rounds:
            for ring in self.rings.values():
                ring.close()
            return True
        self._round += 1
        pts = self._pts[i] if i < len(self._pts) else 0
        stream = self._streams[i] if i < len(self._streams) else None
        for port, values in self._feeds.items():
            if i < len(values):
                value = values[i]
                self.rings[port].put(Packet(i, 0, pts, freeze(value), payload_bytes(value), stream=stream))
        return True


def _limited(generate: Any, n: int) -> Any:
    def limited() -> Iterator[Any]:
        gen = generate()
        try:
            for k, item in enumerate(gen, 1):
                yield item
                if k >= n:
                    return
        finally:
            if hasattr(gen, "close"):
                gen.close()
    return limited


def _drain(ring: Ring) -> list[Any]:
    out = []
    with ring.cond:
        while ring.ready():
            out.append(ring.pop().value)
    return out


class ListSource(Node):
    """Emits the given items on `out`, one packet each (for graph tests).

    Params:
        items: the values to emit, in order.
        pts_step_ns: media time between items (0: stamp with the wall clock).
    """

    kind = "testing.list_source"
    out = Output()
    items: list[Any] = Param([])
    pts_step_ns: int = Param(0, ge=0)

    def generate(self) -> Iterator[Any]:
        for i, item in enumerate(self.items):
            if self.stopping:
                return
            yield Stamped({"out": item}, i * self.pts_step_ns) if self.pts_step_ns else {"out": item}


class ListSink(Node):
    """Collects what reaches `data` into `ListSink.collected[node_id]`, and each packet's envelope
    into `ListSink.envelopes[node_id]` (for graph tests)."""

    kind = "testing.list_sink"
    data = Input()
    collected: dict[str, list[Any]] = {}
    envelopes: dict[str, list[Any]] = {}

    def setup(self) -> None:
        ListSink.collected[self.id] = []
        ListSink.envelopes[self.id] = []

    def process(self, data: Any = None, **_: Any) -> None:
        ListSink.collected[self.id].append(data)
        ListSink.envelopes[self.id].append(self.envelope)
        return None


default_registry().register(ListSource)
default_registry().register(ListSink)
