from __future__ import annotations

import numpy as np
import pytest

from edgespeed.errors import GraphErrors
from edgespeed.testing import run_node


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [pytest.param((48, 64, 3), np.uint8, id="bgr"), pytest.param((48, 64), np.uint8, id="gray"), pytest.param((48, 64, 3), np.float32, id="float")],
)
def test_resize_keeps_channels_and_dtype(shape: tuple[int, ...], dtype: type) -> None:
    img = np.full(shape, 7, dtype)
    out = run_node("image.resize", params={"width": 16, "height": 12}, inputs={"image": [img]})["out"][0]
    assert out.shape == (12, 16) + shape[2:] and out.dtype == dtype
    assert np.all(out == 7)


def test_resize_matches_opencv() -> None:
    import cv2

    img = np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    out = run_node("image.resize", params={"width": 20, "height": 15, "interpolation": "linear"}, inputs={"image": [img]})["out"][0]
    assert np.array_equal(out, cv2.resize(img, (20, 15), interpolation=cv2.INTER_LINEAR))


def test_bad_params_are_reported_together() -> None:
    with pytest.raises(GraphErrors) as e:
        run_node("image.resize", params={"width": 0, "interpolation": "bicubic"})
    msgs = sorted(err.msg for err in e.value.errors)
    assert len(msgs) == 3, msgs  # width out of range, height missing, interpolation not a choice
