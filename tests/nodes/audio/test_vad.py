"""audio.vad (energy): segments of a constructed signal match its known intervals within 50 ms."""

from __future__ import annotations

import numpy as np
import pytest
from edgespeed.nodes.audio.endpoint import Endpointer
from edgespeed.nodes.audio.vad import EnergyVad

from edgespeed.testing import run_node

RATE = 16000
TRUTH = [(0.50, 1.30), (2.00, 2.45), (3.10, 4.00), (4.60, 5.55)]


def constructed(noise_dbfs: float = -60, seed: int = 0) -> np.ndarray:
    """Speech-like bursts (harmonics with a syllable-rate envelope) over a noise floor."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(6.0 * RATE)) / RATE
    x = rng.normal(0, 10 ** (noise_dbfs / 20), len(t))
    for a, b in TRUTH:
        on = (t >= a) & (t < b)
        env = 0.6 + 0.4 * np.sin(2 * np.pi * 4 * (t[on] - a))  # syllables, never silent inside
        x[on] += 0.2 * env * (np.sin(2 * np.pi * 180 * t[on]) + 0.5 * np.sin(2 * np.pi * 360 * t[on]))
    return x.astype(np.float32)


def chunked(x: np.ndarray, size: int = 333) -> list[np.ndarray]:
    return [x[i:i + size, None] for i in range(0, len(x), size)]


def segments(speech: np.ndarray, frame_s: float) -> list[tuple[float, float]]:
    edges = np.flatnonzero(np.diff(np.r_[0, speech.astype(int), 0]))
    return [(a * frame_s, b * frame_s) for a, b in zip(edges[::2], edges[1::2])]


@pytest.mark.parametrize("noise_dbfs", [-70, -60, -50])
def test_frame_decisions_match_known_intervals(noise_dbfs):
    out = run_node(EnergyVad, params={"frame_ms": 10}, inputs={"audio": chunked(constructed(noise_dbfs))})["out"]
    speech = np.concatenate([r["speech"] for r in out])
    assert sum(len(r["audio"]) for r in out) == len(speech) * 160  # audio travels with its decisions
    found = segments(speech, 0.010)
    assert len(found) == len(TRUTH), found
    for (a, b), (fa, fb) in zip(TRUTH, found):
        assert abs(fa - a) <= 0.05 and abs(fb - b) <= 0.05


def test_records_carry_contiguous_audio_and_positions():
    x = constructed()
    out = run_node(EnergyVad, params={"frame_ms": 20}, inputs={"audio": chunked(x, 500)})["out"]
    assert [r["start_sample"] for r in out] == list(np.cumsum([0] + [len(r["audio"]) for r in out[:-1]]))
    np.testing.assert_array_equal(np.concatenate([r["audio"] for r in out])[:, 0], x[: sum(len(r["audio"]) for r in out)])


def test_vad_then_endpointer_gives_the_intervals():
    vad = run_node(EnergyVad, params={"frame_ms": 10}, inputs={"audio": chunked(constructed())})["out"]
    utts = run_node(Endpointer, params={"min_speech_ms": 50, "min_silence_ms": 200, "padding_ms": 0}, inputs={"vad": vad})["utterance"]
    found = [t for u in utts for t in (u["start_s"], u["end_s"])]
    assert found == pytest.approx([t for seg in TRUTH for t in seg], abs=0.05)


def test_noise_floor_raises_the_bar():
    x = constructed(-60)
    x[: 3 * RATE] += np.random.default_rng(9).normal(0, 0.01, 3 * RATE).astype(np.float32)  # -40 dBFS hum for 3 s
    out = run_node(EnergyVad, params={"frame_ms": 10, "threshold_dbfs": -50}, inputs={"audio": chunked(x)})["out"]
    speech = np.concatenate([r["speech"] for r in out])
    t = np.arange(len(speech)) * 0.010
    near_truth = np.zeros(len(speech), bool)
    for a, b in TRUTH:
        near_truth |= (t >= a - 0.05) & (t < b + 0.05)
    assert not speech[~near_truth].any()  # the -40 dBFS noise itself is never speech
    assert speech[(t >= 3.1) & (t < 4.0)].mean() > 0.95  # and speech after it is found again


def test_the_last_partial_frame_is_decided_at_end_of_stream():
    x = constructed()[: int(1.0 * RATE) + 70]  # ends inside the first burst, 70 samples into a 10 ms frame
    out = run_node(EnergyVad, params={"frame_ms": 10}, inputs={"audio": chunked(x)})["out"]
    assert sum(len(r["audio"]) for r in out) == len(x)  # every sample, the partial frame's too
    last = out[-1]
    assert (last["start_sample"], len(last["audio"]), list(last["speech"])) == (RATE, 70, [True])
    own = 10 * np.log10(np.mean(np.square(x[-70:], dtype=np.float64)))
    assert last["score"][0] == pytest.approx(own, abs=0.01)  # the level of its own samples, not diluted by padding
    utts = run_node(Endpointer, params={"min_speech_ms": 50, "min_silence_ms": 200, "padding_ms": 0}, inputs={"vad": out})["utterance"]
    assert [(round(u["start_s"], 2), u["end_s"]) for u in utts] == [(0.5, len(x) / RATE)]
