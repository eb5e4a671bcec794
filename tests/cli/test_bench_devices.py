"""`edgespeed bench` and `edgespeed devices`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from edgespeed.cli import main

REPO = Path(__file__).resolve().parents[2]


def test_bench_finds_the_bottleneck(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    g = tmp_path / "g.yaml"
    g.write_text("""
nodes:
  - {id: src, type: testing.list_source, params: {items: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]}}
  - {id: fast, type: test.pass, inputs: {data: src/out}}
  - {id: slow, type: test.slow, params: {delay_s: 0.01}, inputs: {data: fast/out}}
  - {id: sink, type: sink.null, inputs: {data: slow/out}}
""")
    assert main(["bench", str(g), "--json"]) == 0
    b = json.loads(capsys.readouterr().out)
    assert b["bottleneck"] == "slow"
    assert b["nodes"]["slow"]["busy"] > 0.5 and b["nodes"]["slow"]["process_ms"]["p50"] >= 9
    assert b["nodes"]["sink"]["in"] == 16
    q = b["queues"]["fast/out -> slow.data"]
    assert q["capacity"] == 32 and q["peak"] >= 1 and q["mean"] >= 0


def test_bench_unpaces_live_sources(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # quickstart paces 300 frames at 30 fps (10 s); bench runs them as fast as they go
    assert main(["bench", "quickstart", "--set", "cam.frames=60", "--set", "log.path=" + str(tmp_path / "q.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "bottleneck:" in out and "queue occupancy" in out
    assert "cam/frame -> small.image" in out


def test_bench_unpaces_a_source_isolated_in_its_own_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    g = tmp_path / "g.yaml"
    g.write_text("""
nodes:
  - {id: cam, type: video.synthetic, isolate: process, params: {width: 32, height: 32, fps: 10, frames: 40, realtime: true}}
  - {id: sink, type: sink.null, inputs: {data: cam/frame}}
""")
    assert main(["bench", str(g), "--json"]) == 0
    b = json.loads(capsys.readouterr().out)
    # paced, 39 periods of 100 ms alone take 3.9 s; unpaced it is the child's start (a second or
    # two on a loaded box) and a moment
    assert b["nodes"]["sink"]["in"] == 40 and b["wall_s"] < 3.5, b["wall_s"]
    assert "EDGESPEED_UNPACED" not in os.environ  # set for the children only while bench runs


def test_devices_lists_compute_cameras_and_audio(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["devices", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["compute"]["cores"] >= 1
    assert "CPUExecutionProvider" in d["compute"]["onnxruntime"]["providers"]
    assert isinstance(d["cameras"], list)
    audio = d["audio"]
    assert "inputs" in audio or "libportaudio2" in audio["error"], "either a list or how to get one"


def test_bench_leaves_the_model_of_a_node_with_param_made_ports_where_it_is(tmp_path: Path) -> None:
    """inference.onnx declares its ports from its model (none on the class): bench must not take
    it for a sink and move its model file into the temp folder, as it did with multi_camera_people."""
    from edgespeed.cli.bench import _temp_sinks

    moved = _temp_sinks("multi_camera_people", [], tmp_path)
    assert moved == [f'log.path="{tmp_path / "log" / "multi_camera_people.jsonl"}"']
