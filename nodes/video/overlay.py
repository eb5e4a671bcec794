"""Draw detections, track ids and counts on a copy of each frame."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgespeed import Detections, Frame, Input, Node, Output, Param, Record

# Distinct BGR colors (Tableau 10), picked by track id when there is one, else by class id.
PALETTE = ((180, 119, 31), (14, 127, 255), (44, 160, 44), (40, 39, 214), (189, 103, 148),
           (75, 86, 140), (194, 119, 227), (127, 127, 127), (34, 189, 188), (207, 190, 23))


class BoxOverlay(Node):
    """Draw boxes, labels, scores, track ids and counts on each frame.

    The frame triggers: each frame is drawn with the newest detections and counts received so
    far (`sync: latest`), so a slow detector never holds the video back. The drawing goes on a
    copy taken from the node's buffer pool; the input frame, which other nodes may share, is
    never written. The node names `frame` as its trigger, so the order of `inputs:` in the
    YAML does not matter.

    Ports:
        frame (in): HxWx3 uint8 BGR.
        detections (in, optional): `{"boxes_xyxy": (N,4) float32 pixels, "scores": (N,),
            "class_ids": (N,), optional "labels": [str], optional "track_ids": (N,)}`.
        counts (in, optional): `{"counts": {name: int}}` drawn as a table at the top left.
        frame (out): the annotated copy.

    Params:
        class_names: label of each class id when the detections carry no `labels` (default
            none: the class id is shown).
        show_scores: append the score to each label (default true).
        thickness: box line width in pixels (default 2).
        font_scale: text size, 1.0 is about 22 px high (default 0.5).

    Example:
        ```yaml
        - id: overlay
          type: video.overlay
          params: {class_names: [person, bicycle, car]}
          inputs: {frame: src/frame, detections: tracker/detections, counts: counter/counts}
        ```
    """

    kind = "video.overlay"
    sync = "latest"
    trigger = "frame"  # one output per frame, whatever order the YAML lists the inputs in
    frame = Input(Frame)
    detections = Input(Detections, optional=True)
    counts = Input(Record, optional=True)
    out = Output(Frame)
    class_names: list[str] = Param([], doc="label of each class id")
    show_scores: bool = Param(True, doc="append scores to labels")
    thickness: int = Param(2, ge=1, le=20, doc="box line width in pixels")
    font_scale: float = Param(0.5, gt=0, le=10, doc="text size")

    def setup(self) -> None:
        import cv2

        self._cv2 = cv2

    def process(self, frame: np.ndarray, detections: Any = None, counts: Any = None) -> dict[str, Any]:
        out = self.buffer("out", frame.shape, frame.dtype)
        np.copyto(out, frame)  # the input is shared and read-only: draw on our own copy
        if detections:
            self._draw_detections(out, detections)
        if counts:
            self._draw_counts(out, counts.get("counts", counts) if isinstance(counts, dict) else {})
        return {"out": out}

    def _draw_detections(self, img: np.ndarray, det: dict[str, Any]) -> None:
        cv2 = self._cv2
        boxes = np.asarray(det.get("boxes_xyxy", np.zeros((0, 4))), dtype=np.float64).reshape(-1, 4)
        n = len(boxes)
        scores = det.get("scores")
        class_ids = det.get("class_ids")
        labels = det.get("labels")
        track_ids = det.get("track_ids")
        for i in range(n):
            x1, y1, x2, y2 = (round(float(v)) for v in boxes[i])
            cid = int(class_ids[i]) if class_ids is not None and i < len(class_ids) else 0
            tid = int(track_ids[i]) if track_ids is not None and i < len(track_ids) else None
            color = PALETTE[(tid if tid is not None else cid) % len(PALETTE)]
            cv2.rectangle(img, (x1, y1), (x2, y2), color, self.thickness, cv2.LINE_AA)
            text = self._label(i, cid, labels)
            if tid is not None:
                text = f"#{tid} {text}"
            if self.show_scores and scores is not None and i < len(scores):
                text += f" {float(scores[i]):.2f}"
            self._text_box(img, text, (x1, y1), color)

    def _label(self, i: int, cid: int, labels: Any) -> str:
        if labels is not None and i < len(labels):
            return str(labels[i])
        return self.class_names[cid] if 0 <= cid < len(self.class_names) else str(cid)

    def _draw_counts(self, img: np.ndarray, counts: dict[str, Any]) -> None:
        y = 4
        for name, value in counts.items():
            y = self._text_box(img, f"{name}: {value}", (4, y), (40, 40, 40), below=True)

    def _text_box(self, img: np.ndarray, text: str, at: tuple[int, int], color: tuple[int, int, int], below: bool = False) -> int:
        """Text on a filled box, above `at` (a box's corner) or below it (a table row); returns
        the y under the box."""
        cv2 = self._cv2
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, self.font_scale, 1)
        x, y = at
        top = y if below or y - th - base - 4 < 0 else y - th - base - 4
        cv2.rectangle(img, (x, top), (x + tw + 4, top + th + base + 4), color, -1)
        cv2.putText(img, text, (x + 2, top + th + 2), cv2.FONT_HERSHEY_SIMPLEX, self.font_scale, (255, 255, 255), 1, cv2.LINE_AA)
        return top + th + base + 4
