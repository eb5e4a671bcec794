from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgespeed.errors import NodeError
from edgespeed.testing import run_node

BGR = np.random.default_rng(1).integers(0, 255, (24, 32, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    ("conversion", "src", "code"),
    [
        pytest.param("bgr2rgb", BGR, cv2.COLOR_BGR2RGB, id="bgr2rgb"),
        pytest.param("bgr2gray", BGR, cv2.COLOR_BGR2GRAY, id="bgr2gray"),
        pytest.param("gray2bgr", BGR[:, :, 0].copy(), cv2.COLOR_GRAY2BGR, id="gray2bgr"),
        pytest.param("bgr2hsv", BGR, cv2.COLOR_BGR2HSV, id="bgr2hsv"),
    ],
)
def test_conversion_matches_opencv(conversion, src, code) -> None:
    out = run_node("image.color", params={"conversion": conversion}, inputs={"image": [src, src]})["out"]
    assert len(out) == 2 and np.array_equal(out[0], cv2.cvtColor(src, code))


def test_wrong_channel_count_names_the_expectation() -> None:
    with pytest.raises(NodeError, match=r"bgr2gray expects 3-channel images, got shape \(24, 32\)"):
        run_node("image.color", params={"conversion": "bgr2gray"}, inputs={"image": [BGR[:, :, 0]]})
