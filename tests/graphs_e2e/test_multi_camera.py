"""graphs/multi_camera.yaml by name from any folder: four streams, one batched detector, per-stream tracking and counts."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

import numpy as np

import av  # noqa: F401  (a dev dependency: a missing one must fail, not skip)


def edgespeed(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgespeed", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_multi_camera_runs_by_name_and_writes_one_line_per_stream_and_frame(tmp_path: Path) -> None:
    r = edgespeed("run", "multi_camera", "--report", "report.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in (tmp_path / "out/multi_camera.jsonl").read_text().splitlines()]
    by_stream: dict[str, list[dict]] = defaultdict(list)
    for line in lines:
        assert line["stream"] == line["data"]["stream"]
        by_stream[line["stream"]].append(line["data"])
    assert {s: len(v) for s, v in by_stream.items()} == {"cam_a": 90, "cam_b": 90, "cam_c": 90, "cam_d": 90}
    # the shipped clips: two squares each; one crosses the middle line down, in cam_c and cam_d one also up
    final = {s: v[-1]["counts"] for s, v in by_stream.items()}
    assert final == {"cam_a": {"middle_in": 1, "middle_out": 0}, "cam_b": {"middle_in": 1, "middle_out": 0},
                     "cam_c": {"middle_in": 1, "middle_out": 1}, "cam_d": {"middle_in": 1, "middle_out": 1}}
    first = by_stream["cam_a"][0]["objects"]
    assert sorted((o["track_id"], o["label"]) for o in first) == [(1, "square"), (2, "square")]
    # cam_a's first frame: squares of 36 px at (40, 10) and (10, 170), in source pixels
    boxes = sorted(tuple(o["box_xyxy"]) for o in first)
    assert np.allclose(boxes, [(10, 170, 46, 206), (40, 10, 76, 46)], atol=1.5)
    # track ids stay per stream: every stream has exactly its two tracks, 1 and 2, all the way
    for s, records in by_stream.items():
        ids = {o["track_id"] for rec in records for o in rec["objects"]}
        assert ids == {1, 2}, (s, ids)
    rep = json.loads((tmp_path / "report.json").read_text())
    det = rep["nodes"]["det"]
    assert det["in"] <= 360 / 2, f"the detector ran {det['in']} times for 360 frames: not batched"
    assert set(rep["streams"]) == {"cam_a", "cam_b", "cam_c", "cam_d"}
    for s in rep["streams"].values():
        assert s["frames"] == 90 and s["state"] == "ended" and s["latency_ms"]["log"]["count"] == 90


def test_the_mosaic_shows_every_stream_on_one_preview_page(tmp_path: Path) -> None:
    p = subprocess.Popen([sys.executable, "-m", "edgespeed", "run", "multi_camera", "--set", "src.loop=true",
                          "--set", "src.realtime=true", "--duration", "20"], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    try:
        url = None
        t0 = time.monotonic()
        assert p.stderr is not None
        while url is None and time.monotonic() - t0 < 30:
            line = p.stderr.readline()
            if "preview at " in line:
                url = line.split("preview at ", 1)[1].strip()
        assert url, "the preview's address is logged"
        page = urllib.request.urlopen(url, timeout=10).read()
        assert b'src="/stream"' in page
        jpeg = urllib.request.urlopen(url + "snapshot.jpg", timeout=10).read()
        import cv2

        img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert img.shape == (480, 640, 3), "four 320x240 tiles, 2 x 2"
        # each tile shows its own clip: the four quadrants differ
        quads = [img[r:r + 240, c:c + 320].astype(np.float32) for r in (0, 240) for c in (0, 320)]
        assert min(float(np.abs(a - b).mean()) for i, a in enumerate(quads) for b in quads[i + 1:]) > 1.0
    finally:
        p.terminate()
        p.communicate(timeout=30)
    assert p.returncode == 0


def test_multi_camera_people_runs_the_shipped_detector_per_stream(tmp_path: Path) -> None:
    """The real detector behind the same batching: people found and tracked in every stream, each
    stream's records and track ids its own (a short run: stopped after a few seconds, drained)."""
    r = edgespeed("run", "multi_camera_people", "--duration", "5", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    by_stream: dict[str, list[dict]] = defaultdict(list)
    for line in (tmp_path / "out/multi_camera_people.jsonl").read_text().splitlines():
        data = json.loads(line)["data"]
        by_stream[data["stream"]].append(data)
    assert set(by_stream) == {"cam_1", "cam_2", "cam_3", "cam_4"}
    for stream, records in by_stream.items():
        people = [o for rec in records for o in rec["objects"]]
        assert people and all(o["label"] == "person" for o in people), stream
        # each stream counts its tracks from 1: the first frame's people are tracks 1..n of this stream
        ids = sorted(o["track_id"] for o in records[0]["objects"])
        assert len(ids) >= 3 and ids == list(range(1, len(ids) + 1)), (stream, ids)
    # the four streams are the same clip: the same people, the same boxes, in each
    firsts = [sorted((o["track_id"], tuple(o["box_xyxy"])) for o in by_stream[s][0]["objects"]) for s in sorted(by_stream)]
    assert all(f == firsts[0] for f in firsts)


def _records(path: Path) -> dict[str, list[dict]]:
    by_stream: dict[str, list[dict]] = defaultdict(list)
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        by_stream[rec["stream"]].append(rec["data"])
    return dict(by_stream)


def test_multi_camera_with_the_detector_and_tracker_in_processes_of_their_own(tmp_path: Path) -> None:
    # the same graph, its detector and its per-stream tracker each isolated: every packet keeps
    # its stream over the shared-memory channels and the results are those of one process
    graph = Path(__file__).resolve().parents[2] / "graphs/multi_camera.yaml"
    text = graph.read_text()
    for node in ("det", "track"):
        assert f"  - id: {node}\n" in text
        text = text.replace(f"  - id: {node}\n", f"  - id: {node}\n    isolate: process\n")
    (tmp_path / "iso.yaml").write_text(text.replace("out/multi_camera.jsonl", "out/iso.jsonl"))
    r = edgespeed("run", "iso.yaml", "--report", "iso.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = edgespeed("run", "multi_camera", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    iso, one = _records(tmp_path / "out/iso.jsonl"), _records(tmp_path / "out/multi_camera.jsonl")
    assert {s: len(v) for s, v in iso.items()} == {"cam_a": 90, "cam_b": 90, "cam_c": 90, "cam_d": 90}
    for s in one:
        assert [(rec["counts"], [(o["track_id"], o["label"]) for o in rec["objects"]]) for rec in iso[s]] == \
               [(rec["counts"], [(o["track_id"], o["label"]) for o in rec["objects"]]) for rec in one[s]], s
    rep = json.loads((tmp_path / "iso.json").read_text())
    assert rep["nodes"]["det"]["process"] == "det" and rep["nodes"]["track"]["process"] == "track"
    assert all(st["state"] == "ended" and st["frames"] == 90 for st in rep["streams"].values())
