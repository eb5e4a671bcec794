"""audio.synthetic: the tone is continuous across chunks and at the right frequency."""

from __future__ import annotations

import numpy as np
import pytest
from edgespeed.nodes.audio.synthetic import ToneSource

from edgespeed.testing import run_node


@pytest.mark.parametrize("freq", [440.0, 1000.0, 3000.0])
def test_tone_frequency_and_continuity(freq):
    out = run_node(ToneSource, params={"frequency_hz": freq, "duration_s": 1.0, "chunk_ms": 7, "realtime": False, "channels": 2})
    x = np.concatenate(out["audio"])
    assert x.shape == (16000, 2) and np.array_equal(x[:, 0], x[:, 1])
    ref = 10 ** (-12 / 20) * np.sin(2 * np.pi * freq * np.arange(16000) / 16000)
    np.testing.assert_allclose(x[:, 0], ref, atol=1e-5)  # no phase jump at any chunk boundary


def test_noise_level_and_seed():
    p = {"signal": "noise", "noise_dbfs": -30, "duration_s": 1.0, "realtime": False}
    a = np.concatenate(run_node(ToneSource, params=p)["audio"])
    b = np.concatenate(run_node(ToneSource, params=p)["audio"])
    assert np.array_equal(a, b)
    assert 20 * np.log10(a.std()) == pytest.approx(-30, abs=0.3)
