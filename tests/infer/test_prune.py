"""Magnitude pruning reaches the requested sparsity; the model still runs and compresses better."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edgespeed.cli import main
from edgespeed.infer.common import random_feed, session
from edgespeed.infer.prune import prune_model


@pytest.mark.parametrize("sparsity", [pytest.param(0.3, id="30%"), pytest.param(0.5, id="50%"), pytest.param(0.9, id="90%")])
def test_pruning_reaches_the_requested_sparsity(tmp_path: Path, classifier: Path, sparsity: float) -> None:
    out = tmp_path / "pruned.onnx"
    r = prune_model(classifier, out, sparsity)
    assert abs(r["sparsity"] - sparsity) <= 0.01, r
    weights = [numpy_helper.to_array(i) for i in onnx.load(str(out)).graph.initializer if i.name.startswith(("w", "fc"))]
    measured = sum(int((w == 0).sum()) for w in weights) / sum(w.size for w in weights)
    assert abs(measured - sparsity) <= 0.01  # counted again from the saved file
    assert r["compressed_after"] < r["compressed_before"]
    assert session(out).run(None, random_feed(session(out)))[0].shape == (1, 10)


def test_the_smallest_magnitudes_go_first(tmp_path: Path, classifier: Path) -> None:
    out = tmp_path / "pruned.onnx"
    prune_model(classifier, out, 0.5)
    before = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(classifier)).graph.initializer}
    after = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(out)).graph.initializer}
    w0, p0 = np.abs(before["w1"]), after["w1"]
    assert np.abs(w0[p0 == 0]).max() <= np.abs(w0[p0 != 0]).min()
    assert np.array_equal(before["b1"], after["b1"])  # biases are not weights: left alone


def test_cli_reports_sparsity_and_says_it_is_not_faster(tmp_path: Path, classifier: Path, calib_dir: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model", "prune", str(classifier), "--sparsity", "0.4", "--calib", str(calib_dir), "-o", str(tmp_path / "p.onnx")]) == 0
    text = capsys.readouterr().out
    assert "sparsity 0.2% -> 40.0%" in text and "compressed (zlib)" in text and "top-1 agreement" in text
    with pytest.raises(SystemExit):
        main(["model", "prune", "--help"])
    assert "do NOT get faster from unstructured sparsity" in capsys.readouterr().out.replace("\n", " ").replace("  ", " ")
