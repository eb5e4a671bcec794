"""Make `text.mp4`, the sample clip of `graphs/text_reading.yaml`: dark text on a light page.

640x360 H.264 at 15 fps, 45 frames (3 s): a line `FRAME nn` that moves 8 px a frame (so each
frame's boxes differ and an overlay drawing another frame's results shows it) and a still line
`EDGE SPEED`, in OpenCV's Hershey font. Deterministic frames (the encoder may vary in its last
bits across FFmpeg versions).

Run: python edgespeed/data/media/video/make_text.py  (needs PyAV and OpenCV)
"""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np

W, H, FPS, FRAMES = 640, 360, 15, 45


def main() -> None:
    path = Path(__file__).with_name("text.mp4")
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=FPS, options={"crf": "28", "preset": "veryslow"})
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        for i in range(FRAMES):
            img = np.full((H, W, 3), 235, np.uint8)
            cv2.putText(img, f"FRAME {i:02d}", (20 + 8 * i, 120), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (20, 20, 20), 4)
            cv2.putText(img, "EDGE SPEED", (40, 280), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (20, 20, 20), 3)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    print(f"{path}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
