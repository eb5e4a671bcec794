"""sink.wav: one file per utterance, or one stream finalized in teardown."""

from __future__ import annotations

import wave

import numpy as np
import pytest
from edgespeed.nodes.sinks.wav import WavSink

from edgespeed.errors import NodeError
from edgespeed.testing import run_node


def read(path):
    with wave.open(str(path)) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, w.getnchannels())
        return x.astype(np.float32) / 32767, w.getframerate()


def test_one_file_per_utterance(tmp_path):
    a = np.linspace(-0.5, 0.5, 1600, dtype=np.float32)[:, None]
    utts = [{"audio": a, "sample_rate_hz": 8000}, {"audio": a[:800], "sample_rate_hz": 8000}]
    run_node(WavSink, params={"folder": tmp_path / "u", "prefix": "say"}, inputs={"audio": utts})
    files = sorted((tmp_path / "u").glob("*.wav"))
    assert [f.name for f in files] == ["say_0.wav", "say_1.wav"]
    x, rate = read(files[0])
    assert rate == 8000 and np.allclose(x, a, atol=1e-4)


def test_stream_is_finalized(tmp_path):
    path = tmp_path / "all.wav"
    chunks = [np.full((160, 2), 0.25, np.float32) for _ in range(5)]
    run_node(WavSink, params={"mode": "stream", "path": path}, inputs={"audio": chunks})
    x, rate = read(path)
    assert x.shape == (800, 2) and rate == 16000 and np.allclose(x, 0.25, atol=1e-4)


def test_stream_format_change(tmp_path):
    with pytest.raises(NodeError, match="stream format changed"):
        run_node(WavSink, params={"mode": "stream", "path": tmp_path / "a.wav"},
                 inputs={"audio": [np.zeros((10, 1), np.float32), np.zeros((10, 2), np.float32)]})
    assert read(tmp_path / "a.wav")[0].shape == (10, 1)  # what was written is still a valid file
