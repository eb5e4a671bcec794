"""inference.onnx on small models built with onnx.helper: real ONNX Runtime sessions."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pytest

import onnx
import onnxruntime  # noqa: F401  (a dev dependency: a missing one must fail, not skip)
from onnx import TensorProto, helper, numpy_helper

from edgespeed import load_text, validate
from edgespeed.errors import EdgeSpeedError, GraphErrors, NodeError
from edgespeed.testing import run_node

W = np.random.default_rng(0).normal(size=(4, 3, 1, 1)).astype(np.float32)


def _save(graph, path: Path, opset: int = 17) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def conv_model(path: Path, batch: int | str = "n", in_name: str = "images") -> Path:
    """A 1x1 convolution 3 -> 4 channels then ReLU: out = relu(einsum(W, x))."""
    x = helper.make_tensor_value_info(in_name, TensorProto.FLOAT, [batch, 3, "h", "w"])
    y = helper.make_tensor_value_info("features", TensorProto.FLOAT, [batch, 4, "h", "w"])
    nodes = [helper.make_node("Conv", [in_name, "w"], ["c"]), helper.make_node("Relu", ["c"], ["features"])]
    return _save(helper.make_graph(nodes, "conv", [x], [y], [numpy_helper.from_array(W, "w")]), path)


def fp16_model(path: Path) -> Path:
    """out = x * 2 in float16, fixed shape 1x3x8x8."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT16, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT16, [1, 3, 8, 8])
    two = numpy_helper.from_array(np.array(2, np.float16), "two")
    return _save(helper.make_graph([helper.make_node("Mul", ["x", "two"], ["y"])], "fp16", [x], [y], [two]), path)


def int8_model(path: Path) -> Path:
    """A QDQ-quantized model (uint8 activations): float in, float out, as ORT runs INT8 models."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    inits = [numpy_helper.from_array(np.array(0.1, np.float32), "s"), numpy_helper.from_array(np.array(0, np.uint8), "z")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]), helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"])]
    return _save(helper.make_graph(nodes, "int8", [x], [y], inits), path)


def _ref(x: np.ndarray) -> np.ndarray:
    return np.maximum(np.einsum("oc,nchw->nohw", W[:, :, 0, 0], x), 0)


def test_conv_model_runs_and_ports_come_from_the_model(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = conv_model(tmp_path / "conv.onnx", in_name="input:0")
    x = np.random.default_rng(1).random((1, 3, 6, 5), dtype=np.float32)
    with caplog.at_level(logging.INFO, logger="edgespeed.onnx"):
        out = run_node("inference.onnx", params={"model": str(path)}, inputs={"input_0": [x, x * 2]})
    assert list(out) == ["features"]
    np.testing.assert_allclose(out["features"][0], _ref(x), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["features"][1], _ref(x * 2), rtol=1e-5, atol=1e-5)
    assert "provider CPUExecutionProvider" in caplog.text  # which provider was taken is logged


def test_dynamic_batch_runs_the_batch_at_once(tmp_path: Path) -> None:
    path = conv_model(tmp_path / "conv.onnx")
    x = np.random.default_rng(2).random((5, 3, 4, 4), dtype=np.float32)
    out = run_node("inference.onnx", params={"model": str(path)}, inputs={"images": [x]})["features"][0]
    assert out.shape == (5, 4, 4, 4)
    np.testing.assert_allclose(out, _ref(x), rtol=1e-5, atol=1e-5)


def test_fixed_batch_model_fed_a_batch_runs_each_item(tmp_path: Path) -> None:
    path = conv_model(tmp_path / "conv1.onnx", batch=1)
    x = np.random.default_rng(3).random((3, 3, 4, 4), dtype=np.float32)
    out = run_node("inference.onnx", params={"model": str(path)}, inputs={"images": [x]})["features"][0]
    np.testing.assert_allclose(out, _ref(x), rtol=1e-5, atol=1e-5)


def test_fp16_and_int8_models_run_as_they_are(tmp_path: Path) -> None:
    x16 = np.full((1, 3, 8, 8), 1.5, np.float16)
    out = run_node("inference.onnx", params={"model": str(fp16_model(tmp_path / "h.onnx"))}, inputs={"x": [x16]})["y"][0]
    assert out.dtype == np.float16 and np.all(out == 3.0)
    x8 = np.array([[0.0, 1.0, 2.54, 30.0]], np.float32)
    out = run_node("inference.onnx", params={"model": str(int8_model(tmp_path / "q.onnx"))}, inputs={"x": [x8]})["y"][0]
    np.testing.assert_allclose(out, [[0.0, 1.0, 2.5, 25.5]], atol=1e-6)  # quantized: 0.1 steps, saturates at 255


def test_renamed_ports(tmp_path: Path) -> None:
    path = conv_model(tmp_path / "conv.onnx")
    x = np.zeros((1, 3, 2, 2), np.float32)
    out = run_node("inference.onnx", params={"model": str(path), "input_ports": ["tensor"], "output_ports": ["out"]}, inputs={"tensor": [x]})
    assert out["out"][0].shape == (1, 4, 2, 2)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda p: p, r"model file '.*missing\.onnx' not found", id="missing"),
        pytest.param(lambda p: (p.write_text("not a model"), p)[1], r"is not an ONNX model", id="not-onnx"),
    ],
)
def test_bad_model_file_is_one_clear_line(tmp_path: Path, make, message: str) -> None:
    path = make(tmp_path / "missing.onnx")
    spec = load_text(f"""
