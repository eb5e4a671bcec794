"""Turn detectors that decode their own boxes ([B, N, 6] rows) into detections in source pixels."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edgespeed import Detections, Input, Node, Output, Param, Record, Tensor

from .boxes import nms, read_labels, unmap_boxes

ROW = 6  # x1, y1, x2, y2, score, class


class DetectionDecoder(Node):
    """Filter a model's already-decoded boxes: score threshold, class filter, NMS, back-mapping.

    For detectors whose graph ends in their own box decoding (the shipped CenterNet; any export
    laid out the same way): each output row is `x1, y1, x2, y2, score, class` in model-input
    pixels, and rows below the threshold (zero-score padding included) are dropped. The shipped
    `builtin:models/centernet_coco.onnx` gives (N, 100, 6) with 0-based COCO class ids (0 =
    person). The input port declares that layout,
    so `edgespeed validate` reports a model with any other output shape on the edge from the
    model node, before anything runs; the same check runs on the first tensor otherwise. Boxes
    map back to source pixels through the `transform` record of image.letterbox (matched by
    timestamp). NMS runs here as well: a CenterNet's 3x3 peak picking can leave two peaks, so
    two boxes, on one large object. A batch of B images gives B packets.

    Ports:
        predictions (in): (B, N, 6) float: x1, y1, x2, y2, score, class id per row.
        transform (in, optional): {scale_xy, offset_xy, src_wh} from image.letterbox.
        detections (out): {boxes_xyxy (N,4) float32 px, scores (N,) float32, class_ids (N,)
            int32, labels (list of str, with `labels`)}, best score first.

    Params:
        score_min: lowest score kept (default 0.3).
        iou_max: NMS overlap above which the lower-scored box is dropped (default 0.5).
        class_agnostic: let boxes of different classes suppress each other (default false).
        max_detections: most boxes per image after NMS (default 100).
        classes: keep only these class ids (default: all).
        class_base: the id the model gives its first class; subtracted so ids index `labels`
            (default 0; 1 for models counting COCO classes from 1).
        labels: text file of class names, one per line (default: none);
            `builtin:labels/coco.txt` holds the 80 COCO names.

    Example:
        ```yaml
        - id: decode
          type: post.detections
          params: {score_min: 0.3, classes: [0], labels: builtin:labels/coco.txt}
          inputs: {predictions: det/out, transform: box/transform}
        ```
    """

    kind = "post.detections"
    sync = "timestamp"
    predictions = Input(Tensor, shape=(None, None, ROW), doc="(B, N, 6): x1, y1, x2, y2, score, class")
    transform = Input(Record, optional=True, doc="from image.letterbox, to map boxes back")
    detections = Output(Detections)
    score_min: float = Param(0.3, ge=0, le=1, doc="lowest score kept", reloadable=True)
    iou_max: float = Param(0.5, ge=0, le=1, doc="NMS overlap threshold", reloadable=True)
    class_agnostic: bool = Param(False, doc="NMS across classes")
    max_detections: int = Param(100, ge=1, doc="most boxes per image")
    classes: list[int] | None = Param(None, doc="class ids to keep")
    class_base: int = Param(0, ge=0, le=1, doc="id of the model's first class")
    labels: Path | None = Param(None, doc="class names file, one per line", kind="input_file")

    def setup(self) -> None:
        self._names: list[str] | None = read_labels(self.labels)

    def process(self, predictions: np.ndarray, transform: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        pred = np.asarray(predictions)
        if pred.ndim != 3 or pred.shape[2] != ROW:
            # validate catches this when the model file is readable; this is for one given by --set
            raise ValueError(f"expected predictions of shape (B, N, {ROW}) (x1, y1, x2, y2, score, class), got {pred.shape}")
        for rows in pred:
            yield {"detections": self._decode(rows, transform)}

    def _decode(self, rows: np.ndarray, transform: dict[str, Any] | None) -> dict[str, Any]:
        scores = rows[:, 4].astype(np.float32)
        class_ids = np.rint(rows[:, 5]).astype(np.int32) - self.class_base
        keep = scores >= self.score_min  # NaN scores (padding in some exports) fail this too
        if self.classes is not None:
            keep &= np.isin(class_ids, self.classes)
        idx = np.flatnonzero(keep)
        boxes, scores, class_ids = rows[idx, :4].astype(np.float32), scores[idx], class_ids[idx]
        kept = nms(boxes, scores, self.iou_max, None if self.class_agnostic else class_ids, self.max_detections)
        out: dict[str, Any] = {"boxes_xyxy": unmap_boxes(boxes[kept], transform), "scores": scores[kept], "class_ids": class_ids[kept]}
        if self._names is not None:
            names = self._names
            out["labels"] = [names[c] if 0 <= c < len(names) else str(c) for c in out["class_ids"].tolist()]
        return out
