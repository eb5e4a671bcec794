"""One plain record per frame: the tracked objects and the counts, ready for a JSON line."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgespeed import Detections, Input, Node, Output, Param, Record


class FrameReporter(Node):
    """Join a frame's tracks and its line/zone counts into one record of plain values.

    sink.jsonl writes arrays as lists but keeps them column by column; a reader of a per-frame
    log wants one object per tracked thing instead, with its name. Both inputs come from the
    same frame (matched by timestamp), so each record is one frame.

    Ports:
        tracks (in): Detections with track_ids (post.tracker); labels are used when present.
        counts (in, optional): {counts, events} from post.counter.
        report (out): {objects: [{track_id, label, class_id, score, box_xyxy}], counts: {name:
            int}, events: [...]}; boxes in source pixels rounded to `decimals`.

    Params:
        decimals: digits kept of box coordinates in pixels (default 1); scores keep two more,
            as they live in 0..1.

    Example:
        ```yaml
        - id: report
          type: post.report
          inputs: {tracks: track/tracks, counts: count/counts}
        ```
    """

    kind = "post.report"
    sync = "timestamp"
    tracks = Input(Detections, doc="detections with track_ids")
    counts = Input(Record, optional=True, doc="{counts, events} from post.counter")
    report = Output(Record, doc="{objects: [...], counts: {...}, events: [...]}")
    decimals: int = Param(1, ge=0, le=6, doc="digits of box coordinates")

    def process(self, tracks: dict[str, Any], counts: dict[str, Any] | None = None) -> dict[str, Any]:
        boxes = np.asarray(tracks.get("boxes_xyxy", np.zeros((0, 4))), np.float64).reshape(-1, 4)
        n = len(boxes)
        scores = np.asarray(tracks.get("scores", np.full(n, np.nan)), np.float64).tolist()
        classes = np.asarray(tracks.get("class_ids", np.zeros(n)), np.int64).tolist()
        ids = np.asarray(tracks.get("track_ids", np.full(n, -1)), np.int64).tolist()
        labels = tracks.get("labels") or [str(c) for c in classes]
        objects = [{"track_id": ids[k], "label": labels[k], "class_id": classes[k],
                    "score": round(scores[k], self.decimals + 2),
                    "box_xyxy": [round(v, self.decimals) for v in boxes[k].tolist()]} for k in range(n)]
        counts = counts or {}
        return {"report": {"objects": objects, "counts": dict(counts.get("counts", {})), "events": list(counts.get("events", []))}}
