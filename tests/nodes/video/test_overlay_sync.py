"""video.overlay pairs each frame with its own results offline, and with the newest ones live.

A 60-frame H.264 video (a green square moving 4 px a frame, PyAV) runs through a detector-like
chain: a slow detector that finds the square in the pixels (and emits nothing on a few
frames, as a rate-limited detector would), post.tracker and post.counter with a line and a
zone, then video.overlay. Each frame's results are distinguishable: the box moves with the
square and the score, drawn in the label, encodes the frame.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from video_fixtures import decode_all

from edgespeed import Detections, Frame, Input, Node, Output, Param, load_text
from edgespeed.graph.validate import check
from edgespeed.registry import default_registry
from edgespeed.runtime.scheduler import live_sync, run_spec
from edgespeed.testing import ListSink, run_node

FRAMES = 60
SKIPPED = {7, 18, 29, 40, 51}  # frames the detector emits nothing for
LINE = {"gate": [150, 0, 150, 240]}  # the square's anchor crosses it left to right
ZONE = {"dock": [[200, 20], [310, 20], [310, 130], [200, 130]]}


def green_box(frame: np.ndarray) -> list[float] | None:
    """The bounding box of the green square, found in the (decoded, so blurred) pixels."""
    b, g, r = (frame[..., k].astype(np.int16) for k in range(3))
    ys, xs = np.nonzero((g > 150) & (r < 100) & (b < 100))
    if not len(xs):
        return None
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


class SquareDetector(Node):
    """Find the green square in each frame, slowly; nothing on the frames in `skip`."""

    kind = "test.square_detector"
    frame = Input(Frame)
    detections = Output(Detections)
    delay_s: float = Param(0.01, ge=0)
    skip: list[int] = Param([])

    def setup(self) -> None:
        self._n = -1

    def process(self, frame: np.ndarray) -> dict[str, Any] | None:
        self._n += 1
        time.sleep(self.delay_s)  # slower than the overlay: under `latest` it would fall behind
        box = green_box(frame)
        if self._n in self.skip or box is None:
            return None
        return {"detections": {"boxes_xyxy": np.array([box], np.float32), "scores": np.array([0.3 + self._n / 100], np.float32),
                               "class_ids": np.zeros(1, np.int32)}}


default_registry().register(SquareDetector)


def graph(video: Path, *, realtime: bool = False, overlay_sync: str | None = None, delay_s: float = 0.01, frames_skipped: set[int] = SKIPPED) -> str:
    sync = f", sync: {overlay_sync}" if overlay_sync else ""
    return (
        "nodes:\n"
        f"  - {{id: src, type: video.file, params: {{path: '{video}', realtime: {str(realtime).lower()}}}}}\n"
        f"  - {{id: det, type: test.square_detector, params: {{delay_s: {delay_s}, skip: {sorted(frames_skipped)}}}, inputs: {{frame: src/frame}}}}\n"
        "  - {id: track, type: post.tracker, params: {iou_min: 0.3}, inputs: {detections: det/detections}}\n"
        f"  - {{id: count, type: post.counter, params: {{lines: {LINE}, zones: {ZONE}}}, inputs: {{tracks: track/tracks}}}}\n"
        f"  - {{id: overlay, type: video.overlay{sync}, inputs: {{frame: src/frame, detections: track/tracks, counts: count/counts}}}}\n"
        "  - {id: out, type: testing.list_sink, inputs: {data: overlay/out}}\n"
        "  - {id: tracks, type: testing.list_sink, inputs: {data: track/tracks}}\n"
        "  - {id: counts, type: testing.list_sink, inputs: {data: count/counts}}\n"
    )


def run_and_match(video: Path, **kw: Any) -> tuple[list[np.ndarray], list[bool], dict[int, Any], dict[int, Any]]:
    """Run the graph; per output frame, whether it is exactly the frame drawn with the results of its own pts."""
    result = run_spec(load_text(graph(video, **kw)))
    assert result.ok, result.failures
    out, envs = ListSink.collected["out"], ListSink.envelopes["out"]
    tracks = {e.pts_ns: v for v, e in zip(ListSink.collected["tracks"], ListSink.envelopes["tracks"])}
    counts = {e.pts_ns: v for v, e in zip(ListSink.collected["counts"], ListSink.envelopes["counts"])}
    decoded = decode_all(video)
    assert len(out) == len(decoded) == FRAMES, "one output per frame"
    geometry = {"geometry": {"lines": LINE, "zones": ZONE}, "counts": {}}  # held over a frame without counts
    own = []
    for frame, drawn, env in zip(decoded, out, envs):
        c = counts.get(env.pts_ns)
        want = run_node("video.overlay", inputs={"frame": [frame], "detections": [tracks.get(env.pts_ns)], "counts": [c or geometry]})["out"][0]
        own.append(bool(np.array_equal(drawn, want)))
    return out, own, tracks, counts


def test_offline_every_frame_is_drawn_with_exactly_its_own_results(make_video: Any) -> None:
    video = make_video(FRAMES, name="square.mp4")
    _, own, tracks, counts = run_and_match(video)
    assert all(own), f"frames drawn with other frames' results: {[i for i, ok in enumerate(own) if not ok]}"
    # the results really are each frame's own: the box is where the square is in that frame,
    # and frames the detector skipped have no box
    decoded = decode_all(video)
    pts = [e.pts_ns for e in ListSink.envelopes["out"]]
    assert pts == sorted(pts) and len(set(pts)) == FRAMES
    assert sorted(pts.index(p) for p in tracks) == [i for i in range(FRAMES) if i not in SKIPPED]
    for i, p in enumerate(pts):
        if i not in SKIPPED:
            np.testing.assert_allclose(tracks[p]["boxes_xyxy"][0], green_box(decoded[i]), atol=0.5)
    # neighbouring frames' results differ, so a frame drawn with its neighbour's would have failed
    assert all(not np.array_equal(tracks[a]["boxes_xyxy"], tracks[b]["boxes_xyxy"]) for a, b in zip(sorted(tracks), sorted(tracks)[1:]))
    # the chain counted: the square crossed the gate (drawn downward, so left to right is `out`) and entered the dock
    last = counts[max(counts)]["counts"]
    assert last == {"gate_in": 0, "gate_out": 1, "dock_enter": 1, "dock_exit": 0, "dock_inside": 1}


def test_latest_draws_frames_with_results_that_are_not_theirs(make_video: Any) -> None:
    """What `sync: latest` (the old default, now the live one) does with a slow detector: frames
    are drawn before their own results arrive. This is why offline runs lost their boxes."""
    video = make_video(FRAMES, name="square.mp4")
    _, own, _, _ = run_and_match(video, overlay_sync="latest")
    assert sum(own) < FRAMES - len(SKIPPED)


def test_counting_lines_and_zones_are_drawn_on_every_frame(make_video: Any) -> None:
    video = make_video(FRAMES, name="square.mp4")
    out, _, _, _ = run_and_match(video)
    yellow, magenta = np.array([0, 215, 255]), np.array([255, 0, 255])
    for i, img in enumerate(out):
        # the middle of the gate line (x = 150) and of the dock's left and bottom edges, away
        # from labels and from the square's path (y 40..80)
        assert (np.abs(img[150:230, 150].astype(int) - yellow) < 60).all(), f"frame {i}: no gate line"
        assert (np.abs(img[90:125, 200].astype(int) - magenta) < 60).all(), f"frame {i}: no dock edge"
        assert (np.abs(img[130, 220:300].astype(int) - magenta) < 60).all(), f"frame {i}: no dock edge"


def test_geometry_comes_from_the_counter_record() -> None:
    frame = np.full((240, 320, 3), 40, np.uint8)
    tracks = {"boxes_xyxy": np.array([[10, 10, 30, 30]], np.float32), "scores": np.array([0.9], np.float32),
              "class_ids": np.zeros(1, np.int32), "track_ids": np.array([1])}
    rec = run_node("post.counter", params={"lines": {"l": [20, 200, 300, 200]}, "zones": {"z": [[200, 20], [300, 20], [250, 120]]}},
                   inputs={"tracks": [tracks]})["counts"][0]
    assert rec["geometry"] == {"lines": {"l": [20.0, 200.0, 300.0, 200.0]}, "zones": {"z": [[200.0, 20.0], [300.0, 20.0], [250.0, 120.0]]}}
    drawn, bare = run_node("video.overlay", inputs={"frame": [frame, frame], "counts": [rec, {"counts": rec["counts"]}]})["out"]
    assert (drawn[200, 100:300] != 40).all(axis=1).all()  # the line, end to end past its label
    assert (drawn[20, 210:290] != 40).all(axis=1).all() and (drawn[70, 225] != 40).any()  # the zone's top and left edges
    # a record without geometry, after one with it, still gets the held lines; a fresh overlay has none
    assert np.array_equal(bare[200, 100:300], drawn[200, 100:300])
    fresh = run_node("video.overlay", inputs={"frame": [frame], "counts": [{"counts": rec["counts"]}]})["out"][0]
    assert (fresh[200, 100:300] == 40).all()


@pytest.mark.parametrize(
    ("realtime", "set_sync", "want"),
    [
        pytest.param(False, None, "trigger", id="file-offline"),
        pytest.param(True, None, "latest", id="file-realtime"),
        pytest.param(True, "trigger", "trigger", id="realtime-but-yaml-says-trigger"),
        pytest.param(False, "latest", "latest", id="offline-but-yaml-says-latest"),
    ],
)
def test_live_sources_get_the_newest_results_sync(tmp_path: Path, realtime: bool, set_sync: str | None, want: str) -> None:
    video = tmp_path / "none.mp4"
    video.touch()
    resolved = live_sync(check(load_text(graph(video, realtime=realtime, overlay_sync=set_sync))))
    assert (resolved.spec.node("overlay").sync or resolved.classes["overlay"].sync) == want
    assert resolved.spec.node("det").sync is None  # nodes without a live_sync keep their own


def test_camera_counts_as_live() -> None:
    spec = load_text(
        "nodes:\n"
        "  - {id: cam, type: video.camera, params: {device: 0}}\n"
        "  - {id: overlay, type: video.overlay, inputs: {frame: cam/frame}}\n"
        "  - {id: out, type: testing.list_sink, inputs: {data: overlay/out}}\n"
    )
    assert live_sync(check(spec)).spec.node("overlay").sync == "latest"


def test_realtime_run_draws_at_once_with_the_newest_results(make_video: Any) -> None:
    """Live: frames are not held back for a detector slower than the frame rate (30 fps,
    60 ms a frame); each is drawn with whatever results have arrived."""
    video = make_video(20, name="live.mp4")
    spec = load_text(graph(video, realtime=True, delay_s=0.06, frames_skipped=set()))
    result = run_spec(spec)
    assert result.ok, result.failures
    out, tracks = ListSink.collected["out"], ListSink.collected["tracks"]
    assert len(out) == 20 and len(tracks) == 20
    decoded = decode_all(video)
    own = [run_node("video.overlay", inputs={"frame": [f], "detections": [t]})["out"][0] for f, t in zip(decoded, tracks)]
    # the first frame is drawn before any result exists, and most after it with older ones
    assert sum(np.array_equal(o, w) for o, w in zip(out, own)) < 10


def test_the_live_sync_travels_into_an_isolated_process(tmp_path: Path) -> None:
    """The child process sees a shared-memory channel, not the realtime source: the mode is
    decided on the whole graph and written into the overlay's spec before the split."""
    from edgespeed.runtime.process import split

    video = tmp_path / "none.mp4"
    video.touch()
    text = graph(video, realtime=True).replace("type: video.overlay,", "type: video.overlay, isolate: process,")
    cut = split(live_sync(check(load_text(text))).spec)
    (overlay,) = [n for n in cut.groups["overlay"].nodes if n.id == "overlay"]
    assert overlay.sync == "latest"
