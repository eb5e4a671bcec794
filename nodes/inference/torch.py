"""Run a TorchScript or torch.export model with PyTorch (the optional `edgespeed[torch]` extra)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np

from edgespeed import EdgeSpeedError, Input, MissingDependency, Node, Output, Param, Tensor


class TorchRunner(Node):
    """Run a saved PyTorch model on each set of input tensors, in inference mode.

    The file is a TorchScript module (`torch.jit.save`, usually `.pt`) or a torch.export program
    (`torch.export.save`, `.pt2`). Its inputs are the node's `input_ports` in the order of the
    model's forward arguments; its outputs (a tensor, or a tuple/list of them) go to
    `output_ports` in order. Arrays go in as they come (their dtype and shape are the model's
    business) and come out as numpy arrays on the CPU. PyTorch is imported in setup only.
    For deployment, ONNX (`edgespeed model export`, then `inference.onnx`) is usually lighter
    and faster; this node runs what has not been exported yet.

    Ports:
        <input_ports> (in): one per forward argument (default one port, `tensor`).
        <output_ports> (out): one per model output (default one port, `out`).

    Params:
        model: path of the .pt (TorchScript) or .pt2 (torch.export) file (required).
        device: cpu, cuda, or auto (cuda when available) (default cpu).
        threads: intra-op threads for the CPU, 0 = PyTorch's default (default 0).
        input_ports: port names of the forward arguments, in order (default [tensor]).
        output_ports: port names of the outputs, in order (default [out]).

    Example:
        ```yaml
        - id: cls
          type: inference.torch
          params: {model: models/resnet18.pt, device: auto}
          inputs: {tensor: norm/tensor}
        ```
    """

    kind = "inference.torch"
    sync = "timestamp"  # a model with several inputs needs all of them per call: tensors of one frame share its pts
    model: Path = Param(doc="path of the .pt (TorchScript) or .pt2 (torch.export) file", kind="model_file")
    device: Literal["cpu", "cuda", "auto"] = Param("cpu", doc="where the model runs")
    threads: int = Param(0, ge=0, le=256, doc="CPU intra-op threads; 0 = default")
    input_ports: list[str] = Param(["tensor"], doc="port names of the forward arguments, in order")
    output_ports: list[str] = Param(["out"], doc="port names of the outputs, in order")

    @classmethod
    def declare_ports(cls, params: dict[str, Any]) -> tuple[dict[str, Input], dict[str, Output]]:
        for what in ("input_ports", "output_ports"):
            names = params[what]
            if not names or len(set(names)) != len(names):
                raise ValueError(f"{what} must name at least one port, each once; got {names!r}")
        return ({n: Input(Tensor, doc="model input") for n in params["input_ports"]},
                {n: Output(Tensor, doc="model output") for n in params["output_ports"]})

    def setup(self) -> None:
        try:
            import torch
        except ImportError:
            raise MissingDependency("torch", "torch") from None
        self._torch = torch
        if not self.model.is_file():
            raise EdgeSpeedError(f"model file '{self.model}' not found")
        if self.threads:
            torch.set_num_threads(self.threads)
        self._device = torch.device("cuda" if self.device == "cuda" or (self.device == "auto" and torch.cuda.is_available()) else "cpu")
        try:
            if self.model.suffix == ".pt2":
                self._module = torch.export.load(str(self.model)).module()
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is deprecated, still widely shipped
                    load = torch.jit.load  # (untyped in torch's own annotations)
                    self._module = load(str(self.model), map_location=self._device)  # type: ignore[no-untyped-call]
                self._module.eval()
        except Exception as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
            raise EdgeSpeedError(f"'{self.model}' is not a TorchScript (.pt) or torch.export (.pt2) model: {first}") from e
        self._module.to(self._device)

    def process(self, **inputs: np.ndarray) -> dict[str, np.ndarray]:
        torch = self._torch
        # a copy: inputs are read-only ring views and torch wants writable memory
        args = [torch.from_numpy(np.array(inputs[p], copy=True)).to(self._device) for p in self.input_ports]
        with torch.inference_mode():
            result = self._module(*args)
        outs = list(result) if isinstance(result, (tuple, list)) else [result]
        if len(outs) != len(self.output_ports):
            raise EdgeSpeedError(f"the model returned {len(outs)} outputs but output_ports names {len(self.output_ports)}: "
                                 f"{', '.join(self.output_ports)}")
        return {p: o.detach().cpu().numpy() for p, o in zip(self.output_ports, outs)}
