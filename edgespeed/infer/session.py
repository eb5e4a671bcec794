"""The one way EdgeSpeed opens an ONNX Runtime session, and reads a model's inputs and outputs.

Every session in the project comes from `open_session`: the model tools (`edgespeed model
...`), `inference.onnx`, the OCR nodes and `audio.onnx_vad`. So every model gets the same
provider fallback (the first installed of the wanted ones, CPU always last), full graph
optimization, thread settings, log level and one error type (`ModelError`) with one wording.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MissingDependency
from . import ModelError
from .providers import provider_names, provider_options

__all__ = ["ORT_DTYPES", "TensorInfo", "check_file", "dtype_of", "model_io", "open_session", "ort", "session_io"]

log = logging.getLogger("edgespeed.onnx")

# ONNX Runtime's type strings -> numpy dtype names (the only such table in the project)
ORT_DTYPES = {
    "tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
    "tensor(int8)": "int8", "tensor(uint8)": "uint8", "tensor(int16)": "int16", "tensor(uint16)": "uint16",
    "tensor(int32)": "int32", "tensor(uint32)": "uint32", "tensor(int64)": "int64", "tensor(uint64)": "uint64",
    "tensor(bool)": "bool",
}


def dtype_of(ort_type: str) -> np.dtype[Any]:
    """numpy dtype of an ONNX Runtime type string such as `tensor(float)`.

    Raises:
        TypeError: a type with no numpy equivalent (a sequence, a map, a string tensor).
    """
    name = ORT_DTYPES.get(ort_type)
    if name is None:
        raise TypeError(f"no numpy dtype for ONNX Runtime type {ort_type!r}")
    return np.dtype(name)


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


def ort() -> Any:
    """The onnxruntime module, or MissingDependency naming the extra to install."""
    try:
        import onnxruntime
    except ImportError:
        raise MissingDependency("onnxruntime", "onnx") from None
    return onnxruntime


def check_file(path: Path) -> None:
    """Raise ModelError unless `path` is a readable file."""
    if not path.is_file():
        raise ModelError(f"model file '{path}' not found" + ("" if path.is_absolute() else f" (relative to {Path.cwd()})"))


def open_session(model: Path | bytes, providers: Sequence[str] = ("cpu",), *, intra_threads: int = 0, inter_threads: int = 0,
                 fp16: bool = False, cache_dir: Path | None = None, optimize: bool = True, who: str = "") -> tuple[Any, str]:
    """An InferenceSession on the first of `providers` that is installed (CPU is always added
    last), with full graph optimization and each provider's options (`fp16`, engine
    `cache_dir`: see `provider_options`). Logs which provider was taken, as a warning when it is
    not one of those wanted. Returns (session, provider taken).

    Raises:
        MissingDependency: onnxruntime is not installed.
        ModelError: the file is missing, or ONNX Runtime refuses it.
        ValueError: an unknown provider name.
    """
    rt = ort()
    if isinstance(model, Path):
        check_file(model)
    installed = rt.get_available_providers()
    wanted = provider_names(list(providers))
    usable = [p for p in wanted if p in installed]
    if "CPUExecutionProvider" not in usable:
        usable.append("CPUExecutionProvider")  # always there: the last resort
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
    with_opts = [(p, provider_options(p, fp16=fp16, cache_dir=cache_dir)) for p in usable]
    sess = _session(model, with_opts, optimize=optimize, intra_threads=intra_threads, inter_threads=inter_threads)
    taken: str = sess.get_providers()[0]
    if who or taken not in wanted:  # the model tools say nothing when they got what they asked for
        name = "<bytes>" if isinstance(model, bytes) else model.name
        level = logging.INFO if taken in wanted else logging.WARNING  # falling back within the list is expected
        log.log(level, "%s%s: provider %s (wanted %s; installed %s)", who, name, taken, ", ".join(wanted), ", ".join(installed))
    return sess, taken


def _session(model: Path | bytes, providers: list[Any], *, optimize: bool, intra_threads: int, inter_threads: int) -> Any:
    rt = ort()
    opts = rt.SessionOptions()
    level = rt.GraphOptimizationLevel
    opts.graph_optimization_level = level.ORT_ENABLE_ALL if optimize else level.ORT_DISABLE_ALL
    opts.intra_op_num_threads = intra_threads
    opts.inter_op_num_threads = inter_threads
    if inter_threads > 1:
        opts.execution_mode = rt.ExecutionMode.ORT_PARALLEL
    opts.log_severity_level = 3  # errors only: provider fallbacks are logged by us, once
    src = model if isinstance(model, bytes) else str(model)
    try:
        return rt.InferenceSession(src, sess_options=opts, providers=providers)
    except Exception as e:
        raise ModelError(f"not a usable ONNX model: {first_line(e)}", None if isinstance(model, bytes) else model) from e


def model_io(path: Path) -> tuple[list[TensorInfo], list[TensorInfo]]:
    """The model's inputs and outputs, read with `onnx` when installed (fast, no session), else
    with ONNX Runtime. Raises ModelError for a missing file or one that is not ONNX."""
    check_file(path)
    try:
        import onnx
    except ImportError:
        return session_io(open_session(path, optimize=False)[0])
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:
        raise ModelError(f"'{path}' is not an ONNX model: {first_line(e)}") from e
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
    return [TensorInfo(a.name, ORT_DTYPES.get(a.type), tuple(d if isinstance(d, int) else None for d in a.shape)) for a in args]


def first_line(e: BaseException) -> str:
    """The first line of an exception's message (at most 300 characters), for one-line errors."""
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:300]
