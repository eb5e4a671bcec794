"""Mix audio channels: down to mono, pick channels, or apply a mixing matrix."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from edgespeed import Audio, Input, Node, Output, Param


class ChannelMixer(Node):
    """Mix the channels of each chunk: average to mono, pick some, or apply a matrix.

    Ports:
        audio (in): samples x channels float32.
        out (out): samples x output channels float32.

    Params:
        mode: mono (the mean of all channels), select (the channels listed in `channels`), or
            matrix (out = audio @ matrix.T, `matrix` given as output rows) (default mono).
        channels: channel indices for `select` (default [0]).
        matrix: mixing weights for `matrix`, one row per output channel (default [[1.0]]).

    Example:
        ```yaml
        - {id: mono, type: audio.mix, params: {mode: mono}, inputs: {audio: mic/audio}}
        ```
    """

    kind = "audio.mix"
    audio = Input(Audio)
    out = Output(Audio)
    mode: Literal["mono", "select", "matrix"] = Param("mono")
    channels: list[int] = Param([0], ge=0, doc="channel indices for mode select")
    matrix: list[list[float]] = Param([[1.0]], doc="output rows of input-channel weights, for mode matrix")

    def setup(self) -> None:
        self._m = np.asarray(self.matrix, np.float32)
        if self.mode == "matrix" and (self._m.ndim != 2 or 0 in self._m.shape):
            raise ValueError(f"matrix must be a non-empty list of equal-length rows, got {self.matrix!r}")

    def process(self, audio: np.ndarray) -> dict[str, Any]:
        nch = audio.shape[1]
        if self.mode == "mono":
            return {"out": audio.mean(axis=1, keepdims=True, dtype=np.float32)}
        if self.mode == "select":
            bad = [c for c in self.channels if c >= nch]
            if bad:
                raise ValueError(f"channel {bad[0]} does not exist: the audio has {nch} channel(s)")
            return {"out": np.ascontiguousarray(audio[:, self.channels])}
        if self._m.shape[1] != nch:
            raise ValueError(f"matrix rows have {self._m.shape[1]} weights but the audio has {nch} channel(s)")
        return {"out": audio @ self._m.T}
