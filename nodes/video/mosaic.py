"""Tile the newest frame of every stream into one image (a mosaic for one preview page)."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from edgespeed import Frame, Input, Node, Output, Param


class MosaicTiler(Node):
    """Keep the newest frame of each stream and tile them all into one frame, named.

    Each stream of a multi-stream source (`envelope.stream`) gets a tile of `tile_wh`, in the
    order the streams first appeared, on a grid as square as it can be; a stream that ends
    loses its tile. A mosaic goes out at most `fps` times a second, and a tile is redrawn once
    per mosaic, from its stream's first frame after the previous one: a tile is at most one
    period old (100 ms at 10 fps), and a preview costs one resize per stream per mosaic
    whatever the streams' frame rates (resizing every frame of four unpaced streams was 12% of
    multi_camera's CPU). The frames in between are not kept: holding the newest frame of every
    stream instead would hold one pooled buffer, or shared-memory slot, per stream. Its input
    defaults to `queue: 8, policy: drop_oldest`: it never slows the pipeline (drops counted).

    Ports:
        frame (in): HxWx3 uint8 frames of several streams.
        out (out): the mosaic, rows x cols tiles of tile_wh, uint8 BGR.

    Params:
        tile_wh: size of one tile in pixels (default 320 x 240).
        fps: most mosaics per second (default 10).
        labels: write each stream's name on its tile (default true).

    Example:
        ```yaml
        - {id: mosaic, type: video.mosaic, inputs: {frame: src/frame}}
        - {id: preview, type: video.preview, params: {port: 8080}, inputs: {frame: mosaic/out}}
        ```
    """

    kind = "video.mosaic"
    frame = Input(Frame, queue=8, policy="drop_oldest", doc="frames of several streams")
    out = Output(Frame, doc="the tiled frames")
    tile_wh: tuple[int, int] = Param((320, 240), ge=16, le=4096, doc="tile width, height in pixels")
    fps: float = Param(10.0, gt=0, le=240, doc="most mosaics per second")
    labels: bool = Param(True, doc="write each stream's name on its tile")

    def setup(self) -> None:
        import cv2

        self._cv2 = cv2
        self._tiles: dict[str, np.ndarray] = {}  # stream -> its tile (our own copy, resized)
        self._drawn: dict[str, int] = {}  # stream -> the mosaic number its tile was drawn for
        self._mosaics = 0  # mosaics sent so far
        self._next_ns = 0

    def process(self, frame: np.ndarray) -> dict[str, Any] | None:
        env = self.envelope
        name = env.stream if env and env.stream is not None else "stream"
        w, h = self.tile_wh
        tile = self._tiles.get(name)
        if tile is None:
            tile = self._tiles[name] = np.zeros((h, w, 3), np.uint8)
        if self._drawn.get(name) != self._mosaics:  # not drawn since the last mosaic went out
            self._drawn[name] = self._mosaics
            self._cv2.resize(frame, (w, h), dst=tile, interpolation=self._cv2.INTER_AREA)
            if self.labels:
                self._cv2.putText(tile, name, (6, 20), self._cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2)
        now = time.monotonic_ns()
        if now < self._next_ns:
            return None
        self._next_ns = now + int(1e9 / self.fps)
        self._mosaics += 1
        return {"out": self._mosaic()}

    def end_stream(self, stream: str) -> None:
        self._tiles.pop(stream, None)
        self._drawn.pop(stream, None)

    def _mosaic(self) -> np.ndarray:
        n = len(self._tiles)
        cols = math.ceil(math.sqrt(n))
        rows = math.ceil(n / cols)
        w, h = self.tile_wh
        out = self.buffer("out", (rows * h, cols * w, 3), np.uint8)
        out[:] = 0
        for i, tile in enumerate(self._tiles.values()):
            r, c = divmod(i, cols)
            out[r * h:(r + 1) * h, c * w:(c + 1) * w] = tile
        return out
