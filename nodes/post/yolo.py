"""Decode YOLO-family detector outputs into boxes in source-frame pixels."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np

from edgespeed import Detections, Input, Node, Output, Param, Record, Tensor

from .boxes import nms, read_labels, unmap_boxes


class YoloDecoder(Node):
    """Turn a YOLO model's raw output into detections: score threshold, NMS, back-mapping.

    Two output layouts are understood: YOLOv8/v11 `(B, 4+C, N)` (cx, cy, w, h, then one score
    per class) and YOLOv5/v7 `(B, N, 5+C)` (cx, cy, w, h, objectness, class scores; the score is
    objectness x class score). `layout: auto` takes v8 when the second axis is the shorter one.
    Boxes are in model-input pixels until mapped back through the `transform` record of
    image.letterbox (or image.crop): wire it and detections come out in source-frame pixels.
    The two inputs are matched by timestamp (the frame's), so each output is decoded with the
    transform of its own frame. NMS is greedy and vectorized in numpy, per class unless
    `class_agnostic`. A batch of B images gives B packets.

    Ports:
        predictions (in): the model output, (B, 4+C, N) or (B, N, 5+C) float.
        transform (in, optional): {scale_xy, offset_xy, src_wh} from image.letterbox.
        detections (out): {boxes_xyxy (N,4) float32 px, scores (N,) float32, class_ids (N,)
            int32, labels (list of str, with `labels`)}.

    Params:
        layout: auto (default), v8 or v5.
        score_min: lowest score kept (default 0.25).
        iou_max: NMS overlap above which the lower-scored box is dropped (default 0.45).
        class_agnostic: let boxes of different classes suppress each other (default false).
        max_detections: most boxes per image after NMS (default 300).
        max_candidates: most boxes entering NMS, best scores first (default 10000).
        classes: keep only these class ids (default: all).
        labels: text file of class names, one per line (default: none).

    Example:
        ```yaml
        - id: decode
          type: post.yolo
          params: {score_min: 0.3, labels: models/coco.txt}
          inputs: {predictions: det/out, transform: box/transform}
        ```
    """

    kind = "post.yolo"
    sync = "timestamp"
    predictions = Input(Tensor, doc="(B, 4+C, N) or (B, N, 5+C) model output")
    transform = Input(Record, optional=True, doc="from image.letterbox, to map boxes back")
    detections = Output(Detections)
    layout: Literal["auto", "v8", "v5"] = Param("auto", doc="output layout")
    score_min: float = Param(0.25, ge=0, le=1, doc="lowest score kept", reloadable=True)
    iou_max: float = Param(0.45, ge=0, le=1, doc="NMS overlap threshold", reloadable=True)
    class_agnostic: bool = Param(False, doc="NMS across classes")
    max_detections: int = Param(300, ge=1, doc="most boxes per image")
    max_candidates: int = Param(10000, ge=1, doc="most boxes entering NMS")
    classes: list[int] | None = Param(None, doc="class ids to keep")
    labels: Path | None = Param(None, doc="class names file, one per line", kind="input_file")

    def setup(self) -> None:
        self._names: list[str] | None = read_labels(self.labels)

    def process(self, predictions: np.ndarray, transform: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        pred = np.asarray(predictions)
        if pred.ndim == 2:
            pred = pred[None]
        if pred.ndim != 3:
            raise ValueError(f"expected predictions of rank 3 (B, 4+C, N) or (B, N, 5+C), got shape {pred.shape}")
        v8 = self.layout == "v8" or (self.layout == "auto" and pred.shape[1] < pred.shape[2])
        for item in pred:
            yield {"detections": self._decode(item.T if v8 else item, v8, transform)}

    def _decode(self, rows: np.ndarray, v8: bool, transform: dict[str, Any] | None) -> dict[str, Any]:
        """`rows` is (N, 4+C) for v8 or (N, 5+C) for v5."""
        first = 4 if v8 else 5
        if rows.shape[1] <= first:
            raise ValueError(f"expected at least {first + 1} values per box for layout {'v8' if v8 else 'v5'}, got {rows.shape[1]}")
        cls_scores = rows[:, first:]
        class_ids = cls_scores.argmax(axis=1)
        scores = cls_scores[np.arange(len(rows)), class_ids]
        if not v8:
            scores = scores * rows[:, 4]
        keep = scores >= self.score_min
        if self.classes is not None:
            keep &= np.isin(class_ids, self.classes)
        idx = np.flatnonzero(keep)
        if len(idx) > self.max_candidates:
            idx = idx[np.argpartition(-scores[idx], self.max_candidates - 1)[: self.max_candidates]]
        cxcywh = rows[idx, :4].astype(np.float32)
        boxes = np.concatenate([cxcywh[:, :2] - cxcywh[:, 2:] / 2, cxcywh[:, :2] + cxcywh[:, 2:] / 2], axis=1)
        scores, class_ids = scores[idx].astype(np.float32), class_ids[idx].astype(np.int32)
        kept = nms(boxes, scores, self.iou_max, None if self.class_agnostic else class_ids, self.max_detections)
        out: dict[str, Any] = {"boxes_xyxy": unmap_boxes(boxes[kept], transform), "scores": scores[kept], "class_ids": class_ids[kept]}
        if self._names is not None:
            names = self._names
            out["labels"] = [names[c] if c < len(names) else str(c) for c in out["class_ids"].tolist()]
        return out
