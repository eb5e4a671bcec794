from __future__ import annotations

import numpy as np

from edgespeed.testing import run_node


def test_frames_have_the_requested_size_and_move() -> None:
    out = run_node("video.synthetic", params={"width": 96, "height": 64, "frames": 3, "realtime": False})
    frames = out["frame"]
    assert len(frames) == 3
    assert all(f.shape == (64, 96, 3) and f.dtype == np.uint8 for f in frames)
    assert not frames[0].flags.writeable


def test_endless_source_stops_when_asked() -> None:
    out = run_node("video.synthetic", params={"width": 32, "height": 32, "frames": 0, "realtime": False}, max_packets=7)
    assert len(out["frame"]) == 7
