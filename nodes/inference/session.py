"""ONNX Runtime sessions for nodes: reading a model's inputs and outputs, choosing providers.

Shared by inference.onnx and the OCR nodes, so that every model in a graph gets the same
provider fallback, thread settings, graph optimization and error messages.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgespeed import EdgeSpeedError, MissingDependency
# one table of providers and devices for the whole project: inference.onnx, `edgespeed model
# bench` and `edgespeed devices` accept and print the same names
from edgespeed.infer.providers import DEVICES, PROVIDERS, device_providers, provider_names, provider_options

__all__ = ["DEFAULT_PROVIDERS", "DEVICES", "PROVIDERS", "ModelError", "TensorInfo", "check_file", "device_providers",
           "model_io", "open_session", "port_name", "provider_names", "provider_options", "session_io"]

log = logging.getLogger("edgespeed.onnx")

DEFAULT_PROVIDERS = ["cuda", "coreml", "openvino", "cpu"]

_ORT_TYPES = {
    "tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
    "tensor(int8)": "int8", "tensor(uint8)": "uint8", "tensor(int16)": "int16", "tensor(uint16)": "uint16",
    "tensor(int32)": "int32", "tensor(uint32)": "uint32", "tensor(int64)": "int64", "tensor(uint64)": "uint64",
    "tensor(bool)": "bool",
}


class ModelError(EdgeSpeedError):
    """A model file is missing, unreadable or does not fit its inputs (one line)."""


@dataclass(frozen=True)
class TensorInfo:
    """One model input or output: its name, numpy dtype (None if not a plain tensor) and shape
    (None for a dynamic axis)."""

    name: str
    dtype: str | None
    shape: tuple[int | None, ...]

    def describe(self) -> str:
        dims = ", ".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.dtype or 'any'} ({dims})"


def port_name(tensor_name: str) -> str:
    """A valid port name from a model tensor name: `images:0` -> `images_0`, `1234` -> `t_1234`."""
    name = re.sub(r"[^a-z0-9_]+", "_", tensor_name.lower()).strip("_") or "t"
    return name if name[0].isalpha() else "t_" + name


def check_file(path: Path) -> None:
    """Raise ModelError unless `path` is a readable file."""
    if not path.is_file():
        raise ModelError(f"model file '{path}' not found" + ("" if path.is_absolute() else f" (relative to {Path.cwd()})"))


def model_io(path: Path) -> tuple[list[TensorInfo], list[TensorInfo]]:
    """The model's inputs and outputs, read with `onnx` when installed (fast, no session), else
    with ONNX Runtime. Raises ModelError for a missing file or one that is not ONNX."""
    check_file(path)
    try:
        import onnx
    except ImportError:
        return session_io(_session(path, ["CPUExecutionProvider"], optimize=False))
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:
        raise ModelError(f"'{path}' is not an ONNX model: {_first_line(e)}") from e
    inits = {i.name for i in model.graph.initializer}
    return ([_onnx_info(v) for v in model.graph.input if v.name not in inits],
            [_onnx_info(v) for v in model.graph.output])


def _onnx_info(value: Any) -> TensorInfo:
    from onnx import helper

    t = value.type.tensor_type
    dtype = str(helper.tensor_dtype_to_np_dtype(t.elem_type)) if value.type.HasField("tensor_type") and t.elem_type else None
    shape = tuple(d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim)
    return TensorInfo(value.name, dtype, shape)


def session_io(sess: Any) -> tuple[list[TensorInfo], list[TensorInfo]]:
    """The inputs and outputs of an open InferenceSession."""
    return _ort_io(sess.get_inputs()), _ort_io(sess.get_outputs())


def _ort_io(args: list[Any]) -> list[TensorInfo]:
    return [TensorInfo(a.name, _ORT_TYPES.get(a.type), tuple(d if isinstance(d, int) else None for d in a.shape)) for a in args]


def open_session(path: Path, providers: list[str], *, intra_threads: int = 0, inter_threads: int = 0,
                 who: str = "", fp16: bool = False, cache_dir: Path | None = None) -> tuple[Any, str]:
    """An InferenceSession on the first of `providers` that is installed, with full graph
    optimization and each provider's options (`fp16`, engine `cache_dir`: see
    `provider_options`); logs which provider was taken. Returns (session, provider taken)."""
    ort = _ort()
    check_file(path)
    installed = ort.get_available_providers()
    usable = [p for p in provider_names(providers) if p in installed]
    if "CPUExecutionProvider" not in usable:
        usable.append("CPUExecutionProvider")  # always there: the last resort
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
    with_opts = [(p, provider_options(p, fp16=fp16, cache_dir=cache_dir)) for p in usable]
    sess = _session(path, with_opts, intra_threads=intra_threads, inter_threads=inter_threads)
    taken = sess.get_providers()[0]
    wanted = provider_names(providers)
    level = logging.INFO if taken in wanted else logging.WARNING  # falling back within the list is expected
    log.log(level, "%s%s: provider %s (wanted %s; installed %s)", who, path.name, taken, ", ".join(wanted), ", ".join(installed))
    return sess, taken


def _session(path: Path, providers: list[Any], *, optimize: bool = True, intra_threads: int = 0, inter_threads: int = 0) -> Any:
    ort = _ort()
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize else ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.intra_op_num_threads = intra_threads
    opts.inter_op_num_threads = inter_threads
    if inter_threads > 1:
        opts.execution_mode = ort.ExecutionMode.ORT_PARALLEL
    opts.log_severity_level = 3  # errors only: provider fallbacks are logged by us, once
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=providers)
    except Exception as e:
        raise ModelError(f"'{path}' is not a usable ONNX model: {_first_line(e)}") from e


def _ort() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise MissingDependency("onnxruntime", "onnx") from None
    return onnxruntime


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:300]
