"""Where the PP-OCRv4 models are: inside the installed `rapidocr-onnxruntime` package.

Nothing is downloaded: the package ships the ONNX files, and the recognizer's character set is
stored in the recognition model's metadata (`character`, one character per line).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from edgespeed import MissingDependency

PACKAGE = "rapidocr_onnxruntime"
DET_MODEL = "ch_PP-OCRv4_det_infer.onnx"
REC_MODEL = "ch_PP-OCRv4_rec_infer.onnx"


def packaged_model(filename: str) -> Path:
    """The path of a model file shipped in the rapidocr package (found without importing it)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependency("rapidocr-onnxruntime", "ocr", hint="the PP-OCRv4 models ship inside it; or give the model path")
    for root in spec.submodule_search_locations:
        path = Path(root) / "models" / filename
        if path.is_file():
            return path
    raise FileNotFoundError(f"{filename} is not in the installed {PACKAGE} package; give the model path")


def character_set(session: Any, keys: Path | None) -> list[str]:
    """The CTC alphabet: index 0 is the blank, then the model's characters, then a space
    (PaddleOCR's convention, which the model's output size includes)."""
    if keys is not None:
        if not keys.is_file():
            raise FileNotFoundError(f"keys file '{keys}' not found")
        chars = keys.read_text(encoding="utf-8").splitlines()
    else:
        meta = session.get_modelmeta().custom_metadata_map
        if "character" not in meta:
            raise ValueError("the recognition model has no 'character' metadata; give its character file as `keys`")
        chars = meta["character"].splitlines()
    return ["<blank>", *chars, " "]


def ctc_greedy(probs: np.ndarray, charset: list[str]) -> list[tuple[str, float]]:
    """Best-path CTC decoding of (B, T, K) probabilities: per step the most likely symbol,
    repeats merged, blanks (index 0) removed; the score is the mean probability of the kept
    steps (0 for an empty text)."""
    idx = probs.argmax(axis=2)
    best = probs.max(axis=2)
    keep = idx != 0
    keep[:, 1:] &= idx[:, 1:] != idx[:, :-1]
    out = []
    for row, ok, p in zip(idx, keep, best):
        text = "".join(charset[i] for i in row[ok].tolist())
        out.append((text, float(p[ok].mean()) if ok.any() else 0.0))
    return out
