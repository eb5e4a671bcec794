"""`edgespeed model export`: a PyTorch module to ONNX, checked against ONNX Runtime.

The module comes from a factory named `package.module:function` (or `path/to/file.py:function`):
a function or class called with no arguments that returns a `torch.nn.Module`. It is exported
in eval mode on random inputs of the given shapes, with a dynamic batch axis unless asked
otherwise, by the torch.export-based exporter when `onnxscript` is installed, else by the
TorchScript-based one. The ONNX model is then run by ONNX Runtime on the same inputs and the
largest difference from torch's outputs is reported.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MissingDependency
from . import ModelInputError
from .common import first_line, session


def load_factory(spec: str) -> Any:
    """The object named by `module:attr` or `file.py:attr` (the working directory is importable)."""
    mod_name, _, attr = spec.rpartition(":")
    if not mod_name or not attr:
        raise ModelInputError(f"{spec!r} is not a module:factory path (e.g. mypkg.models:build or models.py:Net)")
    try:
        if mod_name.endswith(".py"):
            path = Path(mod_name)
            if not path.is_file():
                raise ModelInputError("python file not found", path)
            loader_spec = importlib.util.spec_from_file_location(path.stem, path)
            assert loader_spec and loader_spec.loader
            module = importlib.util.module_from_spec(loader_spec)
            loader_spec.loader.exec_module(module)
        else:
            if "" not in sys.path and str(Path.cwd()) not in sys.path:
                sys.path.insert(0, str(Path.cwd()))
            module = importlib.import_module(mod_name)
    except ModelInputError:
        raise
    except Exception as e:
        raise ModelInputError(f"cannot import {mod_name!r}: {first_line(e)}") from e
    if not hasattr(module, attr):
        raise ModelInputError(f"module {mod_name!r} has no {attr!r}")
    return getattr(module, attr)


def export_onnx(factory: str, out: Path, shapes: list[tuple[int, ...]], *, opset: int = 17, dynamic_batch: bool = True,
                input_names: list[str] | None = None, output_names: list[str] | None = None, seed: int = 0) -> dict[str, Any]:
    """Export the module made by `factory` to `out`; returns its path, size and the largest
    absolute difference between torch's and ONNX Runtime's outputs on the export inputs."""
    try:
        import torch
    except ImportError:
        raise MissingDependency("torch", "torch") from None
    module = load_factory(factory)()
    if not isinstance(module, torch.nn.Module):
        raise ModelInputError(f"{factory!r} returned {type(module).__name__}, not a torch.nn.Module")
    module.eval()
    torch.manual_seed(seed)
    args = tuple(torch.randn(*s) for s in shapes)
    ins = input_names or (["input"] if len(args) == 1 else [f"input{k}" for k in range(len(args))])
    with torch.no_grad():
        ref = _flat(module(*args))
    outs = output_names or (["output"] if len(ref) == 1 else [f"output{k}" for k in range(len(ref))])
    out.parent.mkdir(parents=True, exist_ok=True)
    _export(torch, module, args, out, ins, outs, opset, dynamic_batch)
    got = session(out).run(None, {n: a.numpy() for n, a in zip(ins, args)})
    diff = max(float(np.abs(r - g).max()) if r.size else 0.0 for r, g in zip(ref, got))
    return {"path": str(out), "size_bytes": out.stat().st_size, "inputs": ins, "outputs": outs, "max_abs_diff": diff,
            "exporter": "dynamo" if _has_onnxscript() else "torchscript"}


def _export(torch: Any, module: Any, args: tuple[Any, ...], out: Path, ins: list[str], outs: list[str], opset: int, dynamic: bool) -> None:
    try:
        if _has_onnxscript():
            dims = {n: {0: torch.export.Dim("batch")} for n in ins} if dynamic else None
            torch.onnx.export(module, args, str(out), input_names=ins, output_names=outs, opset_version=opset, dynamo=True,
                              dynamic_shapes=dims, external_data=False)
        else:
            axes = {n: {0: "batch"} for n in ins + outs} if dynamic else None
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
                torch.onnx.export(module, args, str(out), input_names=ins, output_names=outs, opset_version=opset, dynamo=False,
                                  dynamic_axes=axes)
    except Exception as e:
        raise ModelInputError(f"torch could not export the module to ONNX: {first_line(e)}") from e


def _flat(result: Any) -> list[np.ndarray]:
    if isinstance(result, (list, tuple)):
        return [x for r in result for x in _flat(r)]
    if isinstance(result, dict):
        return [x for r in result.values() for x in _flat(r)]
    return [result.detach().cpu().numpy()]


def _has_onnxscript() -> bool:
    return importlib.util.find_spec("onnxscript") is not None
