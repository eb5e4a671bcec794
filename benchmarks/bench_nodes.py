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


class Ticks(Node):
    """A live source: `count` arrays of `shape` uint8 at `rate_hz`, each written into a pooled
    buffer (`self.buffer`), so a frame bound for another process is written once, into the
    shared-memory slot it crosses in."""

    kind = "bench.ticks"
    out = Output()
    count: int = Param(300, ge=1)
    rate_hz: float = Param(100.0, gt=0)
    shape: list[int] = Param([64])
    start_after_s: float = Param(0.0, ge=0, doc="wait before the first packet (an isolated consumer spawning)")

    def generate(self) -> Any:
        shape, period = tuple(self.shape), 1.0 / self.rate_hz
        self.pace(self.start_after_s)
        due = time.perf_counter()
        for i in range(self.count):
            due += period
            self.pace(max(0.0, due - time.perf_counter()))
            if self.stopping:
                return
            buf = self.buffer("out", shape)
            buf.flat[0] = i & 0xFF
            yield {"out": buf}


class Latencies(Node):
    """Sink: one-way latency of each packet (arrival wall clock - the source's stamp, in us),
    written to `path` at teardown, one per line (it may run in another process)."""

    kind = "bench.latencies"
    data = Input()
    path: str = Param()

    def setup(self) -> None:
        self._lat: list[float] = []

    def process(self, data: Any = None) -> None:
        env = self.envelope
        if env is not None:
            self._lat.append((time.time_ns() - env.ts_ns) / 1000)

    def teardown(self) -> None:
        with open(self.path, "w") as f:
            f.write("\n".join(f"{v:.1f}" for v in self._lat))
