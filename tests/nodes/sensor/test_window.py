"""sensor.window: statistics over the last N readings, every hop."""

from __future__ import annotations

import numpy as np
import pytest
from edgespeed.nodes.sensor.window import WindowStats

from edgespeed.testing import run_node


def test_window_stats():
    readings = [{"t_s": i * 0.1, "x": float(i), "y": float(i % 2), "name": "a"} for i in range(10)]
    out = run_node(WindowStats, params={"window": 4, "hop": 3, "compute": ["mean", "std", "max", "rms"]}, inputs={"reading": readings})["stats"]
    assert [o["t_s"] for o in out] == pytest.approx([0.3, 0.6, 0.9])  # first after a full window, then every 3
    x = np.arange(3, 7, dtype=float)
    assert out[1]["x_mean"] == pytest.approx(x.mean()) and out[1]["x_std"] == pytest.approx(x.std())
    assert out[1]["x_max"] == 6 and out[1]["x_rms"] == pytest.approx(np.sqrt((x**2).mean()))
    assert "name_mean" not in out[0] and out[0]["count"] == 4
