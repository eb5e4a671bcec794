"""Write audio or utterances to WAV files."""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any, Literal

import numpy as np

from edgespeed import Input, Node, Param


class WavSink(Node):
    """Write audio as 16-bit PCM WAV: one file per utterance, or one continuous stream.

    In `utterances` mode each packet (an utterance record from audio.endpoint, or an audio
    chunk) becomes its own file `<prefix>_<n>.wav` in `folder` (n = 0, 1, ...), written and
    closed at once. In `stream` mode every packet is appended to one file `path`, whose header
    is finalized in teardown (also when the graph stops early).

    Ports:
        audio (in): samples x channels float32, or a record with `audio` (and `sample_rate_hz`).

    Params:
        mode: utterances or stream (default utterances).
        folder: where utterance files go (default out/utterances).
        prefix: utterance file name prefix (default utt).
        path: the stream file (default out/audio.wav).
        sample_rate_hz: the rate written when a packet does not say (default 16000).

    Example:
        ```yaml
        - {id: save, type: sink.wav, params: {mode: utterances, folder: out/utts}, inputs: {audio: utt/utterance}}
        ```
    """

    kind = "sink.wav"
    audio = Input(doc="samples x channels float32, or a record with audio and sample_rate_hz")
    mode: Literal["utterances", "stream"] = Param("utterances")
    folder: Path = Param(Path("out/utterances"))
    prefix: str = Param("utt")
    path: Path = Param(Path("out/audio.wav"))
    sample_rate_hz: int = Param(16000, ge=1000, le=384000)

    def setup(self) -> None:
        self.files: list[Path] = []
        self._stream: wave.Wave_write | None = None
        self._shape: tuple[int, int] | None = None
        (self.folder if self.mode == "utterances" else self.path.parent).mkdir(parents=True, exist_ok=True)

    def process(self, audio: Any) -> None:
        rate = self.sample_rate_hz
        if isinstance(audio, dict):
            rate = int(audio.get("sample_rate_hz", rate))
            audio = audio["audio"]
        x = np.asarray(audio, np.float32)
        x = x[:, None] if x.ndim == 1 else x
        pcm = (np.clip(x, -1.0, 1.0) * 32767).astype("<i2")
        if self.mode == "utterances":
            path = self.folder / f"{self.prefix}_{len(self.files)}.wav"
            with wave.open(str(path), "wb") as w:
                self._header(w, pcm.shape[1], rate)
                w.writeframes(pcm.tobytes())
            self.files.append(path)
            return
        if self._stream is None:
            self._stream = wave.open(str(self.path), "wb")  # noqa: SIM115 - finalized in teardown
            self._header(self._stream, pcm.shape[1], rate)
            self._shape = (pcm.shape[1], rate)
            self.files.append(self.path)
        elif self._shape is not None and self._shape != (pcm.shape[1], rate):
            raise ValueError(f"stream format changed: {pcm.shape[1]} channel(s) at {rate} Hz, was {self._shape[0]} at {self._shape[1]} Hz")
        self._stream.writeframes(pcm.tobytes())
        return

    @staticmethod
    def _header(w: wave.Wave_write, channels: int, rate: int) -> None:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)

    def teardown(self) -> None:
        if self._stream is not None:
            self._stream.close()  # writes the final sizes into the header
