"""What the model tools share: loading a model, inputs, output agreement.

Sessions, the dtype table and `first_line` come from `session.py` (one factory for the whole
project); they are re-exported here because the tools have always imported them from here.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MissingDependency
from . import ModelInputError
from .session import dtype_of, first_line, open_session, ort

__all__ = ["Feed", "agreement", "describe_agreement", "dtype_of", "file_feed", "first_line", "human_size", "input_shape",
           "load_onnx", "ort", "random_feed", "run_all", "session"]

Feed = dict[str, np.ndarray]


def load_onnx(path: Path, *, external: bool = True) -> Any:
    """The ModelProto at `path`; ModelInputError when the file is missing or not ONNX."""
    try:
        import onnx
    except ImportError:
        raise MissingDependency("onnx", "dev") from None
    if not path.is_file():
        raise ModelInputError("model file not found", path)
    try:
        model = onnx.load(str(path), load_external_data=external)
    except Exception as e:
        raise ModelInputError(f"not an ONNX model: {first_line(e)}", path) from e
    if not model.graph.node and not model.graph.output:
        raise ModelInputError("not an ONNX model: it has no graph", path)
    return model


def session(model: Path | bytes, providers: list[str] | None = None, *, threads: int = 0) -> Any:
    """A session from the one factory (`session.open_session`), CPU unless `providers` says
    otherwise; the model tools need only the session, not which provider was taken."""
    return open_session(model, providers or ["cpu"], intra_threads=threads)[0]


def input_shape(arg: Any, shapes: dict[str, tuple[int, ...]], batch: int) -> tuple[int, ...]:
    """A concrete shape for a session input: given, or the model's with the batch axis set."""
    if arg.name in shapes:
        return shapes[arg.name]
    dims = [d if isinstance(d, int) and d > 0 else None for d in arg.shape]
    if dims and dims[0] is None:
        dims[0] = batch
    if None in dims:
        have = ", ".join("?" if d is None else str(d) for d in arg.shape)
        example = "x".join("1" if d is None else str(d) for d in dims)
        raise ModelInputError(f"input {arg.name!r} has dynamic axes ({have}); give its shape with --shape {arg.name}={example}")
    return tuple(int(d) for d in dims if d is not None)


def random_feed(sess: Any, *, shapes: dict[str, tuple[int, ...]] | None = None, batch: int = 1, seed: int = 0) -> Feed:
    """Random inputs of the model's shapes and dtypes (floats in [0, 1), integers in [0, 10))."""
    rng = np.random.default_rng(seed)
    feed = {}
    for arg in sess.get_inputs():
        shape, dt = input_shape(arg, shapes or {}, batch), dtype_of(arg.type)
        if dt.kind == "f":
            feed[arg.name] = rng.random(shape, dtype=np.float32).astype(dt)
        elif dt.kind == "b":
            feed[arg.name] = rng.random(shape) < 0.5
        else:
            feed[arg.name] = rng.integers(0, 10, shape).astype(dt)
    return feed


def file_feed(path: Path, sess: Any) -> Feed:
    """Inputs from a .npy (a model with one input) or .npz (keys = input names) file."""
    names = [a.name for a in sess.get_inputs()]
    if not path.is_file():
        raise ModelInputError("input file not found", path)
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as e:
        raise ModelInputError(f"not a .npy or .npz file: {first_line(e)}", path) from e
    if isinstance(data, np.ndarray):
        if len(names) != 1:
            raise ModelInputError(f"holds one array but the model has {len(names)} inputs ({', '.join(names)}); use a .npz keyed by input name", path)
        return {names[0]: data}
    missing = [n for n in names if n not in data.files]
    if missing:
        raise ModelInputError(f"has no array {missing[0]!r}; it has: {', '.join(data.files) or 'none'}", path)
    return {n: data[n] for n in names}


def run_all(sess: Any, feeds: Iterable[Feed]) -> list[list[np.ndarray]]:
    """The outputs of `sess` for each feed."""
    return [sess.run(None, f) for f in feeds]


def agreement(ref: list[list[np.ndarray]], new: list[list[np.ndarray]]) -> dict[str, Any]:
    """How far `new` outputs are from `ref`: max and mean absolute difference over all outputs,
    and top-1 agreement when the first output looks like class scores (N x C, C > 1)."""
    diffs = [np.abs(a.astype(np.float64) - b.astype(np.float64)) for r, n in zip(ref, new) for a, b in zip(r, n)]
    out: dict[str, Any] = {"samples": len(ref),
                           "max_abs_diff": float(max((d.max() for d in diffs if d.size), default=0.0)),
                           "mean_abs_diff": float(np.mean([d.mean() for d in diffs if d.size])) if diffs else 0.0}
    first = [r[0] for r in ref]
    if first and all(f.ndim == 2 and f.shape[1] > 1 and f.dtype.kind == "f" for f in first):
        a = np.concatenate([r[0].argmax(axis=1) for r in ref])
        b = np.concatenate([n[0].argmax(axis=1) for n in new])
        out["top1_agreement"] = float((a == b).mean())
    return out


def describe_agreement(agree: dict[str, Any]) -> str:
    text = f"on {agree['samples']} inputs: max abs diff {agree['max_abs_diff']:.4g}, mean abs diff {agree['mean_abs_diff']:.4g}"
    if "top1_agreement" in agree:
        text = f"top-1 agreement {agree['top1_agreement']:.1%}, " + text
    return text


def human_size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)
