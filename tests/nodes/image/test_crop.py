from __future__ import annotations

import numpy as np
import pytest

from edgespeed.errors import NodeError
from edgespeed.testing import run_node

FRAME = np.arange(100 * 200 * 3, dtype=np.uint32).reshape(100, 200, 3).astype(np.uint8)


@pytest.mark.parametrize(
    ("params", "window"),
    [
        pytest.param({"roi_xywh": [10, 20, 50, 30]}, (slice(20, 50), slice(10, 60)), id="px"),
        pytest.param({"roi_xywh": [0.5, 0.5, 0.5, 0.5], "units": "fraction"}, (slice(50, 100), slice(100, 200)), id="fraction"),
        pytest.param({"roi_xywh": [180, 90, 50, 50]}, (slice(90, 100), slice(180, 200)), id="clipped"),
    ],
)
def test_crop_cuts_the_region(params, window) -> None:
    out = run_node("image.crop", params=params, inputs={"image": [FRAME]})
    assert np.array_equal(out["out"][0], FRAME[window])
    assert out["transform"][0]["offset_xy"] == (-window[1].start, -window[0].start)


def test_crop_is_a_view_without_copy() -> None:
    out = run_node("image.crop", params={"roi_xywh": [0, 0, 10, 10]}, inputs={"image": [FRAME]})
    assert np.shares_memory(out["out"][0], FRAME)


def test_region_outside_the_frame_is_a_clear_error() -> None:
    with pytest.raises(NodeError, match=r"outside the 200x100 frame"):
        run_node("image.crop", params={"roi_xywh": [300, 0, 10, 10]}, inputs={"image": [FRAME]})
