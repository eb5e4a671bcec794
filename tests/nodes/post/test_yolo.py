"""post.yolo: decoding, NMS and letterbox back-mapping, through a real ONNX model and the scheduler."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgespeed import Graph
from edgespeed.testing import ListSink, run_node

import onnx
import onnxruntime  # noqa: F401  (a dev dependency: a missing one must fail, not skip)
from onnx import TensorProto, helper, numpy_helper

SRC_WH = (1280, 720)
# source-frame boxes (xyxy px), scores, classes; the 2nd overlaps the 1st (same class: suppressed),
# the 4th overlaps the 3rd but is another class (kept unless class-agnostic), the 5th scores too low
TRUE = [([100, 200, 300, 400], 0.9, 0), ([104, 205, 302, 398], 0.6, 0), ([700, 100, 900, 500], 0.8, 2),
        ([705, 110, 905, 490], 0.7, 1), ([50, 50, 80, 80], 0.1, 1)]
NUM_CLASSES = 3


def _to_model(box: list[float]) -> list[float]:
    """Source px -> 640x640 letterbox px as cx, cy, w, h (scale 0.5, 140 px pad on top)."""
    x1, y1, x2, y2 = (np.array(box, np.float64) * 0.5 + [0, 140, 0, 140]).tolist()
    return [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]


def yolov8_output(n_anchors: int = 50) -> np.ndarray:
    """(1, 4 + C, N): the true boxes among background anchors of score 0."""
    out = np.zeros((1, 4 + NUM_CLASSES, n_anchors), np.float32)
    out[0, :4] = np.array([320, 320, 10, 10], np.float32)[:, None]
    for k, (box, score, cls) in enumerate(TRUE):
        j = 7 * k + 3  # spread among the anchors
        out[0, :4, j] = _to_model(box)
        out[0, 4 + cls, j] = score
    return out


def yolo_model(path: Path) -> Path:
    """An ONNX model whose output is `yolov8_output()` whatever the image (but computed from it)."""
    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 640, 640])
    y = helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + NUM_CLASSES, 50])
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["m"], keepdims=0),
        helper.make_node("Mul", ["m", "zero"], ["z"]),
        helper.make_node("Add", ["boxes", "z"], ["output0"]),
    ]
    inits = [numpy_helper.from_array(yolov8_output(), "boxes"), numpy_helper.from_array(np.array(0, np.float32), "zero")]
    model = helper.make_model(helper.make_graph(nodes, "yolo", [x], [y], inits), opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_boxes_come_back_in_source_pixels_through_the_graph(tmp_path: Path) -> None:
    model = yolo_model(tmp_path / "yolo.onnx")
    frames = [np.full((SRC_WH[1], SRC_WH[0], 3), v, np.uint8) for v in (10, 90, 170)]
    g = Graph("yolo")
    src = g.add("testing.list_source", id="src", items=frames)
    box = g.add("image.letterbox", id="box", image=src.out, size_wh=[640, 640])
    norm = g.add("image.normalize", id="norm", image=box.out)
    det = g.add("inference.onnx", id="det", images=norm.tensor, model=str(model))
    dec = g.add("post.yolo", id="dec", predictions=det.output0, transform=box.transform, score_min=0.25)
    g.add("testing.list_sink", id="out", data=dec.detections)
    result = g.run()
    assert result.ok, result.failures
    got = ListSink.collected["out"]
    assert len(got) == len(frames)
    for d in got:
        order = np.argsort(-d["scores"])
        assert d["class_ids"][order].tolist() == [0, 2, 1]
        np.testing.assert_allclose(d["boxes_xyxy"][order], np.array([TRUE[0][0], TRUE[2][0], TRUE[3][0]], np.float32), atol=1.0)
        np.testing.assert_allclose(d["scores"][order], [0.9, 0.8, 0.7], atol=1e-6)
        assert d["boxes_xyxy"].dtype == np.float32 and d["class_ids"].dtype == np.int32


@pytest.mark.parametrize(
    ("params", "classes"),
    [
        pytest.param({}, [0, 2, 1], id="class-aware"),
        pytest.param({"class_agnostic": True}, [0, 2], id="class-agnostic"),
        pytest.param({"score_min": 0.05}, [0, 2, 1, 1], id="low-threshold"),
        pytest.param({"classes": [2]}, [2], id="class-filter"),
        pytest.param({"max_detections": 1}, [0], id="max-detections"),
    ],
)
def test_thresholds_and_nms(params: dict, classes: list[int]) -> None:
    tf = {"scale_xy": (0.5, 0.5), "offset_xy": (0.0, 140.0), "src_wh": SRC_WH}
    d = run_node("post.yolo", params=params, inputs={"predictions": [yolov8_output()], "transform": [tf]})["detections"][0]
    assert d["class_ids"][np.argsort(-d["scores"], kind="stable")].tolist() == classes


def test_yolov5_layout_multiplies_objectness(tmp_path: Path) -> None:
    v8 = yolov8_output()[0].T  # (N, 4 + C)
    best = v8[:, 4:].max(axis=1, keepdims=True)
    # objectness = 2 x the score, class scores one-hot at 0.5: the product is the v8 score
    v5 = np.concatenate([v8[:, :4], 2 * best, np.where((v8[:, 4:] == best) & (best > 0), 0.5, 0.0)], axis=1)[None].astype(np.float32)
    labels = tmp_path / "names.txt"
    labels.write_text("person\nbicycle\ncar\n")
    d = run_node("post.yolo", params={"layout": "v5", "labels": str(labels)}, inputs={"predictions": [v5]})["detections"][0]
    order = np.argsort(-d["scores"])
    assert [d["labels"][k] for k in order] == ["person", "car", "bicycle"]
    np.testing.assert_allclose(d["scores"][order], [0.9, 0.8, 0.7], atol=1e-6)


def test_empty_output_gives_empty_detections() -> None:
    d = run_node("post.yolo", inputs={"predictions": [np.zeros((1, 84, 100), np.float32)]})["detections"][0]
    assert d["boxes_xyxy"].shape == (0, 4) and d["scores"].shape == (0,) and d["class_ids"].shape == (0,)
