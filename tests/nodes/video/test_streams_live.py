"""Streams added and removed while the multi-camera pipeline runs (the control API's streams endpoints)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

import av  # noqa: F401  (a dev dependency: a missing one must fail, not skip)

from edgespeed import load_text
from edgespeed.control import ApiError, Control
from edgespeed.graph.validate import check
from edgespeed.runtime.scheduler import Run
from edgespeed.testing import ListSink
from test_stream import wait_for

CLIP_A = "builtin:media/video/squares_a.mp4"
CLIP_B = "builtin:media/video/squares_b.mp4"


def pipeline(out: Path) -> Run:
    spec = load_text(f"""
nodes:
  - id: src
    type: video.streams
    params: {{paths: [{{name: cam_a, path: "{CLIP_A}"}}], loop: true, realtime: true, end_when_idle: false}}
  - {{id: mux, type: image.mux, params: {{size: 2, max_wait_ms: 30}}, inputs: {{frame: src/frame}}}}
  - {{id: box, type: image.letterbox, params: {{size_wh: [320, 320], batch: true}}, inputs: {{image: mux/batch}}}}
  - {{id: norm, type: image.normalize, inputs: {{image: box/out}}}}
  - id: det
    type: inference.onnx
    params: {{model: builtin:models/squares_detector.onnx, providers: [cpu], input_ports: [tensor], output_ports: [out]}}
    inputs: {{tensor: norm/tensor}}
  - {{id: split, type: image.demux, inputs: {{out: det/out, items: mux/items, transform: box/transform}}}}
  - {{id: decode, type: post.yolo, params: {{layout: v8, score_min: 0.5}}, inputs: {{predictions: split/out, transform: split/transforms}}}}
  - {{id: track, type: post.tracker, inputs: {{detections: decode/detections}}}}
  - {{id: count, type: post.counter, params: {{lines: {{middle: [0, 120, 320, 120]}}, objects: true}}, inputs: {{tracks: track/tracks}}}}
  - {{id: log, type: sink.jsonl, params: {{path: "{out}", flush_every: 100000}}, inputs: {{data: count/counts}}}}
  - {{id: seen, type: testing.list_sink, inputs: {{data: count/counts}}}}
  - {{id: status, type: testing.list_sink, inputs: {{data: src/status}}}}
""")
    return Run(check(spec))


def records(stream: str) -> list[dict]:
    return [r for r in list(ListSink.collected.get("seen", [])) if r["stream"] == stream]


def test_an_added_stream_starts_and_a_removed_one_ends_cleanly_while_the_other_never_pauses(tmp_path: Path) -> None:
    out = tmp_path / "multi.jsonl"
    run = pipeline(out)
    api = Control(run, run.snapshot)  # what POST/DELETE /nodes/src/streams call
    run.start()
    try:
        wait_for(lambda: len(records("cam_a")) >= 10, 20, "the first stream")
        assert api.add_stream("src", {"path": CLIP_B, "name": "door"}) == {"node": "src", "stream": "door"}
        with pytest.raises(ApiError, match="stream 'door' exists"):
            api.add_stream("src", {"path": CLIP_B, "name": "door"})
        wait_for(lambda: len(records("door")) >= 10, 20, "the added stream")
        assert {"cam_a", "door"} <= set(run.nodes["track"].streams) and "door" in run.nodes["count"].streams
        assert records("door")[0]["objects"], "the added stream is detected and tracked"
        assert api.remove_stream("src", "door") == {"node": "src", "removed": "door"}
        wait_for(lambda: "door" not in run.nodes["count"].streams, 10, "the end of the removed stream")
        # its state is gone everywhere per-stream, and its sink lines are on disk (flushed at its end)
        assert "door" not in run.nodes["track"].streams
        on_disk = [json.loads(line) for line in out.read_text().splitlines()]
        assert sum(r["stream"] == "door" for r in on_disk) == len(records("door"))
        n_door = len(records("door"))
        time.sleep(0.5)
        assert len(records("door")) == n_door, "nothing of the removed stream comes after its end"
        with pytest.raises(ApiError, match="no stream 'door'"):
            api.remove_stream("src", "door")
        n_a = len(records("cam_a"))
        wait_for(lambda: len(records("cam_a")) >= n_a + 5, 10, "the first stream going on")
    finally:
        run.stop()
        result = run.wait(15)
    assert result.ok, result.failures
    states = [s["state"] for s in ListSink.collected["status"] if s["stream"] == "door"]
    assert states[-1] == "removed"
    # the first stream never paused: its frames kept their 15 fps through the add and the remove
    ts = np.array([e.ts_ns for e, r in zip(ListSink.envelopes["seen"], ListSink.collected["seen"]) if r["stream"] == "cam_a"]) / 1e9
    # (a stall on the add or the remove would be a second or more; the shared 2-core test box
    # itself sometimes holds a thread ~0.4 s, hence the margin)
    assert np.median(np.diff(ts)) < 0.1 and np.max(np.diff(ts)) < 1.0, f"a pause of {np.max(np.diff(ts)):.2f} s"
    rep = result.report["streams"]
    assert rep["door"]["state"] == "removed" and rep["door"]["frames"] >= 10 and rep["cam_a"]["state"] != "removed"


def http(method: str, url: str, body: dict | None = None) -> tuple[int, dict]:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_the_streams_endpoints_over_http_and_a_bad_path_is_a_400_that_changes_nothing(tmp_path: Path) -> None:
    from edgespeed.control import ControlServer

    run = pipeline(tmp_path / "x.jsonl")
    api = Control(run, run.snapshot)
    server = ControlServer(("127.0.0.1", 0), api)
    server.start()
    base = f"http://127.0.0.1:{server.port}/nodes/src/streams"
    run.start()
    try:
        wait_for(lambda: len(records("cam_a")) >= 2, 20, "the first stream")
        assert http("POST", base, {"path": CLIP_B, "name": "door"}) == (200, {"node": "src", "stream": "door"})
        wait_for(lambda: len(records("door")) >= 2, 20, "the stream added over HTTP")
        assert http("DELETE", f"{base}/door") == (200, {"node": "src", "removed": "door"})
        wait_for(lambda: "door" not in run.nodes["track"].streams, 10, "its end")
        code, err = http("POST", base, {"path": "elsewhere.mp4"})
        assert code == 400 and "'elsewhere.mp4' is neither an existing file nor a URL" in err["error"]
        with pytest.raises(ApiError) as e:
            api.add_stream("src", {"path": "nowhere.mp4", "name": "x"})
        assert e.value.status == 400 and "'nowhere.mp4' is neither an existing file nor a URL" in e.value.msg
        assert run.nodes["src"].stream_names() == ["cam_a"]
        with pytest.raises(ApiError) as e2:
            api.add_stream("track", {"path": CLIP_B})
        assert e2.value.status == 409
    finally:
        server.close()
        run.stop()
        result = run.wait(15)
    assert result.ok, result.failures
