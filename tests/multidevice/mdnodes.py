"""Nodes for the multi-device tests, loaded by graphs as `mdnodes:Class` (on PYTHONPATH)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from edgespeed import Input, Node, Output, Param


class Counter(Node):
    """Emits `count` arrays; element 0 holds the packet number, the rest a byte pattern."""

    kind = "md.counter"
    out = Output()
    count: int = Param(100, ge=0)
    size: int = Param(64, ge=8)
    period_ms: float = Param(0.0, ge=0)
    pattern: str = Param("")

    def generate(self) -> Any:
        pat = np.frombuffer((self.pattern.encode() or b"\0") * (self.size // max(1, len(self.pattern)) + 1), np.uint8)[: self.size]
        for i in range(self.count):
            if self.stopping:
                return
            a = pat.copy()
            a[:8] = np.frombuffer(np.int64(i).tobytes(), np.uint8)
            yield {"out": a}
            if self.period_ms:
                time.sleep(self.period_ms / 1000)


class Relay(Node):
    """Passes packets through, optionally slowly."""

    kind = "md.relay"
    data = Input()
    out = Output()
    delay_ms: float = Param(0.0, ge=0)

    def process(self, data: Any) -> Any:
        if self.delay_ms:
            time.sleep(self.delay_ms / 1000)
        return {"out": data}


class SeqSink(Node):
    """Appends each packet's number (and end-to-end latency in us) to `path`, flushed per line."""

    kind = "md.seq_sink"
    data = Input()
    path: Path = Param()
    delay_ms: float = Param(0.0, ge=0)

    def setup(self) -> None:
        self._resume = None
        if self.path.exists():  # the last line's origin: where a restart resumes
            lines = self.path.read_text().splitlines()
            if lines and len(lines[-1].split()) == 4:
                _, _, session, seq = lines[-1].split()
                self._resume = (session, int(seq))
        self._f = open(self.path, "a", buffering=1)  # noqa: SIM115 - closed in teardown

    def resume_point(self) -> Any:
        return self._resume

    def process(self, data: Any) -> None:
        if self.delay_ms:
            time.sleep(self.delay_ms / 1000)
        arr = data["out"] if isinstance(data, dict) else data
        n = int(np.frombuffer(np.ascontiguousarray(arr[:8]).tobytes(), np.int64)[0])
        env = self.envelope
        lat = (time.time_ns() - env.ts_ns) // 1000
        origin = f" {env.origin[0]} {env.origin[1]}" if env.origin else ""
        self._f.write(f"{n} {lat}{origin}\n")  # one write: a kill leaves the line whole or absent
        self._f.flush()

    def teardown(self) -> None:
        self._f.close()


class Drop(Node):
    """Passes packets through except every `every`-th one (by packet number): a filter."""

    kind = "md.drop"
    data = Input()
    out = Output()
    every: int = Param(3, ge=1)
    delay_ms: float = Param(0.0, ge=0)

    def process(self, data: Any) -> Any:
        if self.delay_ms:
            time.sleep(self.delay_ms / 1000)
        n = int(np.frombuffer(np.ascontiguousarray(data[:8]).tobytes(), np.int64)[0])
        return None if n % self.every == 0 else {"out": data}
