"""Speech: the recognition graph's real-time factor, and the engine's cost on 10 ms audio chunks.

Targets (ratios measured in the same run):
- `graphs/speech_recognition.yaml` on one session made of every committed flite recording with
  0.8 s pauses (about 33 s of audio) runs at a real-time factor <= 0.2 (wall time, graph setup
  and model loading included, / audio duration). Decoding each recording directly with
  PocketSphinx (no graph, no VAD) is the baseline, reported alongside.
- 60 s of 16 kHz audio in 10 ms chunks through a 5-node chain (audio.synthetic ->
  audio.preemphasis -> audio.gain -> audio.vad -> sink.null): the engine's overhead, i.e. the
  graph's wall time minus the same nodes' calls in a plain loop, is below 5% of the audio.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

import edgespeed.testing  # noqa: F401  (registers the testing nodes)
from edgespeed.graph import load_text
from edgespeed.registry import default_registry
from edgespeed.runtime.scheduler import run_spec

REPO = Path(__file__).parents[1]
DATA = REPO / "tests" / "data" / "speech"
RTF_MAX = 0.2
OVERHEAD_MAX = 0.05
CHAIN_SECONDS = 60.0

pytest.importorskip("pocketsphinx")
pytest.importorskip("av")


def _files() -> list[Path]:
    manifest = json.loads((DATA / "manifest.json").read_text())
    return [DATA / f["file"] for f in manifest["files"]] + [DATA / manifest["long"]["file"]]


def _decode(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as c:
        return np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])


def _graph_for(path: Path) -> str:
    g = yaml.safe_load((REPO / "graphs" / "speech_recognition.yaml").read_text())
    g["nodes"] = [n for n in g["nodes"] if not n["type"].startswith("sink.")]
    g["nodes"][0]["params"]["path"] = str(path)
    g["nodes"].append({"id": "out", "type": "sink.null", "inputs": {"data": "asr/transcript"}})
    return yaml.safe_dump(g)


def _stream(tmp: Path, files: list[Path]) -> tuple[Path, float]:
    """All recordings in one WAV, 0.8 s of quiet noise between them: one live session."""
    import wave

    rng = np.random.default_rng(0)
    gap = (rng.normal(0, 30, 12800)).astype(np.int16)
    pcm = np.concatenate([x for p in files for x in (_decode(p).astype(np.int16), gap)])
    path = tmp / "session.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm.tobytes())
    return path, len(pcm) / 16000


def test_speech_graph_real_time_factor(figures, tmp_path):
    from pocketsphinx import Decoder

    files = _files()
    path, audio_s = _stream(tmp_path, files)
    t0 = time.perf_counter()
    decoder = Decoder(loglevel="FATAL")
    for p in files:  # baseline: PocketSphinx on each whole recording, no graph, no VAD
        decoder.start_utt()
        decoder.process_raw(_decode(p).astype(np.int16).tobytes(), full_utt=True)
        decoder.end_utt()
    direct_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = run_spec(load_text(_graph_for(path)))  # the whole graph, decoder loading included
    graph_s = time.perf_counter() - t0
    assert result.ok, result.failures
    assert result.report["nodes"]["out"]["in"] >= len(files)
    figures.update(speech_audio_s=round(audio_s, 2), speech_rtf=round(graph_s / audio_s, 4),
                   speech_direct_rtf=round(direct_s / audio_s, 4), speech_graph_vs_direct=round(graph_s / direct_s, 2))
    print(f"\n{audio_s:.1f} s of audio: graph {graph_s:.2f} s (RTF {graph_s / audio_s:.3f}), "
          f"PocketSphinx alone {direct_s:.2f} s (RTF {direct_s / audio_s:.3f})")
    assert graph_s / audio_s <= RTF_MAX


CHAIN = f"""
nodes:
  - {{id: src, type: audio.synthetic, params: {{signal: tone+noise, chunk_ms: 10, duration_s: {CHAIN_SECONDS}, realtime: false}}}}
  - {{id: emph, type: audio.preemphasis, inputs: {{audio: src/audio}}}}
  - {{id: gain, type: audio.gain, params: {{gain_db: -3}}, inputs: {{audio: emph/out}}}}
  - {{id: vad, type: audio.vad, params: {{frame_ms: 10}}, inputs: {{audio: gain/out}}}}
  - {{id: out, type: sink.null, inputs: {{data: vad/out}}}}
"""


def _loop_s() -> float:
    """The same five nodes' work as a plain loop (no threads, rings or envelopes)."""
    reg = default_registry()
    src = reg.resolve("audio.synthetic")("src", signal="tone+noise", chunk_ms=10, duration_s=CHAIN_SECONDS, realtime=False)
    chain = [reg.resolve("audio.preemphasis")("emph"), reg.resolve("audio.gain")("gain", gain_db=-3),
             reg.resolve("audio.vad")("vad", frame_ms=10)]
    sink = reg.resolve("sink.null")("out")
    for n in chain:
        n.setup()
    t0 = time.perf_counter()
    for item in src.generate():
        value = item.outputs["audio"]
        for n, port in zip(chain, ("audio", "audio", "audio")):
            value = next(iter(n.process(**{port: value}).values()))
        sink.process(data=value)
    return time.perf_counter() - t0


def test_audio_chain_engine_overhead(figures):
    loop_s = min(_loop_s() for _ in range(2))
    walls = []
    for _ in range(3):
        t0 = time.perf_counter()
        result = run_spec(load_text(CHAIN))
        walls.append(time.perf_counter() - t0)
        assert result.ok and result.report["nodes"]["out"]["in"] == int(CHAIN_SECONDS * 100)
    graph_s = min(walls)
    overhead = max(0.0, graph_s - loop_s) / CHAIN_SECONDS
    figures.update(audio_chain_graph_s=round(graph_s, 3), audio_chain_loop_s=round(loop_s, 3),
                   audio_chain_overhead_of_audio=round(overhead, 4))
    print(f"\n{CHAIN_SECONDS:.0f} s of audio in 10 ms chunks: graph {graph_s:.2f} s, loop {loop_s:.2f} s, "
          f"overhead {100 * overhead:.2f}% of the audio's duration")
    assert overhead < OVERHEAD_MAX
