from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgespeed.testing import run_node


def test_softmax_top_k_with_labels(tmp_path: Path) -> None:
    labels = tmp_path / "labels.txt"
    labels.write_text("cat\ndog\nbird\nfish\n")
    logits = np.array([[1.0, 3.0, 0.5, 2.0]], np.float32)
    top = run_node("post.classify", params={"top_k": 2, "labels": str(labels)}, inputs={"scores": [logits]})["top"][0]
    p = np.exp(logits[0]) / np.exp(logits[0]).sum()
    assert top["class_ids"].tolist() == [1, 3] and top["labels"] == ["dog", "fish"]
    np.testing.assert_allclose(top["scores"], p[[1, 3]], rtol=1e-6)


@pytest.mark.parametrize(
    ("params", "ids"),
    [pytest.param({"softmax": False, "top_k": 3}, [2, 0, 1], id="probabilities"),
     pytest.param({"softmax": False, "top_k": 3, "score_min": 0.25}, [2, 0], id="score-min")],
)
def test_probabilities_as_given(params: dict, ids: list[int]) -> None:
    top = run_node("post.classify", params=params, inputs={"scores": [np.array([0.3, 0.1, 0.6], np.float32)]})["top"][0]
    assert top["class_ids"].tolist() == ids
