"""What a node or carrier of the runtime needs from the run it is part of: `RunContext`.

The run hands every node one typed context through `Node.bind_run`, instead of attributes
attached to the instance at run time: abort and stop (`Node.stopping`), the run's live report
(`Node.run_status`), the run's clock, state its nodes share (a replica's packet numbers,
between its link ends), and for the runtime's own nodes the workers downstream of a node
(a link's receiving end acknowledges what they have finished, and resumes where its sinks
left off). Outside a run (a node driven by a test) the context is detached: nothing is
downstream, nothing is aborted.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .worker import Worker


def _detached() -> Any:
    return None


@dataclass(frozen=True)
class RunContext:
    """One run, as its nodes see it.

    Attributes:
        stopping: set by `Run.stop()`: sources end, what was produced drains.
        aborted: set by `Run.abort()`: nobody waits any more.
        run: a weak reference to the `Run` (so no cycle keeps a finished run's buffers alive).
    """

    stopping: threading.Event = field(default_factory=threading.Event)
    aborted: threading.Event = field(default_factory=threading.Event)
    run: Callable[[], Any] = _detached
    t0_ns: int = field(default_factory=time.monotonic_ns)
    shared: dict[Any, Any] = field(default_factory=dict)  # per run, by key (linkends.tags)

    def now_ns(self) -> int:
        """The run's clock: nanoseconds since the run was planned (monotonic)."""
        return time.monotonic_ns() - self.t0_ns

    @property
    def detached(self) -> bool:
        return self.run() is None

    def worker(self, node_id: str) -> Worker | None:
        run = self.run()
        return None if run is None else run.workers.get(node_id)

    def producer(self, node_id: str, port: str) -> Worker | None:
        """The worker whose output feeds `node_id`'s input `port`."""
        run = self.run()
        return None if run is None else run.workers.get(run.resolved.inputs[node_id][port].node)

    def consumers(self, node_id: str) -> list[str]:
        """The nodes that read `node_id` directly, in graph order."""
        run = self.run()
        if run is None:
            return []
        r = run.resolved
        return [n.id for n in r.spec.nodes if any(inp.node == node_id for inp in r.inputs[n.id].values())]

    def after(self, node_id: str) -> list[Worker]:
        """Every worker downstream of `node_id` on this process, nearest first."""
        run = self.run()
        if run is None:
            return []
        order, seen, queue = [], {node_id}, deque([node_id])
        while queue:
            for c in self.consumers(queue.popleft()):
                if c not in seen:
                    seen.add(c)
                    order.append(c)
                    queue.append(c)
        return [run.workers[c] for c in order]


class Preroll:
    """Sources start once every node of the run has set up (GStreamer's preroll).

    Without it a source's first frames race the setups downstream: a detector loading its model
    for a second, or an isolated process still importing, finds a second of a live camera queued
    ahead of it (latency, dropped or copied frames). Each party arrives once, when its first
    setup has ended, successfully or not: a node retrying a failing setup (`on_error: restart`)
    must not hold the graph back; one that fails stops the run, and `stopping` lets sources go.
    A process group arrives when its child says all its nodes are set up, or when it exits.
    """

    def __init__(self, parties: int) -> None:
        self._left = parties
        self._lock = threading.Lock()
        self.done = threading.Event()
        if parties <= 0:
            self.done.set()

    def arrive(self) -> None:
        with self._lock:
            self._left -= 1
            if self._left <= 0:
                self.done.set()

    def wait(self, stop: threading.Event, poll_s: float = 0.05) -> bool:
        """Wait for every party (True), or until `stop` is set (False)."""
        while not self.done.wait(poll_s):
            if stop.is_set():
                return False
        return True
