"""The live per-node table shown on a terminal while a graph runs, and the exit summary.

The table is redrawn in place (cursor up, clear to the end of the screen). Log lines printed
during the run go through `LiveTable`'s stream, which clears the table, writes the line and
redraws, so they land above the table and none is lost. Every line is cut to the terminal's
width: a wrapped line would make the next redraw move up too few lines and leave a stale copy.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import Any, TextIO

# (header, right-aligned, priority): at a narrow width the columns of highest priority number go first.
_COLUMNS = (("node", False, 0), ("type", False, 5), ("fps", True, 0), ("in", True, 3), ("out", True, 1),
            ("queue", True, 2), ("dropped", True, 1), ("errors", True, 4), ("p50 ms", True, 0),
            ("p99 ms", True, 2), ("state", False, 0))
_SHORT = {"dropped": "drop", "errors": "err", "queue": "q", "p50 ms": "p50", "p99 ms": "p99"}


def with_progress(rep: dict[str, Any], nodes: dict[str, Any]) -> dict[str, Any]:
    """Add `progress: {fraction, eta_s}` to the report entry of each source whose optional
    `progress()` (fraction 0..1 of a file read, or None) answers; used by the table and /status."""
    wall = rep.get("wall_s", 0.0)
    for nid, node in nodes.items():
        fn = getattr(node, "progress", None)
        entry = rep["nodes"].get(nid)
        if entry is None or not callable(fn):
            continue
        try:
            f = fn()
        except Exception:  # a progress estimate never fails a run (the file may be closing)
            f = None
        if f is not None:
            f = min(max(float(f), 0.0), 1.0)
            eta = wall * (1 - f) / f if f > 0 and entry.get("state") == "running" else None
            entry["progress"] = {"fraction": round(f, 4), "eta_s": None if eta is None else round(eta, 1)}
    return rep


def _state(n: dict[str, Any]) -> str:
    p = n.get("progress")
    if not p:
        return str(n["state"])
    eta = p["eta_s"]
    left = f" {int(eta) // 60}:{int(eta) % 60:02d} left" if eta is not None else ""
    return f"{n['state']} {p['fraction'] * 100:.0f}%{left}"


def table(rep: dict[str, Any], rates: dict[str, float] | None = None, width: int | None = None) -> str:
    """A table of nodes: rate, in/out, queue depth, drops, errors, p50/p99 ms, state.

    Args:
        width: the terminal's columns; columns are abbreviated, then dropped, to fit it.
    """
    depth: dict[str, int] = {}
    for name, e in rep["edges"].items():
        consumer = name.split(" -> ")[1].split(".")[0]
        depth[consumer] = depth.get(consumer, 0) + e["depth"]
    rows: list[tuple[str, ...]] = []
    for nid, n in rep["nodes"].items():
        fps = (rates or {}).get(nid, n["fps"])
        rows.append((nid, n["type"], f"{fps:.1f}", str(n["in"]), str(n["out"]), str(depth.get(nid, 0)), str(n["dropped"]),
                     str(n["errors"]), f"{n['process_ms']['p50']:.3f}", f"{n['process_ms']['p99']:.3f}", _state(n)))
    lines = _fit(rows, width)
    for sid, s in rep.get("sinks", {}).items():
        lat = s["latency_ms"]
        if lat["count"]:
            lines.append(_cut(f"latency {sid}: p50 {lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms (source to sink)", width))
    for name, st in rep.get("streams", {}).items():  # a multi-stream source's, one line each
        lat = ", ".join(f"{sid} p50 {v['p50']:.1f}/p99 {v['p99']:.1f} ms" for sid, v in st.get("latency_ms", {}).items() if v["count"])
        lines.append(_cut(f"stream {name}: {st.get('frames', 0)} frames, {st.get('fps', 0.0):.1f} fps, {st.get('dropped', 0)} dropped, "
                          f"{st.get('reconnects', 0)} reconnects, {st.get('state', '?')}" + (f"; latency {lat}" if lat else ""), width))
    return "\n".join(lines)


def _render(rows: list[tuple[str, ...]], keep: list[int], short: bool) -> list[str]:
    head = tuple(_SHORT.get(c[0], c[0]) if short else c[0] for c in _COLUMNS)
    table_rows = [head, *rows]
    widths = {i: max(len(r[i]) for r in table_rows) for i in keep}
    return ["  ".join(r[i].rjust(widths[i]) if _COLUMNS[i][1] else r[i].ljust(widths[i]) for i in keep).rstrip() for r in table_rows]


def _fit(rows: list[tuple[str, ...]], width: int | None) -> list[str]:
    keep = list(range(len(_COLUMNS)))
    lines = _render(rows, keep, False)
    if width is None:
        return lines
    short = False
    for prio in (None, 5, 4, 3, 2, 1):
        if prio is not None:
            keep = [i for i in keep if _COLUMNS[i][2] < prio]
        for short in (False, True):
            lines = _render(rows, keep, short)
            if max(map(len, lines)) < width:
                return lines
    return [_cut(line, width) for line in lines]


def _cut(line: str, width: int | None) -> str:
    # width - 1: writing into the last column makes some terminals wrap early
    return line if width is None or len(line) < width else line[: max(width - 2, 1)] + "~"


def terminal_width(stream: TextIO, default: int = 80) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns or default
    except (OSError, ValueError, AttributeError):
        return default


class _Above:
    """A stream for log handlers: each write clears the table, writes, and redraws the table."""

    def __init__(self, live: LiveTable) -> None:
        self._live = live

    def write(self, text: str) -> int:
        self._live._write_above(text)
        return len(text)

    def flush(self) -> None:
        self._live._stream.flush()


class LiveTable:
    """Redraws the table in place on a terminal about once a second, from its own thread.

    While it runs, the log handlers that write to its stream write above the table instead.
    """

    def __init__(self, snapshot: Any, stream: TextIO = sys.stderr, period_s: float = 1.0) -> None:
        self._snapshot = snapshot
        self._stream = stream
        self._period = period_s
        self._stop = threading.Event()
        self._lock = threading.RLock()
        self._lines = 0
        self._text = ""
        self._thread = threading.Thread(target=self._loop, name="edgespeed-live", daemon=True)
        self._last: dict[str, tuple[float, int]] = {}
        self._handlers: list[logging.StreamHandler[Any]] = []

    def start(self) -> None:
        for h in logging.getLogger().handlers:
            if isinstance(h, logging.StreamHandler) and h.stream is self._stream:
                h.setStream(_Above(self))
                self._handlers.append(h)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        with self._lock:
            self._clear()
            self._text = ""
            for h in self._handlers:
                h.setStream(self._stream)
            self._handlers.clear()

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
            self._lines = 0

    def _draw(self) -> None:
        if self._text:
            self._stream.write(self._text + "\n")
            self._lines = self._text.count("\n") + 1
        self._stream.flush()

    def _write_above(self, text: str) -> None:
        with self._lock:
            self._clear()
            self._stream.write(text)
            if self._text and not text.endswith("\n"):
                self._stream.write("\n")
            self._draw()

    def _loop(self) -> None:
        while not self._stop.wait(self._period):
            rep = self._snapshot()
            width = terminal_width(self._stream)
            text = table(rep, self._rates(rep), width) + "\n" + _cut(f"running {rep['wall_s']:.1f} s  (Ctrl-C to stop)", width)
            with self._lock:
                if self._stop.is_set():
                    return
                self._clear()
                self._text = text
                self._draw()


class ProgressBar:
    """`label [#####.....] 42% 0:12 left` on one line of a terminal, redrawn at most 10 times a
    second; nothing at all when the stream is not a terminal (logs and pipes stay clean).

    Example:
        >>> with ProgressBar("calibrating", total=len(feeds)) as bar:
        ...     for f in feeds:
        ...         run(f)
        ...         bar.step()
    """

    def __init__(self, label: str, total: float, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._on = bool(getattr(self._stream, "isatty", lambda: False)()) and total > 0
        self._label, self._total, self._done = label, float(total), 0.0
        self._t0 = self._last = time.monotonic()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def step(self, n: float = 1) -> None:
        self.update(self._done + n)

    def update(self, done: float) -> None:
        self._done = min(done, self._total)
        now = time.monotonic()
        if self._on and (now - self._last >= 0.1 or self._done >= self._total):
            self._last = now
            self._stream.write("\r" + self._line(now) + "\x1b[K")
            self._stream.flush()

    def _line(self, now: float) -> str:
        f = self._done / self._total
        eta = (now - self._t0) * (1 - f) / f if f > 0 else None
        tail = f" {f * 100:3.0f}%" + (f" {int(eta) // 60}:{int(eta) % 60:02d} left" if eta is not None else "")
        room = terminal_width(self._stream) - len(self._label) - len(tail) - 5
        bar = f" [{'#' * round(f * room)}{'.' * (room - round(f * room))}]" if room >= 10 else ""
        return self._label + bar + tail

    def close(self) -> None:
        if self._on:  # the bar goes: what the tool prints next takes its line
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._on = False
