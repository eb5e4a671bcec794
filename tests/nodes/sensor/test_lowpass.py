"""sensor.lowpass: passes slow changes, attenuates fast ones as a first-order filter should."""

from __future__ import annotations

import numpy as np
import pytest
from edgespeed.nodes.sensor.lowpass import LowPassFilter

from edgespeed.testing import run_node


@pytest.mark.parametrize(("freq", "gain"), [pytest.param(0.2, 1.0, id="pass"), pytest.param(2.0, 0.71, id="cutoff"), pytest.param(20.0, 0.1, id="stop")])
def test_gain_at_frequency(freq, gain):
    t = np.arange(2000) / 200.0
    readings = [{"t_s": float(ti), "x": float(np.sin(2 * np.pi * freq * ti)), "keep": 7} for ti in t]
    out = run_node(LowPassFilter, params={"cutoff_hz": 2.0, "fields": ["x"]}, inputs={"reading": readings})["out"]
    y = np.array([o["x"] for o in out])[1000:]
    assert y.max() == pytest.approx(gain, rel=0.2)
    assert all(o["keep"] == 7 for o in out)
