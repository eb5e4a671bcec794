"""Find text in frames with the PP-OCRv4 detection model and DB postprocessing."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np

from edgespeed import Frame, Input, Node, Output, Param, Record

from ..inference.session import SessionParams
from .models import DET_MODEL, packaged_model


class TextDetector(SessionParams, Node):
    """Find text lines in each frame: PP-OCRv4 detection and DB (differentiable binarization)
    postprocessing, giving one rotated box per line in source-frame pixels.

    The frame is resized so that its short side is `side_px` (`side_mode: min`, PaddleOCR's
    default, which helps small text) or its long side at most `side_px` (`max`, faster on large
    frames), rounded to multiples of 32. The model gives a text probability map; pixels above
    `threshold` form regions (dilated by one pixel), each region's minimum-area rectangle is
    scored by the mean probability inside it (dropped below `box_min`), then grown by the DB
    unclip offset `area * unclip_ratio / perimeter` on every side (the model predicts shrunk
    text kernels), and mapped back to the frame. The default model ships in the
    `rapidocr-onnxruntime` package (`pip install 'edgespeed[ocr]'`); nothing is downloaded.

    Ports:
        frame (in): HxWx3 uint8 BGR.
        boxes (out): {boxes_quad (N,4,2) float32 corners tl, tr, br, bl in px, boxes_xyxy
            (N,4) float32 bounds, scores (N,) float32}, top to bottom.

    Params:
        model: detection model (default: PP-OCRv4 det from rapidocr-onnxruntime).
        side_px: target side length in pixels (default 736).
        side_mode: min (default: short side = side_px) or max (long side <= side_px).
        threshold: probability above which a pixel is text (default 0.3).
        box_min: least mean probability of a kept box (default 0.5).
        unclip_ratio: DB expansion ratio (default 1.6).
        max_candidates: most regions examined per frame (default 1000).
        providers: ONNX Runtime provider preference (default cuda, coreml, openvino, cpu).
        intra_op_threads: threads inside an operator, 0 = default.

    Example:
        ```yaml
        - {id: text, type: ocr.detect, params: {side_px: 960, side_mode: max}, inputs: {frame: cam/frame}}
        ```
    """

    kind = "ocr.detect"
    frame = Input(Frame)
    boxes = Output(Record, doc="{boxes_quad (N,4,2), boxes_xyxy (N,4), scores (N,)} px")
    model: Path | None = Param(None, doc="detection model; default: packaged PP-OCRv4 det")
    side_px: int = Param(736, ge=32, le=8192, doc="target side length in pixels")
    side_mode: Literal["min", "max"] = Param("min", doc="which side side_px sets")
    threshold: float = Param(0.3, gt=0, lt=1, doc="probability above which a pixel is text")
    box_min: float = Param(0.5, ge=0, le=1, doc="least mean probability of a box")
    unclip_ratio: float = Param(1.6, gt=0, le=10, doc="DB expansion ratio")
    max_candidates: int = Param(1000, ge=1, doc="most regions per frame")

    def setup(self) -> None:
        import cv2

        self._cv2 = cv2
        path = self.model or packaged_model(DET_MODEL)
        self._session, self.provider = self.open_model(path)
        self._input = self._session.get_inputs()[0].name
        self._kernel = np.ones((2, 2), np.uint8)
        self._tensors: dict[tuple[int, int], np.ndarray] = {}

    def process(self, frame: np.ndarray) -> dict[str, Any]:
        h, w = frame.shape[:2]
        mw, mh = self._model_size(w, h)
        small = self._cv2.resize(frame, (mw, mh))
        tensor = self._tensors.get((mw, mh))
        if tensor is None:  # the model's input stays ours (never emitted): one per frame size
            tensor = self._tensors[(mw, mh)] = np.empty((1, 3, mh, mw), np.float32)
        np.multiply(small.transpose(2, 0, 1), np.float32(2 / 255), out=tensor[0], casting="unsafe")
        tensor -= 1.0  # (x / 255 - 0.5) / 0.5, in BGR order as the model was trained
        prob = self._session.run(None, {self._input: tensor})[0][0, 0]
        quads, scores = self._db_boxes(prob, w / prob.shape[1], h / prob.shape[0], w, h)
        order = np.lexsort((quads[:, 0, 0], quads[:, 0, 1])) if len(quads) else np.zeros(0, np.int64)
        quads, scores = quads[order], scores[order]
        xyxy = np.concatenate([quads.min(axis=1), quads.max(axis=1)], axis=1) if len(quads) else np.zeros((0, 4), np.float32)
        return {"boxes": {"boxes_quad": quads, "boxes_xyxy": xyxy.astype(np.float32), "scores": scores}}

    def _model_size(self, w: int, h: int) -> tuple[int, int]:
        side = min(w, h) if self.side_mode == "min" else max(w, h)
        ratio = self.side_px / side if (self.side_mode == "min" or side > self.side_px) else 1.0
        return max(32, round(w * ratio / 32) * 32), max(32, round(h * ratio / 32) * 32)

    def _db_boxes(self, prob: np.ndarray, sx: float, sy: float, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        cv2 = self._cv2
        mask = cv2.dilate((prob > self.threshold).astype(np.uint8), self._kernel)
        contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        quads, scores = [], []
        for contour in contours[: self.max_candidates]:
            (cx, cy), (rw, rh), angle = cv2.minAreaRect(contour)
            if min(rw, rh) < 3:
                continue
            corners = cv2.boxPoints(((cx, cy), (rw, rh), angle))
            score = self._mean_inside(prob, corners)
            if score < self.box_min:
                continue
            grow = rw * rh * self.unclip_ratio / (2 * (rw + rh))  # DB unclip offset, per side
            rw, rh = rw + 2 * grow, rh + 2 * grow
            if min(rw, rh) < 5:
                continue
            pts = cv2.boxPoints(((cx, cy), (rw, rh), angle)) * np.array([sx, sy], np.float32)
            np.clip(pts, 0, [w - 1, h - 1], out=pts)
            quads.append(_order_corners(pts))
            scores.append(score)
        if not quads:
            return np.zeros((0, 4, 2), np.float32), np.zeros(0, np.float32)
        return np.asarray(quads, np.float32), np.asarray(scores, np.float32)

    def _mean_inside(self, prob: np.ndarray, corners: np.ndarray) -> float:
        """Mean probability inside the box (on its bounding crop, as DB's fast score does)."""
        ph, pw = prob.shape
        x0, y0 = np.clip(np.floor(corners.min(axis=0)).astype(int), 0, [pw - 1, ph - 1])
        x1, y1 = np.clip(np.ceil(corners.max(axis=0)).astype(int), 0, [pw - 1, ph - 1])
        mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
        self._cv2.fillPoly(mask, [np.round(corners - [x0, y0]).astype(np.int32)], 1)
        return float(self._cv2.mean(prob[y0:y1 + 1, x0:x1 + 1], mask)[0])


def _order_corners(pts: np.ndarray) -> np.ndarray:
    """Corners as top-left, top-right, bottom-right, bottom-left (by x, then y within each side)."""
    by_x = pts[np.argsort(pts[:, 0], kind="stable")]
    left, right = by_x[:2], by_x[2:]
    tl, bl = left[np.argsort(left[:, 1], kind="stable")]
    tr, br = right[np.argsort(right[:, 1], kind="stable")]
    return np.array([tl, tr, br, bl], np.float32)
