"""Count tracked objects crossing lines (by direction) and entering zones."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from edgespeed import Detections, Input, Node, Output, Param, Record


def _side(line: tuple[float, ...], p: np.ndarray) -> np.ndarray:
    """Sign of each point of `p` (N,2) relative to the line A->B: +1 right, -1 left, 0 on it
    (image coordinates, y down: for a line drawn left to right, right is below)."""
    ax, ay, bx, by = line
    side: np.ndarray = np.sign((bx - ax) * (p[:, 1] - ay) - (by - ay) * (p[:, 0] - ax))
    return side


def _inside(poly: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Point-in-polygon for every point of `p` (N,2), by ray casting, vectorized over points."""
    x, y = p[:, 0:1], p[:, 1:2]
    x1, y1 = poly[:, 0][None, :], poly[:, 1][None, :]
    x2, y2 = np.roll(poly[:, 0], -1)[None, :], np.roll(poly[:, 1], -1)[None, :]
    crosses = ((y1 > y) != (y2 > y)) & (x < (x2 - x1) * (y - y1) / np.where(y2 == y1, 1e-12, y2 - y1) + x1)
    odd: np.ndarray = np.count_nonzero(crosses, axis=1) % 2 == 1
    return odd


@dataclass
class _Stream:
    """What the counter keeps for one stream (a multi-stream source's streams count apart)."""

    counts: dict[str, int] = field(default_factory=dict)
    last: dict[tuple[str, int], tuple[float, np.ndarray]] = field(default_factory=dict)  # (line, id) -> (side, point)
    in_zone: dict[tuple[str, int], bool] = field(default_factory=dict)
    seen: dict[int, int] = field(default_factory=dict)
    frame: int = 0


def _objects(tracks: dict[str, Any]) -> list[dict[str, Any]]:
    """The frame's tracked objects as plain records (for a sink line)."""
    ids = tracks.get("track_ids")
    if ids is None:
        return []
    boxes = np.asarray(tracks["boxes_xyxy"], np.float64).reshape(-1, 4)
    n = len(boxes)
    classes = np.asarray(tracks.get("class_ids", np.zeros(n)), np.int64).tolist()
    scores = np.asarray(tracks.get("scores", np.zeros(n)), np.float64).tolist()
    labels = tracks.get("labels") or [str(c) for c in classes]
    return [{"track_id": int(t), "label": labels[k], "class_id": classes[k], "score": round(scores[k], 3),
             "box_xyxy": [round(float(v), 1) for v in boxes[k]]} for k, t in enumerate(np.asarray(ids).tolist())]


