"""Draw sensor readings on the video frames they were taken with."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgespeed import Frame, Input, Node, Output, Param, Record


class ReadingOverlay(Node):
    """Fuse sensor readings with video: draw each frame's matching reading on it.

    Frames and readings are matched by media time (`sync: timestamp`, within
    `sync_tolerance_ms` = 20 ms by default; set `sync_tolerance_ms` on the node in YAML to
    change it): a frame is drawn with the reading taken at the same moment, and frames or
    readings without a partner are dropped (and counted). Sources must stamp media times on a
    shared clock, as video.synthetic and sensor.imu do (frame i at i / fps, reading i at
    i / rate_hz).

    Ports:
        frame (in): HxWx3 uint8 BGR.
        reading (in): record {t_s, field: number, ...}.
        out (out): the frame with one line per field.

    Params:
        fields: the fields drawn; null for all but t_s (default null).
        font_scale: OpenCV font scale (default 0.6).

    Example:
        ```yaml
        - {id: fused, type: sensor.overlay, inputs: {frame: cam/frame, reading: imu/reading}}
        ```
    """

    kind = "sensor.overlay"
    sync = "timestamp"
    sync_tolerance_ms = 20.0
    frame = Input(Frame)
    reading = Input(Record, doc="{t_s, field: number, ...}")
    out = Output(Frame)
    fields: list[str] | None = Param(None)
    font_scale: float = Param(0.6, gt=0, le=10)

    def setup(self) -> None:
        import cv2

        self._cv2 = cv2

    def process(self, frame: np.ndarray, reading: dict[str, Any]) -> dict[str, Any]:
        cv2 = self._cv2
        out = self.buffer("out", frame.shape, np.uint8)
        np.copyto(out, frame)
        names = self.fields or [k for k in reading if k != "t_s"]
        lines = [f"t={float(reading.get('t_s', 0.0)):.2f}s"] + [f"{k}={float(reading[k]):+.2f}" for k in names if k in reading]
        step = int(24 * self.font_scale / 0.6)
        for i, text in enumerate(lines):
            y = step * (i + 1)
            cv2.putText(out, text, (8, y), cv2.FONT_HERSHEY_SIMPLEX, self.font_scale, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(out, text, (8, y), cv2.FONT_HERSHEY_SIMPLEX, self.font_scale, (255, 255, 255), 1, cv2.LINE_AA)
        return {"out": out}
