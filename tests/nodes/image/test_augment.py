from __future__ import annotations

import numpy as np

from edgespeed.testing import run_node

IMG = np.random.default_rng(3).integers(0, 255, (20, 30, 3), dtype=np.uint8)


def _run(seed: int, **params):
    return run_node("image.augment", params={"seed": seed, **params}, inputs={"image": [IMG] * 20})


def test_same_seed_same_changes_and_other_seed_differs() -> None:
    a, b, c = _run(5), _run(5), _run(6)
    assert all(np.array_equal(x, y) for x, y in zip(a["out"], b["out"])) and a["applied"] == b["applied"]
    assert a["applied"] != c["applied"]


def test_output_is_what_applied_says() -> None:
    out = _run(1, flip_h=0.5, flip_v=0.5, brightness_range=40, contrast_range=0.3)
    flips = set()
    for img, info in zip(out["out"], out["applied"]):
        src = IMG[:, ::-1] if info["flip_h"] else IMG
        src = src[::-1] if info["flip_v"] else src
        want = np.clip(src.astype(np.float64) * info["contrast"] + info["brightness"], 0, 255)
        assert np.abs(img.astype(np.float64) - want).max() <= 1.0
        flips.add((info["flip_h"], info["flip_v"]))
    assert len(flips) >= 3  # the flips really vary


def test_zero_ranges_and_no_flips_is_identity() -> None:
    out = _run(0, flip_h=0.0, brightness_range=0.0, contrast_range=0.0)
    assert all(np.array_equal(x, IMG) for x in out["out"])
