"""Calibration (and agreement) inputs for a model: from a folder of images, audio clips or
.npy/.npz arrays, or from what a port of a graph produces.

Images are resized to the model input's height and width, converted to RGB (unless `bgr`)
and, for float inputs, scaled to 0..1 then normalized with `mean`/`std` per channel; layout
(NCHW or NHWC) follows from where the model's 3 (or 1) channels are. Audio is decoded to mono
float32 at `sample_rate_hz` and cut or zero-padded to the input's fixed length. Arrays are
used as they are (a .npz keyed by input name for a model with several inputs).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import MissingDependency
from ..node import Input, Node, Param
from . import ModelInputError
from .common import Feed, dtype_of, file_feed, first_line

IMAGES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".ppm", ".pgm", ".tif", ".tiff"}
AUDIO = {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a"}
ARRAYS = {".npy", ".npz"}


@dataclass(frozen=True)
class Preprocess:
    """How files become model inputs (see the module docstring)."""

    bgr: bool = False
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    sample_rate_hz: int = 16000


def folder_feeds(folder: Path, sess: Any, *, limit: int = 64, pre: Preprocess = Preprocess()) -> list[Feed]:
    """Up to `limit` feeds from the files in `folder`, sorted by name.

    Raises:
        ModelInputError: the folder is missing or holds no usable file.
    """
    if not folder.is_dir():
        raise ModelInputError("calibration folder not found", folder)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGES | AUDIO | ARRAYS)
    if not files:
        raise ModelInputError(f"calibration folder has no images ({', '.join(sorted(IMAGES))}), "
                              f"audio ({', '.join(sorted(AUDIO))}) or .npy/.npz files", folder)
    inputs = sess.get_inputs()
    if len(inputs) != 1 and any(p.suffix.lower() not in ARRAYS for p in files):
        raise ModelInputError(f"the model has {len(inputs)} inputs; calibrate it with .npz files keyed by input name", folder)
    feeds = []
    for p in files[:limit]:
        kind = p.suffix.lower()
        if kind in ARRAYS:
            feeds.append(file_feed(p, sess))
        elif kind in IMAGES:
            feeds.append({inputs[0].name: image_tensor(p, inputs[0], pre)})
        else:
            feeds.append({inputs[0].name: audio_tensor(p, inputs[0], pre)})
    return feeds


def image_tensor(path: Path, arg: Any, pre: Preprocess) -> np.ndarray:
    """One image as a batch of 1 in the model input's layout, size and dtype."""
    import cv2

    shape = list(arg.shape)
    if len(shape) != 4:
        raise ModelInputError(f"model input {arg.name!r} has rank {len(shape)}; images need a 4-D input (NCHW or NHWC)", path)
    nchw = shape[1] in (1, 3) or shape[3] not in (1, 3)
    c, h, w = (shape[1], shape[2], shape[3]) if nchw else (shape[3], shape[1], shape[2])
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE if c == 1 else cv2.IMREAD_COLOR)
    if img is None:
        raise ModelInputError("cannot read the image", path)
    if isinstance(h, int) and isinstance(w, int) and h > 0 and w > 0:
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    if img.ndim == 2:
        img = img[:, :, None]
    elif not pre.bgr:
        img = img[:, :, ::-1]
    dt = dtype_of(arg.type)
    x = img.astype(dt) if dt.kind != "f" else ((img.astype(np.float32) / 255 - np.asarray(pre.mean, np.float32)) / np.asarray(pre.std, np.float32)).astype(dt)
    x = x.transpose(2, 0, 1) if nchw else x
    return np.ascontiguousarray(x[None])


def audio_tensor(path: Path, arg: Any, pre: Preprocess) -> np.ndarray:
    """One clip, mono float32, cut or zero-padded to the input's length, in the input's rank."""
    samples = read_audio(path, pre.sample_rate_hz)
    shape = list(arg.shape)
    n = shape[-1] if shape and isinstance(shape[-1], int) and shape[-1] > 0 else len(samples)
    x = np.zeros(n, np.float32)
    x[:min(n, len(samples))] = samples[:n]
    return x.reshape([1] * (len(shape) - 1) + [n]).astype(dtype_of(arg.type))


def read_audio(path: Path, rate_hz: int) -> np.ndarray:
    try:
        import av
    except ImportError:
        raise MissingDependency("av", "audio") from None
    try:
        with av.open(str(path)) as c:
            res = av.AudioResampler(format="flt", layout="mono", rate=rate_hz)
            parts = [f.to_ndarray().reshape(-1) for frame in c.decode(audio=0) for f in res.resample(frame)]
            parts += [f.to_ndarray().reshape(-1) for f in res.resample(None)]
    except Exception as e:
        raise ModelInputError(f"cannot decode the audio: {first_line(e)}", path) from e
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def graph_feeds(graph: Path, port: str, sess: Any, *, limit: int = 64, timeout_s: float = 60.0) -> list[Feed]:
    """The first `limit` tensors a graph emits on `port` (`node/output`), each fed to the
    model's single input. Only `node` and what feeds it run; sinks are left out."""
    import yaml

    from ..graph import load_text
    from ..graph.validate import check
    from ..runtime.scheduler import Run

    node_id, _, out = port.partition("/")
    if not graph.is_file():
        raise ModelInputError("graph file not found", graph)
    doc = yaml.safe_load(graph.read_text())
    nodes: dict[str, Any] = {str(n.get("id")): n for n in (doc or {}).get("nodes", []) if isinstance(n, dict)}
    if node_id not in nodes or not out:
        raise ModelInputError(f"--calib-port {port!r}: give node/output of a node of this graph (nodes: {', '.join(map(str, nodes))})", graph)
    keep = _ancestors(node_id, nodes)
    doc["nodes"] = [n for i, n in nodes.items() if i in keep]
    doc["nodes"].append({"id": "calib_collector", "type": f"{__name__}:_Collector", "params": {"limit": limit},
                         "inputs": {"tensor": port}})
    run = Run(check(load_text(yaml.safe_dump(doc, sort_keys=False), file=str(graph))))
    _Collector.collected, _Collector.run = [], run
    run.start()
    run.wait(timeout_s)  # the collector stops the sources once it has `limit` tensors
    name = sess.get_inputs()[0].name
    if not _Collector.collected:
        raise ModelInputError(f"the graph produced nothing on {port!r}", graph)
    return [{name: t} for t in _Collector.collected[:limit]]


def _ancestors(node_id: str, nodes: dict[str, Any]) -> set[str]:
    keep, todo = set(), [node_id]
    while todo:
        nid = todo.pop()
        if nid in keep or nid not in nodes:
            continue
        keep.add(nid)
        for src in (nodes[nid].get("inputs") or {}).values():
            ref = src.get("from", "") if isinstance(src, dict) else str(src)
            todo.append(ref.partition("/")[0])
    return keep


class _Collector(Node):
    """Keep the first `limit` tensors for calibration, then stop the graph's sources."""

    kind = "infer.calib_collector"
    tensor = Input()
    limit: int = Param(64, ge=1)
    collected: ClassVar[list[np.ndarray]] = []
    run: ClassVar[Any] = None

    def process(self, **inputs: Any) -> None:
        tensor = inputs["tensor"]
        if len(_Collector.collected) < self.limit:
            _Collector.collected.append(np.array(tensor))  # a copy: inputs are ring views
        if len(_Collector.collected) >= self.limit and _Collector.run is not None:
            _Collector.run.stop("calibration inputs collected")
