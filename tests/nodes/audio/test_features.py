"""audio.features: log-mel and MFCC against a reference computed independently here.

The reference uses a direct DFT (a sum of cosines and sines per bin), mel triangles built
point by point from their definition, and the DCT-II written out as its sum; the node uses
numpy's FFT and matrix forms.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from edgespeed.nodes.audio.features import FeatureExtractor

from edgespeed.testing import run_node

RATE, N_FFT, N_MELS = 16000, 512, 26


def reference_logmel(frame: np.ndarray, fmin: float = 0.0, fmax: float = RATE / 2) -> np.ndarray:
    w = len(frame)
    win = [0.5 - 0.5 * math.cos(2 * math.pi * i / w) for i in range(w)]  # periodic Hann
    xw = [frame[i] * win[i] for i in range(w)] + [0.0] * (N_FFT - w)
    t = np.arange(N_FFT)
    power = []
    for k in range(N_FFT // 2 + 1):
        re = sum(xw * np.cos(2 * np.pi * k * t / N_FFT))
        im = -sum(xw * np.sin(2 * np.pi * k * t / N_FFT))
        power.append(re * re + im * im)
    mel = lambda f: 2595 * math.log10(1 + f / 700)
    inv = lambda m: 700 * (10 ** (m / 2595) - 1)
    pts = [inv(mel(fmin) + (mel(fmax) - mel(fmin)) * i / (N_MELS + 1)) for i in range(N_MELS + 2)]
    out = []
    for m in range(N_MELS):
        left, center, right = pts[m], pts[m + 1], pts[m + 2]
        energy = 0.0
        for k, p in enumerate(power):
            f = k * RATE / N_FFT
            if left < f < right:
                weight = (f - left) / (center - left) if f <= center else (right - f) / (right - center)
                energy += weight * p
        out.append(math.log(max(energy, 1e-10)))
    return np.array(out)


def reference_mfcc(logmel: np.ndarray, n: int) -> np.ndarray:
    m = len(logmel)
    return np.array([sum(logmel[j] * math.cos(math.pi * k * (2 * j + 1) / (2 * m)) for j in range(m))
                     * math.sqrt((1 if k == 0 else 2) / m) for k in range(n)])


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    rng = np.random.default_rng(3)
    t = np.arange(400) / RATE
    tone = 0.3 * np.sin(2 * np.pi * 1000 * t) + 0.1 * np.sin(2 * np.pi * 2500 * t)
    return np.stack([tone, rng.normal(0, 0.05, 400), tone * 0.01 + rng.normal(0, 0.01, 400)]).astype(np.float32)


@pytest.mark.parametrize(("fmin", "fmax"), [pytest.param(0.0, None, id="full-band"), pytest.param(64.0, 7000.0, id="band")])
def test_logmel_matches_reference(frames, fmin, fmax):
    out = run_node(FeatureExtractor, params={"n_fft": N_FFT, "n_mels": N_MELS, "fmin_hz": fmin, "fmax_hz": fmax},
                   inputs={"frames": [frames]})["features"][0]
    assert out.shape == (3, N_MELS) and out.dtype == np.float32
    for i, frame in enumerate(frames.astype(np.float64)):
        np.testing.assert_allclose(out[i], reference_logmel(frame, fmin, fmax or RATE / 2), atol=2e-3, rtol=1e-4)


def test_mfcc_matches_reference(frames):
    out = run_node(FeatureExtractor, params={"feature": "mfcc", "n_fft": N_FFT, "n_mels": N_MELS, "n_mfcc": 13},
                   inputs={"frames": [frames]})["features"][0]
    assert out.shape == (3, 13)
    for i, frame in enumerate(frames.astype(np.float64)):
        np.testing.assert_allclose(out[i], reference_mfcc(reference_logmel(frame), 13), atol=5e-3, rtol=1e-4)


def test_tone_lands_in_its_mel_band():
    t = np.arange(400) / RATE
    out = run_node(FeatureExtractor, params={"n_mels": 40}, inputs={"frames": [np.sin(2 * np.pi * 1000 * t)[None].astype(np.float32)]})
    edges = 700 * (10 ** (np.linspace(0, 2595 * np.log10(1 + 8000 / 700), 42) / 2595) - 1)
    assert edges[out["features"][0][0].argmax()] < 1000 < edges[out["features"][0][0].argmax() + 2]
