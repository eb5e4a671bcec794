from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import av  # noqa: F401  (a dev dependency: a missing one must fail, not skip)

from video_fixtures import FPS, H, W, decode_all, draw

from edgespeed import NodeError, Stamped, load_text
from edgespeed.registry import default_registry
from edgespeed.runtime.scheduler import run_spec
from edgespeed.testing import ListSink, run_node


def stamped(params: dict[str, object], limit: int = 10_000) -> list[Stamped]:
    """Run the source's generate() directly, keeping the media times run_node drops."""
    node = default_registry().resolve("video.file")("src", **params)
    node.setup()
    try:
        out = []
        for item in node.generate():
            out.append(item)
            if len(out) >= limit:
                break
        return out
    finally:
        node.teardown()


def index_of(frame: np.ndarray) -> int:
    """Which test frame this is: the nearest of the first 64 drawn frames."""
    errs = [np.abs(frame.astype(np.int16) - draw(i)).mean() for i in range(64)]
    return int(np.argmin(errs))


def test_decodes_every_frame_as_a_bare_pyav_loop(make_video: Callable[..., Path]) -> None:
    path = make_video(30)
    frames = run_node("video.file", params={"path": str(path)})["frame"]
    ref = decode_all(path)
    assert len(frames) == 30
    assert all(f.shape == (H, W, 3) and f.dtype == np.uint8 for f in frames)
    assert all(np.array_equal(a, b) for a, b in zip(frames, ref))
    assert [index_of(f) for f in frames[:5]] == [0, 1, 2, 3, 4]


def test_media_time_comes_from_the_pts(make_video: Callable[..., Path]) -> None:
    items = stamped({"path": str(make_video(10))})
    assert [s.pts_ns for s in items] == [i * 1_000_000_000 // FPS for i in range(10)]


@pytest.mark.parametrize(
    ("fmt", "shape", "convert"),
    [
        pytest.param("rgb24", (H, W, 3), lambda bgr: bgr[..., ::-1], id="rgb24"),
        pytest.param("gray", (H, W), None, id="gray"),
    ],
)
def test_formats(make_video: Callable[..., Path], fmt: str, shape: tuple[int, ...], convert: object) -> None:
    path = make_video(3)
    frames = run_node("video.file", params={"path": str(path), "format": fmt})["frame"]
    assert frames[0].shape == shape
    bgr = decode_all(path)[0]
    if convert is not None:
        assert np.array_equal(frames[0], convert(bgr))  # type: ignore[operator]
    else:  # FFmpeg's gray is the luma plane, without the chroma round trip: close on average
        import cv2

        assert np.abs(frames[0].astype(int) - cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)).mean() <= 3


def test_gray_declares_a_gray_port() -> None:
    cls = default_registry().resolve("video.file")
    _, outputs = cls.declare_ports({"format": "gray"})
    assert outputs["frame"].type.ndim == 2


def test_start_and_end_trim_by_media_time(make_video: Callable[..., Path]) -> None:
    items = stamped({"path": str(make_video(40)), "start_s": 0.5, "end_s": 0.8})
    assert [index_of(s.outputs["frame"]) for s in items] == list(range(15, 24))
    assert items[0].pts_ns == 500_000_000


def test_loop_keeps_media_time_increasing(make_video: Callable[..., Path]) -> None:
    items = stamped({"path": str(make_video(20)), "loop": True}, limit=45)
    assert [index_of(s.outputs["frame"]) for s in items[18:23]] == [18, 19, 0, 1, 2]
    pts = [s.pts_ns for s in items]
    assert pts == sorted(pts) and len(set(pts)) == 45
    assert abs(pts[20] - 20e9 / FPS) < 1000  # one frame period after the last frame


def test_realtime_paces_at_the_stream_rate(make_video: Callable[..., Path]) -> None:
    path = make_video(16)
    t0 = time.perf_counter()
    run_node("video.file", params={"path": str(path), "realtime": True})
    assert time.perf_counter() - t0 >= 15 / FPS * 0.9


def _garbage(p: Path) -> None:
    p.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20)


def _cut_index(p: Path) -> None:  # the mp4 index (moov) is at the end: cut it off
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])


def _faststart(p: Path) -> None:
    """Remux `p` with the mp4 index (moov) at the front, as streaming-friendly files have it."""

    src = p.with_name("src.mp4")
    p.rename(src)
    with av.open(str(src)) as i, av.open(str(p), "w", options={"movflags": "faststart"}) as o:
        s_in = i.streams.video[0]
        s_out = o.add_stream_from_template(s_in)
        for pkt in i.demux(s_in):
            if pkt.dts is not None:
                pkt.stream = s_out
                o.mux(pkt)


def _cut_faststart(p: Path) -> None:  # the index is at the front: the frames it lists are cut
    _faststart(p)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])


def _corrupt_middle(p: Path) -> None:  # frames overwritten with junk; the index is intact
    _faststart(p)
    data = bytearray(p.read_bytes())
    data[len(data) // 3: len(data) // 3 + 3000] = b"\x55" * 3000
    p.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damage", "expect"),
    [
        pytest.param(_garbage, "cannot read video file", id="garbage"),
        pytest.param(_cut_index, "cannot read video file", id="truncated-index"),
        pytest.param(_cut_faststart, "is truncated: it ends after", id="truncated-frames"),
        pytest.param(_corrupt_middle, "cannot decode video file", id="corrupt-frames"),
        pytest.param(lambda p: p.unlink(), "does not exist", id="missing"),
    ],
)
def test_bad_files_fail_with_one_line_naming_the_file(make_video: Callable[..., Path], damage: Callable[[Path], None], expect: str) -> None:
    path = make_video(60, name="bad.mp4")
    damage(path)
    with pytest.raises((NodeError, ValueError)) as e:  # run_node wraps setup's errors, not generate's
        run_node("video.file", params={"path": str(path)})
    msg = str(e.value)
    assert expect in msg and f"'{path}'" in msg and "\n" not in msg


def test_a_truncated_file_ends_the_run_with_exit_1(make_video: Callable[..., Path], tmp_path: Path) -> None:
    path = make_video(60, name="bad.mp4")
    _cut_faststart(path)
    graph = tmp_path / "g.yaml"
    graph.write_text(f"nodes:\n  - {{id: src, type: video.file, params: {{path: '{path}'}}}}\n"
                     "  - {id: out, type: sink.null, inputs: {data: src/frame}}\n")
    done = subprocess.run([sys.executable, "-m", "edgespeed", "run", str(graph), "-q"], check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert f"video file '{path}' is truncated" in done.stderr
    assert "Traceback" not in done.stderr


def test_in_a_graph_frames_carry_their_pts(make_video: Callable[..., Path]) -> None:
    path = make_video(12)
    spec = load_text(f"nodes:\n  - {{id: src, type: video.file, params: {{path: '{path}', start_s: 0.2}}}}\n"
                     "  - {id: sink, type: testing.list_sink, inputs: {data: src/frame}}\n")
    result = run_spec(spec)
    assert result.ok
    assert [e.pts_ns for e in ListSink.envelopes["sink"]] == [i * 1_000_000_000 // FPS for i in range(6, 12)]
