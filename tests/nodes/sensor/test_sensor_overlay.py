"""sensor.overlay: a reading drawn on its frame."""

from __future__ import annotations

import numpy as np
from edgespeed.nodes.sensor.overlay import ReadingOverlay

from edgespeed.testing import run_node


def test_reading_drawn():
    frame = np.zeros((100, 200, 3), np.uint8)
    out = run_node(ReadingOverlay, params={"fields": ["ax"]}, inputs={"frame": [frame], "reading": [{"t_s": 1.0, "ax": 0.5, "ay": 1}]})["out"]
    assert out[0].shape == frame.shape and (out[0][:60] > 0).any() and not (out[0][70:] > 0).any()
