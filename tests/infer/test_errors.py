"""Bad input to `edgespeed model`: one clear line each and exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edgespeed.cli import main


def _not_onnx(tmp: Path, model: Path) -> list[str]:
    bad = tmp / "notes.onnx"
    bad.write_text("this is not a model\n")
    return ["model", "inspect", str(bad)]


def _not_onnx_quantize(tmp: Path, model: Path) -> list[str]:
    bad = tmp / "weights.onnx"
    bad.write_bytes(b"\x00\x01garbage" * 10)
    return ["model", "quantize", str(bad), "--dynamic", "-o", str(tmp / "q.onnx")]


def _empty_calib(tmp: Path, model: Path) -> list[str]:
    (tmp / "empty").mkdir()
    (tmp / "empty" / "readme.txt").write_text("no images here")
    return ["model", "quantize", str(model), "--int8", "--calib", str(tmp / "empty"), "-o", str(tmp / "q.onnx")]


def _no_calib(tmp: Path, model: Path) -> list[str]:
    return ["model", "quantize", str(model), "--int8", "-o", str(tmp / "q.onnx")]


def _unknown_provider(tmp: Path, model: Path) -> list[str]:
    return ["model", "bench", str(model), "--provider", "tpu", "--runs", "1"]


def _missing_model(tmp: Path, model: Path) -> list[str]:
    return ["model", "prune", str(tmp / "nope.onnx"), "--sparsity", "0.5", "-o", str(tmp / "p.onnx")]


def _bad_sparsity(tmp: Path, model: Path) -> list[str]:
    return ["model", "prune", str(model), "--sparsity", "1.5", "-o", str(tmp / "p.onnx")]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(_not_onnx, "notes.onnx: not an ONNX model", id="not-onnx"),
        pytest.param(_not_onnx_quantize, "weights.onnx: not an ONNX model", id="not-onnx-quantize"),
        pytest.param(_empty_calib, "empty: calibration folder has no images", id="empty-calibration-folder"),
        pytest.param(_no_calib, "static INT8 quantization needs calibration inputs", id="no-calibration"),
        pytest.param(_unknown_provider, "unknown provider 'tpu'; valid: tensorrt, cuda", id="unknown-provider"),
        pytest.param(_missing_model, "nope.onnx: model file not found", id="missing-model"),
        pytest.param(_bad_sparsity, "sparsity must be in [0, 1), got 1.5", id="bad-sparsity"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, classifier: Path, capsys: pytest.CaptureFixture[str], argv, message: str) -> None:
    assert main(argv(tmp_path, classifier)) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert message in err, err


def test_exit_code_of_the_real_command(tmp_path: Path, classifier: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "edgespeed", *_unknown_provider(tmp_path, classifier)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and done.stderr.strip().startswith("unknown provider 'tpu'")
