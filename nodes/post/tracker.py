"""Give detections track ids that stay stable across frames (IoU matching, SORT-style)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from edgespeed import Detections, Input, Node, Output, Param

from .boxes import iou_matrix


@dataclass
class _Track:
    id: int
    box: np.ndarray  # last matched box, xyxy
    vel: np.ndarray  # per-frame motion of the box corners (constant-velocity model)
    class_id: int
    hits: int = 1
    misses: int = 0

    def predicted(self) -> np.ndarray:
        box: np.ndarray = self.box + self.vel * (self.misses + 1)
        return box


@dataclass
class _Stream:
    """One stream's tracks (a multi-stream source's streams are tracked apart)."""

    tracks: list[_Track] = field(default_factory=list)
    next_id: int = 1


class IouTracker(Node):
    """Track objects across frames: each detection gets the id of the track it continues.

    Every track predicts where its box will be (constant velocity, from its last moves); the
    detections of the frame are matched to the predictions by IoU, with the Hungarian algorithm
    when SciPy is installed (`matcher: auto`) and greedily (best IoU first) otherwise. A match
    needs IoU >= `iou_min` (and the same class, with `same_class`). Unmatched detections start
    new tracks; a track unmatched for more than `max_age` frames ends, and its id is never
    reused. Only detections whose track has been seen `min_hits` times are emitted.

    Packets of a multi-stream source are tracked per stream (`envelope.stream`): each stream
    has its own tracks and ids (from 1), and a stream's tracks are dropped when it ends.

    Ports:
        detections (in): Detections {boxes_xyxy, scores, class_ids, ...}.
        tracks (out): the same record (kept detections only) plus track_ids (N,) int64.

    Params:
        iou_min: least IoU between a prediction and a detection to match them (default 0.3).
        max_age: frames a track survives without a match (default 30).
        min_hits: matches before a track's detections are emitted (default 1: at once).
        same_class: match only detections of the track's class (default true).
        matcher: auto (default: hungarian when SciPy is installed, else greedy), hungarian or
            greedy.

    Example:
        ```yaml
        - {id: track, type: post.tracker, params: {iou_min: 0.3, max_age: 30}, inputs: {detections: decode/detections}}
        ```
    """

    kind = "post.tracker"
    detections = Input(Detections)
    tracks = Output(Detections, doc="detections with track_ids (N,) int64")
    iou_min: float = Param(0.3, gt=0, le=1, doc="least IoU to continue a track")
    max_age: int = Param(30, ge=0, doc="frames a track survives unmatched")
    min_hits: int = Param(1, ge=1, doc="matches before a track is emitted")
    same_class: bool = Param(True, doc="match only the same class")
    matcher: Literal["auto", "hungarian", "greedy"] = Param("auto")

    def setup(self) -> None:
        self._streams: dict[str | None, _Stream] = {}
        self._assign = _greedy
        if self.matcher != "greedy":
            try:
                from scipy.optimize import linear_sum_assignment
            except ImportError:
                if self.matcher == "hungarian":
                    raise ValueError("matcher 'hungarian' needs scipy (pip install scipy); or use matcher: greedy") from None
            else:
                self._assign = lambda iou, lo: _hungarian(linear_sum_assignment, iou, lo)

    def process(self, detections: dict[str, Any]) -> dict[str, Any]:
        boxes = np.asarray(detections["boxes_xyxy"], np.float32).reshape(-1, 4)
        classes = np.asarray(detections.get("class_ids", np.zeros(len(boxes), np.int32)), np.int32)
        env = self.envelope
        key = env.stream if env else None
        st = self._streams.get(key)
        if st is None:
            st = self._streams[key] = _Stream()
        tracks = st.tracks
        iou = iou_matrix(np.array([t.predicted() for t in tracks], np.float32).reshape(-1, 4), boxes)
        if self.same_class and tracks:
            iou[np.array([t.class_id for t in tracks])[:, None] != classes[None, :]] = 0.0
        pairs = self._assign(iou, self.iou_min)
        ids = np.full(len(boxes), -1, np.int64)
        matched = set()
        for ti, di in pairs:
            t = tracks[ti]
            t.vel = 0.5 * t.vel + 0.5 * (boxes[di] - t.box) / (t.misses + 1)
            t.box, t.misses, t.hits, t.class_id = boxes[di].copy(), 0, t.hits + 1, int(classes[di])
            ids[di] = t.id
            matched.add(ti)
        for ti, t in enumerate(tracks):
            if ti not in matched:
                t.misses += 1
        st.tracks = [t for t in tracks if t.misses <= self.max_age]
        for di in map(int, np.flatnonzero(ids < 0)):
            st.tracks.append(_Track(st.next_id, boxes[di].copy(), np.zeros(4, np.float32), int(classes[di])))
            ids[di] = st.next_id
            st.next_id += 1
        hits = {t.id: t.hits for t in st.tracks}
        keep = np.array([hits[i] >= self.min_hits for i in ids.tolist()], bool)
        return {"tracks": _select(detections, keep, len(boxes)) | {"track_ids": ids[keep]}}


    def end_stream(self, stream: str) -> None:
        """The stream ended: its tracks go (a stream added again later starts afresh)."""
        self._streams.pop(stream, None)

    @property
    def streams(self) -> list[str | None]:
        """The streams with tracks now."""
        return list(self._streams)


def _greedy(iou: np.ndarray, lo: float) -> list[tuple[int, int]]:
    """Pairs by best IoU first, each track and detection used once."""
    if iou.size == 0:
        return []
    flat = np.argsort(-iou, axis=None, kind="stable")
    rows, cols = np.unravel_index(flat, iou.shape)
    used_r, used_c, pairs = set(), set(), []
    for r, c in zip(rows.tolist(), cols.tolist()):
        if iou[r, c] < lo:
            break
        if r not in used_r and c not in used_c:
            used_r.add(r)
            used_c.add(c)
            pairs.append((r, c))
    return pairs


def _hungarian(solve: Any, iou: np.ndarray, lo: float) -> list[tuple[int, int]]:
    if iou.size == 0:
        return []
    rows, cols = solve(-iou)
    return [(r, c) for r, c in zip(rows.tolist(), cols.tolist()) if iou[r, c] >= lo]


def _select(record: dict[str, Any], keep: np.ndarray, n: int) -> dict[str, Any]:
    """The record's per-detection fields (arrays and lists of length n) filtered by `keep`."""
    out: dict[str, Any] = {}
    for k, v in record.items():
        if isinstance(v, np.ndarray) and v.ndim and len(v) == n:
            out[k] = v[keep]
        elif isinstance(v, list) and len(v) == n:
            out[k] = [x for x, ok in zip(v, keep.tolist()) if ok]
        else:
            out[k] = v
    return out
