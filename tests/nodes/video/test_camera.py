from __future__ import annotations

import glob
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from edgespeed import NodeError
from edgespeed.testing import run_node


@pytest.mark.parametrize(
    ("device", "shown"),
    [
        pytest.param(97, "/dev/video97", id="index"),
        pytest.param("97", "/dev/video97", id="index-as-text"),
        pytest.param("/dev/v4l/by-id/no-such-camera", "/dev/v4l/by-id/no-such-camera", id="path"),
    ],
)
def test_a_missing_device_is_named_with_the_ones_there_are(device: object, shown: str) -> None:
    with pytest.raises(NodeError) as e:
        run_node("video.camera", params={"device": device})
    msg = str(e.value)
    assert f"no device '{shown}'" in msg and "video devices here:" in msg and "\n" not in msg


def test_backend_any_reads_frames_and_ends_with_the_input(make_video: Callable[..., Path]) -> None:
    path = make_video(12)
    frames = run_node("video.camera", params={"device": str(path), "backend": "any", "format": "gray"})["frame"]
    assert len(frames) == 12 and frames[0].shape == (240, 320) and frames[0].dtype == np.uint8


@pytest.mark.camera
@pytest.mark.skipif(not glob.glob("/dev/video*"), reason="no V4L2 device on this machine")
def test_a_real_camera_delivers_frames() -> None:
    frames = run_node("video.camera", params={"device": 0, "width": 640, "height": 480}, max_packets=5)["frame"]
    assert len(frames) == 5 and frames[0].ndim == 3 and frames[0].dtype == np.uint8