class ZoneLineCounter(Node):
    """Count tracked objects crossing lines, by direction, and entering or leaving zones.

    Each object is reduced to an anchor point of its box (bottom center by default: where it
    touches the ground). A crossing of line `name` (A->B) is counted when a track's anchor moves
    from one side to the other between two of its positions and the move passes between A and
    B: `name_in` counts moves from the left of A->B to its right (for a line drawn left to
    right, downward in the image), `name_out` the reverse. A point exactly on the line counts as
    still on its previous side, so touching the line never counts twice. Zone `name` counts
    `name_enter` and `name_exit` on each outside/inside change of a track, and reports the
    current occupancy as `name_inside`. Needs track ids (post.tracker); detections without
    them are ignored. Counts are cumulative; events are this frame's.

    Packets of a multi-stream source are counted per stream (`envelope.stream`): each stream
    has its own counts and track state, its records and events carry `stream`, and a
    stream's state is dropped when it ends. Moving a line (control API) applies to every stream.

    Ports:
        tracks (in): Detections with track_ids.
        counts (out): {counts: {name: int}, events: [{type, name, direction, track_id,
            class_id, point_xy}], geometry: {lines: {name: [ax, ay, bx, by]}, zones: {name:
            [[x, y], ...]}}}; video.overlay draws the geometry.

    Params:
        lines: name -> [ax, ay, bx, by] in source pixels (default: none).
        zones: name -> [[x, y], ...] polygon vertices in source pixels (default: none).
        anchor: bottom_center (default) or center of the box.
        forget_after: frames after which an unseen track's state is dropped (default 300).
        objects: also give this frame's tracked objects in the record, as `objects: [{track_id,
            label, class_id, score, box_xyxy}]`, so one sink line holds a frame's objects and
            counts (default false).

    Example:
        ```yaml
        - id: count
          type: post.counter
          params: {lines: {gate: [0, 360, 1280, 360]}, zones: {door: [[100, 100], [300, 100], [300, 300], [100, 300]]}}
          inputs: {tracks: track/tracks}
        ```
    """

    kind = "post.counter"
    tracks = Input(Detections, doc="detections with track_ids")
    counts = Output(Record, doc="{counts: {name: int}, events: [...], geometry: {lines, zones}}")
    lines: dict[str, tuple[float, float, float, float]] = Param({}, doc="name -> [ax, ay, bx, by] px", reloadable=True)
    zones: dict[str, list[tuple[float, float]]] = Param({}, doc="name -> polygon [[x, y], ...] px", reloadable=True)
    anchor: Literal["bottom_center", "center"] = Param("bottom_center")
    forget_after: int = Param(300, ge=1, doc="frames before an unseen track is forgotten")
    objects: bool = Param(False, doc="add this frame's tracked objects to the record")

    @classmethod
    def declare_ports(cls, params: dict[str, Any]) -> tuple[dict[str, Input], dict[str, Output]]:
        for name, poly in params["zones"].items():
            if len(poly) < 3:
                raise ValueError(f"zone {name!r} has {len(poly)} points; a polygon needs at least 3")
        for name, (ax, ay, bx, by) in params["lines"].items():
            if (ax, ay) == (bx, by):
                raise ValueError(f"line {name!r} has both ends at ({ax:g}, {ay:g}); give two different points")
        return cls.inputs, cls.outputs

    def setup(self) -> None:
        self._streams: dict[str | None, _Stream] = {}
        self._s = self._stream(None)  # the stream of the packet being counted
        self.reload({})

    def reload(self, changed: dict[str, Any]) -> None:
        """New `lines`/`zones` (control API): a line or zone kept as it was keeps its counts, a
        new or moved one starts from zero, and track state about a removed or moved one is dropped."""
        was = getattr(self, "_geometry", {})
        now = self._geometry_of()
        self._geometry = now
        self._polys = {n: np.asarray(p, np.float64) for n, p in self.zones.items()}
        # sent with every count, so an overlay draws the lines and zones these counts are for
        # (also after a reload); one record per change, shared by the packets: never mutated
        self._shapes = {"lines": {n: [float(v) for v in line] for n, line in self.lines.items()},
                        "zones": {n: [[float(x), float(y)] for x, y in poly] for n, poly in self.zones.items()}}
        current = self._s
        for st in self._streams.values():  # every stream's counts follow the new geometry
            self._s = st
            self._regeometry(was, now)
        self._s = current

    def _geometry_of(self) -> dict[tuple[str, str], Any]:
        return {**{("line", n): tuple(v) for n, v in self.lines.items()}, **{("zone", n): tuple(map(tuple, v)) for n, v in self.zones.items()}}

    def _regeometry(self, was: dict[tuple[str, str], Any], now: dict[tuple[str, str], Any]) -> None:
        kept = {name for (kind, name), g in now.items() if was.get((kind, name)) == g}
        old, self._s.counts = self._s.counts, {}
        for n in self.lines:
            self._s.counts.update({f"{n}_{k}": old.get(f"{n}_{k}", 0) if n in kept else 0 for k in ("in", "out")})
        for n in self.zones:
            self._s.counts.update({f"{n}_{k}": old.get(f"{n}_{k}", 0) if n in kept else 0 for k in ("enter", "exit", "inside")})
        self._s.last = {k: v for k, v in self._s.last.items() if k[0] in kept}
        self._s.in_zone = {k: v for k, v in self._s.in_zone.items() if k[0] in kept}

    def _stream(self, key: str | None) -> _Stream:
        st = self._streams.get(key)
        if st is None:
            st = self._streams[key] = _Stream()
            if hasattr(self, "_geometry"):  # zero counts for every line and zone, as at setup
                current, self._s = getattr(self, "_s", st), st
                self._regeometry({}, self._geometry)
                self._s = current
        return st

    def end_stream(self, stream: str) -> None:
        """The stream ended: its counts and track state go (added again, it counts from zero)."""
        self._streams.pop(stream, None)

    @property
    def streams(self) -> list[str | None]:
        """The streams counted now."""
        return list(self._streams)

    def process(self, tracks: dict[str, Any]) -> dict[str, Any]:
        env = self.envelope
        stream = env.stream if env else None
        self._s = self._stream(stream)
        self._s.frame += 1
        events: list[dict[str, Any]] = []
        ids = tracks.get("track_ids")
        if ids is not None and len(ids):
            boxes = np.asarray(tracks["boxes_xyxy"], np.float64).reshape(-1, 4)
            y = boxes[:, 3] if self.anchor == "bottom_center" else (boxes[:, 1] + boxes[:, 3]) / 2
            points = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, y], axis=1)
            classes = np.asarray(tracks.get("class_ids", np.zeros(len(ids))), np.int64).tolist()
            ids_list = [int(i) for i in np.asarray(ids).tolist()]
            for i in ids_list:
                self._s.seen[i] = self._s.frame
            for name, line in self.lines.items():
                self._lines(name, line, points, ids_list, classes, events)
            for name, poly in self._polys.items():
                self._zones(name, poly, points, ids_list, classes, events)
        else:
            for name in self._polys:
                self._s.counts[f"{name}_inside"] = 0
        self._forget()
        record: dict[str, Any] = {"counts": dict(self._s.counts), "events": events, "geometry": self._shapes}
        if stream is not None:  # (a multi-stream source's: say whose counts and events these are)
            for e in events:
                e["stream"] = stream
            record = {"stream": stream, **record}
        if self.objects:
            record["objects"] = _objects(tracks)
        return {"counts": record}

    def _lines(self, name: str, line: tuple[float, ...], points: np.ndarray, ids: list[int], classes: list[int], events: list[dict[str, Any]]) -> None:
        sides = _side(line, points)
        ends = np.asarray(line, np.float64).reshape(2, 2)
        for k, (tid, side) in enumerate(zip(ids, sides.tolist())):
            if side == 0:
                continue  # on the line: judged by where it goes next
            prev = self._s.last.get((name, tid))
            self._s.last[(name, tid)] = (side, points[k])
            if prev is None or prev[0] == side:
                continue
            # the move prev -> now must pass between the line's ends, not beside them
            move = np.stack([prev[1], points[k]])
            if _side((*move[0], *move[1]), ends).prod() > 0:
                continue
            direction = "in" if side > 0 else "out"
            self._s.counts[f"{name}_{direction}"] += 1
            events.append({"type": "line", "name": name, "direction": direction, "track_id": tid,
                           "class_id": classes[k], "point_xy": [round(float(v), 1) for v in points[k]]})

    def _zones(self, name: str, poly: np.ndarray, points: np.ndarray, ids: list[int], classes: list[int], events: list[dict[str, Any]]) -> None:
        inside = _inside(poly, points).tolist()
        for k, (tid, now) in enumerate(zip(ids, inside)):
            before = self._s.in_zone.get((name, tid))
            self._s.in_zone[(name, tid)] = now
            if before is None or before == now:
                continue
            kind = "enter" if now else "exit"
            self._s.counts[f"{name}_{kind}"] += 1
            events.append({"type": f"zone_{kind}", "name": name, "track_id": tid, "class_id": classes[k],
                           "point_xy": [round(float(v), 1) for v in points[k]]})
        self._s.counts[f"{name}_inside"] = int(sum(inside))

    def _forget(self) -> None:
        old = {i for i, f in self._s.seen.items() if self._s.frame - f > self.forget_after}
        if not old:
            return
        for i in old:
            del self._s.seen[i]
        self._s.last = {k: v for k, v in self._s.last.items() if k[1] not in old}
        self._s.in_zone = {k: v for k, v in self._s.in_zone.items() if k[1] not in old}
