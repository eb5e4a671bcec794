from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request

import cv2
import numpy as np

from edgespeed import load_text
from edgespeed.graph.validate import check
from edgespeed.registry import default_registry
from edgespeed.runtime.scheduler import Run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, timeout_s: float = 5) -> bytes:
    end = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as r:
                return bytes(r.read())
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > end:
                raise
            time.sleep(0.05)


def read_part(stream: object, boundary: bytes) -> bytes:
    """One JPEG part of a multipart/x-mixed-replace stream: boundary, headers, body."""
    line = stream.readline()  # type: ignore[attr-defined]
    while line.strip() != b"--" + boundary:
        line = stream.readline()  # type: ignore[attr-defined]
    headers = {}
    while (line := stream.readline().strip()):  # type: ignore[attr-defined]
        k, v = line.decode().split(":", 1)
        headers[k.lower()] = v.strip()
    assert headers["content-type"] == "image/jpeg"
    return bytes(stream.read(int(headers["content-length"])))  # type: ignore[attr-defined]


def test_mjpeg_stream_in_a_browser_and_the_pipeline_is_not_held() -> None:
    port = free_port()
    spec = load_text(
        "nodes:\n"
        "  - {id: cam, type: video.synthetic, params: {width: 160, height: 120, fps: 60, frames: 0}}\n"
        f"  - {{id: preview, type: video.preview, params: {{port: {port}}}, inputs: {{frame: cam/frame}}}}\n"
    )
    run = Run(check(spec))
    run.start()
    try:
        page = get(f"http://127.0.0.1:{port}/")
        assert b'<img src="/stream"' in page
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/stream", timeout=5) as r:
            ctype = r.headers["Content-Type"]
            assert ctype.startswith("multipart/x-mixed-replace")
            boundary = ctype.split("boundary=")[1].encode()
            jpegs = [read_part(r, boundary) for _ in range(3)]
        imgs = [cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR) for j in jpegs]
        assert all(i.shape == (120, 160, 3) for i in imgs)
        assert not np.array_equal(imgs[0], imgs[2])  # live: the frames move
        assert run.nodes["preview"].inputs["frame"].policy == "latest"
        ring = next(r for r in run.rings if r.name.endswith("preview.frame"))
        assert ring.capacity == 1 and ring.policy == "latest"
    finally:
        run.stop()
        result = run.wait(10)
    assert result.ok, result.failures


def test_no_client_no_encoding_and_snapshot_route() -> None:
    node = default_registry().resolve("video.preview")("pv", port=0)
    node.setup()
    try:
        node.process(np.zeros((8, 8, 3), np.uint8))
        assert node.hub.version == 0  # nobody watching: nothing was encoded
        import threading

        got: list[bytes] = []
        t = threading.Thread(target=lambda: got.append(get(f"http://127.0.0.1:{node.bound_port}/snapshot.jpg")))
        t.start()
        while node.hub.clients == 0:
            time.sleep(0.01)
        node.process(np.full((8, 8, 3), 200, np.uint8))
        t.join(5)
        img = cv2.imdecode(np.frombuffer(got[0], np.uint8), cv2.IMREAD_COLOR)
        assert abs(int(img.mean()) - 200) <= 2
        try:
            get(f"http://127.0.0.1:{node.bound_port}/nope", timeout_s=1)
            raise AssertionError("expected 404")
        except urllib.error.HTTPError as e:
            assert e.code == 404
    finally:
        node.teardown()


def test_a_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        node = default_registry().resolve("video.preview")("pv", port=s.getsockname()[1])
        try:
            node.setup()
            raise AssertionError("expected an error")
        except OSError as e:
            assert f"cannot serve the preview on 127.0.0.1:{s.getsockname()[1]}" in str(e)
