"""audio.onnx_vad: a Silero-kind stateful ONNX model (built here with onnx.helper) runs per window,
with its state carried between calls and Silero's context in front of each window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import onnx
import onnxruntime  # noqa: F401  (a dev dependency: a missing one must fail, not skip)
from edgespeed.nodes.audio.vad import OnnxVad
from onnx import TensorProto, helper

from edgespeed.errors import NodeError
from edgespeed.testing import run_node


def silero_like(path: Path, kind: str) -> Path:
    """Silero v5's interface: input [1, N] float, state [2, 1, 128] float, sr int64 scalar ->
    output [1, 1], stateN [2, 1, 128].

    kind "energy": output = sigmoid(1e5 * (mean(input^2) - 1e-4)), stateN = state + 1.
    kind "counter": output = state[0, 0, 0] / 100 (how many calls came before), stateN = state + 1.
    kind "width": output = N / 1000 (the samples the model was given).
    """
    nodes = [
        helper.make_node("Cast", ["sr"], ["sr_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["sr_f", "zero"], ["sr_0"]),
        helper.make_node("Add", ["state", "one"], ["s1"]),
        helper.make_node("Add", ["s1", "sr_0"], ["stateN"]),
    ]
    inits = [helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]), helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])]
    if kind == "energy":
        nodes += [helper.make_node("Mul", ["input", "input"], ["sq"]),
                  helper.make_node("ReduceMean", ["sq"], ["ms"], keepdims=1, axes=[1]),
                  helper.make_node("Sub", ["ms", "thr"], ["d"]), helper.make_node("Mul", ["d", "gain"], ["z"]),
                  helper.make_node("Sigmoid", ["z"], ["output"])]
        inits += [helper.make_tensor("thr", TensorProto.FLOAT, [], [1e-4]),
                  helper.make_tensor("gain", TensorProto.FLOAT, [], [1e5])]
    elif kind == "counter":
        nodes += [helper.make_node("Slice", ["state", "st", "en"], ["first"]),
                  helper.make_node("Reshape", ["first", "shape11"], ["c"]), helper.make_node("Mul", ["c", "cent"], ["output"])]
        inits += [helper.make_tensor("st", TensorProto.INT64, [3], [0, 0, 0]), helper.make_tensor("en", TensorProto.INT64, [3], [1, 1, 1]),
                  helper.make_tensor("shape11", TensorProto.INT64, [2], [1, 1]), helper.make_tensor("cent", TensorProto.FLOAT, [], [0.01])]
    else:
        nodes += [helper.make_node("Shape", ["input"], ["shp"]), helper.make_node("Slice", ["shp", "one_i", "two_i"], ["n"]),
                  helper.make_node("Cast", ["n"], ["nf"], to=TensorProto.FLOAT), helper.make_node("Mul", ["nf", "milli"], ["n1"]),
                  helper.make_node("Reshape", ["n1", "shape11"], ["output"])]
        inits += [helper.make_tensor("one_i", TensorProto.INT64, [1], [1]), helper.make_tensor("two_i", TensorProto.INT64, [1], [2]),
                  helper.make_tensor("milli", TensorProto.FLOAT, [], [0.001]), helper.make_tensor("shape11", TensorProto.INT64, [2], [1, 1])]
    graph = helper.make_graph(
        nodes, "silero_like",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, None]),
         helper.make_tensor_value_info("state", TensorProto.FLOAT, [2, None, 128]),
         helper.make_tensor_value_info("sr", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1]),
         helper.make_tensor_value_info("stateN", TensorProto.FLOAT, [2, None, 128])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def chunks(x: np.ndarray, size: int) -> list[np.ndarray]:
    return [x[i:i + size, None].astype(np.float32) for i in range(0, len(x), size)]


def test_state_is_carried_between_windows(tmp_path):
    model = silero_like(tmp_path / "vad.onnx", "counter")
    out = run_node(OnnxVad, params={"model": model}, inputs={"audio": chunks(np.zeros(512 * 6), 700)})["out"]
    probs = np.concatenate([r["score"] for r in out])
    np.testing.assert_allclose(probs, [0.0, 0.01, 0.02, 0.03, 0.04, 0.05], atol=1e-6)


@pytest.mark.parametrize(("context", "width"), [pytest.param(64, 576, id="v5-context"), pytest.param(0, 512, id="no-context")])
def test_context_is_prepended(tmp_path, context, width):
    model = silero_like(tmp_path / "vad.onnx", "width")
    out = run_node(OnnxVad, params={"model": model, "context_samples": context}, inputs={"audio": chunks(np.zeros(1024), 1024)})["out"]
    np.testing.assert_allclose(out[0]["score"], [width / 1000] * 2, atol=1e-6)


def test_segments_of_a_constructed_signal(tmp_path):
    model = silero_like(tmp_path / "vad.onnx", "energy")
    rng = np.random.default_rng(2)
    x = rng.normal(0, 1e-3, 16000 * 3)
    x[16000:32000] += 0.2 * np.sin(2 * np.pi * 200 * np.arange(16000) / 16000)
    out = run_node(OnnxVad, params={"model": model}, inputs={"audio": chunks(x, 320)})["out"]
    speech = np.concatenate([r["speech"] for r in out])
    edges = np.flatnonzero(np.diff(np.r_[0, speech.astype(int), 0])) * 512 / 16000
    assert len(edges) == 2 and abs(edges[0] - 1.0) <= 0.05 and abs(edges[1] - 2.0) <= 0.05


def test_not_a_vad_model(tmp_path):
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 3])])
    path = tmp_path / "bad.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(NodeError, match="is not a Silero-kind VAD"):
        run_node(OnnxVad, params={"model": path}, inputs={"audio": []})


def test_a_last_partial_window_is_padded_with_zeros(tmp_path):
    model = silero_like(tmp_path / "vad.onnx", "width")
    out = run_node(OnnxVad, params={"model": model, "context_samples": 0}, inputs={"audio": chunks(np.zeros(700), 700)})["out"]
    assert [(r["start_sample"], len(r["audio"])) for r in out] == [(0, 512), (512, 188)]  # the audio stays the stream's own
    np.testing.assert_allclose(out[1]["score"], [0.512], atol=1e-6)  # the model got a whole window
