from __future__ import annotations

import numpy as np
import pytest

from edgespeed import load_text
from edgespeed.runtime.scheduler import run_spec
from edgespeed.testing import ListSink, run_node

FRAME = np.full((120, 160, 3), 30, np.uint8)
DETS = {
    "boxes_xyxy": np.array([[40, 50, 100, 110]], np.float32),
    "scores": np.array([0.9], np.float32),
    "class_ids": np.array([2], np.int32),
    "track_ids": np.array([7], np.int64),
}


def changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.any(a != b, axis=2)


def test_draws_boxes_on_a_copy() -> None:
    out = run_node("video.overlay", params={"class_names": ["person", "bicycle", "car"]},
                   inputs={"frame": [FRAME], "detections": [DETS]})["out"][0]
    diff = changed(out, FRAME)
    assert diff[50:111, 40].all() and diff[110, 40:101].all()  # the box's left and bottom edges
    assert not diff[70:90, 60:80].any()  # the inside of the box is left alone
    assert diff[30:50, 40:100].any()  # the label sits above the box
    assert not np.shares_memory(out, FRAME) and (FRAME == 30).all()


@pytest.mark.parametrize(
    ("counts", "region"),
    [
        pytest.param({"counts": {"in": 3, "out": 1}}, (slice(0, 40), slice(0, 60)), id="counts-record"),
        pytest.param(None, None, id="nothing"),
    ],
)
def test_counts_table(counts: dict | None, region: tuple | None) -> None:
    out = run_node("video.overlay", inputs={"frame": [FRAME], "counts": [counts]})["out"][0]
    if region is None:
        assert np.array_equal(out, FRAME)
    else:
        assert changed(out, FRAME)[region].sum() > 100


def test_labels_and_empty_detections() -> None:
    empty = {"boxes_xyxy": np.zeros((0, 4), np.float32), "scores": np.zeros(0, np.float32), "class_ids": np.zeros(0, np.int32)}
    labelled = {**DETS, "labels": ["truck"]}
    outs = run_node("video.overlay", inputs={"frame": [FRAME, FRAME], "detections": [empty, labelled]})["out"]
    assert np.array_equal(outs[0], FRAME)
    assert changed(outs[1], FRAME).any()


def test_in_a_graph_without_detections_frames_pass_unchanged() -> None:
    spec = load_text(
        "nodes:\n"
        "  - {id: src, type: test.array_source, params: {count: 5, shape: [60, 80, 3]}}\n"
        "  - {id: overlay, type: video.overlay, inputs: {frame: src/out}}\n"
        "  - {id: sink, type: testing.list_sink, inputs: {data: overlay/out}}\n"
    )
    result = run_spec(spec)
    assert result.ok, result.failures
    assert [int(f[0, 0, 0]) for f in ListSink.collected["sink"]] == [0, 1, 2, 3, 4]


def test_frames_trigger_whatever_the_yaml_order() -> None:
    # `detections` listed first: the node's `trigger` still makes every frame give one output.
    # `sync: latest` (what a live run gets): the one detection, whatever its pts, is held and
    # drawn on the frames after it
    spec = load_text(
        "nodes:\n"
        "  - {id: det, type: testing.list_source, params: {items: [{boxes_xyxy: [[10, 10, 40, 40]], scores: [0.9], class_ids: [0]}]}}\n"
        "  - {id: src, type: test.array_source, params: {count: 6, shape: [60, 80, 3], period_s: 0.02}}\n"
        "  - {id: overlay, type: video.overlay, sync: latest, inputs: {detections: det/out, frame: src/out}}\n"
        "  - {id: sink, type: testing.list_sink, inputs: {data: overlay/out}}\n"
    )
    result = run_spec(spec)
    assert result.ok, result.failures
    got = ListSink.collected["sink"]
    assert len(got) == 6, "one output per frame"
    assert [int(f[59, 79, 0]) for f in got] == [0, 1, 2, 3, 4, 5]  # a corner no box touches
    assert (got[-1][10:41, 10] != got[-1][0, 79]).any()  # the held detections are drawn
