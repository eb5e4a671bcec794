"""`edgespeed model prune`: magnitude pruning of weight tensors.

In each weight tensor (the weight input of Conv, ConvTranspose, Gemm and MatMul, float, at
least `min_elements` values) the `sparsity` fraction of values smallest in magnitude is set to
zero. The model keeps its shape and operators: ONNX Runtime's dense kernels multiply the zeros
like any other number, so unstructured sparsity makes the model compress better (for download
or storage) but NOT run faster. Fine-tune after pruning to recover accuracy; agreement with
the original is reported so the cost is visible.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import numpy as np

from . import ModelInputError
from .common import load_onnx

WEIGHT_OPS = {"Conv": (1,), "ConvTranspose": (1,), "Gemm": (0, 1), "MatMul": (0, 1)}


def prune_model(src: Path, dst: Path, sparsity: float, *, min_elements: int = 16) -> dict[str, Any]:
    """Write `src` with its weights magnitude-pruned to `dst`.

    Returns:
        tensors pruned, their sparsity (zeros / values) before and after, the sparsity over all
        parameters, and the file size raw and zlib-compressed, before and after.

    Raises:
        ModelInputError: `sparsity` outside [0, 1), or a file that is not ONNX.
    """
    import onnx
    from onnx import numpy_helper

    if not 0 <= sparsity < 1:
        raise ModelInputError(f"sparsity must be in [0, 1), got {sparsity!r}")
    model = load_onnx(src)
    before = model.SerializeToString()
    inits = {i.name: i for i in model.graph.initializer}
    names = {n.input[k] for n in model.graph.node for k in WEIGHT_OPS.get(n.op_type, ()) if k < len(n.input) and n.input[k] in inits}
    total = zeros_before = zeros_after = 0
    pruned = []
    from ..metrics.console import ProgressBar

    bar = ProgressBar("pruning", len(names))  # on a terminal only
    for name in sorted(names):
        bar.step()
        w = numpy_helper.to_array(inits[name])
        if w.dtype.kind != "f" or w.size < min_elements:
            continue
        flat = w.astype(w.dtype, copy=True).reshape(-1)
        k = round(sparsity * flat.size)
        zeros_before += int((flat == 0).sum())
        if k:
            flat[np.argpartition(np.abs(flat), k - 1)[:k]] = 0  # the k smallest magnitudes
        total += flat.size
        zeros_after += int((flat == 0).sum())
        inits[name].CopyFrom(numpy_helper.from_array(flat.reshape(w.shape), name))
        pruned.append(name)
    bar.close()
    if not pruned:
        raise ModelInputError("no float weight tensors of Conv, Gemm or MatMul to prune", src)
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dst))
    after = model.SerializeToString()
    params = sum(int(np.prod(i.dims)) for i in model.graph.initializer)
    all_zeros = sum(int((numpy_helper.to_array(i) == 0).sum()) for i in model.graph.initializer)
    return {"tensors": len(pruned), "weights": total, "sparsity_before": zeros_before / total, "sparsity": zeros_after / total,
            "sparsity_all_parameters": all_zeros / max(params, 1),
            "size_before": len(before), "size_after": len(after),
            "compressed_before": len(zlib.compress(before, 9)), "compressed_after": len(zlib.compress(after, 9))}
