"""Static INT8 keeps what follows the last conv/matmul in float: a detector's own decoding
(pixel boxes, scores and class ids joined in one tensor) survives quantization."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from edgespeed.infer.quantize import float_tail, quantize_int8


def decoding_model(path: Path) -> Path:
    """image -> conv -> relu -> conv -> (boxes 0..512 via Mul, scores via Sigmoid) -> Concat; and
    relu -> GlobalAveragePool as a second output."""
    rng = np.random.default_rng(0)
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 16, 16])
    y = helper.make_tensor_value_info("rows", TensorProto.FLOAT, [1, 5, 16, 16])
    z = helper.make_tensor_value_info("pooled", TensorProto.FLOAT, [1, 8, 1, 1])
    inits = [numpy_helper.from_array(rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32), "w1"),
             numpy_helper.from_array(rng.normal(0, 0.3, (5, 8, 3, 3)).astype(np.float32), "w2"),
             numpy_helper.from_array(np.array(512, np.float32), "px")]
    nodes = [helper.make_node("Conv", ["image", "w1"], ["a"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["a"], ["b"], name="relu"),
             helper.make_node("Conv", ["b", "w2"], ["c"], name="conv2", pads=[1, 1, 1, 1]),
             helper.make_node("Sigmoid", ["c"], ["s"], name="sigmoid"),
             helper.make_node("Slice", ["s", "st0", "en4", "ax1"], ["boxes01"], name="slice_boxes"),
             helper.make_node("Mul", ["boxes01", "px"], ["boxes"], name="to_pixels"),
             helper.make_node("Slice", ["s", "st4", "en5", "ax1"], ["scores"], name="slice_scores"),
             helper.make_node("Concat", ["boxes", "scores"], ["rows"], name="join", axis=1),
             helper.make_node("GlobalAveragePool", ["b"], ["pooled"], name="pool")]
    inits += [numpy_helper.from_array(np.array([v], np.int64), n) for n, v in (("st0", 0), ("en4", 4), ("st4", 4), ("en5", 5), ("ax1", 1))]
    model = helper.make_model(helper.make_graph(nodes, "dec", [x], [y, z], inits), opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_the_tail_is_what_no_conv_or_matmul_follows(tmp_path: Path) -> None:
    tail = float_tail(decoding_model(tmp_path / "m.onnx"))
    assert tail == ["sigmoid", "slice_boxes", "to_pixels", "slice_scores", "join", "pool"]


def test_scores_joined_with_pixel_boxes_survive_int8(tmp_path: Path) -> None:
    src = decoding_model(tmp_path / "m.onnx")
    rng = np.random.default_rng(1)
    calib = [{"image": rng.random((1, 3, 16, 16), dtype=np.float32)} for _ in range(8)]
    quantize_int8(src, tmp_path / "q.onnx", calib)
    ref = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"]).run(["rows"], calib[0])[0]
    got = ort.InferenceSession(str(tmp_path / "q.onnx"), providers=["CPUExecutionProvider"]).run(["rows"], calib[0])[0]
    # one uint8 scale over 0..512 would be 2 px a step: every score (0..1) would be 0 or 2
    assert np.abs(got[:, 4] - ref[:, 4]).max() < 0.1 and np.abs(got[:, 4] - ref[:, 4]).mean() < 0.02
    assert np.abs(got[:, :4] - ref[:, :4]).max() < 512 * 0.1
