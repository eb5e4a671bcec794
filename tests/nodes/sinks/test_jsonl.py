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
