"""Pre-emphasis: a first-order high-pass that lifts the high frequencies of speech."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgespeed import Audio, Input, Node, Output, Param


class PreEmphasizer(Node):
    """Apply y[n] = x[n] - coefficient * x[n-1], carrying x[n-1] across chunk boundaries.

    The last sample of each chunk is kept for the next, so the stream filtered chunk by chunk
    equals the whole signal filtered at once.

    Ports:
        audio (in): samples x channels float32.
        out (out): samples x channels float32.

    Params:
        coefficient: the filter coefficient (default 0.97).

    Example:
        ```yaml
        - {id: emph, type: audio.preemphasis, params: {coefficient: 0.97}, inputs: {audio: mic/audio}}
        ```
    """

    kind = "audio.preemphasis"
    audio = Input(Audio)
    out = Output(Audio)
    coefficient: float = Param(0.97, ge=0, le=1)

    def setup(self) -> None:
        self._last: np.ndarray | None = None

    def process(self, audio: np.ndarray) -> dict[str, Any] | None:
        if not len(audio):
            return None
        prev = self._last if self._last is not None and self._last.shape == audio.shape[1:] else np.zeros(audio.shape[1:], np.float32)
        out = self.buffer("out", audio.shape, np.float32)
        out[0] = audio[0] - self.coefficient * prev
        np.subtract(audio[1:], np.float32(self.coefficient) * audio[:-1], out=out[1:])
        self._last = audio[-1].copy()
        return {"out": out}
