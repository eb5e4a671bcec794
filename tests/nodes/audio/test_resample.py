"""audio.resample: sine waves keep their frequency; chunked equals whole."""

from __future__ import annotations

import numpy as np
import pytest
from edgespeed.nodes.audio.resample import Resampler

from edgespeed.testing import run_node


def peak_hz(x: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    k = int(spec.argmax())
    # parabolic interpolation between bins for sub-bin accuracy
    a, b, c = np.log(spec[k - 1: k + 2] + 1e-12)
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * rate / len(x)


def chunks(x: np.ndarray, size: int) -> list[np.ndarray]:
    return [x[i:i + size, None].astype(np.float32) for i in range(0, len(x), size)]


@pytest.mark.parametrize(("src", "dst", "freq"), [
    pytest.param(48000, 16000, 1000.0, id="48k-16k-1k"),
    pytest.param(44100, 16000, 3150.0, id="44k1-16k-3k15"),
    pytest.param(8000, 16000, 440.0, id="8k-16k-440"),
])
def test_sine_keeps_its_frequency(src, dst, freq):
    x = 0.5 * np.sin(2 * np.pi * freq * np.arange(src) / src)
    out = run_node(Resampler, params={"input_rate_hz": src, "output_rate_hz": dst}, inputs={"audio": chunks(x, src // 50)})
    y = np.concatenate(out["out"])[:, 0]
    assert abs(len(y) - dst) <= dst // 50  # one second in, about one second out (filter delay)
    assert peak_hz(y[dst // 10: -dst // 10], dst) == pytest.approx(freq, abs=1.0)
    assert np.abs(y[dst // 10: -dst // 10]).max() == pytest.approx(0.5, abs=0.02)


def test_chunked_equals_whole():
    x = np.random.default_rng(0).normal(0, 0.1, 48000)
    whole = np.concatenate(run_node(Resampler, params={"input_rate_hz": 48000}, inputs={"audio": [x[:, None].astype(np.float32)]})["out"])
    parts = np.concatenate(run_node(Resampler, params={"input_rate_hz": 48000}, inputs={"audio": chunks(x, 333)})["out"])
    n = min(len(whole), len(parts))
    np.testing.assert_allclose(parts[:n], whole[:n], atol=1e-5)


def test_equal_rates_pass_through():
    x = np.ones((160, 1), np.float32)
    out = run_node(Resampler, params={"input_rate_hz": 16000}, inputs={"audio": [x]})
    assert np.array_equal(out["out"][0], x)
