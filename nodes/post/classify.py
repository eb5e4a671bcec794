"""Turn classifier outputs into the top-k classes with their probabilities."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgespeed import Input, Node, Output, Param, Record, Tensor

from .boxes import read_labels


class TopKClassifier(Node):
    """Softmax (optional) and top-k over a classifier's output.

    Ports:
        scores (in): (C,) or (1, C) logits or probabilities; a (B, C) batch uses row 0.
        top (out): {class_ids (k,) int32, scores (k,) float32, labels (list of str, with
            `labels`)}, best first.

    Params:
        top_k: how many classes to report (default 5).
        softmax: apply a softmax first (default true: the model outputs logits); false when
            the model already outputs probabilities.
        score_min: drop classes below this probability (default 0: keep k).
        labels: text file of class names, one per line (default: none).

    Example:
        ```yaml
        - {id: top, type: post.classify, params: {top_k: 3, labels: models/imagenet.txt}, inputs: {scores: net/out}}
        ```
    """

    kind = "post.classify"
    scores = Input(Tensor, doc="(C,) or (1, C) logits or probabilities")
    top = Output(Record, doc="{class_ids, scores, labels}")
    top_k: int = Param(5, ge=1, doc="how many classes to report")
    softmax: bool = Param(True, doc="apply a softmax first")
    score_min: float = Param(0.0, ge=0, le=1, doc="drop classes below this probability")
    labels: Path | None = Param(None, doc="class names file, one per line", kind="input_file")

    def setup(self) -> None:
        self._names: list[str] | None = read_labels(self.labels)

    def process(self, scores: np.ndarray) -> dict[str, Any]:
        s = np.asarray(scores, np.float32)
        if s.ndim == 2:
            s = s[0]
        if s.ndim != 1:
            raise ValueError(f"expected scores of shape (C,) or (B, C), got {s.shape}")
        if self.softmax:
            e = np.exp(s - s.max())
            s = e / e.sum()
        k = min(self.top_k, len(s))
        idx = np.argpartition(-s, k - 1)[:k]
        idx = idx[np.argsort(-s[idx], kind="stable")]
        idx = idx[s[idx] >= self.score_min]
        out: dict[str, Any] = {"class_ids": idx.astype(np.int32), "scores": s[idx].astype(np.float32)}
        if self._names is not None:
            out["labels"] = [self._names[i] if i < len(self._names) else str(i) for i in idx.tolist()]
        return {"top": out}
