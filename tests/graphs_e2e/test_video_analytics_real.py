"""graphs/video_analytics.yaml by name, from a folder that is not the repository: the shipped
CenterNet on the shipped pedestrian clip, one JSON line per frame, people counted at the gate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av  # noqa: F401  (a dev dependency: a missing one must fail, not skip)
import onnxruntime  # noqa: F401  (a dev dependency: a missing one must fail, not skip)
import pytest


def run_by_name(folder: Path, *sets: str) -> list[dict]:
    """`edgespeed run video_analytics` in `folder`; the per-frame records it wrote."""
    cmd = [sys.executable, "-m", "edgespeed", "run", "video_analytics", "--quiet", *(a for s in sets for a in ("--set", s))]
    proc = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": ""})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (folder / "out" / "video_analytics.mp4").stat().st_size > 0  # the overlay output still works
    return [json.loads(line) for line in (folder / "out" / "video_analytics.jsonl").read_text().splitlines()]


def check_records(records: list[dict], frames: int) -> None:
    assert len(records) == frames and [r["seq"] for r in records] == list(range(frames))  # one line per frame
    for r in records:
        d = r["data"]
        assert set(d) == {"objects", "counts", "events"}
        assert set(d["counts"]) == {"gate_in", "gate_out", "road_enter", "road_exit", "road_inside"}
        for o in d["objects"]:
            assert o["label"] == "person" and o["class_id"] == 0 and o["track_id"] >= 1 and 0.3 <= o["score"] <= 1
            x1, y1, x2, y2 = o["box_xyxy"]
            assert 0 <= x1 < x2 <= 768 and 0 <= y1 < y2 <= 576
    assert sum(len(r["data"]["objects"]) for r in records) >= 3 * frames  # a few people in every frame


def test_a_short_segment_counts_the_person_crossing_the_gate(tmp_path: Path) -> None:
    # 1.2 s .. 2.4 s of the clip: the person at the bottom of the plaza walks right to left across
    # x = 448 at about 2.2 s (found on the whole clip, see the slow test)
    records = run_by_name(tmp_path, "src.start_s=1.2", "src.end_s=2.4")
    check_records(records, 12)
    counts = records[-1]["data"]["counts"]
    assert counts["gate_in"] >= 1, counts
    crossing = [e for r in records for e in r["data"]["events"] if e["type"] == "line"]
    assert crossing and all(abs(e["point_xy"][0] - 448) < 30 for e in crossing)


@pytest.mark.slow
def test_the_whole_clip_counts_people_both_ways(tmp_path: Path) -> None:
    records = run_by_name(tmp_path)
    check_records(records, 150)
    counts = records[-1]["data"]["counts"]
    assert counts["gate_in"] >= 2 and counts["gate_out"] >= 2, counts
    tracks = {o["track_id"] for r in records for o in r["data"]["objects"]}
    assert 10 <= len(tracks) <= 60  # people come and go; ids are not handed out per frame
