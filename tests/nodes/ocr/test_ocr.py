"""Text reading with the real PP-OCRv4 models shipped in rapidocr-onnxruntime (nothing downloaded)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import onnxruntime  # noqa: F401  (a dev dependency: a missing one must fail, not skip)
import pytest
import rapidocr_onnxruntime  # noqa: F401,E402  (a dev dependency: a missing one must fail, not skip)

from edgespeed.cli import main
from edgespeed.testing import run_node

REPO = Path(__file__).parents[3]
W, H, FPS, FRAMES = 320, 240, 10, 12
FONT, SCALE, THICK = cv2.FONT_HERSHEY_SIMPLEX, 1.0, 2
MOVING, STILL = "EXIT", "GATE42"  # single tokens: PP-OCRv4 often drops a narrow Hershey-font space


def render(i: int) -> tuple[np.ndarray, list[str]]:
    """Frame i: MOVING slides in from the right (cut off in the first frames), STILL stays put.
    Returns the frame and the words fully inside it, top to bottom."""
    frame = np.full((H, W, 3), (205, 215, 225), np.uint8)
    x = 290 - 20 * i
    (tw, _), _ = cv2.getTextSize(MOVING, FONT, SCALE, THICK)
    cv2.putText(frame, MOVING, (x, 80), FONT, SCALE, (30, 30, 30), THICK, cv2.LINE_AA)
    cv2.putText(frame, STILL, (60, 180), FONT, SCALE, (120, 20, 20), THICK, cv2.LINE_AA)
    visible = [MOVING] if 0 <= x and x + tw <= W - 4 else []
    return frame, visible + [STILL]


@pytest.fixture(scope="module")
def h264_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import av
    path = tmp_path_factory.mktemp("ocr") / "signs.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for i in range(FRAMES):
            for packet in stream.encode(av.VideoFrame.from_ndarray(render(i)[0], format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def _agreement(read: list[list[str]], truth: list[list[str]]) -> float:
    """Share of the frames where both words are fully visible whose texts are exactly them."""
    full = [(got, want) for got, want in zip(read, truth) if MOVING in want]
    return sum(got == want for got, want in full) / len(full)


def test_detect_and_recognize_read_the_rendered_words() -> None:
    frames, truth = zip(*(render(i) for i in range(0, FRAMES, 2)))
    boxes = run_node("ocr.detect", params={"side_px": 640, "side_mode": "max"}, inputs={"frame": list(frames)})["boxes"]
    texts = run_node("ocr.recognize", inputs={"frame": list(frames), "boxes": boxes})["texts"]
    full = [k for k, t in enumerate(truth) if MOVING in t]
    assert len(full) >= 3
    read = [t["texts"] for t in texts]
    assert _agreement(read, list(truth)) >= 0.9, read
    # the STILL word's box covers where it was drawn
    (tw, th), base = cv2.getTextSize(STILL, FONT, SCALE, THICK)
    drawn = np.array([60, 180 - th, 60 + tw, 180 + base], np.float32)
    for t in texts:
        k = t["texts"].index(STILL)
        box = t["boxes_xyxy"][k]
        assert np.all(np.abs(box - drawn) <= 12), (box, drawn)
        assert t["boxes_quad"].shape[1:] == (4, 2) and t["scores"][k] >= 0.8 and t["labels"] == t["texts"]


def test_text_reading_graph_on_an_h264_video(h264_video: Path, tmp_path: Path) -> None:
    jsonl, mp4 = tmp_path / "texts.jsonl", tmp_path / "texts.mp4"
    code = main(["run", str(REPO / "graphs" / "text_reading.yaml"), "--quiet",
                 "--set", f"src.path={h264_video}", "--set", f"log.path={jsonl}", "--set", f"video.path={mp4}"])
    assert code == 0
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(lines) == FRAMES
    read = [line["data"]["texts"] for line in lines]
    truth = [render(i)[1] for i in range(FRAMES)]
    assert sum(MOVING in t for t in truth) >= 6
    assert _agreement(read, truth) >= 0.9, list(zip(read, truth))
    assert all(STILL in got for got in read)  # frames with a cut word still read the whole one
    assert mp4.stat().st_size > 0


def test_missing_model_file_is_one_line(tmp_path: Path) -> None:
    from edgespeed.errors import NodeError

    with pytest.raises(NodeError, match=r"model file '.*nope\.onnx' not found") as e:
        run_node("ocr.detect", params={"model": str(tmp_path / "nope.onnx")}, inputs={"frame": [render(0)[0]]})
    assert "\n" not in str(e.value)
