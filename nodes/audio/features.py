"""Log-mel spectrogram and MFCC features of audio windows, in NumPy."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from edgespeed import Input, Node, Output, Param


def hz_to_mel(f: Any) -> Any:
    """HTK mel scale."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, np.float64) / 700.0)


def mel_to_hz(m: Any) -> Any:
    return 700.0 * (10.0 ** (np.asarray(m, np.float64) / 2595.0) - 1.0)


def mel_filterbank(sample_rate_hz: int, n_fft: int, n_mels: int, fmin_hz: float, fmax_hz: float) -> np.ndarray:
    """Triangular filters on the HTK mel scale (unnormalized), n_mels x (n_fft // 2 + 1)."""
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin_hz), hz_to_mel(fmax_hz), n_mels + 2))
    freqs = np.arange(n_fft // 2 + 1) * sample_rate_hz / n_fft
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs - lo) / (mid - lo)
    falling = (hi - freqs) / (hi - mid)
    tri: np.ndarray = np.maximum(0.0, np.minimum(rising, falling))
    return tri


def dct_matrix(n_out: int, n_in: int) -> np.ndarray:
    """Orthonormal DCT-II, n_out x n_in."""
    k = np.arange(n_out)[:, None]
    n = np.arange(n_in)[None, :]
    m = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    m[0] /= np.sqrt(2.0)
    out: np.ndarray = m
    return out


class FeatureExtractor(Node):
    """Compute log-mel energies or MFCCs for each window (from audio.frames).

    Each window is multiplied by `window`, zero-padded to `n_fft`, and its power spectrum
    |FFT|^2 is pooled by `n_mels` triangular filters on the HTK mel scale between `fmin_hz`
    and `fmax_hz`; log-mel is the natural log of those energies (floored at 1e-10); MFCC is
    the orthonormal DCT-II of the log-mel vector, keeping the first `n_mfcc` coefficients.

    Ports:
        frames (in): windows x window_samples float32.
        features (out): windows x n_mels (logmel) or windows x n_mfcc (mfcc) float32.

    Params:
        feature: logmel or mfcc (default logmel).
        sample_rate_hz: the sample rate (default 16000).
        n_fft: FFT size; null for the next power of two >= the window (default null).
        n_mels: mel filters (default 40).
        n_mfcc: MFCC coefficients kept (default 13).
        fmin_hz: lowest filter edge (default 0).
        fmax_hz: highest filter edge; null for half the sample rate (default null).
        window: hann, hamming or rect (default hann, periodic).

    Example:
        ```yaml
        - {id: mfcc, type: audio.features, params: {feature: mfcc, n_mfcc: 13}, inputs: {frames: frames/frames}}
        ```
    """

    kind = "audio.features"
    frames = Input(dtype="float32", ndim=2, doc="windows x window_samples")
    features = Output(dtype="float32", ndim=2, doc="windows x coefficients")
    feature: Literal["logmel", "mfcc"] = Param("logmel", doc="logmel or mfcc")
    sample_rate_hz: int = Param(16000, ge=1000, le=384000)
    n_fft: int | None = Param(None, ge=2, le=65536)
    n_mels: int = Param(40, ge=1, le=512)
    n_mfcc: int = Param(13, ge=1, le=512)
    fmin_hz: float = Param(0.0, ge=0)
    fmax_hz: float | None = Param(None, gt=0)
    window: Literal["hann", "hamming", "rect"] = Param("hann")

    def setup(self) -> None:
        self._cache: dict[int, tuple[np.ndarray, np.ndarray, int]] = {}
        fmax = self.fmax_hz or self.sample_rate_hz / 2
        if not self.fmin_hz < fmax <= self.sample_rate_hz / 2:
            raise ValueError(f"need fmin_hz < fmax_hz <= sample_rate_hz / 2, got {self.fmin_hz} and {fmax}")
        if self.feature == "mfcc" and self.n_mfcc > self.n_mels:
            raise ValueError(f"n_mfcc ({self.n_mfcc}) cannot exceed n_mels ({self.n_mels})")
        self._dct = dct_matrix(self.n_mfcc, self.n_mels).astype(np.float32)

    def _plan(self, width: int) -> tuple[np.ndarray, np.ndarray, int]:
        if width not in self._cache:
            n_fft = self.n_fft or 1 << max(0, (width - 1).bit_length())
            if n_fft < width:
                raise ValueError(f"n_fft ({n_fft}) is shorter than the window ({width} samples)")
            win = {"hann": np.hanning(width + 1)[:-1], "hamming": np.hamming(width + 1)[:-1], "rect": np.ones(width)}[self.window]
            fb = mel_filterbank(self.sample_rate_hz, n_fft, self.n_mels, self.fmin_hz, self.fmax_hz or self.sample_rate_hz / 2)
            self._cache[width] = (win.astype(np.float32), fb.T.astype(np.float32), n_fft)
        return self._cache[width]

    def process(self, frames: np.ndarray) -> dict[str, Any] | None:
        if not len(frames):
            return None
        win, fb_t, n_fft = self._plan(frames.shape[1])
        spec = np.fft.rfft(frames * win, n=n_fft, axis=1)
        power = (spec.real**2 + spec.imag**2).astype(np.float32)
        logmel = np.log(np.maximum(power @ fb_t, 1e-10))
        out = logmel if self.feature == "logmel" else logmel @ self._dct.T
        return {"features": out.astype(np.float32, copy=False)}
