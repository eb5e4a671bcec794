from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgespeed import load_text
from edgespeed.runtime.scheduler import run_spec
from edgespeed.testing import run_node

FRAMES = [np.full((24, 32, 3), 20 * i, np.uint8) for i in range(6)]


def test_a_picture_per_event_of_the_newest_frame(tmp_path: Path) -> None:
    events = [{"events": []}, {"events": [{"k": 1}]}, None, {"alarm": True}, {"events": []}, {"events": [{"k": 2}]}]
    run_node("sink.snapshot", params={"folder": str(tmp_path)}, inputs={"event": events, "frame": FRAMES})
    files = sorted(tmp_path.glob("*.jpg"))
    assert [f.name[:8] for f in files] == ["00000001", "00000003", "00000005"]
    levels = [round(cv2.imread(str(f)).mean() / 20) for f in files]
    assert levels == [1, 3, 5]
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize(
    ("params", "expect"),
    [
        pytest.param({"max_files": 2}, ["00000004", "00000005"], id="max-files-keeps-newest"),
        pytest.param({"format": "png", "prefix": "cam1_"}, ["cam1_000", "cam1_000", "cam1_000", "cam1_000", "cam1_000", "cam1_000"], id="png-prefix"),
    ],
)
def test_cap_format_prefix(tmp_path: Path, params: dict[str, object], expect: list[str]) -> None:
    run_node("sink.snapshot", params={"folder": str(tmp_path), **params}, inputs={"event": [{"k": i} for i in range(6)], "frame": FRAMES})
    files = sorted(p for p in tmp_path.iterdir())
    assert [f.name[:8] for f in files] == expect
    if params.get("format") == "png":
        assert np.array_equal(cv2.imread(str(files[2])), FRAMES[2])  # lossless


def test_in_a_graph_the_event_takes_the_latest_frame(tmp_path: Path) -> None:
    # frames 0..29 every 10 ms; the events arrive after 0.15 s (test.slow), so frames are there
    spec = load_text(
        "nodes:\n"
        "  - {id: cam, type: test.array_source, params: {count: 30, shape: [24, 32, 3], period_s: 0.01}}\n"
        "  - {id: ev, type: testing.list_source, params: {items: [{events: [{k: 1}]}, {events: []}]}}\n"
        "  - {id: late, type: test.slow, params: {delay_s: 0.15}, inputs: {data: ev/out}}\n"
        f"  - {{id: snap, type: sink.snapshot, params: {{folder: '{tmp_path}'}}, inputs: {{event: late/out, frame: cam/out}}}}\n"
    )
    result = run_spec(spec)
    assert result.ok, result.failures
    files = list(tmp_path.glob("*.jpg"))
    assert len(files) == 1
    assert 3 <= cv2.imread(str(files[0])).mean() <= 29  # a frame from the middle of the run, not the first


def test_events_trigger_whatever_the_yaml_order(tmp_path: Path) -> None:
    # `frame` listed first: still one picture per event (the node's `trigger`), not per frame
    spec = load_text(
        "nodes:\n"
        "  - {id: cam, type: test.array_source, params: {count: 30, shape: [24, 32, 3], period_s: 0.01}}\n"
        "  - {id: ev, type: testing.list_source, params: {items: [{events: [{k: 1}]}, {events: []}, {events: [{k: 2}]}]}}\n"
        "  - {id: late, type: test.slow, params: {delay_s: 0.1}, inputs: {data: ev/out}}\n"
        f"  - {{id: snap, type: sink.snapshot, params: {{folder: '{tmp_path}'}}, inputs: {{frame: cam/out, event: late/out}}}}\n"
    )
    result = run_spec(spec)
    assert result.ok, result.failures
    assert len(list(tmp_path.glob("*.jpg"))) == 2
