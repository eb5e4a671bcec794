"""Test videos made with PyAV: a moving square and the frame number, so frames can be told apart.

Shared by the tests in this folder (`from video_fixtures import ...`) and its conftest."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np

W, H, FPS = 320, 240, 30


def draw(i: int, w: int = W, h: int = H) -> np.ndarray:
    """Frame `i`: a gray background, a green square moving right, the number in white."""
    img = np.full((h, w, 3), 40, np.uint8)
    x = (i * 4) % (w - 40)
    cv2.rectangle(img, (x, 40), (x + 40, 80), (0, 255, 0), -1)
    cv2.putText(img, f"{i}", (10, h - 20), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 3)
    return img


def write_video(path: Path, frames: int, *, w: int = W, h: int = H, fps: int = FPS, codec: str = "libx264", fmt: str | None = None) -> Path:
    """Encode `frames` frames of `draw` into `path` (H.264 by default)."""
    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream(codec, rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for i in range(frames):
            for p in s.encode(av.VideoFrame.from_ndarray(draw(i, w, h), format="bgr24")):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


def decode_all(path: Path) -> list[np.ndarray]:
    """Every frame of `path` as bgr24, with a bare PyAV loop."""
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
