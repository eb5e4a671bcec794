"""Box geometry shared by the postprocessing nodes: IoU and non-maximum suppression in numpy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def empty_detections() -> dict[str, Any]:
    """A Detections record with no boxes."""
    return {"boxes_xyxy": np.zeros((0, 4), np.float32), "scores": np.zeros(0, np.float32), "class_ids": np.zeros(0, np.int32)}


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in `a` (N,4 xyxy) with every box in `b` (M,4): an (N, M) array."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    iou: np.ndarray = inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)
    return iou


def nms(boxes: np.ndarray, scores: np.ndarray, iou_max: float, class_ids: np.ndarray | None = None,
        max_keep: int = 300) -> np.ndarray:
    """Greedy non-maximum suppression; returns the indices kept, best score first.

    Each step keeps the best remaining box and drops, in one vectorized IoU, every remaining
    box overlapping it by more than `iou_max`; the loop runs once per kept box, not per box.
    With `class_ids`, boxes of different classes never suppress each other (each class is moved
    to its own region of the plane, so one pass serves all classes).
    """
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    b = boxes.astype(np.float32, copy=True)
    if class_ids is not None:
        span = float(b.max() - min(b.min(), 0)) + 1.0
        b += (class_ids.astype(np.float32) * span)[:, None]
    x1, y1, x2, y2 = b.T
    areas = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size and len(keep) < max_keep:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[iou <= iou_max]
    return np.asarray(keep, np.int64)


def unmap_boxes(boxes: np.ndarray, transform: dict[str, Any] | None) -> np.ndarray:
    """Map xyxy boxes from a transformed image back to its source (see image.letterbox)."""
    if not transform:
        return boxes
    sx, sy = transform["scale_xy"]
    ox, oy = transform["offset_xy"]
    w, h = transform["src_wh"]
    out = (boxes - np.array([ox, oy, ox, oy], np.float32)) / np.array([sx, sy, sx, sy], np.float32)
    np.clip(out, 0, np.array([w, h, w, h], np.float32), out=out)
    return out.astype(np.float32, copy=False)


def read_labels(path: Any) -> list[str] | None:
    """Class names from a text file, one per line (blank lines kept as empty names); None
    when no file is given.

    Raises:
        FileNotFoundError: naming the file.
    """
    if path is None:
        return None
    if not Path(path).is_file():
        raise FileNotFoundError(f"labels file '{path}' not found")
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\r\n") for line in f]
