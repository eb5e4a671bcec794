"""Change the sample rate of an audio stream with FFmpeg's resampler (PyAV)."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgespeed import Audio, Input, MissingDependency, Node, Output, Param


class Resampler(Node):
    """Resample audio from `input_rate_hz` to `output_rate_hz` with PyAV's `AudioResampler`.

    The resampler keeps its filter state across chunks, so a stream resampled chunk by chunk
    equals the whole signal resampled at once (up to the filter's delay of a few samples at the
    start). Chunks for which the resampler has no output yet emit nothing. Equal rates pass
    chunks through untouched.

    Ports:
        audio (in): samples x channels float32 at `input_rate_hz`.
        out (out): samples x channels float32 at `output_rate_hz`.

    Params:
        input_rate_hz: the incoming sample rate (e.g. 48000 from a microphone).
        output_rate_hz: the wanted rate (default 16000, what speech models expect).

    Example:
        ```yaml
        - id: to16k
          type: audio.resample
          params: {input_rate_hz: 48000, output_rate_hz: 16000}
          inputs: {audio: mic/audio}
        ```
    """

    kind = "audio.resample"
    audio = Input(Audio)
    out = Output(Audio)
    input_rate_hz: int = Param(ge=1000, le=384000, doc="incoming sample rate")
    output_rate_hz: int = Param(16000, ge=1000, le=384000, doc="outgoing sample rate")

    def setup(self) -> None:
        try:
            import av
        except ImportError as e:
            raise MissingDependency("av", "audio") from e
        self._av = av
        self._resamplers: dict[int, Any] = {}

    def process(self, audio: np.ndarray) -> dict[str, Any] | None:
        if self.input_rate_hz == self.output_rate_hz:
            return {"out": audio}
        nch = audio.shape[1]
        layout = {1: "mono", 2: "stereo"}.get(nch, f"{nch}c")
        if nch not in self._resamplers:
            if self._resamplers:
                raise ValueError(f"channel count changed mid-stream: {nch}, was {next(iter(self._resamplers))}")
            self._resamplers[nch] = self._av.AudioResampler(format="flt", layout=layout, rate=self.output_rate_hz)
        frame = self._av.AudioFrame.from_ndarray(np.ascontiguousarray(audio, np.float32).reshape(1, -1), format="flt", layout=layout)
        frame.sample_rate = self.input_rate_hz
        parts = [f.to_ndarray().reshape(-1, nch) for f in self._resamplers[nch].resample(frame)]
        if not parts or not sum(len(p) for p in parts):
            return None
        return {"out": np.concatenate(parts).astype(np.float32, copy=False)}
