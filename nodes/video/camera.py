"""Frames from a V4L2 camera (a USB webcam, a CSI camera behind a V4L2 driver) via OpenCV."""

from __future__ import annotations

import glob
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from edgespeed import Frame, Node, Output, Param

from .formats import PixelFormatPorts


class CameraSource(PixelFormatPorts, Node):
    """Frames from a camera, stamped with their capture time (wall clock).

    `device` is an index (`0` for /dev/video0) or a path (`/dev/video2`, a udev symlink such
    as `/dev/v4l/by-id/...`). A missing device fails at setup naming it and the devices that
    exist; a camera that stops delivering frames fails the node after `read_timeout_s`
    (use `on_error: restart` to reopen it). Downstream of a live camera, give slow consumers
    `queue: 1, policy: latest` so that they always see the newest frame.

    Ports:
        frame (out): HxWx3 uint8 (bgr24 or rgb24), or HxW uint8 for gray.

    Params:
        device: index or device path (default 0).
        width, height: requested capture size in pixels, 0 for the camera's default (the
            driver picks the nearest size it supports; default 0).
        fps: requested frame rate, 0 for the camera's default (default 0).
        fourcc: requested pixel format such as MJPG or YUYV; empty for the default (MJPG lets
            most USB cameras reach 30 fps at 1080p; default empty).
        format: bgr24, rgb24 or gray (default bgr24).
        backend: v4l2 (Linux cameras) or any (OpenCV's choice: also GStreamer pipelines and
            files; default v4l2).
        read_timeout_s: fail when no frame arrived for this long (default 5).

    Example:
        ```yaml
        - id: cam
          type: video.camera
          params: {device: 0, width: 1280, height: 720, fps: 30, fourcc: MJPG}
        ```
    """

    kind = "video.camera"
    live = True  # frames come at the camera's pace: overlays downstream draw the newest results
    frame = Output(Frame)
    device: int | str = Param(0, doc="index or device path")
    width: int = Param(0, ge=0, le=16384, doc="requested width in pixels; 0: default")
    height: int = Param(0, ge=0, le=16384, doc="requested height in pixels; 0: default")
    fps: float = Param(0.0, ge=0, le=1000, doc="requested frame rate; 0: default")
    fourcc: str = Param("", doc="requested pixel format (MJPG, YUYV); empty: default")
    format: Literal["bgr24", "rgb24", "gray"] = Param("bgr24", doc="pixel format of emitted frames")
    backend: Literal["v4l2", "any"] = Param("v4l2", doc="OpenCV capture backend")
    read_timeout_s: float = Param(5.0, gt=0, doc="fail after this long without a frame")

    def setup(self) -> None:
        import cv2

        self._cv2 = cv2
        target = self._target()
        api = cv2.CAP_V4L2 if self.backend == "v4l2" else cv2.CAP_ANY
        cap = cv2.VideoCapture(target, api)
        if not cap.isOpened():
            cap.release()
            raise RuntimeError(f"cannot open camera {self.device!r} ({target}): busy, not a capture device, or no permission")
        if self.fourcc:
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*self.fourcc.ljust(4)[:4]))
        for prop, value in ((cv2.CAP_PROP_FRAME_WIDTH, self.width), (cv2.CAP_PROP_FRAME_HEIGHT, self.height), (cv2.CAP_PROP_FPS, self.fps)):
            if value:
                cap.set(prop, value)
        self._cap = cap
        self.log.info("camera %s: %dx%d at %.1f fps", target, cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT), cap.get(cv2.CAP_PROP_FPS))

    def _target(self) -> int | str:
        """The index or path OpenCV opens; a missing V4L2 device fails here, naming the ones there are."""
        dev = self.device
        if isinstance(dev, str) and dev.isdigit():
            dev = int(dev)
        if self.backend != "v4l2":
            return dev
        path = Path(f"/dev/video{dev}") if isinstance(dev, int) else Path(dev)
        if not path.exists():
            found = ", ".join(sorted(glob.glob("/dev/video*"))) or "none"
            raise FileNotFoundError(f"camera {self.device!r}: no device '{path}' (video devices here: {found})")
        return dev if isinstance(dev, int) else str(path)

    def teardown(self) -> None:
        self._cap.release()

    def generate(self) -> Iterator[Any]:
        cv2, cap = self._cv2, self._cap
        convert = {"bgr24": None, "rgb24": cv2.COLOR_BGR2RGB, "gray": cv2.COLOR_BGR2GRAY}[self.format]
        last_ok = time.monotonic()
        while not self.stopping:
            ok, img = cap.read()
            if ok:
                last_ok = time.monotonic()
                yield {"frame": img if convert is None else cv2.cvtColor(img, convert)}
            elif self._at_end():
                return
            elif time.monotonic() - last_ok > self.read_timeout_s:
                raise RuntimeError(f"camera {self.device!r}: no frame for {self.read_timeout_s:g} s (unplugged?)")
            else:
                time.sleep(0.005)

    def _at_end(self) -> bool:
        """True at the end of a finite input (a file opened with backend any); cameras never end."""
        cv2, cap = self._cv2, self._cap
        total = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        return total > 0 and cap.get(cv2.CAP_PROP_POS_FRAMES) >= total
