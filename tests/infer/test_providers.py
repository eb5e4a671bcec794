"""Devices map to providers with CPU as the fallback; provider options; `inference.onnx` device param."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from edgespeed import load_text, validate
from edgespeed.infer.providers import device_providers, known_not_installed, provider_names, provider_options
from edgespeed.testing import run_node


@pytest.mark.parametrize(
    ("device", "providers"),
    [
        pytest.param("cpu", ["cpu"], id="cpu"),
        pytest.param("cuda", ["cuda", "cpu"], id="cuda"),
        pytest.param("tensorrt", ["tensorrt", "cuda", "cpu"], id="tensorrt"),
        pytest.param("openvino", ["openvino", "cpu"], id="openvino"),
        pytest.param("AUTO", ["cuda", "rocm", "migraphx", "openvino", "coreml", "directml", "qnn", "nnapi", "cpu"], id="auto"),
    ],
)
def test_device_maps_to_providers_ending_with_cpu(device: str, providers: list[str]) -> None:
    assert device_providers(device) == providers
    assert provider_names(providers)[-1] == "CPUExecutionProvider"


def test_unknown_names_list_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown device 'tpu'; valid: auto, cpu, cuda, tensorrt"):
        device_providers("tpu")
    with pytest.raises(ValueError, match=r"unknown provider 'npu'; valid: tensorrt, cuda"):
        provider_names(["cuda", "npu"])


def test_provider_options(tmp_path: Path) -> None:
    trt = provider_options("TensorrtExecutionProvider", fp16=True, cache_dir=tmp_path)
    assert trt == {"trt_fp16_enable": True, "trt_engine_cache_enable": True, "trt_engine_cache_path": str(tmp_path),
                   "trt_timing_cache_enable": True, "trt_timing_cache_path": str(tmp_path)}
    assert provider_options("OpenVINOExecutionProvider", fp16=True) == {"precision": "FP16"}
    assert provider_options("CPUExecutionProvider", fp16=True, cache_dir=tmp_path) == {}
    assert known_not_installed(["CPUExecutionProvider"], ["CUDAExecutionProvider", "AzureExecutionProvider", "CPUExecutionProvider"]) == ["CUDAExecutionProvider"]


@pytest.mark.parametrize("device", [pytest.param("auto", id="auto"), pytest.param("cpu", id="cpu"), pytest.param("tensorrt", id="tensorrt-falls-back")])
def test_onnx_node_device_param_falls_back_to_what_is_installed(tmp_path: Path, classifier: Path, device: str,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    import onnxruntime as ort

    x = np.random.default_rng(0).random((2, 3, 32, 32), dtype=np.float32)
    cache = tmp_path / "engines"
    with caplog.at_level(logging.INFO, logger="edgespeed.onnx"):
        out = run_node("inference.onnx", params={"model": str(classifier), "device": device, "fp16": True, "engine_cache_dir": str(cache)},
                       inputs={"image": [x]})["probs"][0]
    want = ort.InferenceSession(str(classifier), providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)
    assert "provider " in caplog.text
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        assert "provider CPUExecutionProvider" in caplog.text


def test_unknown_device_is_reported_at_validate(classifier: Path) -> None:
    spec = load_text(f"""
nodes:
  - {{id: src, type: video.synthetic}}
  - {{id: det, type: inference.onnx, params: {{model: '{classifier}', device: tpu}}, inputs: {{image: src/frame}}}}
""")
    errors = [e for e in validate(spec) if "device" in e.msg]
    assert errors and errors[0].node_id == "det" and "expected one of 'auto', 'cpu', 'cuda'" in errors[0].msg


@pytest.mark.gpu
def test_cuda_device_takes_the_cuda_provider(classifier: Path) -> None:
    from edgespeed.registry import default_registry

    node = default_registry().resolve("inference.onnx")("det", model=str(classifier), device="cuda")
    node.setup()
    x = np.random.default_rng(1).random((4, 3, 32, 32), dtype=np.float32)
    out = node.process(image=x)["probs"]
    assert node.provider == "CUDAExecutionProvider"
    import onnxruntime as ort

    want = ort.InferenceSession(str(classifier), providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]
    np.testing.assert_allclose(out, want, rtol=1e-3, atol=1e-4)
