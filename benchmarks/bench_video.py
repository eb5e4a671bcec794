"""Video decoding: `video.file` against a bare PyAV loop on the same generated 720p H.264 file.

Target: decode + conversion to bgr24 through `video.file` runs at >= 90% of the frame rate of a
bare `for frame in container.decode(): frame.to_ndarray(format="bgr24")` loop with the same
decoder threading, both measured in this run. Measured twice: the node's `generate()` alone
(what the node adds: media time from the PTS, trimming, the stop check), and a whole graph
`video.file -> sink.null` (what a user gets: also the thread hop and the ring).

The file is generated here (moving texture, a circle and text, 300 frames, libx264 veryfast).
Threading is reported too: `threads: 0` (FFmpeg's frame+slice threads) against `threads: 1`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

av = pytest.importorskip("av")
cv2 = pytest.importorskip("cv2")

from edgespeed import Graph
from edgespeed.registry import default_registry

FRAMES = 300
W, H = 1280, 720
MIN_RATIO = 0.90
ROUNDS = 5


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("video") / "720p.mp4"
    rng = np.random.default_rng(0)
    texture = cv2.resize(rng.integers(0, 255, (H // 8, W // 4, 3), dtype=np.uint8), (2 * W, H), interpolation=cv2.INTER_CUBIC)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.options = {"preset": "veryfast", "crf": "20"}
        for i in range(FRAMES):
            img = np.ascontiguousarray(texture[:, (i * 6) % W:(i * 6) % W + W])
            cv2.circle(img, (100 + (i * 7) % (W - 200), 300), 80, (0, 200, 255), -1)
            cv2.putText(img, f"frame {i}", (40, 80), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 4)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


def bare_loop(path: Path, threads: int) -> int:
    """The baseline: PyAV's decode loop and to_ndarray, with the node's thread settings."""
    n = 0
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        s.codec_context.thread_count = threads
        for frame in c.decode(s):
            frame.to_ndarray(format="bgr24")
            n += 1
    return n


def node_loop(path: Path, threads: int) -> int:
    node = default_registry().resolve("video.file")("src", path=str(path), threads=threads)
    node.setup()
    try:
        return sum(1 for _ in node.generate())
    finally:
        node.teardown()


def graph_run(path: Path, threads: int) -> int:
    g = Graph("decode")
    src = g.add("video.file", id="src", path=str(path), threads=threads)
    g.add("sink.null", id="out", data=src.frame)
    result = g.run()
    assert result.ok, result.failures
    return int(result.report["nodes"]["out"]["in"])


def best_fps(fn: Any, *args: Any) -> float:
    """Frames per second of the best of ROUNDS runs (the least disturbed by other jobs)."""
    times = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        n = fn(*args)
        times.append(time.perf_counter() - t0)
        assert n == FRAMES
    return FRAMES / min(times)


@pytest.mark.parametrize("threads", [pytest.param(0, id="threads-auto"), pytest.param(1, id="threads-1")])
def test_decode_matches_a_bare_pyav_loop(benchmark: Any, figures: dict[str, Any], video: Path, threads: int) -> None:
    bare_loop(video, threads)  # warm the page cache and FFmpeg's code
    # interleaved, so that load from other jobs hits all three alike
    bare, node, graph = [], [], []
    for _ in range(2):
        bare.append(best_fps(bare_loop, video, threads))
        node.append(best_fps(node_loop, video, threads))
        graph.append(best_fps(graph_run, video, threads))
    bare_fps, node_fps, graph_fps = max(bare), max(node), max(graph)
    benchmark.pedantic(node_loop, args=(video, threads), rounds=1, iterations=1)
    key = f"decode720_t{threads}"
    figures.update({f"{key}_bare_fps": round(bare_fps), f"{key}_node_fps": round(node_fps), f"{key}_graph_fps": round(graph_fps),
                    f"{key}_node_vs_bare": round(node_fps / bare_fps, 3), f"{key}_graph_vs_bare": round(graph_fps / bare_fps, 3)})
    assert node_fps >= MIN_RATIO * bare_fps, f"video.file {node_fps:.0f} fps < {MIN_RATIO:.0%} of bare PyAV {bare_fps:.0f} fps"
    assert graph_fps >= MIN_RATIO * bare_fps, f"video.file -> sink.null {graph_fps:.0f} fps < {MIN_RATIO:.0%} of bare PyAV {bare_fps:.0f} fps"
