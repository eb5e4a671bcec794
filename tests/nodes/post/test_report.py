"""post.report: one plain record per frame from tracks and counts."""

from __future__ import annotations

import json

import numpy as np

from edgespeed.testing import run_node

TRACKS = {"boxes_xyxy": np.array([[10.04, 20.0, 30.0, 80.06], [100, 100, 120, 160]], np.float32),
          "scores": np.array([0.91234, 0.5], np.float32), "class_ids": np.array([0, 2], np.int32),
          "labels": ["person", "car"], "track_ids": np.array([7, 9], np.int64)}
COUNTS = {"counts": {"gate_in": 1, "gate_out": 0}, "events": [{"type": "line", "name": "gate", "track_id": 7}]}


def test_one_object_per_track_with_the_counts_of_the_frame() -> None:
    got = run_node("post.report", inputs={"tracks": [TRACKS], "counts": [COUNTS]})["report"][0]
    assert got["objects"] == [
        {"track_id": 7, "label": "person", "class_id": 0, "score": 0.912, "box_xyxy": [10.0, 20.0, 30.0, 80.1]},
        {"track_id": 9, "label": "car", "class_id": 2, "score": 0.5, "box_xyxy": [100.0, 100.0, 120.0, 160.0]},
    ]
    assert got["counts"] == COUNTS["counts"] and got["events"] == COUNTS["events"]
    json.dumps(got)  # plain values only


def test_no_labels_no_counts_and_no_boxes() -> None:
    bare = {k: v for k, v in TRACKS.items() if k != "labels"}
    got = run_node("post.report", params={"decimals": 0}, inputs={"tracks": [bare]})["report"][0]
    assert [o["label"] for o in got["objects"]] == ["0", "2"] and got["objects"][0]["box_xyxy"] == [10.0, 20.0, 30.0, 80.0]
    assert got["counts"] == {} and got["events"] == []
    empty = {"boxes_xyxy": np.zeros((0, 4), np.float32), "scores": np.zeros(0, np.float32), "class_ids": np.zeros(0, np.int32),
             "track_ids": np.zeros(0, np.int64)}
    assert run_node("post.report", inputs={"tracks": [empty], "counts": [COUNTS]})["report"][0]["objects"] == []
