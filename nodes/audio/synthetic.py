"""A synthetic audio source: a sine tone, white noise, or both."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import numpy as np

from edgespeed import Audio, Node, Output, Param, Stamped


class ToneSource(Node):
    """A sine tone and/or white noise in chunks of `chunk_ms`, for trying graphs without a file.

    The signal is continuous across chunks (the phase carries over), and each chunk's media
    time is the time of its first sample. Noise is seeded, so runs repeat exactly.

    Ports:
        audio (out): samples x channels float32.

    Params:
        signal: tone, noise, or tone+noise (default tone).
        frequency_hz: tone frequency (default 440).
        level_dbfs: tone level in dB below full scale (peak; default -12).
        noise_dbfs: noise level (RMS) in dBFS (default -40).
        sample_rate_hz: sample rate (default 16000).
        channels: channels, all carrying the same signal (default 1).
        chunk_ms: chunk duration in ms (default 20).
        duration_s: total duration; 0 for endless (default 10).
        realtime: pace chunks like a live microphone (default true).
        seed: noise seed (default 0).

    Example:
        ```yaml
        - {id: tone, type: audio.synthetic, params: {signal: tone+noise, frequency_hz: 1000, duration_s: 5}}
        ```
    """

    kind = "audio.synthetic"
    audio = Output(Audio)
    signal: Literal["tone", "noise", "tone+noise"] = Param("tone")
    frequency_hz: float = Param(440.0, gt=0, doc="tone frequency")
    level_dbfs: float = Param(-12.0, le=0, doc="tone peak level in dBFS")
    noise_dbfs: float = Param(-40.0, le=0, doc="noise RMS level in dBFS")
    sample_rate_hz: int = Param(16000, ge=1000, le=384000)
    channels: int = Param(1, ge=1, le=32)
    chunk_ms: float = Param(20.0, gt=0, le=10000)
    duration_s: float = Param(10.0, ge=0, doc="0 for endless")
    realtime: bool = Param(True)
    seed: int = Param(0)

    def pacing(self) -> float | None:
        return 1.0 if self.realtime else None  # the engine paces from media time

    def generate(self) -> Iterator[Any]:
        rate = self.sample_rate_hz
        chunk = max(1, round(self.chunk_ms * rate / 1000))
        total = round(self.duration_s * rate) or None
        rng = np.random.default_rng(self.seed)
        amp, noise = 10 ** (self.level_dbfs / 20), 10 ** (self.noise_dbfs / 20)
        sent = 0
        while total is None or sent < total:
            n = chunk if total is None else min(chunk, total - sent)
            x = np.zeros(n, np.float64)
            if "tone" in self.signal:
                x += amp * np.sin(2 * np.pi * self.frequency_hz * (sent + np.arange(n)) / rate)
            if "noise" in self.signal:
                x += rng.normal(0, noise, n)
            out = np.repeat(x.astype(np.float32)[:, None], self.channels, axis=1)
            yield Stamped({"audio": out}, pts_ns=sent * 1_000_000_000 // rate)
            sent += n
            if self.stopping:
                return
