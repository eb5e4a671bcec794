"""Pacing owned by the engine: a source's items released at their media time.

Public (`edgespeed.Pacer`) for a node that runs other sources in threads of its own
(`video.streams`): it paces each of them the way the worker paces a source."""

from __future__ import annotations

import threading
import time
from typing import Any

_perf = time.perf_counter_ns


class Pacer:
    """Releases a source's items at their media time (`Node.pacing`), the one pacing in the engine.

    The first item anchors media time to the wall clock; each later one waits until
    `anchor + (pts - first pts) / speed`. Waits on the run's stop event, so a stop cuts a wait
    short, and the wait happens outside the source's measured process time. An item that comes
    late is released at once and the anchor stays: a slow stretch is caught up, not shifted.
    Media time that goes backwards (a source that restarts its clock) re-anchors, or everything
    after it would count as late and run unpaced.
    """

    __slots__ = ("speed", "_stop", "_wall0", "_pts0", "_last")

    def __init__(self, speed: float, stop: threading.Event | Any) -> None:  # (anything with wait(timeout))
        self.speed = speed
        self._stop = stop
        self._wall0: int | None = None
        self._pts0 = self._last = 0

    def wait(self, pts_ns: int) -> None:
        now = _perf()
        if self._wall0 is None or pts_ns < self._last:
            self._wall0, self._pts0 = now, pts_ns
            self._last = pts_ns
            return
        self._last = pts_ns
        wait_ns = self._wall0 + int((pts_ns - self._pts0) / self.speed) - now
        if wait_ns > 0:
            self._stop.wait(wait_ns / 1e9)
