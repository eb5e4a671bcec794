"""A synthetic video source: moving shapes and a frame counter, drawn with OpenCV."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from edgespeed import Frame, Node, Output, Param, Stamped


class SyntheticSource(Node):
    """Moving shapes and a frame counter, for trying graphs without a camera or a file.

    Each frame shows a gradient background, a circle and a square on known paths and the frame
    number, so a downstream node's output can be checked by eye or by pixel. Frames come from a
    buffer pool: a steady-state run allocates no new frame memory.

    Ports:
        frame (out): HxWx3 uint8 BGR.

    Params:
        width: frame width in pixels (default 640).
        height: frame height in pixels (default 480).
        fps: frame rate; the media time of frame i is i / fps (default 30).
        frames: frames to produce, 0 for endless (default 300: 10 s at 30 fps).
        realtime: pace frames at `fps` like a live camera; false runs as fast as it can
            (default true).

    Example:
        ```yaml
        - {id: cam, type: video.synthetic, params: {width: 640, height: 480, fps: 30, frames: 300}}
        ```
    """

    kind = "video.synthetic"
    frame = Output(Frame)
    width: int = Param(640, ge=16, le=8192, doc="frame width in pixels")
    height: int = Param(480, ge=16, le=8192, doc="frame height in pixels")
    fps: float = Param(30.0, gt=0, le=1000, doc="frames per second")
    frames: int = Param(300, ge=0, doc="frames to produce; 0 for endless")
    realtime: bool = Param(True, doc="pace frames at fps like a live camera")

    def setup(self) -> None:
        import cv2

        self._cv2 = cv2
        ramp = np.linspace(40, 120, self.width, dtype=np.float32)
        rows = np.linspace(0.6, 1.0, self.height, dtype=np.float32)[:, None]
        base = (rows * ramp).astype(np.uint8)
        self._background = np.dstack([base, base // 2 + 30, 255 - base])

    def pacing(self) -> float | None:
        return 1.0 if self.realtime else None  # the engine paces from media time

    def generate(self) -> Iterator[Any]:
        period_ns = int(1e9 / self.fps)
        i = 0
        while self.frames == 0 or i < self.frames:
            yield Stamped({"frame": self._draw(i)}, pts_ns=i * period_ns)
            i += 1

    def _draw(self, i: int) -> np.ndarray:
        cv2, w, h = self._cv2, self.width, self.height
        frame = self.buffer("frame", (h, w, 3))
        np.copyto(frame, self._background)
        t = i / self.fps
        r = max(4, min(w, h) // 10)
        cx = int(w / 2 + (w / 2 - r) * math.cos(t))
        cy = int(h / 2 + (h / 2 - r) * math.sin(2 * t) * 0.8)
        cv2.circle(frame, (cx, cy), r, (0, 200, 255), -1, cv2.LINE_AA)
        sx = int((i * 4) % max(1, w - 2 * r))
        cv2.rectangle(frame, (sx, h - 3 * r), (sx + 2 * r, h - r), (255, 255, 255), -1)
        scale = max(0.4, h / 480)
        cv2.putText(frame, f"#{i}", (8, int(30 * scale)), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 2, cv2.LINE_AA)
        return frame
