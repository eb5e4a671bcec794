"""Make the `squares_*.mp4` sample clips: bright squares crossing a dark scene, for the multi-camera graph.

Each clip is 320x240 H.264 at 15 fps, 90 frames (6 s). Two 36 px squares per clip move on
straight lines at clip-specific speeds; one of them crosses the middle line (y = 120) going
down, the other moves across (and, in `squares_c` and `squares_d`, up through the line), so
the line counter has something to count and the four streams differ. Deterministic: the same
script writes the same frames (the encoder may vary in its last bits across FFmpeg versions).

Run: python edgespeed/data/media/video/make_squares.py  (needs PyAV and OpenCV)
"""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np

W, H, FPS, FRAMES, SIDE = 320, 240, 15, 90, 36

# clip -> [(start xy, velocity xy per frame, BGR color)] for its two squares
CLIPS = {
    "squares_a": [((40, 10), (0.0, 2.2), (0, 230, 0)), ((10, 170), (3.0, 0.0), (0, 200, 255))],
    "squares_b": [((200, 0), (-0.5, 2.6), (255, 200, 0)), ((280, 30), (-3.2, 0.0), (0, 230, 0))],
    "squares_c": [((120, 5), (0.0, 2.0), (230, 230, 230)), ((250, 200), (0.0, -2.3), (0, 0, 255))],
    "squares_d": [((20, 20), (2.4, 1.9), (0, 230, 230)), ((250, 210), (0.2, -2.1), (255, 0, 255))],
}


def draw(shapes: list[tuple[tuple[int, int], tuple[float, float], tuple[int, int, int]]], i: int) -> np.ndarray:
    img = np.full((H, W, 3), 30, np.uint8)
    for (x0, y0), (vx, vy), color in shapes:
        x, y = int(round(x0 + vx * i)), int(round(y0 + vy * i))
        cv2.rectangle(img, (x, y), (x + SIDE - 1, y + SIDE - 1), color, -1)
    return img


def write(path: Path, shapes: list[tuple[tuple[int, int], tuple[float, float], tuple[int, int, int]]]) -> None:
    with av.open(str(path), "w", options={"movflags": "faststart"}) as c:
        s = c.add_stream("libx264", rate=FPS)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.options = {"crf": "23", "preset": "medium", "g": "30"}
        for i in range(FRAMES):
            for p in s.encode(av.VideoFrame.from_ndarray(draw(shapes, i), format="bgr24")):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)


if __name__ == "__main__":
    here = Path(__file__).parent
    for name, shapes in CLIPS.items():
        write(here / f"{name}.mp4", shapes)
        print(name, (here / f"{name}.mp4").stat().st_size, "bytes")
