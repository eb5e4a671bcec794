from __future__ import annotations

import functools
import http.server
import socket
import subprocess
import threading
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

import av  # noqa: F401  (a dev dependency: a missing one must fail, not skip)

from edgespeed import load_text
from edgespeed.graph.validate import check
from edgespeed.runtime.scheduler import Run
from edgespeed.testing import ListSink

# A live MPEG-TS server on loopback: it waits for one client, then sends H.264 frames at 30 fps
# whose gray level encodes the frame number plus `base`, until it is killed.
SERVER = """
import sys, time, av, numpy as np
port, base = int(sys.argv[1]), int(sys.argv[2])
with av.open(f"tcp://127.0.0.1:{port}?listen=1", "w", format="mpegts") as c:
    s = c.add_stream("libx264", rate=30)
    s.width, s.height, s.pix_fmt = 160, 120, "yuv420p"
    s.options = {"tune": "zerolatency", "preset": "ultrafast", "g": "10"}
    i = 0
    while True:
        img = np.full((120, 160, 3), base + (i % 8) * 4, np.uint8)
        vf = av.VideoFrame.from_ndarray(img, format="bgr24")
        vf.pts = i
        for p in s.encode(vf):
            c.mux(p)
        i += 1
        time.sleep(1 / 30)
"""

# The same, pushed as MPEG-TS datagrams to a UDP port (nobody needs to listen: UDP just sends).
UDP_SENDER = SERVER.replace('f"tcp://127.0.0.1:{port}?listen=1"', 'f"udp://127.0.0.1:{port}?pkt_size=1316"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Callable[[int, int], subprocess.Popen[bytes]]]:
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    procs: list[subprocess.Popen[bytes]] = []

    def start(port: int, base: int) -> subprocess.Popen[bytes]:
        procs.append(subprocess.Popen([sys.executable, str(script), str(port), str(base)], stderr=subprocess.DEVNULL))
        return procs[-1]

    yield start
    for p in procs:
        p.kill()
        p.wait()


def wait_for(cond: Callable[[], bool], timeout_s: float, what: str) -> None:
    end = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


def start_graph(url: str, extra: str = "", open_timeout_s: float = 2) -> Run:
    spec = load_text(
        "nodes:\n"
        f"  - {{id: cam, type: video.stream, params: {{url: '{url}', open_timeout_s: {open_timeout_s}, read_timeout_s: 1{extra}}}}}\n"
        "  - {id: frames, type: testing.list_sink, inputs: {data: cam/frame}}\n"
        "  - {id: status, type: testing.list_sink, inputs: {data: cam/status}}\n"
        "  - {id: ticks, type: test.array_source, params: {endless: true, period_s: 0.02}}\n"
        "  - {id: tick_sink, type: testing.list_sink, inputs: {data: ticks/out}}\n"
    )
    run = Run(check(spec))
    run.start()
    return run


def test_reconnects_after_the_server_restarts(server: Callable[[int, int], subprocess.Popen[bytes]]) -> None:
    port = free_port()
    first = server(port, 40)
    run = start_graph(f"tcp://127.0.0.1:{port}")
    try:
        frames, status = (lambda k=k: ListSink.collected.get(k, []) for k in ("frames", "status"))
        wait_for(lambda: len(frames()) >= 10, 20, "frames from the first server")
        assert frames()[0].shape == (120, 160, 3)
        first.kill()
        first.wait()
        wait_for(lambda: any(s["state"] == "disconnected" for s in status()), 10, "the disconnect")
        gone_at = len(frames())
        ticks_before = len(ListSink.collected["tick_sink"])
        time.sleep(0.5)  # the source is away; the rest of the graph keeps running
        assert len(ListSink.collected["tick_sink"]) > ticks_before
        server(port, 160)
        wait_for(lambda: len(frames()) >= gone_at + 10, 20, "frames from the restarted server")
        assert np.mean(frames()[-1]) > 140  # from the second server, not stale ones
        connected = [s for s in status() if s["state"] == "connected"]
        assert [s["reconnects"] for s in connected] == [0, 1]
        assert status()[-1]["url"] == f"tcp://127.0.0.1:{port}"
    finally:
        run.stop()
        result = run.wait()
    assert result.ok, result.failures
    assert run.nodes["cam"].reconnects == 1
    assert result.report["nodes"]["cam"]["counters"] == {"reconnects": 1}


def test_a_silent_peer_times_out_and_stop_is_prompt(server: Callable[[int, int], subprocess.Popen[bytes]]) -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never sends a byte
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        run = start_graph(f"tcp://127.0.0.1:{silent.getsockname()[1]}", ", max_attempts: 2, backoff_max_s: 0.5", open_timeout_s=1)
        t0 = time.monotonic()
        result = run.wait(15)
    assert time.monotonic() - t0 < 8
    assert not result.ok
    assert "gave up after 2 failed attempts in a row" in str(result.failures[0])


def test_without_reconnect_an_unreachable_url_fails_with_one_line() -> None:
    port = free_port()  # nothing listens here
    run = start_graph(f"tcp://127.0.0.1:{port}", ", reconnect: false")
    result = run.wait(15)
    assert not result.ok
    msg = str(result.failures[0])
    assert f"stream tcp://127.0.0.1:{port}: connection refused" in msg and "\n" not in msg


def test_the_password_never_reaches_status_or_logs() -> None:
    from edgespeed.registry import default_registry

    node = default_registry().resolve("video.stream")("cam", url="rtsp://admin:s3cret@10.0.0.7:554/live")
    node.setup()
    assert node.shown_url == "rtsp://admin:***@10.0.0.7:554/live"


@pytest.fixture
def http_clip(tmp_path: Path) -> Iterator[str]:
    """An MPEG-TS file of 20 frames (gray level 10 * i) served over HTTP on loopback."""
    with av.open(str(tmp_path / "clip.ts"), "w", format="mpegts") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 160, 120, "yuv420p"
        for i in range(20):
            vf = av.VideoFrame.from_ndarray(np.full((120, 160, 3), 10 * i, np.uint8), format="bgr24")
            vf.pts = i
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    quiet = type("Quiet", (http.server.SimpleHTTPRequestHandler,), {"log_message": lambda *a: None})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(quiet, directory=str(tmp_path)))
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/clip.ts"
    srv.shutdown()
    thread.join()


