"""post.yolo on a real Ultralytics YOLOv8n export, through the real graph path, on a real photo.

The model is `320n.onnx` from the PyPI package nudenet (AGPL-3.0, a test-only dev dependency:
read from the installed package, never copied into this repository). It is an Ultralytics
8.2 detect export with 18 classes, output (1, 4 + 18, N). The photo is OpenCV's sample
basketball1.png (tests/data/vision/README.md), 640x480, so a 320x320 letterbox scales it by
0.5 and pads 40 px above and below: boxes must come back through that mapping.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Any

import cv2
import nudenet  # noqa: F401  (a dev dependency: a missing one must fail, not skip)
import numpy as np
import pytest

from edgespeed import Graph
from edgespeed.testing import ListSink, run_node

IMAGE = Path(__file__).parents[2] / "data" / "vision" / "basketball.png"
MODEL = Path(str(importlib.resources.files("nudenet") / "320n.onnx"))
SIDE = 320
FACE_FEMALE, FEET_COVERED = 1, 9  # the model's class ids (its metadata `names`)


def run_graph(score_min: float, iou_max: float = 0.45, **yolo: Any) -> tuple[dict[str, Any], np.ndarray, dict[str, Any]]:
    """letterbox -> normalize -> inference.onnx -> post.yolo on the photo; returns the
    detections, the raw model output and the letterbox transform, each as the graph passed it on."""
    g = Graph("yolo_real")
    src = g.add("testing.list_source", id="src", items=[cv2.imread(str(IMAGE))])
    box = g.add("image.letterbox", id="box", image=src.out, size_wh=[SIDE, SIDE])
    norm = g.add("image.normalize", id="norm", image=box.out)
    det = g.add("inference.onnx", id="det", images=norm.tensor, model=str(MODEL), providers=["cpu"])
    dec = g.add("post.yolo", id="dec", predictions=det.output0, transform=box.transform, score_min=score_min, iou_max=iou_max, **yolo)
    g.add("testing.list_sink", id="out", data=dec.detections)
    g.add("testing.list_sink", id="raw", data=det.output0)
    g.add("testing.list_sink", id="tf", data=box.transform)
    result = g.run()
    assert result.ok, result.failures
    (d,), (raw,), (tf,) = ListSink.collected["out"], ListSink.collected["raw"], ListSink.collected["tf"]
    return d, np.array(raw), tf


def iou(a: list[float], b: list[float]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def reference_decode(raw: np.ndarray, score_min: float, iou_max: float) -> list[tuple[int, float, list[float]]]:
    """Ultralytics' decode written out plainly, one anchor at a time: (1, 4+C, N) -> best class
    per anchor, threshold, cxcywh -> xyxy, greedy per-class NMS, then undo the 320x320
    letterbox of a 640x480 image by hand (scale 0.5, 40 px of padding on top)."""
    assert raw.shape[:2] == (1, 22)
    cands = []
    for a in range(raw.shape[2]):
        col = raw[0, :, a].astype(np.float64)
        cls = int(np.argmax(col[4:]))
        score = float(col[4 + cls])
        if score >= score_min:
            cx, cy, w, h = col[:4]
            cands.append((cls, score, [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]))
    cands.sort(key=lambda c: -c[1])
    kept: list[tuple[int, float, list[float]]] = []
    for c in cands:
        if all(k[0] != c[0] or iou(k[2], c[2]) <= iou_max for k in kept):
            kept.append(c)
    scale, pad_x, pad_y = 0.5, 0.0, 40.0
    return [(cls, s, [min(max((b[0] - pad_x) / scale, 0), 640), min(max((b[1] - pad_y) / scale, 0), 480),
                      min(max((b[2] - pad_x) / scale, 0), 640), min(max((b[3] - pad_y) / scale, 0), 480)])
            for cls, s, b in kept]


def by_score(d: dict[str, Any]) -> list[tuple[int, float, list[float]]]:
    order = np.argsort(-d["scores"], kind="stable")
    return [(int(d["class_ids"][k]), float(d["scores"][k]), d["boxes_xyxy"][k].tolist()) for k in order]


def test_agrees_with_a_reference_decode_of_the_same_output() -> None:
    d, raw, tf = run_graph(score_min=0.25)
    assert tf == {"scale_xy": (0.5, 0.5), "offset_xy": (0.0, 40.0), "src_wh": (640, 480)}
    want, got = reference_decode(raw, 0.25, 0.45), by_score(d)
    assert [c for c, _, _ in got] == [c for c, _, _ in want] == [FEET_COVERED, FACE_FEMALE]
    np.testing.assert_allclose([s for _, s, _ in got], [s for _, s, _ in want], rtol=1e-6)
    np.testing.assert_allclose([b for _, _, b in got], [b for _, _, b in want], atol=1e-3)
    assert d["boxes_xyxy"].dtype == np.float32 and d["scores"].dtype == np.float32 and d["class_ids"].dtype == np.int32


def test_v8_layout_is_detected() -> None:
    """(1, 22, 2100): `auto` reads it as v8 (anchors on the last axis); read as v5 it is nonsense."""
    d, raw, tf = run_graph(score_min=0.25)
    assert raw.shape == (1, 22, 2100)
    v8 = run_node("post.yolo", params={"layout": "v8"}, inputs={"predictions": [raw], "transform": [tf]})["detections"][0]
    v5 = run_node("post.yolo", params={"layout": "v5"}, inputs={"predictions": [raw], "transform": [tf]})["detections"][0]
    assert by_score(v8) == by_score(d)
    assert by_score(v5) != by_score(d)


@pytest.mark.parametrize(
    ("score_min", "kept"),
    [  # the feet score 0.581 and the face 0.511 on this photo
        pytest.param(0.25, [FEET_COVERED, FACE_FEMALE], id="0.25-both"),
        pytest.param(0.50, [FEET_COVERED, FACE_FEMALE], id="0.50-both"),
        pytest.param(0.52, [FEET_COVERED], id="0.52-feet-only"),
        pytest.param(0.60, [], id="0.60-none"),
    ],
)
def test_score_threshold_holds(score_min: float, kept: list[int]) -> None:
    d, raw, _ = run_graph(score_min=score_min)
    assert (d["scores"] >= score_min).all()
    assert [c for c, _, _ in by_score(d)] == [c for c, _, _ in reference_decode(raw, score_min, 0.45)] == kept


def test_nms_removes_duplicates() -> None:
    d, raw, _ = run_graph(score_min=0.25)
    best, cls = raw[0, 4:].max(axis=0), raw[0, 4:].argmax(axis=0)
    over = best >= 0.25
    # the model fires on many neighbouring anchors for each of the two objects...
    assert (over & (cls == FACE_FEMALE)).sum() >= 3 and (over & (cls == FEET_COVERED)).sum() >= 3
    # ...and one box per object survives; no two kept boxes of a class overlap past iou_max
    assert sorted(d["class_ids"].tolist()) == [FACE_FEMALE, FEET_COVERED]
    # with NMS off (iou_max 1: nothing suppresses) every candidate comes out
    every, _, _ = run_graph(score_min=0.25, iou_max=1.0)
    assert len(every["scores"]) == int(over.sum())
    boxes = every["boxes_xyxy"].tolist()
    assert max(iou(boxes[i], boxes[j]) for i in range(len(boxes)) for j in range(i) if every["class_ids"][i] == every["class_ids"][j]) > 0.45


def test_boxes_land_on_the_objects_in_the_source_image() -> None:
    """Mapped back through the letterbox, the boxes match what nudenet's own pipeline finds on
    the same photo (it pads right and bottom instead of centering, and rounds to whole pixels):
    a wrong offset or scale would move them by 40 px or double them."""
    from nudenet import NudeDetector

    d, _, _ = run_graph(score_min=0.25)
    theirs = {r["class"]: r["box"] for r in NudeDetector(providers=["CPUExecutionProvider"]).detect(str(IMAGE))}
    for cls, name in ((FACE_FEMALE, "FACE_FEMALE"), (FEET_COVERED, "FEET_COVERED")):
        ours = d["boxes_xyxy"][d["class_ids"] == cls][0].tolist()
        x, y, w, h = theirs[name]
        assert iou(ours, [x, y, x + w, y + h]) > 0.8, (name, ours, theirs[name])
        assert 0 <= ours[0] < ours[2] <= 640 and 0 <= ours[1] < ours[3] <= 480
