"""audio.onnx_vad with the shipped Silero VAD (builtin:models/silero_vad.onnx) on the project's test
speech: the model runs as shipped, its state and context carry across chunks, and its utterance
boundaries match the true phrase times of long.flac, clean and with seeded white noise mixed in.

The comparison with the energy VAD is printed (`pytest -s`); the README's table comes from it.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import av
import numpy as np
import onnxruntime as ort
import pytest
from edgespeed.nodes.audio.endpoint import Endpointer
from edgespeed.nodes.audio.vad import EnergyVad, OnnxVad

from edgespeed.data import ROOT, resolve
from edgespeed.testing import run_node

DATA = Path(__file__).parents[2] / "data" / "speech"
LONG = json.loads((DATA / "manifest.json").read_text())["long"]
TRUTH = [(p["start_s"], p["end_s"]) for p in LONG["phrases"]]
SILERO = {"model": "builtin:models/silero_vad.onnx"}


def decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)]).astype(np.float32) / 32768


CLEAN = decode(DATA / LONG["file"])


def noisy(snr_db: float, seed: int = 0) -> np.ndarray:
    """long.flac with white noise at `snr_db` below the speech's own RMS (seeded: the same every run)."""
    speech = np.concatenate([CLEAN[int(a * 16000):int(b * 16000)] for a, b in TRUTH])
    rms = float(np.sqrt(np.mean(np.square(speech))))
    noise = np.random.default_rng(seed).normal(0, rms / 10 ** (snr_db / 20), len(CLEAN))
    return (CLEAN + noise).astype(np.float32)


def chunks(x: np.ndarray, size: int) -> list[np.ndarray]:
    return [x[i:i + size, None] for i in range(0, len(x), size)]


def utterances(vad: type, params: dict, x: np.ndarray) -> list[tuple[float, float]]:
    """x through the VAD (20 ms chunks, as audio.file sends them) and audio.endpoint with its defaults."""
    records = run_node(vad, params=params, inputs={"audio": chunks(x, 320)})["out"]
    return [(u["start_s"], u["end_s"]) for u in run_node(Endpointer, inputs={"vad": records})["utterance"]]


def boundary_errors(got: list[tuple[float, float]]) -> tuple[int, list[float]]:
    """(true phrases with no utterance over them, |start error| and |end error| of those found)."""
    missed, errors = 0, []
    for a, b in TRUTH:
        overlaps = [(min(b, d) - max(a, c), c, d) for c, d in got if min(b, d) > max(a, c)]
        if not overlaps:
            missed += 1
            continue
        _, c, d = max(overlaps)
        errors += [abs(c - a), abs(d - b)]
    return missed, errors


def test_the_shipped_file_is_the_one_provenance_names():
    path = resolve("builtin:models/silero_vad.onnx")
    row = next(line for line in (ROOT / "PROVENANCE.md").read_text().splitlines() if line.startswith("| models/silero_vad.onnx"))
    assert hashlib.sha256(path.read_bytes()).hexdigest() == re.findall(r"[0-9a-f]{64}", row)[-1]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [(i.name, i.type) for i in session.get_inputs()] == [("input", "tensor(float)"), ("state", "tensor(float)"),
                                                                 ("sr", "tensor(int64)")]


def reference_probabilities(x: np.ndarray) -> np.ndarray:
    """Silero's own loop (its OnnxWrapper): 64 samples of context before each 512-sample window,
    state [2, 1, 128] carried from call to call; a last partial window padded with zeros."""
    session = ort.InferenceSession(str(resolve(SILERO["model"])), providers=["CPUExecutionProvider"])
    x = np.concatenate([x, np.zeros(-len(x) % 512, np.float32)])
    state, context, probs = np.zeros((2, 1, 128), np.float32), np.zeros(64, np.float32), []
    for i in range(0, len(x), 512):
        window = np.concatenate([context, x[i:i + 512]])[None, :]
        out, state = session.run(None, {"input": window, "state": state, "sr": np.array(16000, np.int64)})
        probs.append(float(out[0, 0]))
        context = window[0, -64:]
    return np.array(probs, np.float32)


@pytest.mark.parametrize("chunk", [pytest.param(320, id="20ms-chunks"), pytest.param(5000, id="uneven-chunks")])
def test_state_and_context_carry_across_chunks(chunk):
    x = CLEAN[:16000 * 3]
    got = np.concatenate([r["score"] for r in run_node(OnnxVad, params=SILERO, inputs={"audio": chunks(x, chunk)})["out"]])
    want = reference_probabilities(x)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert want.max() > 0.9 and want[:10].max() < 0.1  # the first phrase starts at 0.6 s: the model really decides


def test_each_stream_starts_from_a_fresh_state():
    vad = OnnxVad("vad", **SILERO)
    runs = []
    for _ in range(2):  # one instance, two streams: setup() again must forget the first stream's state
        vad.setup()
        runs.append(np.concatenate([vad.process(audio=c)["out"]["score"] for c in chunks(CLEAN[:16000], 1024)]))
    np.testing.assert_array_equal(runs[0], runs[1])


def test_clean_speech_boundaries_match_the_truth():
    got = utterances(OnnxVad, SILERO, CLEAN)
    missed, errors = boundary_errors(got)
    assert len(got) == len(TRUTH) and missed == 0, got
    assert max(errors) <= 0.1, got


@pytest.mark.parametrize("snr_db", [20, 10, 5])
def test_in_noise_silero_finds_every_phrase_and_beats_the_energy_vad(snr_db):
    x = noisy(snr_db)
    silero, energy = utterances(OnnxVad, SILERO, x), utterances(EnergyVad, {}, x)
    (s_missed, s_err), (e_missed, e_err) = boundary_errors(silero), boundary_errors(energy)
    print(f"\nSNR {snr_db} dB: silero {len(silero)} utterances, {s_missed} missed, mean boundary error "
          f"{np.mean(s_err):.3f} s (max {max(s_err):.3f}); energy {len(energy)} utterances, {e_missed} missed, "
          f"mean error {np.mean(e_err) if e_err else float('nan'):.3f} s")
    assert len(silero) == len(TRUTH) and s_missed == 0, silero
    assert max(s_err) <= 0.15, silero
    assert s_missed <= e_missed and (e_missed > 0 or np.mean(s_err) <= np.mean(e_err)), (silero, energy)
