"""Speech recognition with CMU PocketSphinx: a language model, a JSGF grammar, or keywords."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgespeed import Input, MissingDependency, Node, Output, Param, Record

FRAMES_PER_S = 100  # PocketSphinx's feature frame rate
# The keyword spotter decides on a phrase only after frames that follow it: a keyword that ends
# the audio (an utterance cut at its last word) is never reported. This much silence after the
# utterance fixes it (0.1 s was enough on the test voices; 0.2 s leaves a margin).
KWS_TAIL_S = 0.2


class PocketSphinxRecognizer(Node):
    """Recognize each utterance (from audio.endpoint) with PocketSphinx, offline.

    By default it decodes with the en-US acoustic model, dictionary and general language model
    that ship inside the `pocketsphinx` package (nothing is downloaded). For commands, restrict
    it with a JSGF grammar (`grammar` file or inline `jsgf` text) or spot a list of `keywords`;
    at most one of the three. Final results carry the text, the utterance's start and end time,
    a confidence (the mean posterior probability of the words, 0..1) and per-word times. With
    `partial_every_ms` > 0 the utterance is first fed in blocks of that length and the
    hypothesis so far is emitted on `partial` after each block; the final result then decodes
    the whole utterance again (about twice the work, for the best final text).

    Ports:
        utterance (in): record with `audio` (samples x channels float32, 16 kHz), `start_s`,
            `end_s`, `audio_start_s` (as audio.endpoint emits).
        transcript (out): record {text, start_s, end_s, confidence, words: [{word, start_s,
            end_s, confidence}], final: true, index}; nothing when nothing was recognized
            (unless `emit_empty`).
        partial (out): record {text, start_s, end_s, final: false, index}.

    Params:
        grammar: a JSGF grammar file (default null).
        jsgf: a JSGF grammar as text (default null).
        keywords: phrases to spot, e.g. [hey computer, stop] (default null).
        keyword_threshold: spotting threshold; larger misses more, smaller false-alarms more
            (default 1e-20).
        keyword_thresholds: per-phrase thresholds overriding `keyword_threshold`, e.g.
            `{music: 1.0e-10, open the front door: 1.0e-30}` (write the `.0`: YAML reads `1e-10`
            as text): short words need larger ones (fewer false alarms), long phrases smaller
            ones (fewer misses) (default none).
        lm, dictionary, acoustic_model: override the bundled en-US files (default null).
        partial_every_ms: feed blocks of this length and emit partial results; 0 for none
            (default 0).
        emit_empty: emit a transcript with empty text when nothing is recognized (default false).

    Example:
        ```yaml
        - id: asr
          type: speech.recognize
          params: {jsgf: "#JSGF V1.0; grammar cmd; public <cmd> = (lights | music) (on | off);"}
          inputs: {utterance: utt/utterance}
        ```
    """

    kind = "speech.recognize"
    utterance = Input(Record, doc="{audio (16 kHz), start_s, end_s, audio_start_s}")
    transcript = Output(Record, doc="{text, start_s, end_s, confidence, words, final, index}")
    partial = Output(Record, doc="{text, start_s, end_s, final: false, index}")
    grammar: Path | None = Param(None, doc="JSGF grammar file", kind="model_file")
    jsgf: str | None = Param(None, doc="JSGF grammar text")
    keywords: list[str] | None = Param(None, doc="phrases to spot")
    keyword_threshold: float = Param(1e-20, gt=0, le=1)
    keyword_thresholds: dict[str, float] = Param({}, doc="per-phrase spotting thresholds")
    lm: Path | None = Param(None, doc="language model (ARPA or binary)", kind="model_file")
    dictionary: Path | None = Param(None, doc="pronunciation dictionary", kind="model_file")
    acoustic_model: Path | None = Param(None, doc="acoustic model folder", kind="model_folder")
    partial_every_ms: float = Param(0.0, ge=0, doc="partial results every this much audio; 0: none")
    emit_empty: bool = Param(False)

    @classmethod
    def declare_ports(cls, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        chosen = [k for k in ("grammar", "jsgf", "keywords") if params.get(k)]
        if len(chosen) > 1:
            raise ValueError(f"give at most one of grammar, jsgf and keywords; got {' and '.join(chosen)}")
        phrases = {k.lower() for k in params.get("keywords") or []}
        for phrase, value in (params.get("keyword_thresholds") or {}).items():
            if phrase.lower() not in phrases:
                raise ValueError(f"keyword_thresholds: {phrase!r} is not in keywords; expected one of: {', '.join(sorted(phrases)) or 'no keywords given'}")
            if not 0 < float(value) <= 1:
                raise ValueError(f"keyword_thresholds: {phrase!r}: expected a number in (0, 1], got {value!r}")
        return cls.inputs, cls.outputs

    def setup(self) -> None:
        try:
            import pocketsphinx
        except ImportError as e:
            raise MissingDependency("pocketsphinx", "speech") from e
        for p in (self.grammar, self.lm, self.dictionary):
            if p is not None and not p.is_file():
                raise FileNotFoundError(f"no such file {str(p)!r}")
        kwargs: dict[str, Any] = {"loglevel": "FATAL"}
        for key, value in (("hmm", self.acoustic_model), ("lm", self.lm), ("dict", self.dictionary)):
            if value is not None:
                kwargs[key] = str(value)
        self._tmp = tempfile.TemporaryDirectory(prefix="edgespeed-asr-")
        if self.keywords:
            # keyword spotting works when configured up front (a search added later never fires)
            kws = Path(self._tmp.name) / "keywords.txt"
            own = {k.lower(): float(v) for k, v in self.keyword_thresholds.items()}
            kws.write_text("".join(f"{k.lower()} /{own.get(k.lower(), self.keyword_threshold):g}/\n" for k in self.keywords))
            kwargs["kws"] = str(kws)
        self._decoder = pocketsphinx.Decoder(**kwargs)
        self.rate = int(self._decoder.config["samprate"])
        self._ps, self._kwargs = pocketsphinx, kwargs
        if self.grammar is not None or self.jsgf:
            if self.grammar is not None:
                self._decoder.add_jsgf_file("grammar", str(self.grammar))
            else:
                self._decoder.add_jsgf_string("grammar", self.jsgf)
            self._decoder.activate_search("grammar")

    def teardown(self) -> None:
        self._tmp.cleanup()

    def process(self, utterance: dict[str, Any]) -> Any:
        rate = int(utterance.get("sample_rate_hz", self.rate))
        if rate != self.rate:
            raise ValueError(f"expected {self.rate} Hz audio (the acoustic model's rate), got {rate} Hz; resample first with audio.resample")
        audio = np.asarray(utterance["audio"], np.float32)
        mono = audio.mean(axis=1) if audio.ndim == 2 and audio.shape[1] > 1 else audio.reshape(-1)
        pcm = (np.clip(mono, -1.0, 1.0) * 32767).astype(np.int16)
        t0 = float(utterance.get("audio_start_s", utterance.get("start_s", 0.0)))
        times = {"start_s": float(utterance.get("start_s", t0)), "end_s": float(utterance.get("end_s", t0 + len(pcm) / rate))}
        index = utterance.get("index", 0)
        d = self._decoder
        block = int(self.partial_every_ms * rate / 1000)
        if block and len(pcm) > block:
            d.start_utt()
            for i in range(0, len(pcm) - block, block):
                d.process_raw(pcm[i:i + block].tobytes(), no_search=False, full_utt=False)
                hyp = d.hyp()
                if hyp is not None and hyp.hypstr:
                    yield {"partial": {"text": hyp.hypstr, **times, "final": False, "index": index}}
            d.end_utt()
        # The final result decodes the whole utterance at once: cepstral mean normalization then
        # uses the utterance's own mean, where block-wise (live) decoding starts from a guess.
        if self.keywords:
            # PocketSphinx's keyword search carries state across utterances (it repeats or misses
            # detections after the first), so each utterance gets a fresh decoder (~0.2 s).
            d = self._decoder = self._ps.Decoder(**self._kwargs)
        d.start_utt()
        d.process_raw(pcm.tobytes(), no_search=False, full_utt=not self.keywords)
        tail = int(KWS_TAIL_S * rate) if self.keywords else 0
        if tail:
            d.process_raw(bytes(2 * tail), no_search=False, full_utt=False)  # int16 zeros; see KWS_TAIL_S
        d.end_utt()
        result = self._result(d, t0)
        if result["text"] or self.emit_empty:
            yield {"transcript": {**result, **times, "final": True, "index": index}}

    def _result(self, d: Any, t0: float) -> dict[str, Any]:
        hyp = d.hyp()
        words = []
        for seg in (d.seg() or []) if hyp is not None else []:
            word = seg.word.strip()
            if word.startswith(("<", "[")) or word == "<sil>":
                continue  # silence and fillers
            words.append({"word": word.split("(")[0], "start_s": round(t0 + seg.start_frame / FRAMES_PER_S, 3),
                          "end_s": round(t0 + (seg.end_frame + 1) / FRAMES_PER_S, 3), "confidence": round(float(seg.prob), 4)})
        text = " ".join(w["word"] for w in words) if words else (hyp.hypstr.strip() if hyp is not None else "")
        conf = float(np.mean([w["confidence"] for w in words])) if words else (float(hyp.prob) if hyp is not None else 0.0)
        return {"text": text, "confidence": round(conf, 4), "words": words}
