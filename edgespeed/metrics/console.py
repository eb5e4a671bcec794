"""The live per-node table shown on a terminal while a graph runs, and the exit summary."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO


def table(rep: dict[str, Any], rates: dict[str, float] | None = None) -> str:
    """A fixed-width table of nodes: rate, in/out, queue depth, drops, errors, p50/p99 ms."""
    rows = [("node", "type", "fps", "in", "out", "queue", "dropped", "errors", "p50 ms", "p99 ms", "state")]
    depth: dict[str, int] = {}
    for name, e in rep["edges"].items():
        consumer = name.split(" -> ")[1].split(".")[0]
        depth[consumer] = depth.get(consumer, 0) + e["depth"]
    for nid, n in rep["nodes"].items():
        fps = (rates or {}).get(nid, n["fps"])
        rows.append((nid, n["type"], f"{fps:.1f}", str(n["in"]), str(n["out"]), str(depth.get(nid, 0)), str(n["dropped"]),
                     str(n["errors"]), f"{n['process_ms']['p50']:.3f}", f"{n['process_ms']['p99']:.3f}", n["state"]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i < 2 or i == 10 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    for sid, s in rep.get("sinks", {}).items():
        lat = s["latency_ms"]
        if lat["count"]:
            lines.append(f"latency {sid}: p50 {lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms (source to sink)")
    return "\n".join(lines)


class LiveTable:
    """Redraws the table in place on a terminal about once a second, from its own thread."""

    def __init__(self, snapshot: Any, stream: TextIO = sys.stderr, period_s: float = 1.0) -> None:
        self._snapshot = snapshot
        self._stream = stream
        self._period = period_s
        self._stop = threading.Event()
        self._lines = 0
        self._thread = threading.Thread(target=self._loop, name="edgespeed-live", daemon=True)
        self._last: dict[str, tuple[float, int]] = {}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._clear()

    def _rates(self, rep: dict[str, Any]) -> dict[str, float]:
        now = time.monotonic()
        rates = {}
        for nid, n in rep["nodes"].items():
            count = max(n["in"], n["out"])
            t0, c0 = self._last.get(nid, (now - rep["wall_s"], 0))
            rates[nid] = (count - c0) / (now - t0) if now > t0 else 0.0
            self._last[nid] = (now, count)
        return rates

    def _clear(self) -> None:
        if self._lines:
            self._stream.write(f"\x1b[{self._lines}F\x1b[J")
            self._stream.flush()
            self._lines = 0

    def _loop(self) -> None:
        while not self._stop.wait(self._period):
            rep = self._snapshot()
            text = table(rep, self._rates(rep)) + f"\nrunning {rep['wall_s']:.1f} s  (Ctrl-C to stop)"
            self._clear()
            self._stream.write(text + "\n")
            self._stream.flush()
            self._lines = text.count("\n") + 1
