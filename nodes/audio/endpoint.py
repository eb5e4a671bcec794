"""Turn per-frame speech decisions into whole utterances with start and end times."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from edgespeed import Input, Node, Output, Param, Record


class Endpointer(Node):
    """Group VAD frames into utterances and emit each one whole, with its audio and times.

    An utterance starts once `min_speech_ms` of consecutive speech frames are seen (at the
    first of them) and ends at the first of `min_silence_ms` consecutive non-speech frames, so
    shorter clicks are ignored and shorter pauses stay inside the utterance. Its audio runs from
    `padding_ms` before the start to `padding_ms` after the end (the tail padding is at most
    `min_silence_ms`, the audio seen when the end is decided). An utterance longer than
    `max_utterance_s` is cut there and a new one begins. An utterance still open when the
    stream ends (a recording cut mid-phrase, or less than `min_silence_ms` of silence after
    the last words) is emitted then, ending at the last speech frame or at the last sample,
    whichever is earlier; no trailing silence (audio.file `pad_end_ms`) is needed.

    Ports:
        vad (in): records from audio.vad or audio.onnx_vad.
        utterance (out): record with `audio` (samples x channels float32, padded), `start_s`
            and `end_s` (the speech itself, in stream time), `audio_start_s` (time of the first
            sample of `audio`), `sample_rate_hz` and `index` (0, 1, 2, ...).

    Params:
        min_speech_ms: speech needed to start an utterance (default 120).
        min_silence_ms: silence needed to end one (default 400).
        padding_ms: audio kept before and after the speech (default 200).
        max_utterance_s: longest utterance before a forced cut (default 20).

    Example:
        ```yaml
        - id: utt
          type: audio.endpoint
          params: {min_speech_ms: 120, min_silence_ms: 400, padding_ms: 200}
          inputs: {vad: vad/out}
        ```
    """

    kind = "audio.endpoint"
    vad = Input(Record, doc="VAD record: audio, speech per frame, start_sample, frame_samples, sample_rate_hz")
    utterance = Output(Record, doc="{audio, start_s, end_s, audio_start_s, sample_rate_hz, index}")
    min_speech_ms: float = Param(120.0, ge=0, doc="speech that starts an utterance, in ms")
    min_silence_ms: float = Param(400.0, ge=0, doc="silence that ends an utterance, in ms")
    padding_ms: float = Param(200.0, ge=0, doc="audio kept around the speech, in ms")
    max_utterance_s: float = Param(20.0, gt=0, doc="longest utterance before a forced cut")

    def setup(self) -> None:
        self._chunks: list[tuple[int, np.ndarray]] = []  # (first sample, audio) kept for utterances
        self._speaking = False
        self._run = 0          # consecutive speech frames (before start) or silence frames (after)
        self._run_start = 0    # frame where the current speech run began
        self._start = 0        # frame where the open utterance began
        self._index = 0
        self._frame = (0, 0, 0)  # (frame samples, sample rate, frames seen) for flush

    def process(self, vad: dict[str, Any]) -> Any:
        f, rate = int(vad["frame_samples"]), int(vad["sample_rate_hz"])
        first = int(vad["start_sample"]) // f
        self._chunks.append((int(vad["start_sample"]), np.array(vad["audio"], np.float32)))  # a copy: kept past process
        self._frame = (f, rate, first + len(vad["speech"]))
        def ms(v: float) -> int:  # a duration in ms -> whole VAD frames (at least one)
            return max(1, math.ceil(v * rate / 1000 / f))

        need_speech, need_silence, longest = ms(self.min_speech_ms), ms(self.min_silence_ms), ms(self.max_utterance_s * 1000)
        for i, speech in enumerate(np.asarray(vad["speech"], bool)):
            g = first + i
            if not self._speaking:
                self._run, self._run_start = (self._run + 1, self._run_start if self._run else g) if speech else (0, g + 1)
                if self._run >= need_speech:
                    self._speaking, self._start, self._run = True, self._run_start, 0
            elif speech:
                self._run = 0
                if g + 1 - self._start >= longest:
                    yield self._emit(self._start, g + 1, f, rate)
                    self._start = g + 1
            else:
                self._run += 1
                if self._run >= need_silence:
                    yield self._emit(self._start, g + 1 - self._run, f, rate)
                    self._speaking, self._run, self._run_start = False, 0, g + 1
        keep = (self._start if self._speaking else self._run_start) * f - int(self.padding_ms * rate / 1000)
        while len(self._chunks) > 1 and self._chunks[1][0] <= keep:
            self._chunks.pop(0)

    def flush(self) -> dict[str, Any] | None:
        """End of stream: the utterance still open, up to its last speech frame."""
        if not self._speaking:
            return None
        f, rate, seen = self._frame
        self._speaking = False
        return self._emit(self._start, seen - self._run, f, rate)

    def _emit(self, start: int, end: int, f: int, rate: int) -> dict[str, Any]:
        pad = int(self.padding_ms * rate / 1000)
        base = self._chunks[0][0]
        audio = np.concatenate([a for _, a in self._chunks])
        last = base + len(audio)  # the stream's end, when its last frame is a partial one
        lo = max(start * f - pad, base)
        hi = min(end * f + pad, last)
        rec = {"audio": audio[lo - base: hi - base], "start_s": start * f / rate, "end_s": min(end * f, last) / rate,
               "audio_start_s": lo / rate, "sample_rate_hz": rate, "index": self._index}
        self._index += 1
        return {"utterance": rec}
