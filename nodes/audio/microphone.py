"""Capture audio from a microphone (PortAudio, through sounddevice).

`python -m edgespeed.nodes.audio.microphone` lists the audio input devices.
"""

from __future__ import annotations

import queue
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

from edgespeed import Audio, MissingDependency, Node, Output, Param, Stamped

PORTAUDIO_HINT = "PortAudio is not installed; install it with: apt-get install libportaudio2 (macOS: brew install portaudio)"


def _sounddevice() -> Any:
    try:
        import sounddevice
    except ImportError as e:
        raise MissingDependency("sounddevice", "audio") from e
    except OSError as e:  # the module is there but libportaudio is not
        raise RuntimeError(PORTAUDIO_HINT) from e
    return sounddevice


def input_devices() -> list[tuple[int, str, int, float]]:
    """The audio inputs: (index, name, max input channels, default sample rate)."""
    sd = _sounddevice()
    return [(i, d["name"], d["max_input_channels"], d["default_samplerate"])
            for i, d in enumerate(sd.query_devices()) if d["max_input_channels"] > 0]


def find_device(device: str | int | None) -> int | None:
    """The index of the input `device` (an index, or part of a name); None for the default."""
    if device is None or device == "":
        return None
    found = input_devices()
    listing = "; ".join(f"{i}: {name!r}" for i, name, _, _ in found) or "none found"
    if isinstance(device, int) or str(device).isdigit():
        if any(i == int(device) for i, *_ in found):
            return int(device)
    else:
        matches = [i for i, name, _, _ in found if str(device).lower() in name.lower()]
        if matches:
            return matches[0]
    raise ValueError(f"no audio input device {device!r}; input devices: {listing}")


class MicrophoneSource(Node):
    """Capture chunks of `block_ms` from an audio input, stamped by their first sample.

    PortAudio calls back from its own thread with each block; the callback only copies the
    block into a bounded queue and never blocks. When the graph falls behind and the queue is
    full, the block is dropped and counted in `overruns` (as are PortAudio's own input
    overflows), never silently. Media times count samples from the start of capture, so the
    stamps stay exact even when blocks are dropped (a gap in time marks the loss).

    Needs PortAudio (`apt-get install libportaudio2`) and `pip install 'edgespeed[audio]'`;
    when either or the device is missing, setup fails with a one-line error that says how to
    fix it, listing the input devices. List them with `python -m edgespeed.nodes.audio.microphone`.

    Ports:
        audio (out): samples x channels float32.

    Params:
        device: an input device index, or part of its name; null for the default (default null).
        sample_rate_hz: capture rate (default 16000).
        channels: channels captured (default 1).
        block_ms: block duration in ms (default 20).
        queue_blocks: blocks buffered between PortAudio and the graph (default 50: 1 s at 20 ms).

    Example:
        ```yaml
        - {id: mic, type: audio.microphone, params: {device: "USB", sample_rate_hz: 16000, block_ms: 20}}
        ```
    """

    kind = "audio.microphone"
    audio = Output(Audio)
    device: int | str | None = Param(None, doc="device index or name; null: the default input")
    sample_rate_hz: int = Param(16000, ge=1000, le=384000)
    channels: int = Param(1, ge=1, le=32)
    block_ms: float = Param(20.0, gt=0, le=1000)
    queue_blocks: int = Param(50, ge=1)

    def setup(self) -> None:
        sd = _sounddevice()
        index = find_device(self.device)
        self.overruns = 0
        self._queue: queue.Queue[tuple[int, np.ndarray]] = queue.Queue(self.queue_blocks)
        self._frames = 0  # samples delivered by PortAudio so far (the media clock)
        block = max(1, round(self.block_ms * self.sample_rate_hz / 1000))
        try:
            self._stream = sd.InputStream(device=index, channels=self.channels, samplerate=self.sample_rate_hz,
                                          blocksize=block, dtype="float32", callback=self._callback)
            self._stream.start()
        except Exception as e:  # PortAudioError: an unsupported rate or channel count, a busy device
            raise RuntimeError(f"cannot open audio input {self.device!r}: {e}") from e

    def _callback(self, data: np.ndarray, frames: int, _time: Any, status: Any) -> None:
        # PortAudio's thread: copy and hand over, never wait.
        if status and status.input_overflow:
            self.overruns += 1
        try:
            self._queue.put_nowait((self._frames, data.copy()))
        except queue.Full:
            self.overruns += 1
        self._frames += frames

    def generate(self) -> Iterator[Any]:
        while not self.stopping:
            try:
                start, block = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            yield Stamped({"audio": block}, pts_ns=start * 1_000_000_000 // self.sample_rate_hz)

    def teardown(self) -> None:
        self._stream.stop()
        self._stream.close()
        if self.overruns:
            self.log.warning("%d audio block(s) dropped (overruns)", self.overruns)


def main() -> int:
    """Print the audio input devices, one per line."""
    try:
        devices = input_devices()
    except (RuntimeError, MissingDependency) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for i, name, ch, rate in devices:
        print(f"{i:3d}  {name}  ({ch} ch, {rate:.0f} Hz)")
    if not devices:
        print("no audio input devices found")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
