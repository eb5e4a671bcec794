"""Count tracked objects crossing lines (by direction) and entering zones."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from edgespeed import Detections, Input, Node, Output, Param, Record


def _side(line: tuple[float, ...], p: np.ndarray) -> np.ndarray:
    """Sign of each point of `p` (N,2) relative to the line A->B: +1 right, -1 left, 0 on it
    (image coordinates, y down: for a line drawn left to right, right is below)."""
    ax, ay, bx, by = line
    return np.sign((bx - ax) * (p[:, 1] - ay) - (by - ay) * (p[:, 0] - ax))


def _inside(poly: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Point-in-polygon for every point of `p` (N,2), by ray casting, vectorized over points."""
    x, y = p[:, 0:1], p[:, 1:2]
    x1, y1 = poly[:, 0][None, :], poly[:, 1][None, :]
    x2, y2 = np.roll(poly[:, 0], -1)[None, :], np.roll(poly[:, 1], -1)[None, :]
    crosses = ((y1 > y) != (y2 > y)) & (x < (x2 - x1) * (y - y1) / np.where(y2 == y1, 1e-12, y2 - y1) + x1)
    return np.count_nonzero(crosses, axis=1) % 2 == 1


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
        self._counts: dict[str, int] = {}
        self._last: dict[tuple[str, int], tuple[float, np.ndarray]] = {}  # (line, id) -> (side, point)
        self._in_zone: dict[tuple[str, int], bool] = {}
        self._seen: dict[int, int] = {}
        self._frame = 0
        self.reload({})

    def reload(self, changed: dict[str, Any]) -> None:
        """New `lines`/`zones` (control API): a line or zone kept as it was keeps its counts, a
        new or moved one starts from zero, and track state about a removed or moved one is dropped."""
        was = getattr(self, "_geometry", {})
        now = {**{("line", n): tuple(v) for n, v in self.lines.items()}, **{("zone", n): tuple(map(tuple, v)) for n, v in self.zones.items()}}
        kept = {name for (kind, name), g in now.items() if was.get((kind, name)) == g}
        self._geometry = now
        self._polys = {n: np.asarray(p, np.float64) for n, p in self.zones.items()}
        # sent with every count, so an overlay draws the lines and zones these counts are for
        # (also after a reload); one record per change, shared by the packets: never mutated
        self._shapes = {"lines": {n: [float(v) for v in line] for n, line in self.lines.items()},
                        "zones": {n: [[float(x), float(y)] for x, y in poly] for n, poly in self.zones.items()}}
        old, self._counts = self._counts, {}
        for n in self.lines:
            self._counts.update({f"{n}_{k}": old.get(f"{n}_{k}", 0) if n in kept else 0 for k in ("in", "out")})
        for n in self.zones:
            self._counts.update({f"{n}_{k}": old.get(f"{n}_{k}", 0) if n in kept else 0 for k in ("enter", "exit", "inside")})
        self._last = {k: v for k, v in self._last.items() if k[0] in kept}
        self._in_zone = {k: v for k, v in self._in_zone.items() if k[0] in kept}

    def process(self, tracks: dict[str, Any]) -> dict[str, Any]:
        self._frame += 1
        events: list[dict[str, Any]] = []
        ids = tracks.get("track_ids")
        if ids is not None and len(ids):
            boxes = np.asarray(tracks["boxes_xyxy"], np.float64).reshape(-1, 4)
            y = boxes[:, 3] if self.anchor == "bottom_center" else (boxes[:, 1] + boxes[:, 3]) / 2
            points = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, y], axis=1)
            classes = np.asarray(tracks.get("class_ids", np.zeros(len(ids))), np.int64).tolist()
            ids_list = [int(i) for i in np.asarray(ids).tolist()]
            for i in ids_list:
                self._seen[i] = self._frame
            for name, line in self.lines.items():
                self._lines(name, line, points, ids_list, classes, events)
            for name, poly in self._polys.items():
                self._zones(name, poly, points, ids_list, classes, events)
        else:
            for name in self._polys:
                self._counts[f"{name}_inside"] = 0
        self._forget()
        return {"counts": {"counts": dict(self._counts), "events": events, "geometry": self._shapes}}

    def _lines(self, name: str, line: tuple[float, ...], points: np.ndarray, ids: list[int], classes: list[int], events: list[dict[str, Any]]) -> None:
        sides = _side(line, points)
        ends = np.asarray(line, np.float64).reshape(2, 2)
        for k, (tid, side) in enumerate(zip(ids, sides.tolist())):
            if side == 0:
                continue  # on the line: judged by where it goes next
            prev = self._last.get((name, tid))
            self._last[(name, tid)] = (side, points[k])
            if prev is None or prev[0] == side:
                continue
            # the move prev -> now must pass between the line's ends, not beside them
            move = np.stack([prev[1], points[k]])
            if _side((*move[0], *move[1]), ends).prod() > 0:
                continue
            direction = "in" if side > 0 else "out"
            self._counts[f"{name}_{direction}"] += 1
            events.append({"type": "line", "name": name, "direction": direction, "track_id": tid,
                           "class_id": classes[k], "point_xy": [round(float(v), 1) for v in points[k]]})

    def _zones(self, name: str, poly: np.ndarray, points: np.ndarray, ids: list[int], classes: list[int], events: list[dict[str, Any]]) -> None:
        inside = _inside(poly, points).tolist()
        for k, (tid, now) in enumerate(zip(ids, inside)):
            before = self._in_zone.get((name, tid))
            self._in_zone[(name, tid)] = now
            if before is None or before == now:
                continue
            kind = "enter" if now else "exit"
            self._counts[f"{name}_{kind}"] += 1
            events.append({"type": f"zone_{kind}", "name": name, "track_id": tid, "class_id": classes[k],
                           "point_xy": [round(float(v), 1) for v in points[k]]})
        self._counts[f"{name}_inside"] = int(sum(inside))

    def _forget(self) -> None:
        old = {i for i, f in self._seen.items() if self._frame - f > self.forget_after}
        if not old:
            return
        for i in old:
            del self._seen[i]
        self._last = {k: v for k, v in self._last.items() if k[1] not in old}
        self._in_zone = {k: v for k, v in self._in_zone.items() if k[1] not in old}
