"""`edgespeed model inspect` and `edgespeed model bench` on the test classifier."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgespeed.cli import main
from edgespeed.infer.bench import bench_model
from edgespeed.infer.inspect import inspect_model


def test_inspect_reports_io_opset_size_parameters_and_operators(classifier: Path, capsys: pytest.CaptureFixture[str]) -> None:
    info = inspect_model(classifier)
    assert info["inputs"] == [{"name": "image", "dtype": "float32", "shape": ["n", 3, 32, 32]}]
    assert info["outputs"] == [{"name": "probs", "dtype": "float32", "shape": ["n", 10]}]
    assert info["opsets"] == {"ai.onnx": 17} and info["size_bytes"] == classifier.stat().st_size
    assert info["parameters"] == (32 * 27 + 32) + (64 * 32 * 9 + 64) + (64 * 64 * 9 + 64) + (64 * 10 + 10)
    assert info["operators"] == {"Conv": 3, "Relu": 3, "GlobalAveragePool": 1, "Flatten": 1, "Gemm": 1, "Softmax": 1}
    assert main(["model", "inspect", str(classifier)]) == 0
    text = capsys.readouterr().out
    assert "image: float32 [n, 3, 32, 32]" in text and "parameters: 56,970" in text and "Conv 3" in text
    assert main(["model", "inspect", str(classifier), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["parameters"] == 56970


def test_bench_rows_per_provider_and_thread_count(classifier: Path) -> None:
    rows = bench_model(classifier, providers=["cpu", "cuda"], threads=[1, 2], runs=5, warmup=1, batch=4)
    cpu = [r for r in rows if r["provider"] == "CPUExecutionProvider"]
    assert [r["threads"] for r in cpu] == [1, 2]
    for r in cpu:
        assert r["runs"] == 5 and 0 < r["p50_ms"] <= r["p99_ms"] and r["samples_per_s"] > 0
        assert r["samples_per_s"] == pytest.approx(4 * 1000 / r["mean_ms"], rel=1e-6)  # batch 4
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        assert {"provider": "CUDAExecutionProvider", "threads": None, "error": "not installed in this onnxruntime"} in rows


def test_bench_on_an_input_file(tmp_path: Path, classifier: Path, capsys: pytest.CaptureFixture[str]) -> None:
    np.savez(tmp_path / "x.npz", image=np.zeros((2, 3, 32, 32), np.float32))
    assert main(["model", "bench", str(classifier), "--input", str(tmp_path / "x.npz"), "--threads", "1", "--runs", "3", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["provider"] == "CPUExecutionProvider" and rows[0]["runs"] == 3


def test_bench_asks_for_the_shape_of_dynamic_axes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", "t"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", "t"])
    model = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y]), opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "dyn.onnx"))
    assert main(["model", "bench", str(tmp_path / "dyn.onnx"), "--runs", "1"]) == 2
    assert "input 'x' has dynamic axes (n, t); give its shape with --shape x=1x1" in capsys.readouterr().err
    assert main(["model", "bench", str(tmp_path / "dyn.onnx"), "--runs", "1", "--shape", "x=2x100", "--threads", "1"]) == 0


@pytest.mark.gpu
def test_bench_on_cuda(classifier: Path) -> None:
    import onnxruntime as ort

    assert "CUDAExecutionProvider" in ort.get_available_providers(), ort.get_available_providers()
    rows = bench_model(classifier, providers=["cuda", "cpu"], threads=[1], runs=20, batch=8)
    print(rows)
    assert rows[0]["provider"] == rows[0]["taken"] == "CUDAExecutionProvider" and rows[0]["samples_per_s"] > 0
