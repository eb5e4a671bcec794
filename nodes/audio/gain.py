"""Amplify audio by a fixed gain, or normalize its level."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from edgespeed import Audio, Input, Node, Output, Param


class GainAdjuster(Node):
    """Apply a fixed gain in dB, or normalize towards a target level with a smooth automatic gain.

    `normalize` tracks the signal's RMS level over about `window_ms` (a one-pole average across
    chunks, so the gain does not jump between chunks) and applies the gain that brings it to
    `target_dbfs`, never more than `max_gain_db`. Output is clipped to [-1, 1].

    Ports:
        audio (in): samples x channels float32.
        out (out): samples x channels float32.

    Params:
        mode: fixed or normalize (default fixed).
        gain_db: the gain of `fixed` mode, in dB (default 0).
        target_dbfs: the RMS level `normalize` aims for (default -20).
        max_gain_db: the largest gain `normalize` applies, so silence is not blown up to noise
            (default 30).
        window_ms: how long `normalize` averages the level over (default 500).
        sample_rate_hz: the sample rate, for `window_ms` (default 16000).

    Example:
        ```yaml
        - {id: agc, type: audio.gain, params: {mode: normalize, target_dbfs: -20}, inputs: {audio: mic/audio}}
        ```
    """

    kind = "audio.gain"
    audio = Input(Audio)
    out = Output(Audio)
    mode: Literal["fixed", "normalize"] = Param("fixed")
    gain_db: float = Param(0.0, ge=-120, le=120)
    target_dbfs: float = Param(-20.0, le=0)
    max_gain_db: float = Param(30.0, ge=0, le=120)
    window_ms: float = Param(500.0, gt=0)
    sample_rate_hz: int = Param(16000, ge=1000, le=384000)

    def setup(self) -> None:
        self._power: float | None = None

    def process(self, audio: np.ndarray) -> dict[str, Any]:
        if self.mode == "fixed":
            gain = 10 ** (self.gain_db / 20)
        else:
            power = float(np.mean(np.square(audio, dtype=np.float64))) if audio.size else 0.0
            a = min(1.0, len(audio) / (self.window_ms * self.sample_rate_hz / 1000))
            self._power = power if self._power is None else (1 - a) * self._power + a * power
            level_db = 10 * np.log10(max(self._power, 1e-12))
            gain = 10 ** (min(self.target_dbfs - level_db, self.max_gain_db) / 20)
        out = self.buffer("out", audio.shape, np.float32)
        np.multiply(audio, np.float32(gain), out=out)
        np.clip(out, -1.0, 1.0, out=out)
        return {"out": out}
