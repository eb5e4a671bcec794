"""Draw detections, track ids, counting lines, zones and counts on a copy of each frame."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgespeed import Detections, Frame, Input, Node, Output, Param, Record

# Distinct BGR colors (Tableau 10), picked by track id when there is one, else by class id.
PALETTE = ((180, 119, 31), (14, 127, 255), (44, 160, 44), (40, 39, 214), (189, 103, 148),
           (75, 86, 140), (194, 119, 227), (127, 127, 127), (34, 189, 188), (207, 190, 23))
LINE_COLOR, ZONE_COLOR = (0, 215, 255), (255, 0, 255)  # counting lines yellow, zones magenta (BGR)


class BoxOverlay(Node):
    """Draw boxes, labels, scores, track ids, counting lines, zones and counts on each frame.

    The frame triggers: one output per frame. Offline (no live source upstream: a file read
    with `realtime: false`) each frame is drawn with its own detections and counts, the ones
    whose timestamp (pts) is the frame's (`sync: trigger`): the overlay waits for them, so a
    slow detector slows the run down instead of shifting the boxes onto later frames, and a
    frame the detector emitted nothing for is drawn without boxes. Downstream of a live source
    (a camera, a stream, `realtime: true`) each frame is drawn at once with the newest results
    received so far (`sync: latest`), so a slow detector never holds the video back. A graph
    can choose either with `sync:` on the node. The drawing goes on a copy taken from the
    node's buffer pool; the input frame, which other nodes may share, is never written. The
    node names `frame` as its trigger, so the order of `inputs:` in the YAML does not matter.
    Offline, the frames wait in the `frame` queue (default 32 frames, at most 64 MB) for their
    results: if the detector chain holds more frames than that before it emits (a large batch
    of big frames), give `frame` a deeper `queue:`, or the source waits on the overlay while
    the batch waits on the source.

    Ports:
        frame (in): HxWx3 uint8 BGR.
        detections (in, optional): `{"boxes_xyxy": (N,4) float32 pixels, "scores": (N,),
            "class_ids": (N,), optional "labels": [str], optional "track_ids": (N,)}`.
        counts (in, optional): post.counter's record: its `counts` `{name: int}` are drawn as
            a table at the top left, its `geometry` (`{"lines": {name: [ax, ay, bx, by]},
            "zones": {name: [[x, y], ...]}}`, source pixels) as lines and polygon outlines,
            each with its name; the newest geometry stays drawn on frames without a record.
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
    sync = "trigger"  # offline: each frame with the results of its own pts
    live_sync = "latest"  # live: each frame at once, with the newest results
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
        self._geometry: dict[str, Any] | None = None  # from the newest counts record that had one

    def process(self, frame: np.ndarray, detections: Any = None, counts: Any = None) -> dict[str, Any]:
        out = self.buffer("out", frame.shape, frame.dtype)
        np.copyto(out, frame)  # the input is shared and read-only: draw on our own copy
        if isinstance(counts, dict) and isinstance(counts.get("geometry"), dict):
            self._geometry = counts["geometry"]  # plain lists the counter never changes: safe to keep
        if self._geometry:  # lines and zones describe the scene, not a frame: the newest stay drawn
            self._draw_geometry(out, self._geometry)  # under the boxes, so those stay readable
        if detections:
            self._draw_detections(out, detections)
        if counts:
            table = counts.get("counts", {} if "geometry" in counts else counts) if isinstance(counts, dict) else {}
            self._draw_counts(out, table)
        return {"out": out}

    def _draw_geometry(self, img: np.ndarray, geometry: dict[str, Any]) -> None:
        """Counting lines in yellow, zones in magenta, each named at its first point."""
        cv2 = self._cv2
        for name, (ax, ay, bx, by) in (geometry.get("lines") or {}).items():
            a, b = (round(float(ax)), round(float(ay))), (round(float(bx)), round(float(by)))
            cv2.line(img, a, b, LINE_COLOR, self.thickness, cv2.LINE_AA)
            self._text_box(img, str(name), a, LINE_COLOR)
        for name, poly in (geometry.get("zones") or {}).items():
            pts = np.round(np.asarray(poly, np.float64)).astype(np.int32).reshape(-1, 1, 2)
            cv2.polylines(img, [pts], True, ZONE_COLOR, self.thickness, cv2.LINE_AA)
            self._text_box(img, str(name), (int(pts[0, 0, 0]), int(pts[0, 0, 1])), ZONE_COLOR)

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
        return int(top + th + base + 4)
