"""audio.file: decoding, sample-accurate stamps, conversion, pacing, and errors naming the file."""

from __future__ import annotations

import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest
from edgespeed.nodes.audio.file import AudioFileSource

from edgespeed import Stamped
from edgespeed.errors import NodeError
from edgespeed.testing import run_node

DATA = Path(__file__).parents[2] / "data" / "speech"
FLAC = DATA / "digits_slt_1.flac"


def write_wav(path: Path, x: np.ndarray, rate: int = 16000) -> Path:
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1 if pcm.ndim == 1 else pcm.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


def stamped(params: dict) -> list[Stamped]:
    node = AudioFileSource("src", **params)
    node.setup()
    try:
        return list(node.generate())
    finally:
        node.teardown()


def test_wav_samples_and_stamps_are_exact(tmp_path):
    x = np.sin(np.arange(16000 + 123) * 0.01).astype(np.float32) * 0.5
    items = stamped({"path": write_wav(tmp_path / "a.wav", x), "chunk_ms": 20})
    chunks = [i.outputs["audio"] for i in items]
    assert all(c.shape == (320, 1) and c.dtype == np.float32 for c in chunks[:-1])
    assert len(chunks[-1]) == 123
    got = np.concatenate(chunks)[:, 0]
    np.testing.assert_allclose(got, np.round(x * 32767) / 32768, atol=1e-4)
    starts = np.cumsum([0] + [len(c) for c in chunks[:-1]])
    assert [i.pts_ns for i in items] == [s * 1_000_000_000 // 16000 for s in starts]


@pytest.mark.parametrize(("rate", "channels", "shape1"), [
    pytest.param(8000, 1, 1, id="downsample"),
    pytest.param(None, 2, 2, id="to-stereo"),
])
def test_conversion(rate, channels, shape1):
    out = run_node(AudioFileSource, params={"path": FLAC, "sample_rate_hz": rate, "channels": channels})
    audio = np.concatenate(out["audio"])
    native = np.concatenate(run_node(AudioFileSource, params={"path": FLAC})["audio"])
    assert audio.shape[1] == shape1
    assert abs(len(audio) - len(native) * (rate or 16000) / 16000) <= 64


def test_pad_end_appends_silence():
    plain = np.concatenate(run_node(AudioFileSource, params={"path": FLAC})["audio"])
    padded = np.concatenate(run_node(AudioFileSource, params={"path": FLAC, "pad_end_ms": 250})["audio"])
    assert len(padded) == len(plain) + 4000 and not padded[len(plain):].any()


def test_realtime_paces_like_a_microphone(tmp_path):
    path = write_wav(tmp_path / "a.wav", np.zeros(4800, np.float32))  # 0.3 s
    t0 = time.perf_counter()
    run_node(AudioFileSource, params={"path": path, "realtime": True})
    assert time.perf_counter() - t0 >= 0.25


def corrupt(tmp_path: Path, kind: str) -> Path:
    if kind == "truncated-wav":
        full = write_wav(tmp_path / "full.wav", np.sin(np.arange(16000) * 0.05).astype(np.float32)).read_bytes()
        path = tmp_path / "cut.wav"
        path.write_bytes(full[: len(full) // 2])
    elif kind == "truncated-flac":
        data = (DATA / "long.flac").read_bytes()
        path = tmp_path / "cut.flac"
        path.write_bytes(data[: len(data) // 2])
    else:
        path = tmp_path / "noise.wav"
        path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(range(256)) * 8)
    return path


@pytest.mark.parametrize("kind", ["truncated-wav", "truncated-flac", "garbage"])
def test_bad_audio_names_the_file(tmp_path, kind):
    path = corrupt(tmp_path, kind)
    with pytest.raises((NodeError, ValueError)) as err:
        run_node(AudioFileSource, params={"path": path})
    assert str(path) in str(err.value)
    assert len(str(err.value).splitlines()) == 1


def test_bad_audio_in_a_graph_is_one_line_without_traceback(tmp_path):
    path = corrupt(tmp_path, "truncated-wav")
    graph = tmp_path / "g.yaml"
    graph.write_text(f"nodes:\n  - {{id: src, type: audio.file, params: {{path: '{path}'}}}}\n"
                     "  - {id: out, type: sink.null, inputs: {data: src/audio}}\n")
    r = subprocess.run([sys.executable, "-m", "edgespeed", "run", str(graph), "-q"], check=False, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    line = next(s for s in r.stderr.splitlines() if "failed" in s)
    assert "node 'src' failed in generate()" in line and str(path) in line and "truncated" in line


def test_missing_file():
    with pytest.raises(NodeError, match="no audio file"):
        run_node(AudioFileSource, params={"path": "/nonexistent/x.wav"})