def test_http_without_reconnect_ends_with_the_file(http_clip: str) -> None:
    from edgespeed.runtime.scheduler import run_spec

    result = run_spec(load_text(
        "nodes:\n"
        f"  - {{id: cam, type: video.stream, params: {{url: '{http_clip}', reconnect: false, format: gray}}}}\n"
        "  - {id: frames, type: testing.list_sink, inputs: {data: cam/frame}}\n"
    ))
    assert result.ok, result.failures
    frames = ListSink.collected["frames"]
    assert [round(float(f.mean()) / 10) for f in frames] == list(range(20))  # every frame, in order
    assert frames[0].shape == (120, 160)
    assert "counters" not in result.report["nodes"]["cam"]  # no reconnect, no counter


def test_http_reconnects_at_the_end_of_the_file_and_counts_it(http_clip: str) -> None:
    run = start_graph(http_clip, ", backoff_max_s: 0.5")
    try:
        wait_for(lambda: len(ListSink.collected.get("frames", [])) >= 45, 20, "the file three times")
    finally:
        run.stop()
        result = run.wait()
    assert result.ok, result.failures
    reconnects = result.report["nodes"]["cam"]["counters"]["reconnects"]
    assert reconnects >= 2
    status = ListSink.collected["status"]
    assert [s["error"] for s in status if s["state"] == "disconnected"][:2] == ["end of stream"] * 2
    assert max(s["reconnects"] for s in status) == reconnects


def test_udp_mpegts(tmp_path: Path) -> None:
    port = free_port()
    script = tmp_path / "sender.py"
    script.write_text(UDP_SENDER)
    sender = subprocess.Popen([sys.executable, str(script), str(port), "100"], stderr=subprocess.DEVNULL)
    try:
        run = start_graph(f"udp://127.0.0.1:{port}", open_timeout_s=5)
        try:
            wait_for(lambda: len(ListSink.collected.get("frames", [])) >= 10, 20, "frames over udp")
        finally:
            run.stop()
            result = run.wait()
    finally:
        sender.kill()
        sender.wait()
    assert result.ok, result.failures
    frames = ListSink.collected["frames"]
    assert frames[0].shape == (120, 160, 3)
    assert all(90 <= f.mean() <= 140 for f in frames)  # levels 100..128 from the sender
    assert ListSink.collected["status"][0]["state"] == "connected"
