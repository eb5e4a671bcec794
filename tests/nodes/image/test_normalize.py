from __future__ import annotations

import numpy as np
import pytest

from edgespeed import load_text, validate
from edgespeed.testing import run_node

IMG = np.random.default_rng(2).integers(0, 255, (6, 8, 3), dtype=np.uint8)


def _reference(img, scale, mean, std, swap, layout, dtype):
    x = img[:, :, ::-1] if swap else img
    x = (x.astype(np.float64) * scale - np.asarray(mean)) / np.asarray(std)
    x = x.transpose(2, 0, 1) if layout == "nchw" else x
    return x[None].astype(dtype)


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({}, id="default-0to1-rgb-nchw"),
        pytest.param({"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}, id="imagenet"),
        pytest.param({"swap_rb": False, "layout": "nhwc", "scale": 1.0}, id="nhwc-raw"),
        pytest.param({"dtype": "float16", "mean": [0.5], "std": [0.5]}, id="float16"),
    ],
)
def test_normalize_matches_reference(params) -> None:
    full = {"scale": 1 / 255, "mean": [0.0], "std": [1.0], "swap_rb": True, "layout": "nchw", "dtype": "float32", **params}
    out = run_node("image.normalize", params=params, inputs={"image": [IMG]})["tensor"][0]
    want = _reference(IMG, full["scale"], full["mean"], full["std"], full["swap_rb"], full["layout"], full["dtype"])
    assert out.shape == want.shape and out.dtype == want.dtype
    np.testing.assert_allclose(out.astype(np.float64), want.astype(np.float64), rtol=2e-3, atol=2e-3)


def test_gray_gives_one_channel() -> None:
    out = run_node("image.normalize", inputs={"image": [IMG[:, :, 0]]})["tensor"][0]
    assert out.shape == (1, 1, 6, 8)


def test_output_dtype_is_declared_for_validate() -> None:
    from edgespeed.registry import default_registry

    cls = default_registry().resolve("image.normalize")
    _, outs = cls.declare_ports({**{n: p.default for n, p in cls.params.items()}, "dtype": "float16"})
    assert outs["tensor"].type.dtype == "float16" and outs["tensor"].type.ndim == 4


def test_mean_std_length_mismatch_is_reported() -> None:
    spec = load_text("""
nodes:
  - {id: src, type: video.synthetic, params: {frames: 1}}
  - {id: norm, type: image.normalize, params: {mean: [0, 0], std: [1, 1, 1]}, inputs: {image: src/frame}}
""")
    errors = validate(spec)
    assert [e.node_id for e in errors] == ["norm"] and "mean has 2 values and std 3" in errors[0].msg
