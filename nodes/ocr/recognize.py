"""Read the text in detected boxes with the PP-OCRv4 recognition model and CTC decoding."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from edgespeed import Frame, Input, Node, Output, Param, Record

from ..inference.session import SessionParams
from .models import REC_MODEL, character_set, ctc_greedy, packaged_model


class TextRecognizer(SessionParams, Node):
    """Read the text of each box found by ocr.detect: crop, recognize, CTC-decode.

    Each box is cut out of the frame with a perspective warp (so slanted text comes out
    straight; boxes much taller than wide are turned a quarter), resized to the model's input
    height (48 px) keeping its aspect ratio, and recognized in batches of similar widths. The
    model's per-step character probabilities are decoded greedily (CTC: best symbol per step,
    repeats merged, blanks removed) with the character set stored in the model's metadata.
    The frame and the boxes are matched by timestamp, so each frame is read with its own boxes.
    The default model ships in `rapidocr-onnxruntime` (`pip install 'edgespeed[ocr]'`).

    Ports:
        frame (in): HxWx3 uint8 BGR, the frame the boxes were found in.
        boxes (in): {boxes_quad (N,4,2), ...} from ocr.detect.
        texts (out): {texts (list of str), scores (N,) float32, boxes_quad (N,4,2),
            boxes_xyxy (N,4), class_ids (N,) zeros, labels (the texts again, so video.overlay
            draws them)} for the texts scoring at least `score_min`.

    Params:
        model: recognition model (default: PP-OCRv4 rec from rapidocr-onnxruntime).
        keys: character file, one per line (default: the model's `character` metadata).
        height_px: model input height (default 48, PP-OCRv4's).
        max_width_px: widest crop after resizing; longer lines are squeezed (default 1600).
        batch_size: crops per model run (default 6).
        score_min: least mean character probability of a kept text (default 0.5).
        providers: ONNX Runtime provider preference (default cuda, coreml, openvino, cpu).
        intra_op_threads: threads inside an operator, 0 = default.

    Example:
        ```yaml
        - id: read
          type: ocr.recognize
          inputs: {frame: cam/frame, boxes: text/boxes}
        ```
    """

    kind = "ocr.recognize"
    sync = "timestamp"
    frame = Input(Frame)
    boxes = Input(Record, doc="{boxes_quad (N,4,2), ...} from ocr.detect")
    texts = Output(Record, doc="{texts, scores, boxes_quad, boxes_xyxy}")
    model: Path | None = Param(None, doc="recognition model; default: packaged PP-OCRv4 rec")
    keys: Path | None = Param(None, doc="character file; default: from the model")
    height_px: int = Param(48, ge=8, le=256, doc="model input height")
    max_width_px: int = Param(1600, ge=32, doc="widest resized crop")
    batch_size: int = Param(6, ge=1, le=256, doc="crops per model run")
    score_min: float = Param(0.5, ge=0, le=1, doc="least score of a kept text")

    def setup(self) -> None:
        import cv2

        self._cv2 = cv2
        path = self.model or packaged_model(REC_MODEL)
        self._session, self.provider = self.open_model(path)
        self._input = self._session.get_inputs()[0].name
        self._charset = character_set(self._session, self.keys)

    def process(self, frame: np.ndarray, boxes: dict[str, Any]) -> dict[str, Any]:
        quads = np.asarray(boxes["boxes_quad"], np.float32).reshape(-1, 4, 2)
        crops = [self._crop(frame, q) for q in quads]
        results = self._recognize(crops)
        keep = np.array([s >= self.score_min and t != "" for t, s in results], bool).reshape(-1)
        kept = quads[keep]
        xyxy = np.concatenate([kept.min(axis=1), kept.max(axis=1)], axis=1) if len(kept) else np.zeros((0, 4), np.float32)
        texts = [t for (t, _), k in zip(results, keep) if k]
        # labels and class_ids make the record a Detections too: video.overlay draws the texts
        return {"texts": {"texts": texts, "scores": np.array([s for (_, s), k in zip(results, keep) if k], np.float32),
                          "boxes_quad": kept, "boxes_xyxy": xyxy.astype(np.float32),
                          "class_ids": np.zeros(len(texts), np.int32), "labels": texts}}

    def _crop(self, frame: np.ndarray, quad: np.ndarray) -> np.ndarray:
        cv2 = self._cv2
        w = max(1, int(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[3] - quad[2]))))
        h = max(1, int(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2]))))
        dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
        m = cv2.getPerspectiveTransform(quad.astype(np.float32), dst)
        crop = cv2.warpPerspective(frame, m, (w, h), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)
        return np.rot90(crop) if h / w >= 1.5 else crop  # vertical text: read it turned

    def _recognize(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        results: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        ratios = [c.shape[1] / c.shape[0] for c in crops]
        order = np.argsort(ratios, kind="stable")  # similar widths together: less padding
        for start in range(0, len(crops), self.batch_size):
            idx = order[start:start + self.batch_size].tolist()
            batch = self._batch([crops[i] for i in idx], max(ratios[i] for i in idx))
            probs = self._session.run(None, {self._input: batch})[0]
            for i, res in zip(idx, ctc_greedy(probs, self._charset)):
                results[i] = res
        return results

    def _batch(self, crops: list[np.ndarray], ratio: float) -> np.ndarray:
        hp = self.height_px
        width = min(self.max_width_px, max(int(hp * 320 / 48), math.ceil(hp * ratio)))
        batch = np.zeros((len(crops), 3, hp, width), np.float32)  # zero padding on the right
        for b, crop in enumerate(crops):
            cw = min(width, math.ceil(hp * crop.shape[1] / crop.shape[0]))
            small = self._cv2.resize(np.ascontiguousarray(crop), (cw, hp))
            np.multiply(small.transpose(2, 0, 1), np.float32(2 / 255), out=batch[b, :, :, :cw], casting="unsafe")
            batch[b, :, :, :cw] -= 1.0  # (x / 255 - 0.5) / 0.5, BGR as trained
        return batch
