"""Read audio from a file (WAV, FLAC, MP3, anything FFmpeg reads) as fixed-size chunks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edgespeed import Audio, MissingDependency, Node, Output, Param, Stamped


class AudioFileSource(Node):
    """Decode an audio file with PyAV into float32 chunks of `chunk_ms`, stamped per sample.

    Each chunk's media time is the time of its first sample (`i / rate`), exact to the sample,
    so `sync: timestamp` can align it with video. The decoder's output is converted (FFmpeg's
    resampler) to `sample_rate_hz` and `channels` when they are set. A file that cannot be
    opened or decoded, or that ends before its header says it should (truncated), fails with
    an error naming the file.

    Ports:
        audio (out): samples x channels float32 in [-1, 1]; every chunk has `chunk_ms` of audio
            except the last, which holds what is left.

    Params:
        path: the audio file.
        chunk_ms: chunk duration in ms (default 20).
        sample_rate_hz: convert to this rate; null keeps the file's rate (default null).
        channels: convert to this many channels (1 or 2); null keeps the file's (default null).
        realtime: pace chunks like a live microphone; false reads as fast as it can (default false).
        pad_end_ms: silence appended after the last sample (default 0). Not needed to close an
            utterance that runs to the end of the file: audio.endpoint emits it at end of
            stream; kept for graphs that set it.

    Example:
        ```yaml
        - id: mic
          type: audio.file
          params: {path: speech.wav, sample_rate_hz: 16000, channels: 1, chunk_ms: 20}
        ```
    """

    kind = "audio.file"
    audio = Output(Audio)
    path: Path = Param(doc="audio file to read", kind="input_file")
    chunk_ms: float = Param(20.0, gt=0, le=10000, doc="chunk duration in ms")
    sample_rate_hz: int | None = Param(None, ge=1000, le=384000, doc="output sample rate; null: the file's")
    channels: int | None = Param(None, ge=1, le=2, doc="output channels; null: the file's")
    realtime: bool = Param(False, doc="pace chunks like a live microphone")
    pad_end_ms: float = Param(0.0, ge=0, doc="silence appended at the end, in ms")

    def setup(self) -> None:
        try:
            import av
        except ImportError as e:
            raise MissingDependency("av", "audio") from e
        self._av = av
        if self.path.is_dir():
            raise IsADirectoryError(f"audio file {str(self.path)!r} is a folder; give a file in it")
        if not self.path.is_file():
            raise FileNotFoundError(f"no audio file {str(self.path)!r}")
        try:
            self._container = av.open(str(self.path))
        except av.error.FFmpegError as e:
            raise ValueError(f"cannot read audio file {str(self.path)!r}: {_wav_fmt_problem(self.path) or _why(e)}") from e
        if not self._container.streams.audio:
            self._container.close()
            raise ValueError(f"audio file {str(self.path)!r} has no audio stream")
        self._stream = self._container.streams.audio[0]
        if self._stream.codec_context is None:  # FFmpeg found the stream but no decoder for it
            self._container.close()
            why = _wav_fmt_problem(self.path) or "no decoder for its audio codec"
            raise ValueError(f"cannot read audio file {str(self.path)!r}: {why}")
        src_rate = self._stream.codec_context.sample_rate or self._stream.rate
        self.rate = self.sample_rate_hz or src_rate
        layout = {1: "mono", 2: "stereo"}.get(self.channels or 0)
        self._resampler = av.AudioResampler(format="flt", layout=layout, rate=self.rate)
        self._expected = self._expected_samples(src_rate)

    def _expected_samples(self, src_rate: int) -> int | None:
        # FFmpeg derives a WAV's duration from the file size, so a truncated WAV looks whole to
        # it: the RIFF header's data size says how long the file was meant to be.
        declared = _wav_declared_frames(self.path)
        s = self._stream
        if declared is not None:
            secs = declared / src_rate
        elif s.duration is not None and s.time_base is not None:
            secs = float(s.duration * s.time_base)
        else:
            return None
        return round(secs * self.rate)

    def pacing(self) -> float | None:
        return 1.0 if self.realtime else None  # the engine paces from media time, like a microphone

    def generate(self) -> Iterator[Any]:
        chunk = max(1, round(self.chunk_ms * self.rate / 1000))
        pending: list[np.ndarray] = []
        have = sent = 0
        for block in self._decode():
            pending.append(block)
            have += len(block)
            while have >= chunk:
                data = np.concatenate(pending) if len(pending) > 1 else pending[0]
                out, rest = data[:chunk], data[chunk:]
                pending, have = ([rest] if len(rest) else []), len(rest)
                yield from self._emit(out, sent)
                sent += chunk
                if self.stopping:
                    return
        self._check_length(sent + have)
        tail = [*pending, np.zeros((int(self.pad_end_ms * self.rate / 1000), self._nch), np.float32)]
        data = np.concatenate(tail)
        for i in range(0, len(data), chunk):
            yield from self._emit(data[i:i + chunk], sent)
            sent += len(data[i:i + chunk])

    def progress(self) -> float | None:
        """The fraction of the file read so far; None when its length is unknown."""
        return getattr(self, "_sent", 0) / self._expected if self._expected else None

    def _emit(self, out: np.ndarray, sent: int) -> Iterator[Any]:
        self._sent = sent
        yield Stamped({"audio": np.ascontiguousarray(out)}, pts_ns=sent * 1_000_000_000 // self.rate)

    def _decode(self) -> Iterator[np.ndarray]:
        av = self._av
        self._nch = self.channels or self._stream.codec_context.channels or 1
        try:
            for packet in self._container.demux(self._stream):
                for frame in packet.decode():
                    yield from self._convert(frame)
            yield from self._convert(None)
        except av.error.FFmpegError as e:
            raise ValueError(f"cannot decode audio file {str(self.path)!r}: {_wav_fmt_problem(self.path) or _why(e)}") from e

    def _convert(self, frame: Any) -> Iterator[np.ndarray]:
        for f in self._resampler.resample(frame):
            a = f.to_ndarray()  # packed flt: (1, samples * channels)
            yield a.reshape(-1, self._nch).astype(np.float32, copy=False)

    def _check_length(self, got: int) -> None:
        # FFmpeg decodes a truncated file without complaint; the header says how long it was.
        if self._expected and got < self._expected - max(1, self.rate // 100):
            msg = f"audio file {str(self.path)!r} is truncated: decoded {got / self.rate:.3f} s of {self._expected / self.rate:.3f} s"
            raise ValueError(msg)

    def teardown(self) -> None:
        self._container.close()


def _why(e: BaseException) -> str:
    return (getattr(e, "strerror", None) or str(e)).strip().splitlines()[0] if str(e) else type(e).__name__


def _wav_fmt_problem(path: Path) -> str | None:
    """What is wrong with a WAV's format chunk, in words (None: not a WAV, or nothing found).

    FFmpeg's own words for these ("Invalid argument", or no decoder at all) do not say that
    the header is the problem, let alone which field.
    """
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        while len(hdr := f.read(8)) == 8:
            size = int.from_bytes(hdr[4:], "little")
            if hdr[:4] != b"fmt ":
                f.seek(size + (size & 1), 1)
                continue
            fmt = f.read(size)
            if len(fmt) < 16:
                return f"its WAV format chunk is {len(fmt)} bytes, expected at least 16"
            tag, channels, rate = (int.from_bytes(fmt[a:b], "little") for a, b in ((0, 2), (2, 4), (4, 8)))
            bits = int.from_bytes(fmt[14:16], "little")
            if channels == 0 or rate == 0 or bits == 0:
                return f"its WAV format chunk is broken: {channels} channels, {rate} Hz, {bits} bits per sample"
            if tag not in _WAV_CODECS:
                return f"its WAV format chunk names codec 0x{tag:04x}, which FFmpeg does not decode here"
            return None
        return "it has no WAV format chunk"


# WAVE format tags FFmpeg decodes in any build: PCM, ADPCM, float, A-law, mu-law, extensible
_WAV_CODECS = {0x0001, 0x0002, 0x0003, 0x0006, 0x0007, 0x0011, 0xFFFE}


def _wav_declared_frames(path: Path) -> int | None:
    """Sample frames a WAV's header declares (None: not a WAV, or a streamed size)."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        align = 0
        while True:
            hdr = f.read(8)
            if len(hdr) < 8:
                return None
            size = int.from_bytes(hdr[4:], "little")
            if hdr[:4] == b"fmt ":
                fmt = f.read(size + (size & 1))
                align = int.from_bytes(fmt[12:14], "little")
            elif hdr[:4] == b"data":
                return size // align if align and size not in (0, 0xFFFFFFFF) else None
            else:
                f.seek(size + (size & 1), 1)
