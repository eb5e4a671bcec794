"""`edgespeed model inspect`: what a model takes and gives, and what it is made of."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from .common import human_size, load_onnx


def inspect_model(path: Path) -> dict[str, Any]:
    """Inputs and outputs (name, dtype, shape), opsets, size, parameter count, operator histogram.

    Raises:
        ModelInputError: the file is missing or not ONNX.
    """
    from onnx import helper

    model = load_onnx(path)
    g = model.graph
    inits = {i.name for i in g.initializer}
    ops: Counter[str] = Counter()
    _count_ops(g, ops)
    return {
        "file": str(path),
        "size_bytes": path.stat().st_size,
        "ir_version": model.ir_version,
        "opsets": {o.domain or "ai.onnx": o.version for o in model.opset_import},
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "inputs": [_value(v, helper) for v in g.input if v.name not in inits],
        "outputs": [_value(v, helper) for v in g.output],
        "parameters": int(sum(int(np.prod(i.dims)) for i in g.initializer)),
        "parameter_dtypes": dict(Counter(helper.tensor_dtype_to_np_dtype(i.data_type).name for i in g.initializer)),
        "nodes": sum(ops.values()),
        "operators": dict(ops.most_common()),
    }


def _count_ops(graph: Any, ops: Counter[str]) -> None:
    """Count every node, subgraphs (If, Loop, Scan bodies) included."""
    for n in graph.node:
        ops[n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}"] += 1
        for attr in n.attribute:
            if attr.g.node:
                _count_ops(attr.g, ops)
            for sub in attr.graphs:
                _count_ops(sub, ops)


def _value(v: Any, helper: Any) -> dict[str, Any]:
    t = v.type.tensor_type
    dtype = helper.tensor_dtype_to_np_dtype(t.elem_type).name if v.type.HasField("tensor_type") and t.elem_type else "?"
    shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim]
    return {"name": v.name, "dtype": dtype, "shape": shape}


def format_inspect(info: dict[str, Any]) -> str:
    """The report as text, one fact per line."""
    def io(items: list[dict[str, Any]]) -> list[str]:
        return [f"  {i['name']}: {i['dtype']} [{', '.join('?' if d is None else str(d) for d in i['shape'])}]" for i in items]

    opsets = ", ".join(f"{d} {v}" for d, v in info["opsets"].items())
    lines = [f"{info['file']}: {human_size(info['size_bytes'])}, IR {info['ir_version']}, opset {opsets}"
             + (f", by {info['producer']}" if info["producer"] else "")]
    lines += ["inputs:", *io(info["inputs"]), "outputs:", *io(info["outputs"])]
    dtypes = ", ".join(f"{v} {k}" for k, v in info["parameter_dtypes"].items())
    lines.append(f"parameters: {info['parameters']:,}" + (f" (tensors: {dtypes})" if dtypes else ""))
    lines.append(f"operators ({info['nodes']} nodes): " + ", ".join(f"{k} {v}" for k, v in info["operators"].items()))
    return "\n".join(lines)
