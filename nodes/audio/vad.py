"""Voice activity detection per frame: by energy, or with a stateful ONNX model (Silero kind)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgespeed import Audio, Input, Node, Output, Param, Record


class _FramedVad(Node):
    """What both VADs share: cut the stream into whole frames and emit decisions with the audio.

    Each output record carries the audio of the frames it decided on, so an endpointer gets
    audio and decisions in one packet; samples of an unfinished frame wait for the next chunk.
    At end of stream, the samples of a last unfinished frame are decided on as one (shorter)
    frame, so the record's audio ends at the stream's last sample.
    """

    audio = Input(Audio)
    out = Output(Record, doc="{audio, speech, score, start_sample, frame_samples, sample_rate_hz}")
    sample_rate_hz: int = Param(16000, ge=1000, le=384000, doc="the audio's sample rate")

    frame_samples = 320  # set by each VAD's setup; each VAD also defines decide(frames) -> (speech, score)
    pad_tail = True  # decide on a last partial frame padded with zeros (a model needs whole windows)

    def setup(self) -> None:
        self._pending = np.zeros((0, 1), np.float32)
        self._next = 0  # stream index of the next frame's first sample

    def process(self, audio: np.ndarray) -> dict[str, Any] | None:
        data = np.concatenate([self._pending, audio]) if len(self._pending) else audio
        if len(self._pending) and self._pending.shape[1] != audio.shape[1]:
            raise ValueError(f"channel count changed mid-stream: {audio.shape[1]}, was {self._pending.shape[1]}")
        f = self.frame_samples
        k = len(data) // f
        self._pending = np.array(data[k * f:], np.float32)  # a copy: inputs are released after process
        if not k:
            return None
        whole = np.ascontiguousarray(data[: k * f], np.float32)
        mono = whole.mean(axis=1) if whole.shape[1] > 1 else whole[:, 0]
        speech, score = self.decide(mono.reshape(k, f))  # type: ignore[attr-defined]
        start = self._next
        self._next += k * f
        rec = {"audio": whole, "speech": speech, "score": score.astype(np.float32), "start_sample": start,
               "frame_samples": f, "sample_rate_hz": self.sample_rate_hz}
        return {"out": rec}

    def flush(self) -> dict[str, Any] | None:
        """End of stream: a decision on the samples of the last, unfinished frame."""
        tail, f = self._pending, self.frame_samples
        if not len(tail):
            return None
        mono = tail.mean(axis=1) if tail.shape[1] > 1 else tail[:, 0]
        if self.pad_tail:
            mono = np.concatenate([mono, np.zeros(f - len(mono), np.float32)])
        speech, score = self.decide(mono.reshape(1, -1))  # type: ignore[attr-defined]
        self._pending = np.zeros((0, tail.shape[1]), np.float32)
        rec = {"audio": tail, "speech": speech, "score": score.astype(np.float32), "start_sample": self._next,
               "frame_samples": f, "sample_rate_hz": self.sample_rate_hz}
        self._next += len(tail)
        return {"out": rec}


class EnergyVad(_FramedVad):
    """Mark each `frame_ms` frame as speech when its level is above a threshold.

    The level is the frame's RMS in dBFS. A frame is speech when the level exceeds both
    `threshold_dbfs` and the tracked noise floor plus `margin_db` (the floor follows quiet
    frames down at once and rises slowly, about `floor_rise_db_per_s`), so a noisier room
    raises the bar by itself. Decisions are per frame and unsmoothed: audio.endpoint turns them
    into utterances.

    Ports:
        audio (in): samples x channels float32 (channels are averaged for the decision).
        out (out): record with `audio` (the whole frames decided on), `speech` (bool per frame),
            `score` (level in dBFS per frame), `start_sample` (stream index of the first
            sample), `frame_samples` and `sample_rate_hz`.

    Params:
        frame_ms: frame length in ms (default 20).
        threshold_dbfs: the lowest level counted as speech (default -45).
        margin_db: how far above the noise floor speech must be (default 10).
        floor_rise_db_per_s: how fast the noise-floor estimate may rise (default 3).
        sample_rate_hz: the audio's sample rate (default 16000).

    Example:
        ```yaml
        - {id: vad, type: audio.vad, params: {frame_ms: 20, threshold_dbfs: -45}, inputs: {audio: src/audio}}
        ```
    """

    kind = "audio.vad"
    pad_tail = False  # the level of a last short frame is that of its own samples
    frame_ms: float = Param(20.0, gt=0, le=1000, doc="frame length in ms")
    threshold_dbfs: float = Param(-45.0, le=0, doc="lowest speech level in dBFS")
    margin_db: float = Param(10.0, ge=0, doc="speech must exceed the noise floor by this much")
    floor_rise_db_per_s: float = Param(3.0, ge=0, doc="noise floor rise rate")

    def setup(self) -> None:
        super().setup()
        self.frame_samples = max(1, round(self.frame_ms * self.sample_rate_hz / 1000))
        self._floor: float | None = None
        self._rise = self.floor_rise_db_per_s * self.frame_ms / 1000

    def decide(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        level = 10 * np.log10(np.mean(np.square(frames, dtype=np.float64), axis=1) + 1e-12)
        speech = np.zeros(len(level), bool)
        for i, db in enumerate(level):
            floor = db if self._floor is None else min(db, self._floor + self._rise)
            self._floor = floor
            speech[i] = db > self.threshold_dbfs and db > floor + self.margin_db
        return speech, level


class OnnxVad(_FramedVad):
    """Speech probability per window from a stateful ONNX VAD model of the Silero kind.

    Silero VAD ships with EdgeSpeed: `model: builtin:models/silero_vad.onnx` (MIT; see
    edgespeed/data/PROVENANCE.md). On the project's test speech it finds every phrase down to
    5 dB SNR in white noise (tested), where audio.vad loses them from about 10 dB (README, "Transcription").
    Other models of the same kind work too: inputs are the audio
    window (1 x samples float32), the recurrent state(s) (float32) and the sample rate (int64
    scalar); outputs are the speech probability (1 x 1) followed by the new state(s), in the
    order of the state inputs. Inputs are recognized by type: the int64 one is the sample rate,
    the first float32 one of rank 2 the audio, the other float32 ones the states (zeros at
    start, and each call's new state is carried to the next). Silero v5 also expects the last
    `context_samples` of the previous window in front of each window.

    Ports:
        audio (in): samples x channels float32 at `sample_rate_hz` (16000 or 8000 for Silero).
        out (out): as audio.vad, with `score` the speech probability per window.

    Params:
        model: the ONNX model file.
        threshold: probability above which a window is speech (default 0.5).
        window_samples: samples per model call (default 512: Silero at 16 kHz; 256 at 8 kHz).
        context_samples: samples of the previous window prepended (default 64; 0 for Silero v4).
        sample_rate_hz: the audio's sample rate (default 16000).

    Example:
        ```yaml
        - id: vad
          type: audio.onnx_vad
          params: {model: "builtin:models/silero_vad.onnx", threshold: 0.5}
          inputs: {audio: to16k/out}
        ```
    """

    kind = "audio.onnx_vad"
    model: Path = Param(doc="ONNX VAD model (Silero kind)", kind="model_file")
    threshold: float = Param(0.5, ge=0, le=1)
    window_samples: int = Param(512, ge=16, le=65536)
    context_samples: int = Param(64, ge=0, le=65536)

    def setup(self) -> None:
        super().setup()
        if not self.model.is_file():
            raise FileNotFoundError(f"no VAD model {str(self.model)!r}")
        self.frame_samples = self.window_samples
        self._session = vad_session(self.model, f"node {self.id!r}: ")
        # state and context start from zeros for each stream (each setup), as Silero's reset_states()
        self._bind(self._session.get_inputs(), [o.name for o in self._session.get_outputs()])
        self._context = np.zeros(self.context_samples, np.float32)

    def _bind(self, inputs: list[Any], outputs: list[str]) -> None:
        ints = [i for i in inputs if "int64" in i.type]
        floats = [i for i in inputs if "float" in i.type]
        audio = next((i for i in floats if len(i.shape) == 2), None)
        if audio is None or len(ints) > 1:
            got = ", ".join(f"{i.name} {i.type} {i.shape}" for i in inputs)
            raise ValueError(f"model {str(self.model)!r} is not a Silero-kind VAD: expected a float32 1 x samples audio input, "
                             f"optional states and an int64 sample rate; it has: {got}")
        self._audio_name = audio.name
        self._sr_name = ints[0].name if ints else None
        states = [i for i in floats if i is not audio]
        if len(outputs) != 1 + len(states):
            raise ValueError(f"model {str(self.model)!r} has {len(states)} state input(s) but {len(outputs) - 1} state output(s)")
        self._prob_name = outputs[0]
        self._state_out = dict(zip((s.name for s in states), outputs[1:]))
        self._state = {s.name: np.zeros([d if isinstance(d, int) and d > 0 else 1 for d in s.shape], np.float32) for s in states}

    def decide(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        probs = np.zeros(len(frames), np.float32)
        sr = np.array(self.sample_rate_hz, np.int64)
        for i, window in enumerate(frames):
            x = np.concatenate([self._context, window])[None, :].astype(np.float32, copy=False)
            feed: dict[str, np.ndarray] = {self._audio_name: x, **self._state}
            if self._sr_name:
                feed[self._sr_name] = sr
            result = self._session.run(None, feed)
            probs[i] = float(np.asarray(result[0]).reshape(-1)[0])
            for (name, _), value in zip(self._state_out.items(), result[1:]):
                self._state[name] = value
            if self.context_samples:
                self._context = x[0, -self.context_samples:].copy()
        return probs > self.threshold, probs


def vad_session(model: Path, who: str = "") -> Any:
    """An ONNX Runtime session for a small VAD model, on the CPU with one thread (from the
    project's one session factory).

    One window of 32 ms per call: more threads cost more in wake-ups than they give.
    """
    from edgespeed.infer.session import open_session

    session, _ = open_session(model, ["cpu"], intra_threads=1, inter_threads=1, who=who)
    return session
