"""Cut an audio stream into overlapping windows, across chunk boundaries."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgespeed import Audio, Input, Node, Output, Param


class Framer(Node):
    """Cut mono audio into windows of `window_ms` every `hop_ms`, whatever the chunk sizes.

    Window i of the stream starts at sample `i * hop` and holds `window` consecutive samples:
    no sample is lost or repeated at chunk boundaries, because the samples of an unfinished
    window are kept for the next chunk. A chunk that completes no window emits nothing; the
    samples after the last complete window at end of stream are not emitted.

    Ports:
        audio (in): samples x 1 float32 (mix to mono first with audio.mix).
        frames (out): windows x window_samples float32, the windows this chunk completed.

    Params:
        window_ms: window length in ms (default 25).
        hop_ms: step between window starts in ms (default 10).
        sample_rate_hz: the sample rate (default 16000).

    Example:
        ```yaml
        - {id: frames, type: audio.frames, params: {window_ms: 25, hop_ms: 10}, inputs: {audio: mic/audio}}
        ```
    """

    kind = "audio.frames"
    audio = Input(Audio)
    frames = Output(dtype="float32", ndim=2, doc="windows x window_samples")
    window_ms: float = Param(25.0, gt=0, le=10000)
    hop_ms: float = Param(10.0, gt=0, le=10000)
    sample_rate_hz: int = Param(16000, ge=1000, le=384000)

    def setup(self) -> None:
        self.window = max(1, round(self.window_ms * self.sample_rate_hz / 1000))
        self.hop = max(1, round(self.hop_ms * self.sample_rate_hz / 1000))
        self._buf = np.zeros(0, np.float32)
        self._skip = 0  # samples still to drop when hop > window

    def process(self, audio: np.ndarray) -> dict[str, Any] | None:
        if audio.shape[1] != 1:
            raise ValueError(f"expected mono audio, got {audio.shape[1]} channels; mix it first with audio.mix")
        x = audio[self._skip:, 0]
        self._skip = max(0, self._skip - len(audio))
        buf = np.concatenate([self._buf, x]) if len(self._buf) else np.asarray(x, np.float32)
        n = 0 if len(buf) < self.window else (len(buf) - self.window) // self.hop + 1
        used = n * self.hop
        if used > len(buf):
            self._skip += used - len(buf)
        self._buf = buf[used:].copy()  # a copy: the input view is released after process
        if not n:
            return None
        view = np.lib.stride_tricks.sliding_window_view(buf, self.window)[: used : self.hop]
        out = self.buffer("frames", (n, self.window), np.float32)
        out[:] = view
        return {"frames": out}
