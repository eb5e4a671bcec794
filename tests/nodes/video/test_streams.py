"""video.streams: many files and URLs in one source, each on its own thread, each frame stamped with its stream."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pytest

import av  # noqa: F401  (a dev dependency: a missing one must fail, not skip)

from edgespeed import load_text
from edgespeed.errors import GraphErrors
from edgespeed.graph.validate import check
from edgespeed.runtime.scheduler import Run
from edgespeed.testing import ListSink
from test_stream import free_port, wait_for


def graph(paths: str, extra: str = "") -> Run:
    spec = load_text(
        "nodes:\n"
        f"  - {{id: src, type: video.streams, params: {{paths: {paths}{extra}}}}}\n"
        "  - {id: frames, type: testing.list_sink, inputs: {data: src/frame}}\n"
        "  - {id: status, type: testing.list_sink, inputs: {data: src/status}}\n"
    )
    return Run(check(spec))


def test_files_decode_side_by_side_and_every_frame_carries_its_stream(make_video) -> None:
    a, b = make_video(12, "lobby.mp4"), make_video(20, "door.mp4", w=160, h=120)
    run = graph(f"['{a}', {{name: gate, path: '{b}'}}]")
    run.start()
    result = run.wait(20)
    assert result.ok, result.failures
    envs = ListSink.envelopes["frames"]
    frames = ListSink.collected["frames"]
    by_stream = {s: [f for f, e in zip(frames, envs) if e.stream == s] for s in ("lobby", "gate")}
    assert [len(v) for v in by_stream.values()] == [12, 20]
    assert {f.shape for f in by_stream["gate"]} == {(120, 160, 3)}
    # each stream keeps its own order: its media times increase
    for s in ("lobby", "gate"):
        pts = [e.pts_ns for e in envs if e.stream == s]
        assert pts == sorted(pts) and len(set(pts)) == len(pts)
    # interleaved, not one file after the other
    first_gate = next(i for i, e in enumerate(envs) if e.stream == "gate")
    assert first_gate < 12
    ends = [s for s in ListSink.collected["status"] if s["state"] == "ended"]
    assert sorted(s["stream"] for s in ends) == ["gate", "lobby"]
    rep = result.report["streams"]
    assert rep["lobby"]["frames"] == 12 and rep["gate"]["frames"] == 20
    assert rep["gate"]["state"] == "ended" and rep["gate"]["reconnects"] == 0 and rep["gate"]["dropped"] == 0
    assert rep["gate"]["fps"] > 0
    assert rep["gate"]["latency_ms"]["frames"]["count"] == 20


@pytest.mark.parametrize("entry, expect", [
    pytest.param("'nope.mp4'", "paths[1]: 'nope.mp4' is neither an existing file nor a URL", id="missing-file"),
    pytest.param("'ftp://host/x'", "paths[1]: 'ftp://host/x' is not a stream URL", id="unknown-scheme"),
    pytest.param("{name: x, where: a}", "paths[1]: expected a path or {name: ..., path: ...}", id="bad-mapping"),
])
def test_a_bad_entry_is_one_located_validation_error(make_video, entry: str, expect: str) -> None:
    a = make_video(3, "a.mp4")
    spec = load_text("nodes:\n"
                     f"  - {{id: src, type: video.streams, params: {{paths: ['{a}', {entry}]}}}}\n"
                     "  - {id: out, type: testing.list_sink, inputs: {data: src/frame}}\n", file="g.yaml")
    with pytest.raises(GraphErrors) as e:
        check(spec)
    err, = e.value.errors
    assert expect in str(err) and err.node_id == "src"
    assert err.location is not None and err.location.file == "g.yaml" and err.location.line == 2


def test_a_bad_entry_is_located_at_its_own_line(make_video) -> None:
    a = make_video(3, "a.mp4")
    spec = load_text("nodes:\n  - id: src\n    type: video.streams\n    params:\n      paths:\n"
                     f"        - '{a}'\n        - rtsp://cam/1\n        - nope.mp4\n"
                     "  - {id: out, type: testing.list_sink, inputs: {data: src/frame}}\n", file="g.yaml")
    with pytest.raises(GraphErrors) as e:
        check(spec)
    err, = e.value.errors
    assert str(err).startswith("g.yaml:8:11: node 'src': paths[2]: 'nope.mp4' is neither an existing file nor a URL")


def test_the_same_name_twice_is_refused(make_video) -> None:
    a = make_video(3, "a.mp4")
    with pytest.raises(GraphErrors, match="stream name 'a' is used twice"):
        check(load_text(f"nodes:\n  - {{id: src, type: video.streams, params: {{paths: ['{a}', '{a}']}}}}\n"
                        "  - {id: out, type: testing.list_sink, inputs: {data: src/frame}}\n"))


def test_an_unreachable_stream_retries_while_the_others_run(make_video, caplog: pytest.LogCaptureFixture) -> None:
    a = make_video(30, "a.mp4")
    port = free_port()  # nothing listens here
    run = graph(f"['{a}', {{name: yard, path: 'tcp://127.0.0.1:{port}'}}]", ", open_timeout_s: 1, backoff_max_s: 0.5, loop: true")
    caplog.set_level(logging.WARNING, logger="edgespeed")
    run.start()
    try:
        wait_for(lambda: sum(e.stream == "a" for e in ListSink.envelopes.get("frames", [])) >= 60, 15, "the file's frames")
        wait_for(lambda: sum("yard" in r.name and f"127.0.0.1:{port}" in r.getMessage() for r in caplog.records) >= 2, 10, "retries")
    finally:
        run.stop()
        result = run.wait(10)
    assert result.ok, result.failures
    retries = [r for r in caplog.records if f"127.0.0.1:{port}" in r.getMessage()]
    assert all("\n" not in r.getMessage() and "reconnecting in" in r.getMessage() for r in retries)
    assert retries[0].getMessage().startswith(f"stream 'yard' (tcp://127.0.0.1:{port}): connection refused; reconnecting in 0.5 s")
    assert all(r.name == "edgespeed.node.src.yard" for r in retries)  # the log line names the stream
    assert result.report["streams"]["yard"]["frames"] == 0
    assert result.report["streams"]["a"]["frames"] >= 60


def test_live_streams_drop_their_oldest_frames_and_count_it(make_video) -> None:
    """A URL stream is live: when the graph is slower, its oldest frames go (per stream)."""
    from edgespeed.nodes.video.streams import StreamsSource, _Feed

    src = StreamsSource("src", paths=[str(make_video(2))], queue=2)
    src.setup()
    feed = _Feed("cam", "tcp://x:1", 2, lossless=False)
    feed.counts = src.stream_counts.setdefault("cam", feed.counts)
    for i in range(5):
        src._put(feed, {"frame": np.full((2, 2, 3), i, np.uint8)}, None)
    assert [int(item.outputs["frame"][0, 0, 0]) for item in feed.items] == [3, 4]
    assert src.stream_counts["cam"]["dropped"] == 3 and src.stream_counts["cam"]["frames"] == 5
    assert all(item.stream == "cam" for item in feed.items)


def test_paths_can_be_set_from_the_command_line(make_video, tmp_path: Path) -> None:
    """`--set 'src.paths=[a.mp4, b.mp4]'` works: the list parses as YAML."""
    import subprocess
    import sys

    a, b = make_video(4, "a.mp4"), make_video(6, "b.mp4")
    g = tmp_path / "g.yaml"
    g.write_text("nodes:\n  - {id: src, type: video.streams, params: {paths: [x.mp4]}}\n"
                 f"  - {{id: log, type: sink.jsonl, params: {{path: '{tmp_path / 'out.jsonl'}'}}, inputs: {{data: src/status}}}}\n")
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "edgespeed", "run", str(g), "--set", f"src.paths=[{a}, {b}]"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert time.monotonic() - t0 < 30
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    import json

    ended = sorted(json.loads(line)["stream"] for line in lines if json.loads(line)["data"]["state"] == "ended")
    assert ended == ["a", "b"]


@pytest.mark.parametrize("paced", [True, False])
def test_realtime_files_play_at_their_rate_unless_the_run_is_unpaced(paced: bool) -> None:
    """Each file with realtime: true is paced in its own thread (15 fps clips: about 30 frames in
    2 s); an unpaced run (edgespeed bench) takes them as fast as it can (all 90 by then)."""
    spec = load_text("""
nodes:
  - id: src
    type: video.streams
    params: {realtime: true, paths: ["builtin:media/video/squares_a.mp4", "builtin:media/video/squares_b.mp4"]}
  - {id: out, type: sink.null, inputs: {data: src/frame}}
""")
    run = Run(check(spec), paced=paced)
    run.start()
    result = run.wait(2.0)
    frames = [s["frames"] for s in result.report["streams"].values()]
    if paced:
        assert all(15 <= n <= 45 for n in frames), frames
    else:
        assert all(n == 90 for n in frames), frames
