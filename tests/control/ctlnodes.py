"""Small nodes for the control API tests (importable as plugins: `ctlnodes:Ticker`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np

from edgespeed import Input, Node, Output, Param

log = logging.getLogger("ctl.test")


class Ticker(Node):
    """Emit a `height` x `width` x 3 frame every `period_s` (paced) until stopped, or `count` of them."""

    kind = "ctl.ticker"
    out = Output()
    width: int = Param(64, ge=1)
    height: int = Param(48, ge=1)
    period_s: float = Param(0.0, ge=0)
    count: int = Param(0, ge=0, doc="0: until stopped")
    log_every: int = Param(0, ge=0, doc="log a line every N frames (0: never)")

    def generate(self) -> Iterator[dict[str, Any]]:
        frame = np.zeros((self.height, self.width, 3), np.uint8)
        n = self._n = 0
        while not self.stopping and (not self.count or n < self.count):
            n = self._n = n + 1
            if self.log_every and n % self.log_every == 0:
                log.warning("ticker log line %d", n)
            if self.period_s:
                self.pace(self.period_s)
            yield {"out": frame}

    def progress(self) -> float | None:
        return getattr(self, "_n", 0) / self.count if self.count else None


class Shapes(Node):
    """Keep the shape of the last array received and how many arrived."""

    kind = "ctl.shapes"
    data = Input()
    last: Any = None
    seen = 0

    def process(self, data: Any) -> None:
        self.last = data.shape if hasattr(data, "shape") else data
        self.seen += 1


class Predictions(Node):
    """Emit YOLOv8-style predictions (1, 4+2, 3): three boxes scored 0.2, 0.5 and 0.9."""

    kind = "ctl.predictions"
    out = Output()
    period_s: float = Param(0.005, ge=0)

    def generate(self) -> Iterator[dict[str, Any]]:
        boxes = np.array([[10, 10, 4, 4], [50, 50, 4, 4], [90, 90, 4, 4]], np.float32)
        scores = np.array([[0.2, 0.0], [0.5, 0.0], [0.9, 0.0]], np.float32)
        pred = np.concatenate([boxes, scores], axis=1).T[None]
        while not self.stopping:
            self.pace(self.period_s)
            yield {"out": pred}


class Walker(Node):
    """Tracks: one object (id 1) walking down x = 50 from y = 0 to 100 in 10 steps, then again as a new id."""

    kind = "ctl.walker"
    out = Output()

    def generate(self) -> Iterator[dict[str, Any]]:
        tid = 0
        while not self.stopping:
            tid += 1
            for y in range(0, 101, 10):
                self.pace(0.002)
                yield {"out": {"boxes_xyxy": np.array([[45, y - 5, 55, y]], np.float32), "track_ids": np.array([tid]),
                               "class_ids": np.array([0]), "scores": np.array([1.0], np.float32)}}


class Streams(Node):
    """A multi-stream source for the streams endpoints: emits the names of its open streams."""

    kind = "ctl.streams"
    out = Output()

    def setup(self) -> None:
        self.streams: dict[str, str] = {}

    def add_stream(self, path: str, name: str | None = None) -> str:
        name = name or f"s{len(self.streams)}"
        if name in self.streams:
            raise ValueError(f"stream {name!r} is already open")
        self.streams[name] = path
        return name

    def remove_stream(self, name: str) -> None:
        if name not in self.streams:
            raise KeyError(f"no stream {name!r}; open: {', '.join(self.streams) or 'none'}")
        del self.streams[name]

    def generate(self) -> Iterator[dict[str, Any]]:
        while not self.stopping:
            self.pace(0.01)
            yield {"out": sorted(self.streams)}
