"""INT8 (static, dynamic) and FP16 quantization of a small conv classifier, through the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from edgespeed.cli import main
from edgespeed.infer.calib import folder_feeds
from edgespeed.infer.common import session
from edgespeed.infer.quantize import compare


def _ops(path: Path) -> set[str]:
    return {n.op_type for n in onnx.load(str(path)).graph.node}


def test_int8_static_is_3x_smaller_and_agrees_on_top1(tmp_path: Path, classifier: Path, calib_dir: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "int8.onnx"
    assert main(["model", "quantize", str(classifier), "--int8", "--calib", str(calib_dir), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "calibrated on 40 inputs" in text and "top-1 agreement" in text
    assert {"QuantizeLinear", "DequantizeLinear"} <= _ops(out)  # really quantized (QDQ), not a copy
    feeds = folder_feeds(calib_dir, session(classifier))
    r = compare(classifier, out, feeds)
    assert r["ratio"] >= 3.0, r
    assert r["top1_agreement"] >= 0.95, r
    probs = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, feeds[0])[0]
    assert probs.shape == (1, 10) and probs.dtype == np.float32  # float in, float out


def test_fp16_halves_the_size_and_keeps_float32_io(tmp_path: Path, classifier: Path, calib_dir: Path) -> None:
    out = tmp_path / "fp16.onnx"
    assert main(["model", "quantize", str(classifier), "--fp16", "--calib", str(calib_dir), "-o", str(out)]) == 0
    sess = session(out)
    assert [a.type for a in sess.get_inputs()] == ["tensor(float)"] and [a.type for a in sess.get_outputs()] == ["tensor(float)"]
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in onnx.load(str(out)).graph.initializer)
    r = compare(classifier, out, folder_feeds(calib_dir, session(classifier)))
    assert r["ratio"] >= 1.9, r
    assert r["top1_agreement"] == 1.0 and r["max_abs_diff"] < 1e-2, r


def test_fp16_without_keeping_io_types_takes_float16(tmp_path: Path, classifier: Path, calib_dir: Path) -> None:
    out = tmp_path / "fp16io.onnx"
    assert main(["model", "quantize", str(classifier), "--fp16", "--no-keep-io-types", "--calib", str(calib_dir), "-o", str(out)]) == 0
    assert session(out).get_inputs()[0].type == "tensor(float16)"


def test_dynamic_int8_needs_no_calibration(tmp_path: Path, classifier: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dyn.onnx"
    assert main(["model", "quantize", str(classifier), "--dynamic", "-o", str(out)]) == 0
    assert "INT8 dynamic" in capsys.readouterr().out
    assert out.stat().st_size * 3 < classifier.stat().st_size
    assert _ops(out) & {"ConvInteger", "DynamicQuantizeLinear", "MatMulInteger"}


GRAPH = """
nodes:
  - {{id: cam, type: video.synthetic, params: {{frames: 100, width: 64, height: 48, realtime: false}}}}
  - {{id: size, type: image.resize, params: {{width: 32, height: 32}}, inputs: {{image: cam/frame}}}}
  - {{id: norm, type: image.normalize, inputs: {{image: size/{port}}}}}
  - {{id: out, type: sink.null, inputs: {{data: norm/tensor}}}}
"""


def test_calibration_inputs_from_a_graph_port(tmp_path: Path, classifier: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from edgespeed.registry import default_registry

    port = next(iter(default_registry().resolve("image.resize").outputs))
    graph = tmp_path / "g.yaml"
    graph.write_text(GRAPH.format(port=port))
    out = tmp_path / "int8g.onnx"
    argv = ["model", "quantize", str(classifier), "--calib-graph", str(graph), "--calib-port", "norm/tensor", "--calib-count", "6", "-o", str(out)]
    assert main(argv) == 0
    assert "calibrated on 6 inputs" in capsys.readouterr().out
    assert "QuantizeLinear" in _ops(out)


def test_calibration_from_audio_clips(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An audio model (1 x 1600 samples -> 32 scores through a MatMul) calibrated on WAV files."""
    import wave

    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    x = helper.make_tensor_value_info("audio", TensorProto.FLOAT, [1, 1600])
    y = helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 32])
    w = numpy_helper.from_array(rng.normal(0, 0.05, (1600, 32)).astype(np.float32), "w")
    model = helper.make_model(helper.make_graph([helper.make_node("MatMul", ["audio", "w"], ["scores"])], "kws", [x], [y], [w]),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "kws.onnx"))
    clips = tmp_path / "clips"
    clips.mkdir()
    for k, hz in enumerate((220, 440, 880)):
        t = np.arange(800) / 8000  # 0.1 s at 8 kHz: resampled to 16 kHz, zero-padded to 1600
        with wave.open(str(clips / f"tone{k}.wav"), "wb") as f:
            f.setnchannels(1)
            f.setsampwidth(2)
            f.setframerate(8000)
            f.writeframes((np.sin(2 * np.pi * hz * t) * 12000).astype("<i2").tobytes())
    out = tmp_path / "kws8.onnx"
    assert main(["model", "quantize", str(tmp_path / "kws.onnx"), "--calib", str(clips), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "calibrated on 3 inputs" in text and "max abs diff" in text
    feeds = folder_feeds(clips, session(tmp_path / "kws.onnx"))
    assert feeds[0]["audio"].shape == (1, 1600) and np.abs(feeds[0]["audio"][0, :1500]).max() > 0.3
    assert compare(tmp_path / "kws.onnx", out, feeds)["ratio"] >= 3.0
