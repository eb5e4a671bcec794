"""Thin a stream out: at most `max_fps` packets per second, and/or every n-th packet."""

from __future__ import annotations

import time
from typing import Any, Literal

from edgespeed import Input, Node, Output, Param


class RateLimiter(Node):
    """Pass on at most `max_fps` packets per second and/or only every `every_n`-th packet.

    Use it to run a slow model on part of a fast stream, or to sample frames for collection.
    Time is the packets' media time by default (a file's PTS, a camera's capture time), so the
    same file always yields the same frames whatever the machine's speed; `clock: wall` uses
    the time packets arrive instead. Packets not passed on are simply not emitted: the
    in/out counts of the node show how many were skipped.

    Ports:
        data (in): anything.
        out (out): the packets kept, unchanged.

    Params:
        max_fps: most packets per second to pass on; 0 for no limit (default 0).
        every_n: keep one packet in n, the first included (default 1: all).
        clock: media (default: the packets' timestamps) or wall (arrival time).

    Example:
        ```yaml
        - {id: slow, type: image.rate_limit, params: {max_fps: 5}, inputs: {data: cam/frame}}
        ```
    """

    kind = "image.rate_limit"
    data = Input()
    out = Output()
    max_fps: float = Param(0.0, ge=0, doc="most packets per second; 0 for no limit")
    every_n: int = Param(1, ge=1, doc="keep one packet in n")
    clock: Literal["media", "wall"] = Param("media", doc="media (packet timestamps) or wall")

    def setup(self) -> None:
        self._count = 0
        self._due_ns: int | None = None
        self._period_ns = int(1e9 / self.max_fps) if self.max_fps > 0 else 0

    def process(self, data: Any) -> dict[str, Any] | None:
        n = self._count
        self._count += 1
        if n % self.every_n:
            return None
        if self._period_ns and not self._on_time():
            return None
        return {"out": data}

    def _on_time(self) -> bool:
        env = self.envelope
        now = time.monotonic_ns() if self.clock == "wall" or env is None else env.pts_ns
        period = self._period_ns
        # 5% slack: a 30 fps source sampled at 10 fps keeps frames 0, 3, 6 despite rounding
        if self._due_ns is not None and now < self._due_ns - period // 20:
            return False
        due = (self._due_ns if self._due_ns is not None else now) + period
        self._due_ns = due if due > now else now + period  # after a gap: restart from now
        return True
