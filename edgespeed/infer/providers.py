"""Execution providers: short names, devices mapped to provider lists, provider options.

One table for the whole project, so `inference.onnx`, `edgespeed model bench` and
`edgespeed devices` accept and print the same names. Nothing here imports onnxruntime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

PROVIDERS = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "migraphx": "MIGraphXExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "directml": "DmlExecutionProvider",
    "qnn": "QNNExecutionProvider",
    "nnapi": "NnapiExecutionProvider",
    "dnnl": "DnnlExecutionProvider",
    "cann": "CANNExecutionProvider",
    "xnnpack": "XnnpackExecutionProvider",
    "cpu": "CPUExecutionProvider",
}

# A device names the accelerator; its providers are tried in order, CPU always last. `auto`
# takes the first accelerator installed; TensorRT is left out of it because it builds an engine
# at startup (minutes the first time; cached with `engine_cache_dir`).
DEVICES: dict[str, list[str]] = {
    "auto": ["cuda", "rocm", "migraphx", "openvino", "coreml", "directml", "qnn", "nnapi", "cpu"],
    "cpu": ["cpu"],
    "cuda": ["cuda", "cpu"],
    "tensorrt": ["tensorrt", "cuda", "cpu"],
    "rocm": ["rocm", "cpu"],
    "migraphx": ["migraphx", "rocm", "cpu"],
    "openvino": ["openvino", "cpu"],
    "coreml": ["coreml", "cpu"],
    "directml": ["directml", "cpu"],
    "qnn": ["qnn", "cpu"],
    "nnapi": ["nnapi", "cpu"],
    "dnnl": ["dnnl", "cpu"],
    "cann": ["cann", "cpu"],
    "xnnpack": ["xnnpack", "cpu"],
}


def provider_names(wanted: list[str]) -> list[str]:
    """Full ONNX Runtime provider names for short ones (`cuda`) or full ones.

    Raises:
        ValueError: an unknown name (the message lists the valid ones).
    """
    full = {v.lower(): v for v in PROVIDERS.values()}
    out = []
    for name in wanted:
        key = name.lower()
        if key in PROVIDERS:
            out.append(PROVIDERS[key])
        elif key in full:
            out.append(full[key])
        else:
            raise ValueError(f"unknown provider {name!r}; valid: {', '.join(PROVIDERS)}")
    return out


def device_providers(device: str) -> list[str]:
    """Short provider names, in preference order, for a device (`auto`, `cuda`, `tensorrt`, ...).

    Raises:
        ValueError: an unknown device (the message lists the valid ones).
    """
    if device.lower() not in DEVICES:
        raise ValueError(f"unknown device {device!r}; valid: {', '.join(DEVICES)}")
    return list(DEVICES[device.lower()])


def provider_options(provider: str, *, fp16: bool = False, cache_dir: Path | None = None) -> dict[str, Any]:
    """ONNX Runtime options for one provider (full name): FP16 execution where the provider can
    lower precision itself (TensorRT, OpenVINO, CoreML), and a cache directory for compiled
    engines or blobs (TensorRT engines and timing cache, OpenVINO model cache)."""
    opts: dict[str, Any] = {}
    if provider == "TensorrtExecutionProvider":
        if fp16:
            opts["trt_fp16_enable"] = True
        if cache_dir is not None:
            opts.update(trt_engine_cache_enable=True, trt_engine_cache_path=str(cache_dir),
                        trt_timing_cache_enable=True, trt_timing_cache_path=str(cache_dir))
    elif provider == "OpenVINOExecutionProvider":
        if fp16:
            opts["precision"] = "FP16"
        if cache_dir is not None:
            opts["cache_dir"] = str(cache_dir)
    elif provider == "CoreMLExecutionProvider" and cache_dir is not None:
        opts["ModelCacheDirectory"] = str(cache_dir)
    return opts


def known_not_installed(available: list[str], known: list[str]) -> list[str]:
    """Providers this ONNX Runtime build knows of but was not built or installed with
    (e.g. CUDA on a CPU wheel); AzureExecutionProvider (a remote endpoint) is left out."""
    return [p for p in known if p not in available and p != "AzureExecutionProvider"]
