"""Tracker, counter and smoothing keep state per stream (envelope.stream) inside one node."""

from __future__ import annotations

import numpy as np

from edgespeed.testing import run_node


def dets(x: float, y: float) -> dict:
    return {"boxes_xyxy": np.array([[x, y, x + 40, y + 40]], np.float32), "scores": np.array([0.9], np.float32),
            "class_ids": np.array([0], np.int32), "labels": ["square"]}


def test_the_tracker_tracks_each_stream_apart() -> None:
    # the same place in two streams: one node, two tracks, each with ids from 1 in its stream
    frames = [dets(10, 10), dets(10, 10), dets(12, 10), dets(300, 300), dets(14, 10)]
    streams = ["a", "b", "a", "b", "a"]
    out = run_node("post.tracker", inputs={"detections": frames}, streams=streams)["tracks"]
    ids = [(s, int(o["track_ids"][0])) for s, o in zip(streams, out)]
    assert ids == [("a", 1), ("b", 1), ("a", 1), ("b", 2), ("a", 1)]  # b's jump is a new track in b only


def test_a_streams_tracks_go_when_it_ends() -> None:
    from edgespeed.registry import default_registry
    from edgespeed.runtime.packet import Packet

    node = default_registry().resolve("post.tracker")("track")
    node.setup()
    for s in ("a", "b"):
        node.engine_packet = Packet(0, 0, 0, None, stream=s)
        node.process(detections=dets(10, 10))
    assert sorted(node.streams) == ["a", "b"]
    node.end_stream("a")
    assert node.streams == ["b"]
    node.engine_packet = Packet(1, 0, 0, None, stream="a")
    assert int(node.process(detections=dets(10, 10))["tracks"]["track_ids"][0]) == 1  # afresh


def tracked(x: float, y: float, tid: int) -> dict:
    return dets(x, y) | {"track_ids": np.array([tid], np.int64)}


def test_the_counter_counts_each_stream_apart_and_says_whose_counts() -> None:
    line = {"lines": {"gate": [0, 100, 400, 100]}, "objects": True}
    # track 1 in stream a crosses down; track 1 in stream b (another object) stays above
    frames = [tracked(10, 20, 1), tracked(10, 10, 1), tracked(10, 80, 1), tracked(10, 12, 1)]
    streams = ["a", "b", "a", "b"]
    out = run_node("post.counter", params=line, inputs={"tracks": frames}, streams=streams)["counts"]
    assert [o["stream"] for o in out] == streams
    assert out[2]["counts"] == {"gate_in": 1, "gate_out": 0} and out[3]["counts"] == {"gate_in": 0, "gate_out": 0}
    (event,) = out[2]["events"]
    assert event["stream"] == "a" and event["track_id"] == 1
    assert out[3]["objects"] == [{"track_id": 1, "label": "square", "class_id": 0, "score": 0.9, "box_xyxy": [10.0, 12.0, 50.0, 52.0]}]


def test_moving_a_line_applies_to_every_stream() -> None:
    from edgespeed.registry import default_registry
    from edgespeed.runtime.packet import Packet

    node = default_registry().resolve("post.counter")("count", lines={"gate": [0, 100, 400, 100]})
    node.setup()
    for s, y in (("a", 20), ("a", 80), ("b", 20)):
        node.engine_packet = Packet(0, 0, 0, None, stream=s)
        node.process(tracks=tracked(10, y, 1))
    node.lines = {"gate": [0, 200, 400, 200], "new": [0, 50, 400, 50]}
    node.reload({"lines": node.lines})
    for s in ("a", "b"):
        node.engine_packet = Packet(0, 0, 0, None, stream=s)
        counts = node.process(tracks=tracked(10, 90, 1))["counts"]["counts"]
        assert counts == {"gate_in": 0, "gate_out": 0, "new_in": 0, "new_out": 0}
    node.end_stream("a")
    assert "a" not in node.streams and "b" in node.streams


def test_smoothing_keeps_a_history_per_stream() -> None:
    ones, zeros = np.ones((1, 2), np.float32), np.zeros((1, 2), np.float32)
    out = run_node("post.smooth", params={"mode": "mean", "window": 4},
                   inputs={"scores": [ones, zeros, ones, zeros]}, streams=["a", "b", "a", "b"])["out"]
    assert [float(o[0, 0]) for o in out] == [1.0, 0.0, 1.0, 0.0]  # never mixed across streams
