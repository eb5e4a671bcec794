"""Greedy CTC decoding of an acoustic model's output into text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from edgespeed import Input, Node, Output, Param, Record


def load_vocabulary(path: Path) -> list[str]:
    """Tokens in index order: a JSON list, a JSON object token -> index, or one token per line."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data = json.loads(text)
        if isinstance(data, dict):
            return [t for t, _ in sorted(data.items(), key=lambda kv: int(kv[1]))]
        return [str(t) for t in data]
    return text.rstrip("\n").split("\n")


class CtcDecoder(Node):
    """Decode CTC logits (e.g. from inference.onnx on a wav2vec2-style model) to text, greedily.

    At each time step the most likely token is taken; repeats are merged, then blanks removed.
    `word_delimiter` tokens (e.g. `|` in wav2vec2 vocabularies) become spaces; tokens listed
    in `drop_tokens` (padding, <s>, </s>, <unk>) are removed. The confidence is the mean, over
    the kept tokens, of their probability (softmax of the logits at the step they were emitted;
    inputs that are already probabilities or log-probabilities give the same argmax).

    Ports:
        logits (in): time x vocabulary, or 1 x time x vocabulary, float.
        transcript (out): record {text, confidence, tokens (indices), steps (the time step of
            each kept token)}.

    Params:
        vocabulary: token file: one token per line (line i is index i), or JSON (a list, or an
            object token -> index as in Hugging Face `vocab.json`).
        blank_index: index of the CTC blank (default 0).
        word_delimiter: token that separates words (default "|"; a plain space works too).
        drop_tokens: tokens removed from the text (default [<pad>, <s>, </s>, <unk>]).
        lowercase: lowercase the text (default false).

    Example:
        ```yaml
        - id: ctc
          type: speech.ctc_decode
          params: {vocabulary: models/vocab.json, blank_index: 0}
          inputs: {logits: am/logits}
        ```
    """

    kind = "speech.ctc_decode"
    logits = Input(doc="time x vocabulary (or 1 x time x vocabulary) float")
    transcript = Output(Record, doc="{text, confidence, tokens, steps}")
    vocabulary: Path = Param(doc="token file", kind="model_file")
    blank_index: int = Param(0, ge=0)
    word_delimiter: str = Param("|")
    drop_tokens: list[str] = Param(["<pad>", "<s>", "</s>", "<unk>"])
    lowercase: bool = Param(False)

    def setup(self) -> None:
        if not self.vocabulary.is_file():
            raise FileNotFoundError(f"no vocabulary file {str(self.vocabulary)!r}")
        self.tokens = load_vocabulary(self.vocabulary)
        if self.blank_index >= len(self.tokens):
            raise ValueError(f"blank_index {self.blank_index} is outside the vocabulary of {len(self.tokens)} tokens")
        self._drop = set(self.drop_tokens)

    def process(self, logits: Any) -> dict[str, Any]:
        x = np.asarray(logits, np.float32)
        if x.ndim == 3 and x.shape[0] == 1:
            x = x[0]
        if x.ndim != 2:
            raise ValueError(f"expected logits of shape time x vocabulary (or 1 x time x vocabulary), got {x.shape}")
        if x.shape[1] != len(self.tokens):
            raise ValueError(f"logits have {x.shape[1]} classes but the vocabulary {str(self.vocabulary)!r} has {len(self.tokens)} tokens")
        best = x.argmax(axis=1)
        e = np.exp(x - x.max(axis=1, keepdims=True))
        prob = (e / e.sum(axis=1, keepdims=True))[np.arange(len(best)), best]
        keep = np.ones(len(best), bool)
        keep[1:] = best[1:] != best[:-1]  # merge repeats first, then drop blanks
        keep &= best != self.blank_index
        steps = np.flatnonzero(keep)
        pieces = [self.tokens[i] for i in best[steps]]
        text = "".join(" " if t == self.word_delimiter else ("" if t in self._drop else t) for t in pieces)
        text = " ".join(text.split())
        conf = float(prob[steps].mean()) if len(steps) else 0.0
        return {"transcript": {"text": text.lower() if self.lowercase else text, "confidence": round(conf, 4),
                               "tokens": best[steps].tolist(), "steps": steps.tolist()}}