nodes:
  - {{id: src, type: testing.list_source}}
  - {{id: det, type: inference.onnx, params: {{model: '{path}'}}, inputs: {{images: src/out}}}}
""")
    errors = validate(spec)
    assert errors and errors[0].node_id == "det" and "\n" not in str(errors[0])
    assert re.search(message, errors[0].msg)
    with pytest.raises(EdgeSpeedError, match=message) as e:  # at run time too, with ports named by hand
        run_node("inference.onnx", params={"model": str(path), "input_ports": ["t"], "output_ports": ["o"]}, inputs={"t": []})
    assert "\n" not in str(e.value)


FP16_INTO_FP32 = """
nodes:
  - {{id: src, type: video.synthetic, params: {{frames: 2, width: 32, height: 32, realtime: false}}}}
  - {{id: norm, type: image.normalize, params: {{dtype: float16}}, inputs: {{image: src/frame}}}}
  - {{id: det, type: inference.onnx, params: {{model: '{model}'{extra}}}, inputs: {{images: norm/tensor}}}}
  - {{id: sink, type: sink.null, inputs: {{data: det/features}}}}
"""


def test_validate_catches_a_dtype_mismatch_when_the_model_is_readable(tmp_path: Path) -> None:
    path = conv_model(tmp_path / "conv.onnx")
    errors = validate(load_text(FP16_INTO_FP32.format(model=path, extra="")))
    assert len(errors) == 1 and errors[0].node_id == "det"
    assert "input 'images'" in errors[0].msg and "expected dtype float32, got float16" in errors[0].msg
    with pytest.raises(GraphErrors):  # and `run` refuses it before opening anything
        from edgespeed.runtime.scheduler import run_spec

        run_spec(load_text(FP16_INTO_FP32.format(model=path, extra="")))


def test_unreadable_model_is_checked_at_run_time_naming_input_expected_and_got(tmp_path: Path) -> None:
    path = conv_model(tmp_path / "conv.onnx")
    # ports named by hand validate without the model...
    spec = load_text(FP16_INTO_FP32.format(model=tmp_path / "later.onnx", extra=", input_ports: [images], output_ports: [features]"))
    assert validate(spec) == []
    # ...and the same mismatch is then caught on the first tensor
    x16 = np.zeros((1, 3, 4, 4), np.float16)
    with pytest.raises(NodeError) as e:
        run_node("inference.onnx", node_id="det", params={"model": str(path)}, inputs={"images": [x16]})
    msg = str(e.value)
    assert "node 'det'" in msg and "model input 'images'" in msg and "expected float32 (?, 3, ?, ?), got float16 (1, 3, 4, 4)" in msg


def test_wrong_port_name_count_is_reported(tmp_path: Path) -> None:
    path = conv_model(tmp_path / "conv.onnx")
    spec = load_text(f"""
nodes:
  - {{id: src, type: testing.list_source}}
  - {{id: det, type: inference.onnx, params: {{model: '{path}', input_ports: [a, b]}}, inputs: {{a: src/out}}}}
""")
    errors = validate(spec)
    assert any("input_ports names 2 ports but the model has 1 input" in e.msg for e in errors)


def test_unknown_provider_is_reported_at_validate(tmp_path: Path) -> None:
    path = conv_model(tmp_path / "conv.onnx")
    spec = load_text(f"""
nodes:
  - {{id: src, type: testing.list_source}}
  - {{id: det, type: inference.onnx, params: {{model: '{path}', providers: [cuda, tpu]}}, inputs: {{images: src/out}}}}
""")
    errors = validate(spec)
    assert "unknown provider 'tpu'" in errors[0].msg, [str(e) for e in errors]


@pytest.mark.gpu
def test_cuda_provider_is_taken_when_installed(tmp_path: Path) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("onnxruntime without CUDA")
    from edgespeed.registry import default_registry

    node = default_registry().resolve("inference.onnx")("det", model=str(conv_model(tmp_path / "c.onnx")), providers=["cuda", "cpu"])
    node.setup()
    x = np.random.default_rng(4).random((2, 3, 8, 8), dtype=np.float32)
    out = node.process(images=x)["features"]
    assert node.provider == "CUDAExecutionProvider"
    np.testing.assert_allclose(out, _ref(x), rtol=1e-3, atol=1e-3)
