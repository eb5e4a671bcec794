from __future__ import annotations

import numpy as np
import pytest

from edgespeed.testing import run_node


@pytest.mark.parametrize(
    ("src_wh", "size_wh", "inner_wh", "pad_xy"),
    [
        pytest.param((1280, 720), (640, 640), (640, 360), (0, 140), id="wide"),
        pytest.param((480, 640), (640, 640), (480, 640), (80, 0), id="tall"),
        pytest.param((320, 320), (640, 480), (480, 480), (80, 0), id="square-up"),
    ],
)
def test_letterbox_geometry_and_padding(src_wh, size_wh, inner_wh, pad_xy) -> None:
    w, h = src_wh
    img = np.full((h, w, 3), 200, np.uint8)
    out = run_node("image.letterbox", params={"size_wh": list(size_wh)}, inputs={"image": [img]})
    dst, tf = out["out"][0], out["transform"][0]
    assert dst.shape == (size_wh[1], size_wh[0], 3)
    px, py = pad_xy
    iw, ih = inner_wh
    assert np.all(dst[py:py + ih, px:px + iw] == 200)
    assert np.count_nonzero(dst == 114) == dst.size - iw * ih * 3
    assert tf["offset_xy"] == (px, py) and tf["src_wh"] == (w, h)
    assert tf["scale_xy"] == pytest.approx((iw / w, ih / h))


def test_transform_maps_points_back() -> None:
    img = np.zeros((300, 500, 3), np.uint8)
    img[100:150, 200:260] = 255  # a white block at x 200..260, y 100..150
    out = run_node("image.letterbox", params={"size_wh": [320, 320]}, inputs={"image": [img]})
    dst, tf = out["out"][0], out["transform"][0]
    ys, xs = np.nonzero(dst[:, :, 0] > 127)
    (sx, sy), (ox, oy) = tf["scale_xy"], tf["offset_xy"]
    assert (xs.min() - ox) / sx == pytest.approx(200, abs=2) and (xs.max() + 1 - ox) / sx == pytest.approx(260, abs=2)
    assert (ys.min() - oy) / sy == pytest.approx(100, abs=2) and (ys.max() + 1 - oy) / sy == pytest.approx(150, abs=2)


def test_no_scale_up_keeps_small_frames_at_one_to_one() -> None:
    img = np.full((100, 200, 3), 9, np.uint8)
    out = run_node("image.letterbox", params={"size_wh": [640, 640], "scale_up": False, "center": False}, inputs={"image": [img]})
    assert np.all(out["out"][0][:100, :200] == 9) and out["transform"][0]["scale_xy"] == (1.0, 1.0)
