"""Model tools: inspect, quantize (INT8, FP16), prune, benchmark and export models; providers.

The modules behind `edgespeed model ...`, usable from Python too:

```
providers.py  provider short names, devices -> providers, provider options (no onnxruntime import)
session.py    the one ONNX Runtime session factory, the dtype table, a model's inputs/outputs
common.py     loading a model, inputs from shapes or files, output agreement
inspect.py    inputs/outputs, opset, size, parameters, operator histogram
calib.py      calibration inputs from a folder (images, audio, .npy/.npz) or a graph's port
quantize.py   static / dynamic INT8 with ONNX Runtime, FP16 conversion
prune.py      magnitude pruning of weight tensors
bench.py      latency percentiles and throughput per provider and thread count
export.py     PyTorch module -> ONNX, checked against ONNX Runtime
```
Heavy libraries (onnx, onnxruntime, torch) are imported inside functions. Problems with what
the user gave (a file that is not ONNX, an empty calibration folder, an unknown provider)
raise `ModelError`, which the CLI prints as one line and exits 2; the model nodes raise the
same type (`ModelInputError` is its older name, kept for existing imports).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import EdgeSpeedError

__all__ = ["ModelError", "ModelInputError"]


class ModelError(EdgeSpeedError):
    """A model, or an input to a model tool, is missing, unreadable or does not fit; one line.

    Args:
        msg: what is wrong.
        path: the file or folder it is about, if any (shown in front: `model.onnx: msg`).
    """

    def __init__(self, msg: str, path: Path | str | None = None) -> None:
        super().__init__(msg)
        self.msg = msg
        self.path = None if path is None else str(path)

    def __str__(self) -> str:
        return f"{self.path}: {self.msg}" if self.path else self.msg


ModelInputError = ModelError  # the model tools' older name: one type, two names
