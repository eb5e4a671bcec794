"""Save a picture of the newest frame whenever an event arrives."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np

from edgespeed import Input, Node, Param


class SnapshotSink(Node):
    """Write a JPEG or PNG of the newest frame each time an event arrives.

    The event triggers (`sync: latest`, `trigger: event`): each event packet is paired with
    the newest frame received so far, whatever order the YAML lists the inputs in. Like `sink.events`, a record
    with an empty `events` list is no event (a counter reporting every frame only triggers
    when something happened); None and empty records are ignored too. Files are named
    `<prefix><seq>_<UTC time>.<ext>` (sequence number and wall-clock time of the event), are
    written to a temporary name and renamed, so a reader never sees half a file, and the
    oldest are deleted beyond `max_files`.

    Ports:
        event (in): what triggers a snapshot (a record, or any value).
        frame (in): HxWx3 BGR or HxW gray uint8 frames.

    Params:
        folder: where pictures go; created if needed (default snapshots).
        format: jpg or png (default jpg).
        quality: JPEG quality 1-100 (default 90).
        prefix: file name prefix (default empty).
        max_files: keep at most this many pictures, deleting the oldest; 0 keeps all (default 1000).
        min_interval_s: ignore events closer than this to the last snapshot (default 0).

    Example:
        ```yaml
        - id: snaps
          type: sink.snapshot
          params: {folder: out/snaps, max_files: 200}
          inputs: {event: counter/counts, frame: overlay/out}
        ```
    """

    kind = "sink.snapshot"
    sync = "latest"
    trigger = "event"  # a picture per event, not per frame, whatever the YAML order
    event = Input(doc="triggers a snapshot")
    frame = Input(dtype="uint8", doc="HxWx3 BGR or HxW gray frames")
    folder: Path = Param(Path("snapshots"), doc="output folder")
    format: Literal["jpg", "png"] = Param("jpg", doc="image format")
    quality: int = Param(90, ge=1, le=100, doc="JPEG quality")
    prefix: str = Param("", doc="file name prefix")
    max_files: int = Param(1000, ge=0, doc="keep at most this many; 0: all")
    min_interval_s: float = Param(0.0, ge=0, doc="ignore events closer than this, seconds")

    def setup(self) -> None:
        import cv2

        self._cv2 = cv2
        self.folder.mkdir(parents=True, exist_ok=True)
        self._params = [cv2.IMWRITE_JPEG_QUALITY, self.quality] if self.format == "jpg" else []
        self.written: list[Path] = []
        self._last_ns: int | None = None

    def process(self, event: Any = None, frame: np.ndarray | None = None) -> None:
        if frame is None or not _is_event(event):
            return
        env = self.envelope
        seq, ts_ns = (env.seq, env.ts_ns) if env else (len(self.written), time.time_ns())
        if self._last_ns is not None and ts_ns - self._last_ns < self.min_interval_s * 1e9:
            return
        ok, data = self._cv2.imencode(f".{self.format}", frame, self._params)
        if not ok:
            raise ValueError(f"cannot encode a frame of shape {frame.shape} as {self.format}")
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(ts_ns / 1e9)) + f"{ts_ns // 1_000_000 % 1000:03d}Z"
        path = self.folder / f"{self.prefix}{seq:08d}_{stamp}.{self.format}"
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data.tobytes())
        os.replace(tmp, path)
        self._last_ns = ts_ns
        self.written.append(path)
        if self.max_files and len(self.written) > self.max_files:
            self.written.pop(0).unlink(missing_ok=True)
        return


def _is_event(value: Any) -> bool:
    if isinstance(value, dict) and "events" in value:
        return bool(value["events"])
    if isinstance(value, np.ndarray):
        return value.size > 0
    return value is not None and value is not False and value != {} and value != []
