"""post.detections: already-decoded (B, N, 6) outputs, on synthetic rows and on the shipped
CenterNet run by ONNX Runtime on frames of the shipped clip."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import av  # noqa: F401  (a dev dependency: a missing one must fail, not skip)
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from edgespeed.data import resolve
from edgespeed.graph import load_text
from edgespeed.graph.validate import validate
from edgespeed.testing import run_node

SRC_WH = (768, 576)
TF = {"scale_xy": (512 / 768, 384 / 576), "offset_xy": (0.0, 64.0), "src_wh": SRC_WH}  # 768x576 in 512x512
# model-input px rows: x1, y1, x2, y2, score, class; the 2nd overlaps the 1st (same class), the 4th
# overlaps the 3rd but is another class, the 5th scores too low, the 6th is zero-score padding
ROWS = [[100, 100, 140, 200, 0.9, 0], [102, 104, 141, 198, 0.6, 0], [300, 150, 360, 260, 0.8, 2],
        [302, 152, 358, 262, 0.7, 7], [10, 70, 20, 90, 0.1, 0], [0, 0, 0, 0, 0.0, 0]]


def rows(*extra: list[float]) -> np.ndarray:
    return np.array([ROWS + list(extra)], np.float32)


@pytest.mark.parametrize(
    ("params", "classes"),
    [
        pytest.param({}, [0, 2, 7], id="class-aware"),
        pytest.param({"class_agnostic": True}, [0, 2], id="class-agnostic"),
        pytest.param({"score_min": 0.05}, [0, 2, 7, 0], id="low-threshold"),
        pytest.param({"classes": [0]}, [0], id="class-filter"),
        pytest.param({"classes": [0], "iou_max": 0.95}, [0, 0], id="nms-off"),
        pytest.param({"max_detections": 2}, [0, 2], id="max-detections"),
        pytest.param({"class_base": 1}, [-1, 1, 6], id="one-based"),
    ],
)
def test_threshold_class_filter_and_nms(params: dict, classes: list[int]) -> None:
    d = run_node("post.detections", params=params, inputs={"predictions": [rows()]})["detections"][0]
    assert d["class_ids"].tolist() == classes  # best score first
    assert d["boxes_xyxy"].dtype == np.float32 and d["scores"].dtype == np.float32 and d["class_ids"].dtype == np.int32


def test_boxes_map_back_through_the_letterbox_and_get_names(tmp_path: Path) -> None:
    d = run_node("post.detections", params={"labels": str(resolve("builtin:labels/coco.txt"))},
                 inputs={"predictions": [rows()], "transform": [TF]})["detections"][0]
    # 512/768 = 2/3 on both axes, 64 px of border on top
    np.testing.assert_allclose(d["boxes_xyxy"][0], [150, 54, 210, 204], atol=1e-3)
    np.testing.assert_allclose(d["boxes_xyxy"][1], [450, 129, 540, 294], atol=1e-3)
    assert d["labels"] == ["person", "car", "truck"]


def test_a_batch_gives_one_packet_per_image_and_empty_ones_are_empty() -> None:
    batch = np.concatenate([rows(), np.zeros((1, 6, 6), np.float32)])
    got = run_node("post.detections", inputs={"predictions": [batch]})["detections"]
    assert [len(d["scores"]) for d in got] == [3, 0]
    assert got[1]["boxes_xyxy"].shape == (0, 4)


def test_a_wrong_layout_at_run_time_names_expected_and_got() -> None:
    with pytest.raises(Exception, match=r"expected predictions of shape \(B, N, 6\).*got \(1, 84, 8400\)"):
        run_node("post.detections", inputs={"predictions": [np.zeros((1, 84, 8400), np.float32)]})


def yolo_like_model(path: Path) -> Path:
    """A readable model whose output is YOLOv8's (1, 84, 8400), not (B, N, 6)."""
    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])
    y = helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 84, 8400])
    nodes = [helper.make_node("ReduceMean", ["images"], ["m"], keepdims=0), helper.make_node("Add", ["c", "m"], ["output0"])]
    graph = helper.make_graph(nodes, "yolo", [x], [y], [numpy_helper.from_array(np.zeros((1, 84, 8400), np.float32), "c")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_a_model_with_another_layout_is_one_line_at_validate_time(tmp_path: Path) -> None:
    model = yolo_like_model(tmp_path / "yolov8n.onnx")
    spec = load_text(f"""
nodes:
  - {{id: src, type: video.synthetic}}
  - {{id: det, type: inference.onnx, params: {{model: '{model}', input_ports: [tensor], output_ports: [out]}}, inputs: {{tensor: src/frame}}}}
  - {{id: decode, type: post.detections, inputs: {{predictions: det/out}}}}
""", file="g.yaml")
    errors = [e for e in validate(spec) if e.node_id == "decode"]
    assert len(errors) == 1, errors
    msg = str(errors[0])
    assert "\n" not in msg and errors[0].location.line == 5
    assert "'decode'" in msg and "'yolov8n.onnx'" in msg and "expected shape (None, None, 6)" in msg
    assert re.search(r"got \((1|None), 84, 8400\)", msg), msg  # the batch axis: as the model says, or any


def clip_frames(every: int, count: int) -> list[np.ndarray]:
    with av.open(str(resolve("builtin:media/video/pedestrians.mp4"))) as c:
        frames = [f.to_ndarray(format="bgr24") for k, f in zip(range(every * count), c.decode(video=0)) if k % every == 0]
    return frames


def test_the_shipped_detector_finds_the_people_of_the_shipped_clip() -> None:
    """Real model, real frames: letterbox + normalize + ONNX Runtime + post.detections."""
    frames = clip_frames(every=30, count=5)  # 0, 3, 6, 9, 12 s
    boxed = run_node("image.letterbox", params={"size_wh": [512, 384], "pad_value": 0}, inputs={"image": frames})  # as the graph
    tensors = run_node("image.normalize", params={"scale": 1.0, "layout": "nhwc"}, inputs={"image": boxed["out"]})["tensor"]
    session = ort.InferenceSession(str(resolve("builtin:models/centernet_coco.onnx")), providers=["CPUExecutionProvider"])
    outputs = [session.run(None, {"images": t})[0] for t in tensors]
    got = run_node("post.detections", params={"classes": [0], "labels": str(resolve("builtin:labels/coco.txt"))},
                   inputs={"predictions": outputs, "transform": boxed["transform"]})["detections"]
    for d in got:
        assert set(d["labels"]) == {"person"} and ((d["boxes_xyxy"] >= 0) & (d["boxes_xyxy"] <= [768, 576, 768, 576])).all()
        sure = d["boxes_xyxy"][d["scores"] >= 0.5]  # below that: far-away people, and a few stones
        w, h = sure[:, 2] - sure[:, 0], sure[:, 3] - sure[:, 1]
        # the plaza always has a few people walking; upright, seen from a distance: 2-3.5x taller
        # than wide and 30..150 px high in a 576 px frame
        assert len(sure) >= 2 and (h / w > 1.8).all() and (h > 30).all() and (h < 150).all(), (sure, d["scores"])
    # frame 0: three people walking in the middle of the plaza (checked by eye on the frame)
    centers = (got[0]["boxes_xyxy"][:, :2] + got[0]["boxes_xyxy"][:, 2:]) / 2
    mid = (centers[:, 0] > 200) & (centers[:, 0] < 700) & (centers[:, 1] > 150) & (centers[:, 1] < 400)
    assert (mid & (got[0]["scores"] >= 0.5)).sum() == 3
    # the model takes a batch (multi_camera_people): each image gives exactly what it gives alone
    batch = session.run(None, {"images": np.concatenate(tensors)})[0]
    assert batch.shape == (len(tensors), 100, 6)
    assert np.allclose(batch, np.concatenate(outputs), atol=1e-3)  # (other kernels may round differently)
