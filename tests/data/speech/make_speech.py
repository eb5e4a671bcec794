"""Synthesize the speech test set with flite (run once; the outputs are committed).

    apt-get install -y flite
    .venv/bin/python tests/data/speech/make_speech.py

Writes 16 kHz mono FLAC files (lossless, about half the size of WAV; `audio.file` reads them
through FFmpeg like any WAV) and `manifest.json` with the words of every file and, for the long
recording, the true start and end time of each phrase (where the synthesized speech starts and
ends above -50 dBFS, before the noise floor is mixed in). Deterministic: the noise is seeded.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import wave
from pathlib import Path

import av
import numpy as np

HERE = Path(__file__).parent
RATE = 16000

SET = [  # (file stem, voice, words); digit strings, short commands, sentences
    ("digits_slt_1", "slt", "four one seven nine"),
    ("digits_rms_1", "rms", "two zero eight six three"),
    ("digits_slt_2", "slt", "five nine one three"),
    ("digits_awb_1", "awb", "eight six zero one"),
    ("command_slt_1", "slt", "turn on the kitchen lights"),
    ("command_rms_1", "rms", "stop the music"),
    ("command_awb_1", "awb", "open the front door"),
    ("command_rms_2", "rms", "what time is it"),
    ("sentence_slt_1", "slt", "the weather will be sunny tomorrow"),
    ("sentence_rms_1", "rms", "please call me back in an hour"),
]
LONG = [("slt", "turn off the radio"), ("rms", "good morning"), ("slt", "set an alarm for seven")]
PAUSES_S = [0.6, 1.1, 0.9, 0.8]  # before the first phrase, between phrases, after the last
NOISE_DBFS = -60.0


def synth(voice: str, text: str) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "x.wav"
        subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(out)], check=True)
        with wave.open(str(out)) as w:
            assert w.getframerate() == RATE and w.getnchannels() == 1
            return np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768


def trim(x: np.ndarray, floor_dbfs: float = -50.0) -> np.ndarray:
    loud = np.flatnonzero(np.abs(x) > 10 ** (floor_dbfs / 20))
    return x[loud[0]: loud[-1] + 1]


def write_flac(path: Path, x: np.ndarray) -> None:
    pcm = np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)
    with av.open(str(path), "w", format="flac") as c:
        s = c.add_stream("flac", rate=RATE, layout="mono")
        frame = av.AudioFrame.from_ndarray(pcm[None, :], format="s16", layout="mono")
        frame.sample_rate = RATE
        for pkt in s.encode(frame):
            c.mux(pkt)
        for pkt in s.encode(None):
            c.mux(pkt)


def main() -> None:
    manifest: dict = {"sample_rate_hz": RATE, "files": []}
    for stem, voice, words in SET:
        write_flac(HERE / f"{stem}.flac", synth(voice, words))
        manifest["files"].append({"file": f"{stem}.flac", "voice": voice, "words": words, "kind": stem.split("_")[0]})
    rng = np.random.default_rng(4)
    parts, phrases, t = [np.zeros(int(PAUSES_S[0] * RATE), np.float32)], [], PAUSES_S[0]
    for (voice, words), pause in zip(LONG, PAUSES_S[1:]):
        x = trim(synth(voice, words))
        phrases.append({"words": words, "voice": voice, "start_s": round(t, 4), "end_s": round(t + len(x) / RATE, 4)})
        parts += [x, np.zeros(int(pause * RATE), np.float32)]
        t += len(x) / RATE + pause
    long = np.concatenate(parts)
    long += rng.normal(0, 10 ** (NOISE_DBFS / 20), long.shape).astype(np.float32)
    write_flac(HERE / "long.flac", long)
    manifest["long"] = {"file": "long.flac", "noise_dbfs": NOISE_DBFS, "duration_s": round(len(long) / RATE, 4), "phrases": phrases}
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
