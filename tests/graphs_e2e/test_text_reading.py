"""graphs/text_reading.yaml end to end: every frame of the annotated video carries its own text boxes.

A 60-frame H.264 video (PyAV) with a caption that moves 6 px a frame, read by the PP-OCRv4
models that ship inside rapidocr-onnxruntime. Under the overlay's old `sync: latest`, frames
reached the overlay before their OCR results and were drawn with older boxes or none (issue 14).
Slow (about half a minute of OCR on two cores): run with `-m slow`.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import rapidocr_onnxruntime  # noqa: F401  (a dev dependency: a missing one must fail, not skip)

GRAPH = Path(__file__).parents[2] / "graphs" / "text_reading.yaml"
FRAMES, W, H = 60, 640, 360


def caption_video(path: Path) -> list[np.ndarray]:
    """Write the video; returns its frames as decoded back (what the graph reads)."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        for i in range(FRAMES):
            img = np.full((H, W, 3), 235, np.uint8)
            cv2.putText(img, f"FRAME {i:02d}", (20 + 6 * i, 120), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (20, 20, 20), 4)
            cv2.putText(img, "EDGE SPEED", (40, 280), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (20, 20, 20), 3)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]


def box_drawn(src: np.ndarray, out: np.ndarray, box: list[float]) -> bool:
    """Both vertical edges of `box` are drawn on `out` (over nearly their whole height). A box
    of the frame before or after sits 6 px away and leaves these columns untouched."""
    x1, y1, x2, y2 = (round(v) for v in box)
    diff = np.abs(out.astype(int) - src.astype(int)).max(axis=2) > 60
    return all(diff[y1 + 4:y2 - 4, max(x - 1, 0):x + 2].any(axis=1).mean() > 0.9 for x in (x1, x2))


@pytest.mark.slow
def test_every_frame_is_drawn_with_its_own_text_boxes(tmp_path: Path) -> None:
    from edgespeed.cli import main

    src = caption_video(tmp_path / "in.mp4")
    jsonl, mp4 = tmp_path / "texts.jsonl", tmp_path / "out.mp4"
    code = main(["run", str(GRAPH), "--quiet", "--set", f"src.path={tmp_path / 'in.mp4'}", "--set", f"log.path={jsonl}",
                 "--set", f"video.path={mp4}"])
    assert code == 0
    recs = [json.loads(line) for line in jsonl.read_text().splitlines()]
    with av.open(str(mp4)) as c:
        out = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    assert len(recs) == len(out) == FRAMES
    assert [r["data"]["texts"][0] for r in recs] == [f"FRAME {i:02d}" for i in range(FRAMES)]  # OCR read every frame
    own = [all(box_drawn(s, o, b) for b in r["data"]["boxes_xyxy"]) for s, o, r in zip(src, out, recs)]
    assert all(own), f"frames without their own boxes: {[i for i, ok in enumerate(own) if not ok]}"
