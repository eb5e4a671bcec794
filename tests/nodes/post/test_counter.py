from __future__ import annotations

import numpy as np

from edgespeed import Graph
from edgespeed.testing import ListSink, run_node

LINE = {"gate": [0.0, 100.0, 200.0, 100.0]}  # horizontal, drawn left to right: `in` is downward
ZONE = {"door": [[300, 0], [400, 0], [400, 100], [300, 100]]}


def tracks(points: dict[int, tuple[float, float]]) -> dict:
    """Detections whose bottom-center anchors are `points` (track id -> (x, y))."""
    ids = sorted(points)
    boxes = [[points[i][0] - 5, points[i][1] - 10, points[i][0] + 5, points[i][1]] for i in ids]
    return {"boxes_xyxy": np.array(boxes, np.float32).reshape(-1, 4), "scores": np.ones(len(ids), np.float32),
            "class_ids": np.zeros(len(ids), np.int32), "track_ids": np.array(ids, np.int64)}


# per frame: where each track's anchor is
SCRIPT = [
    {1: (50, 80), 2: (250, 80), 3: (120, 90), 4: (150, 90), 5: (350, 150)},
    {1: (55, 95), 2: (250, 120), 3: (120, 100), 4: (150, 100), 5: (350, 50)},   # 2 passes beside the line; 3, 4 touch it; 5 enters
    {1: (60, 110), 3: (120, 90), 4: (150, 100), 5: (350, 150)},                 # 1 crosses down; 3 goes back; 5 leaves
    {1: (60, 120), 4: (150, 130)},                                              # 4 finally crosses down
    {1: (70, 90)},                                                              # 1 crosses back up
    {},
    {1: (70, 80), 6: (10, 50)},
    {1: (70, 105), 6: (10, 150)},                                               # 1 down again; 6 crosses down
]


def test_line_and_zone_counts_follow_the_script_exactly() -> None:
    out = run_node("post.counter", params={"lines": LINE, "zones": ZONE}, inputs={"tracks": [tracks(f) for f in SCRIPT]})["counts"]
    assert out[-1]["counts"] == {"gate_in": 4, "gate_out": 1, "door_enter": 1, "door_exit": 1, "door_inside": 0}
    per_frame = [[(e["type"], e.get("direction"), e["track_id"]) for e in o["events"]] for o in out]
    assert per_frame == [
        [], [("zone_enter", None, 5)], [("line", "in", 1), ("zone_exit", None, 5)], [("line", "in", 4)],
        [("line", "out", 1)], [], [], [("line", "in", 1), ("line", "in", 6)],
    ]
    assert out[1]["counts"]["door_inside"] == 1


def test_tracker_then_counter_through_the_scheduler() -> None:
    # two boxes walking down across the line, one walking up; the tracker gives the ids
    frames = []
    for t in range(12):
        boxes = [[0, 30 + 10 * t, 40, 70 + 10 * t], [100, 30 + 12 * t, 140, 70 + 12 * t], [160, 190 - 12 * t, 200, 230 - 12 * t]]
        frames.append({"boxes_xyxy": np.array(boxes, np.float32), "scores": np.ones(3, np.float32), "class_ids": np.zeros(3, np.int32)})
    g = Graph("count")
    src = g.add("testing.list_source", id="src", items=frames)
    trk = g.add("post.tracker", id="trk", detections=src.out)
    cnt = g.add("post.counter", id="cnt", tracks=trk.tracks, lines=LINE, anchor="center")
    g.add("testing.list_sink", id="sink", data=cnt.counts)
    result = g.run()
    assert result.ok, result.failures
    last = ListSink.collected["sink"][-1]["counts"]
    assert last == {"gate_in": 2, "gate_out": 1}
