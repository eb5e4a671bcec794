"""The ready speech and sensor graphs, end to end on the committed flite recordings.

WER is computed here (word-level Levenshtein distance over the reference word count) and
printed, so `pytest -s` shows the real figures.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av  # noqa: F401  (a dev dependency: a missing one must fail, not skip)
import pocketsphinx  # noqa: F401  (a dev dependency: a missing one must fail, not skip)
import pytest
import yaml

from edgespeed.graph import load_text
from edgespeed.metrics.wer import word_errors
from edgespeed.runtime.scheduler import run_spec
from edgespeed.testing import ListSink

REPO = Path(__file__).parents[2]
DATA = REPO / "tests" / "data" / "speech"
MANIFEST = json.loads((DATA / "manifest.json").read_text())


def test_word_errors():
    assert word_errors("a b c", "a b c") == 0
    assert word_errors("a b c", "a x c d") == 2
    assert word_errors("a b", "") == 2


def transcripts(graph: str, path: Path, **asr_params) -> list[dict]:
    """Run a ready graph on `path`, with its sinks replaced by a list sink on the recognizer."""
    g = yaml.safe_load((REPO / "graphs" / graph).read_text())
    nodes = {n["id"]: n for n in g["nodes"]}
    nodes["src"]["params"]["path"] = str(path)
    if asr_params:
        nodes["asr"]["params"] = asr_params
    g["nodes"] = [n for n in g["nodes"] if not n["type"].startswith("sink.")]
    g["nodes"].append({"id": "got", "type": "testing.list_sink", "inputs": {"data": "asr/transcript"}})
    result = run_spec(load_text(yaml.safe_dump(g)))
    assert result.ok, result.failures
    return list(ListSink.collected["got"])


def wer(files: list[dict], **asr_params) -> float:
    errors = words = 0
    for f in files:
        said = " ".join(t["text"] for t in transcripts("speech_recognition.yaml", DATA / f["file"], **asr_params))
        errors += word_errors(f["words"], said)
        words += len(f["words"].split())
        print(f"{f['file']}: {f['words']!r} -> {said!r}")
    return errors / words


def test_speech_recognition_wer_with_the_general_lm():
    value = wer(MANIFEST["files"])
    print(f"WER (general LM, {len(MANIFEST['files'])} files) = {value:.3f}")
    assert value <= 0.2


def test_digits_grammar_wer():
    value = wer([f for f in MANIFEST["files"] if f["kind"] == "digits"], grammar=str(DATA / "digits.gram"))
    print(f"WER (digits grammar) = {value:.3f}")
    assert value <= 0.05


def test_long_recording_one_utterance_per_phrase_in_order():
    truth = MANIFEST["long"]["phrases"]
    got = transcripts("speech_recognition.yaml", DATA / MANIFEST["long"]["file"])
    assert len(got) == len(truth)
    for t, want in zip(got, truth):
        assert abs(t["start_s"] - want["start_s"]) <= 0.15, (t, want)
        assert abs(t["end_s"] - want["end_s"]) <= 0.15, (t, want)
    said = " ".join(t["text"] for t in got)
    assert word_errors(" ".join(p["words"] for p in truth), said) <= 2
    assert [t["start_s"] for t in got] == sorted(t["start_s"] for t in got)


def test_voice_commands_graph():
    commands = [f for f in MANIFEST["files"] if f["kind"] == "command"]
    heard = [" ".join(t["text"] for t in transcripts("voice_commands.yaml", DATA / f["file"])) for f in commands]
    assert heard == [f["words"] for f in commands]


def run_cli(graph: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgespeed", "run", str(REPO / "graphs" / graph), "-q", *args], check=False,
                          capture_output=True, text=True, timeout=120, cwd=REPO)


def test_speech_recognition_cli_writes_transcript_and_clips(tmp_path):
    out = tmp_path / "t.jsonl"
    r = run_cli("speech_recognition.yaml", "--set", f"text.path={out}", "--set", f"clips.folder={tmp_path / 'clips'}")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(s) for s in out.read_text().splitlines()]
    assert [set(x) for x in lines] == [{"text", "start_s", "end_s", "confidence"}] * len(MANIFEST["long"]["phrases"])
    assert len(list((tmp_path / "clips").glob("*.wav"))) == len(lines)


def test_corrupt_file_through_the_graph_names_the_file(tmp_path):
    bad = tmp_path / "broken.flac"
    bad.write_bytes((DATA / "long.flac").read_bytes()[:20000])
    r = run_cli("speech_recognition.yaml", "--set", f"src.path={bad}", "--set", f"text.path={tmp_path / 't.jsonl'}",
                "--set", f"clips.folder={tmp_path}")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert any(str(bad) in line and line.startswith("node 'src' failed") for line in r.stderr.splitlines()), r.stderr


def test_speech_overlay_graph(tmp_path):
    r = run_cli("speech_overlay.yaml", "--set", "mic.realtime=false", "--set", "cam.realtime=false",
                "--set", f"frames.path={tmp_path / 'f.jsonl'}", "--set", f"text.path={tmp_path / 't.jsonl'}",
                "--report", str(tmp_path / "r.json"))
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["nodes"]["captioned"]["out"] == 200
    assert len((tmp_path / "t.jsonl").read_text().splitlines()) == len(MANIFEST["long"]["phrases"])


def test_sensor_graphs(tmp_path):
    r = run_cli("sensor_anomaly.yaml", "--set", f"events.path={tmp_path / 'e.jsonl'}", "--set", f"summary.path={tmp_path / 's.jsonl'}")
    assert r.returncode == 0, r.stderr
    events = [json.loads(s)["data"] for s in (tmp_path / "e.jsonl").read_text().splitlines()]
    assert [e["t_s"] for e in events] == [3.0, 7.5]
    assert len((tmp_path / "s.jsonl").read_text().splitlines()) == 10
    r = run_cli("sensor_video.yaml", "--set", f"events.path={tmp_path / 'v.jsonl'}", "--report", str(tmp_path / "r.json"))
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["nodes"]["fused"]["out"] == 250 and report["nodes"]["fused"]["dropped"] == 0  # every frame met its reading
    assert [json.loads(s)["data"]["t_s"] for s in (tmp_path / "v.jsonl").read_text().splitlines()] == [4.0]


def test_a_recording_cut_mid_phrase_yields_its_last_utterance(tmp_path):
    """The ready graph has no pad_end_ms: the endpointer closes the open utterance at end of stream."""
    import wave

    import numpy as np
    from edgespeed.nodes.audio.file import AudioFileSource

    from edgespeed.testing import run_node

    truth = MANIFEST["long"]["phrases"]
    audio = np.concatenate(run_node(AudioFileSource, params={"path": DATA / "long.flac", "channels": 1, "sample_rate_hz": 16000})["audio"])
    cut = int(5.6 * 16000) + 77  # inside "set an alarm for seven" (4.77 .. 6.25 s), mid-frame
    path = tmp_path / "cut.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes((np.clip(audio[:cut, 0], -1, 1) * 32767).astype("<i2").tobytes())
    g = yaml.safe_load((REPO / "graphs" / "speech_recognition.yaml").read_text())
    assert "pad_end_ms" not in g["nodes"][0]["params"]
    g["nodes"][0]["params"]["path"] = str(path)
    g["nodes"] = [n for n in g["nodes"] if not n["type"].startswith("sink.")]
    g["nodes"].append({"id": "utts", "type": "testing.list_sink", "inputs": {"data": "utt/utterance"}})
    g["nodes"].append({"id": "got", "type": "testing.list_sink", "inputs": {"data": "asr/transcript"}})
    result = run_spec(load_text(yaml.safe_dump(g)))
    assert result.ok, result.failures
    utts = ListSink.collected["utts"]
    assert len(utts) == len(truth)
    last = utts[-1]
    assert abs(last["start_s"] - truth[-1]["start_s"]) <= 0.15
    assert last["end_s"] == pytest.approx(cut / 16000, abs=0.03)  # speech runs to the cut
    assert len(last["audio"]) / 16000 + last["audio_start_s"] == pytest.approx(cut / 16000, abs=1e-6)  # up to the last sample
    said = [t["text"] for t in ListSink.collected["got"]]
    print(f"cut at {cut / 16000:.3f} s -> {said}")
    assert len(said) == len(truth) and said[-1].split()[:2] == ["set", "an"]
