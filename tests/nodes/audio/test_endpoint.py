"""audio.endpoint: min speech, min silence, padding and forced cuts, on decisions given here."""

from __future__ import annotations

import numpy as np
import pytest
from edgespeed.nodes.audio.endpoint import Endpointer

from edgespeed.testing import run_node

F = 160  # 10 ms frames at 16 kHz


def records(pattern: str, per_record: int = 7, tail: int = 0) -> tuple[list[dict], np.ndarray]:
    """VAD records for a pattern of frames ('#' speech, '.' silence); audio = sample index.

    With `tail` > 0 the last frame has only that many samples (a stream that ends mid-frame)."""
    audio = np.arange(len(pattern) * F - (F - tail if tail else 0), dtype=np.float32)[:, None]
    speech = np.array([c == "#" for c in pattern])
    recs = []
    for i in range(0, len(pattern), per_record):
        j = min(i + per_record, len(pattern))
        recs.append({"audio": audio[i * F: j * F], "speech": speech[i:j], "start_sample": i * F, "frame_samples": F, "sample_rate_hz": 16000})
    return recs, audio


def run(pattern: str, **params) -> tuple[list[dict], np.ndarray]:
    recs, audio = records(pattern)
    return run_node(Endpointer, params=params, inputs={"vad": recs})["utterance"], audio


@pytest.mark.parametrize(("pattern", "want"), [
    pytest.param("." * 20 + "#" * 30 + "." * 40, [(0.20, 0.50)], id="one"),
    pytest.param("." * 10 + "##" + "." * 20 + "#" * 30 + "." * 40, [(0.32, 0.62)], id="click-ignored"),
    pytest.param("." * 10 + "#" * 20 + "." * 5 + "#" * 20 + "." * 40, [(0.10, 0.55)], id="short-pause-kept"),
    pytest.param("." * 10 + "#" * 20 + "." * 25 + "#" * 20 + "." * 40, [(0.10, 0.30), (0.55, 0.75)], id="two"),
    pytest.param("#" * 20 + "." * 19, [(0.0, 0.20)], id="silence-too-short-at-end"),
    pytest.param("." * 10 + "#" * 30, [(0.10, 0.40)], id="cut-mid-speech"),
    pytest.param("." * 10 + "#" * 3, [], id="click-at-end-ignored"),
])
def test_utterances(pattern, want):
    utts, _ = run(pattern, min_speech_ms=50, min_silence_ms=200, padding_ms=0)
    assert [t for u in utts for t in (u["start_s"], u["end_s"])] == pytest.approx([t for seg in want for t in seg])
    assert [u["index"] for u in utts] == list(range(len(want)))


def test_padding_and_exact_audio():
    utts, audio = run("." * 50 + "#" * 30 + "." * 40, min_speech_ms=50, min_silence_ms=300, padding_ms=150)
    (u,) = utts
    assert (u["start_s"], u["end_s"], u["audio_start_s"]) == pytest.approx((0.50, 0.80, 0.35))
    np.testing.assert_array_equal(u["audio"], audio[35 * F: 95 * F])  # the stream's own samples, padded


def test_padding_limited_by_stream_start():
    (u,), audio = run("." * 3 + "#" * 30 + "." * 40, min_speech_ms=50, min_silence_ms=300, padding_ms=200)
    assert u["audio_start_s"] == 0.0 and np.array_equal(u["audio"], audio[: 53 * F])


def test_long_speech_is_cut():
    utts, _ = run("." * 5 + "#" * 250 + "." * 40, min_speech_ms=50, min_silence_ms=200, padding_ms=0, max_utterance_s=1.0)
    assert [(round(u["start_s"], 2), round(u["end_s"], 2)) for u in utts] == [(0.05, 1.05), (1.05, 2.05), (2.05, 2.55)]


def test_an_utterance_open_at_the_end_ends_at_the_last_sample():
    # speech runs into the last frame, which has only 50 of its 160 samples
    recs, audio = records("." * 10 + "#" * 30, tail=50)
    (u,) = run_node(Endpointer, params={"min_speech_ms": 50, "min_silence_ms": 200, "padding_ms": 100}, inputs={"vad": recs})["utterance"]
    assert (u["start_s"], u["end_s"], u["audio_start_s"]) == pytest.approx((0.10, (39 * F + 50) / 16000, 0.0))
    np.testing.assert_array_equal(u["audio"], audio)  # the padded audio, up to the stream's last sample


def test_after_the_open_one_closed_normally():
    utts, _ = run("." * 5 + "#" * 20 + "." * 30 + "#" * 15 + "." * 4, min_speech_ms=50, min_silence_ms=200, padding_ms=0)
    assert [(u["index"], round(u["start_s"], 2), round(u["end_s"], 2)) for u in utts] == [(0, 0.05, 0.25), (1, 0.55, 0.70)]
