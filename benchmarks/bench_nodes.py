"""Nodes for the isolation benchmarks, referred to as `bench_nodes:Class` so that an isolated
node's child process can import them (`benchmarks/` reaches it on PYTHONPATH)."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from edgespeed import Input, Node, Output, Param


def spin(loops: int) -> int:
    """Pure-Python busy work: holds the GIL for the whole loop."""
    x = 0
    for i in range(loops):
        x += i & 7
    return x


class Count(Node):
    """Emits the integers 0 .. count-1 as fast as they are taken."""

    kind = "bench.count"
    out = Output()
    count: int = Param(100, ge=0)

    def generate(self) -> Any:
        for i in range(self.count):
            if self.stopping:
                return
            yield {"out": i}


class Heavy(Node):
    """CPU-bound pure-Python stage: `spin(loops)` per packet, then forwards it unchanged."""

    kind = "bench.heavy"
    data = Input()
    out = Output()
    loops: int = Param(100_000, ge=0)

    def process(self, data: Any) -> dict[str, Any]:
        spin(self.loops)
        return {"out": data}


class Pass(Node):
    """Forwards `data` unchanged (no copy)."""

    kind = "bench.pass"
    data = Input()
    out = Output()

    def process(self, data: Any) -> dict[str, Any]:
        return {"out": data}


class Arrivals(Node):
    """Sink: records `time.perf_counter()` at each packet in `Arrivals.times[node_id]`."""

    kind = "bench.arrivals"
    data = Input()
    times: ClassVar[dict[str, list[float]]] = {}

    def setup(self) -> None:
        Arrivals.times[self.id] = []

    def process(self, data: Any = None) -> None:
        Arrivals.times[self.id].append(time.perf_counter())


class Stamps(Node):
    """Sink: appends the wall-clock time of each packet's arrival to `path`, one per line
    (for graphs whose sink runs in another process, e.g. on another device)."""

    kind = "bench.stamps"
    data = Input()
    path: str = Param()

    def setup(self) -> None:
        self._f = open(self.path, "w", buffering=1)  # noqa: SIM115 - closed in teardown

    def process(self, data: Any = None) -> None:
        self._f.write(f"{time.time()}\n")

    def teardown(self) -> None:
        self._f.close()
