"""audio.gain: fixed dB gain, and normalization towards a target level."""

from __future__ import annotations

import numpy as np
import pytest
from edgespeed.nodes.audio.gain import GainAdjuster

from edgespeed.testing import run_node


def test_fixed_gain_and_clipping():
    x = np.array([[0.1], [-0.2], [0.6]], np.float32)
    out = run_node(GainAdjuster, params={"gain_db": 6.0206}, inputs={"audio": [x]})["out"][0]
    np.testing.assert_allclose(out[:, 0], [0.2, -0.4, 1.0], atol=1e-4)


def test_normalize_reaches_target():
    x = 0.01 * np.sin(np.arange(16000) * 0.1).astype(np.float32)  # about -43 dBFS RMS
    chunks = [x[i:i + 320, None] for i in range(0, len(x), 320)]
    out = run_node(GainAdjuster, params={"mode": "normalize", "target_dbfs": -20}, inputs={"audio": chunks})["out"]
    tail = np.concatenate(out[-10:])
    assert 20 * np.log10(np.sqrt(np.mean(tail**2))) == pytest.approx(-20, abs=0.5)


def test_normalize_caps_gain_on_silence():
    x = np.full((320, 1), 1e-6, np.float32)
    out = run_node(GainAdjuster, params={"mode": "normalize", "max_gain_db": 20}, inputs={"audio": [x]})["out"][0]
    np.testing.assert_allclose(out, x * 10, rtol=1e-4)
