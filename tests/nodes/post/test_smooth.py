from __future__ import annotations

import numpy as np
import pytest

from edgespeed.testing import run_node

SEQ = [np.array([[1.0, 0.0]], np.float32), np.array([[0.0, 1.0]], np.float32), np.array([[1.0, 0.0]], np.float32)]


@pytest.mark.parametrize(
    ("params", "want"),
    [
        pytest.param({"mode": "ema", "alpha": 0.5}, [[1, 0], [0.5, 0.5], [0.75, 0.25]], id="ema"),
        pytest.param({"mode": "mean", "window": 2}, [[1, 0], [0.5, 0.5], [0.5, 0.5]], id="mean"),
        pytest.param({"mode": "max", "window": 2}, [[1, 0], [1, 1], [1, 1]], id="max"),
    ],
)
def test_smoothing_modes(params: dict, want: list[list[float]]) -> None:
    out = run_node("post.smooth", params=params, inputs={"scores": SEQ})["out"]
    np.testing.assert_allclose(np.concatenate(out), np.array(want, np.float32))


def test_shape_change_restarts_the_history() -> None:
    out = run_node("post.smooth", params={"alpha": 0.5}, inputs={"scores": [SEQ[0], np.ones((1, 3), np.float32)]})["out"]
    np.testing.assert_allclose(out[1], np.ones((1, 3)))
