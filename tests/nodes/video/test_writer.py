from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import av

from video_fixtures import H, W, decode_all, draw

from edgespeed import load_text
from edgespeed.runtime.scheduler import run_spec
from edgespeed.testing import run_node


def probe(path: Path) -> tuple[str, int, tuple[int, int]]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        n = sum(1 for _ in c.decode(s))
        return s.codec_context.name, n, (s.codec_context.width, s.codec_context.height)


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({}, id="h264-rate"),
        pytest.param({"timing": "pts"}, id="h264-pts"),
        pytest.param({"fragmented": True}, id="fragmented"),
        pytest.param({"codec": "mpeg4", "bitrate_kbps": 800}, id="mpeg4"),
    ],
)
def test_output_redecodes_with_every_frame(tmp_path: Path, params: dict[str, object]) -> None:
    path = tmp_path / "sub" / "out.mp4"
    frames = [draw(i) for i in range(25)]
    run_node("video.writer", params={"path": str(path), **params}, inputs={"frame": frames})
    codec, n, size = probe(path)
    assert n == 25 and size == (W, H)
    assert codec == params.get("codec", "h264")
    back = decode_all(path)
    assert np.abs(back[10].astype(int) - frames[10]).mean() < 6  # lossy, but the same picture


def test_auto_prefers_libx264_and_logs_it(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        run_node("video.writer", params={"path": str(tmp_path / "x.mp4")}, inputs={"frame": [draw(0)]})
    assert "encoding with libx264" in caplog.text


def test_odd_sizes_and_gray_frames_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "odd.mp4"
    frames = [np.full((101, 75), i * 20, np.uint8) for i in range(5)]
    run_node("video.writer", params={"path": str(path)}, inputs={"frame": frames})
    _, n, size = probe(path)
    assert n == 5 and size == (74, 100)


def test_unknown_codec_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="unknown codec 'nope'"):
        run_node("video.writer", params={"path": str(tmp_path / "x.mp4"), "codec": "nope"}, inputs={"frame": [draw(0)]})


def test_no_frames_writes_nothing(tmp_path: Path) -> None:
    run_node("video.writer", params={"path": str(tmp_path / "x.mp4")}, inputs={"frame": []})
    assert not (tmp_path / "x.mp4").exists()


def test_file_is_finalized_when_another_node_fails(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    spec = load_text(
        "nodes:\n"
        "  - {id: cam, type: test.array_source, params: {count: 40, shape: [120, 160, 3]}}\n"
        f"  - {{id: out, type: video.writer, params: {{path: '{path}'}}, inputs: {{frame: cam/out}}}}\n"
        "  - {id: bad, type: test.lifecycle, params: {fail_at: [20]}, inputs: {data: cam/out}}\n"
    )
    result = run_spec(spec)
    assert not result.ok
    _, n, _ = probe(path)
    assert n == result.report["nodes"]["out"]["in"] > 0


def test_sigterm_mid_stream_leaves_a_playable_file(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    graph = tmp_path / "g.yaml"
    graph.write_text(
        "nodes:\n"
        "  - {id: cam, type: video.synthetic, params: {width: 320, height: 240, fps: 30, frames: 0, realtime: true}}\n"
        f"  - {{id: out, type: video.writer, params: {{path: '{path}'}}, inputs: {{frame: cam/frame}}}}\n"
    )
    report = tmp_path / "report.json"
    proc = subprocess.Popen([sys.executable, "-m", "edgespeed", "run", str(graph), "-q", "--report", str(report)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + 30  # the file appears with the first frame (a loaded box starts slowly)
        while not path.exists() and time.monotonic() < end and proc.poll() is None:
            time.sleep(0.05)
        time.sleep(1.5)  # about 45 frames in flight
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    import json

    written = json.loads(report.read_text())["nodes"]["out"]["in"]
    _, n, size = probe(path)
    assert size == (320, 240)
    assert n == written >= 20


@pytest.mark.parametrize("url", ["ftp://host/x", "out.mp4", "rtsp:host"])
def test_stream_out_refuses_an_address_it_cannot_publish_to(tmp_path: Path, url: str) -> None:
    g = tmp_path / "g.yaml"
    g.write_text(f"""nodes:
  - {{id: src, type: video.synthetic, params: {{frames: 2}}}}
  - id: out
    type: video.stream_out
    params: {{url: "{url}"}}
    inputs: {{frame: src/frame}}
""")
    r = subprocess.run([sys.executable, "-m", "edgespeed", "validate", str(g)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(f"{g}:5:") and "'out'" in line and f"{url!r} is not an address to publish to" in line, line
    assert "Traceback" not in r.stderr
