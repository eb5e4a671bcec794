from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgespeed import load_text
from edgespeed.runtime.scheduler import run_spec
from edgespeed.testing import run_node


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_one_line_per_event_and_nothing_without_events(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "events.jsonl"
    records = [
        {"counts": {"in": 0}, "events": []},
        {"counts": {"in": 2}, "events": [{"type": "line_cross", "track_id": np.int64(4), "direction": "in"},
                                         {"type": "line_cross", "track_id": 5, "direction": "in"}]},
        None,
        {"alarm": "zone 1", "score": np.float32(0.5)},
    ]
    run_node("sink.events", params={"path": str(path)}, inputs={"data": records})
    rows = lines(path)
    assert [r["event"] for r in rows] == [
        {"type": "line_cross", "track_id": 4, "direction": "in"},
        {"type": "line_cross", "track_id": 5, "direction": "in"},
        {"alarm": "zone 1", "score": 0.5},
    ]
    assert [r["seq"] for r in rows] == [1, 1, 3]
    assert rows[0]["counts"] == {"in": 2} and "counts" not in rows[2]


@pytest.mark.parametrize("include", [pytest.param(True, id="with-counts"), pytest.param(False, id="without-counts")])
def test_include_counts(tmp_path: Path, include: bool) -> None:
    path = tmp_path / "e.jsonl"
    run_node("sink.events", params={"path": str(path), "include_counts": include},
             inputs={"data": [{"counts": {"a": 1}, "events": [{"k": 1}]}]})
    assert ("counts" in lines(path)[0]) is include


def test_lines_carry_the_envelope_times(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    spec = load_text(
        "nodes:\n"
        "  - {id: src, type: testing.list_source, params: {items: [{events: [{k: 1}]}, {events: []}, {events: [{k: 3}]}], pts_step_ns: 500000000}}\n"
        f"  - {{id: ev, type: sink.events, params: {{path: '{path}'}}, inputs: {{data: src/out}}}}\n"
    )
    assert run_spec(spec).ok
    rows = lines(path)
    assert [r["pts_s"] for r in rows] == [0.0, 1.0]
    assert [r["event"]["k"] for r in rows] == [1, 3]
    assert rows[0]["time"].endswith("Z") and rows[0]["ts_ns"] > 1_600_000_000 * 10**9
