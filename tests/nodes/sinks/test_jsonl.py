from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgespeed.testing import run_node


def test_jsonl_writes_one_line_per_packet(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "x.jsonl"
    values = [{"label": "car", "score": np.float32(0.5), "boxes": np.zeros((1, 4), np.float32)}, np.zeros((100, 100), np.uint8), 3]
    run_node("sink.jsonl", params={"path": str(path)}, inputs={"data": values})
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["seq"] for r in rows] == [0, 1, 2]
    assert rows[0]["data"] == {"label": "car", "score": 0.5, "boxes": [[0.0, 0.0, 0.0, 0.0]]}
    assert rows[1]["data"] == {"shape": [100, 100], "dtype": "uint8", "mean": 0.0}
    assert rows[2]["data"] == 3


def test_jsonl_append(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    run_node("sink.jsonl", params={"path": str(path)}, inputs={"data": [1]})
    run_node("sink.jsonl", params={"path": str(path), "append": True}, inputs={"data": [2]})
    assert len(path.read_text().splitlines()) == 2


def test_jsonl_reads_back_where_it_left_off_and_cuts_a_torn_line(tmp_path: Path) -> None:
    from edgespeed.registry import default_registry

    path = tmp_path / "x.jsonl"
    rows = [{"seq": i, "data": i, "origin": ["a1b2", 40 + i]} for i in range(3)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"seq": 3, "data": 3, "orig')  # killed mid-write
    sink = default_registry().resolve("sink.jsonl")("log", path=str(path), append=True)
    sink.setup()
    sink.teardown()
    assert sink.resume_point() == ("a1b2", 42)
    assert path.read_text().endswith('"origin": ["a1b2", 42]}\n')  # the torn line is gone: its packet comes again
    fresh = default_registry().resolve("sink.jsonl")("log", path=str(path))  # not appending: starts over, no resume
    fresh.setup()
    fresh.teardown()
    assert fresh.resume_point() is None
