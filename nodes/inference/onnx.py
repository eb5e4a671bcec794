"""Run an ONNX model with ONNX Runtime; the model's inputs and outputs become the node's ports."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal

import numpy as np

from edgespeed import Input, Node, Output, Param, Tensor

from .session import (
    DEVICES,
    ModelError,
    SessionParams,
    TensorInfo,
    check_file,
    device_providers,
    model_io,
    port_name,
    provider_names,
    session_io,
)


class OnnxRunner(SessionParams, Node):
    """Run an ONNX model on each set of input tensors; one port per model input and output.

    Port names are the model's input and output names made port-safe (`images:0` ->
    `images_0`), or the names given in `input_ports` / `output_ports` (in model order), which
    keeps a graph's wiring the same whatever model is plugged in. When the model file is
    readable, `edgespeed validate` knows each port's dtype and rank from the model, so an
    upstream node emitting, say, float16 into a float32 model is reported before anything runs;
    otherwise the same check runs on the first tensors (naming the model input, expected and got).

    The session takes the first installed provider of `providers` (CPU is always the last
    resort) and logs which one it took; `device` names the accelerator instead and maps to its
    providers (`tensorrt` -> TensorRT, CUDA, CPU; `auto` -> the first accelerator installed); graph optimization is fully on (operator fusion). FP16
    and INT8 (quantized) models run as they are: feed them the dtype their inputs declare. A
    model with a fixed batch of 1 fed a batch of N runs N times and joins the outputs; a model
    with a dynamic batch axis runs the batch at once. On GPU providers the inputs and outputs
    go through IO binding. `warmup_runs` runs on zeros at setup (when the input shapes are fixed
    but for the batch) move the first-call cost out of the stream.

    Ports:
        <model input> (in): one per model input, dtype and rank from the model.
        <model output> (out): one per model output.

    Params:
        model: path of the .onnx file (required).
        providers: preference order among tensorrt, cuda, rocm, migraphx, openvino, coreml,
            directml, qnn, xnnpack, cpu (default cuda, coreml, openvino, cpu; TensorRT is
            opt-in because it builds an engine at startup, which takes minutes).
        device: auto, cpu, cuda, tensorrt, rocm, migraphx, openvino, coreml, directml, qnn, nnapi,
            dnnl, cann or xnnpack; when set it replaces `providers` (default unset).
        fp16: let providers that can (TensorRT, OpenVINO) run in float16 (default false); on
            CUDA and CPU convert the model instead: `edgespeed model quantize --fp16`.
        engine_cache_dir: where TensorRT caches built engines and timings (OpenVINO, CoreML
            their compiled models), so only the first start pays the build (default unset).
        intra_op_threads: threads inside one operator, 0 = ONNX Runtime's choice (default 0).
        inter_op_threads: threads across independent operators, 0 = default (sequential).
        input_ports: port names for the model inputs, in model order (default: their names).
        output_ports: port names for the model outputs, in model order (default: their names).
        warmup_runs: inference runs on zeros at setup (default 1).

    Example:
        ```yaml
        - id: det
          type: inference.onnx
          params: {model: models/yolov8n.onnx, providers: [cuda, cpu], input_ports: [tensor], output_ports: [out]}
          inputs: {tensor: norm/tensor}
        ```
    """

    kind = "inference.onnx"
    sync = "timestamp"  # a model with several inputs needs all of them per call: tensors of one frame share its pts
    model: Path = Param(doc="path of the .onnx file", kind="model_file")
    device: Literal[tuple(DEVICES)] | None = Param(None, doc="accelerator; replaces providers")  # type: ignore[valid-type]
    fp16: bool = Param(False, doc="float16 execution on TensorRT / OpenVINO")
    engine_cache_dir: Path | None = Param(None, doc="engine cache directory (TensorRT, OpenVINO, CoreML)")
    inter_op_threads: int = Param(0, ge=0, le=256, doc="threads across operators; 0 = default")
    input_ports: list[str] | None = Param(None, doc="port names for the model inputs, in order")
    output_ports: list[str] | None = Param(None, doc="port names for the model outputs, in order")
    warmup_runs: int = Param(1, ge=0, le=100, doc="runs on zeros at setup")

    @classmethod
    def declare_ports(cls, params: dict[str, Any]) -> tuple[dict[str, Input], dict[str, Output]]:
        provider_names(params["providers"])
        path = Path(params["model"])
        if not path.is_file() and params["input_ports"] and params["output_ports"]:
            # not readable now (e.g. the path comes with --set at run time): check at run time
            return ({n: Input(Tensor, doc="model input") for n in params["input_ports"]},
                    {n: Output(Tensor, doc="model output") for n in params["output_ports"]})
        if not path.is_file():
            check_file(path)
        ins, outs = _cached_io(str(path.resolve()), path.stat().st_mtime_ns)
        in_names = _names(params["input_ports"], ins, "input")
        out_names = _names(params["output_ports"], outs, "output")
        return ({n: Input(Tensor, dtype=i.dtype, shape=i.shape, doc=f"model input {i.name!r}") for n, i in zip(in_names, ins)},
                {n: Output(Tensor, dtype=o.dtype, shape=_any_batch(o.shape), doc=f"model output {o.name!r}") for n, o in zip(out_names, outs)})

    def setup(self) -> None:
        providers = device_providers(self.device) if self.device else self.providers
        self._session, self.provider = self.open_model(
            self.model, providers, inter_threads=self.inter_op_threads, fp16=self.fp16, cache_dir=self.engine_cache_dir)
        ins, outs = session_io(self._session)
        self._ins = list(zip(_names(self.input_ports, ins, "input"), ins))
        self._outs = list(zip(_names(self.output_ports, outs, "output"), outs))
        self._out_names = [o.name for o in outs]
        self._bind = self.provider != "CPUExecutionProvider"  # IO binding gains nothing on CPU
        shapes = [(i.shape[0] if i.shape and i.shape[0] else 1, *i.shape[1:]) for _, i in self._ins]
        fixed = [tuple(d for d in s if d is not None) for s in shapes]
        if self.warmup_runs and all(len(f) == len(s) for f, s in zip(fixed, shapes)):  # no dynamic axis but the batch
            zeros = {i.name: np.zeros(f, np.dtype(i.dtype or "float32")) for (_, i), f in zip(self._ins, fixed)}
            for _ in range(self.warmup_runs):
                self._infer(zeros)

    def process(self, **inputs: np.ndarray) -> dict[str, Any]:
        feed = {}
        for port, info in self._ins:
            arr = inputs[port]
            self._check(port, info, arr)  # a few comparisons: cheap next to any model
            feed[info.name] = arr
        batch = next(iter(feed.values())).shape[0] if feed else 1
        first = self._ins[0][1] if self._ins else None
        if first is not None and first.shape and first.shape[0] == 1 and batch > 1:
            results = self._run_each(feed, batch)  # a fixed-batch model: one item at a time
        else:
            results = self._infer(feed)
        return {port: r for (port, _), r in zip(self._outs, results)}

    def _check(self, port: str, info: TensorInfo, arr: Any) -> None:
        ok = isinstance(arr, np.ndarray) and (info.dtype is None or arr.dtype == np.dtype(info.dtype)) and arr.ndim == len(info.shape)
        if ok:
            ok = all(want is None or got == want or (k == 0 and want == 1) for k, (want, got) in enumerate(zip(info.shape, arr.shape)))
        if not ok:
            got = f"{arr.dtype} {tuple(arr.shape)}" if isinstance(arr, np.ndarray) else type(arr).__name__
            raise ModelError(f"input {port!r} (model input {info.name!r} of '{self.model.name}'): expected {info.describe()}, got {got}")

    def _infer(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        if not self._bind:
            return list(self._session.run(self._out_names, feed))
        binding = self._session.io_binding()
        for name, arr in feed.items():
            binding.bind_cpu_input(name, np.ascontiguousarray(arr))
        for name in self._out_names:
            binding.bind_output(name, "cpu")
        self._session.run_with_iobinding(binding)
        return list(binding.copy_outputs_to_cpu())

    def _run_each(self, feed: dict[str, np.ndarray], batch: int) -> list[np.ndarray]:
        parts = [self._infer({k: v[b:b + 1] for k, v in feed.items()}) for b in range(batch)]
        return [np.concatenate([p[k] for p in parts], axis=0) for k in range(len(self._out_names))]


def _any_batch(shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
    """A fixed batch of 1 fed N items runs N times and joins the outputs (`_run_each`), so an
    output's declared batch axis is open: the worker checks outputs against their contract."""
    return (None, *shape[1:]) if shape and shape[0] == 1 else shape


@functools.lru_cache(maxsize=16)
def _cached_io(path: str, mtime_ns: int) -> tuple[list[TensorInfo], list[TensorInfo]]:
    """Read once per file version: validate and the node itself both ask."""
    return model_io(Path(path))


def _names(given: list[str] | None, infos: list[TensorInfo], what: str) -> list[str]:
    if given is None:
        names = [port_name(i.name) for i in infos]
        return [n if names.count(n) == 1 else f"{n}_{k}" for k, n in enumerate(names)]
    if len(given) != len(infos):
        have = ", ".join(repr(i.name) for i in infos)
        raise ModelError(f"{what}_ports names {len(given)} ports but the model has {len(infos)} {what}s ({have}); give one name each")
    bad = [n for n in given if port_name(n) != n]
    if bad:
        raise ModelError(f"{what}_ports: {bad[0]!r} is not a port name; use lowercase letters, digits and _")
    return list(given)
