"""`edgespeed model export`: a PyTorch module to ONNX that ONNX Runtime runs with torch's outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import torch  # a dev dependency (torch==2.13.0, the CPU build): missing, the test must fail

from edgespeed.cli import main
from edgespeed.testing import run_node

NET = '''
import torch


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.fc = torch.nn.Linear(8, 5)

    def forward(self, x):
        y = torch.relu(self.bn(self.conv(x)))
        return torch.softmax(self.fc(y.mean(dim=(2, 3))), dim=1)


def build():
    return Net()
'''


def test_export_runs_in_onnxruntime_with_torchs_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "net.py"
    src.write_text(NET)
    out = tmp_path / "net.onnx"
    assert main(["model", "export", f"{src}:build", "--shape", "1x3x16x16", "--input-names", "image", "--output-names", "probs", "-o", str(out)]) == 0
    assert "max abs diff" in capsys.readouterr().out
    import importlib.util

    spec = importlib.util.spec_from_file_location("net_ref", src)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    net = mod.build().eval()
    x = np.random.default_rng(0).random((3, 3, 16, 16), dtype=np.float32)  # batch 3: the batch axis is dynamic
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    got = run_node("inference.onnx", params={"model": str(out)}, inputs={"image": [x]})["probs"][0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_export_of_a_bad_factory_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model", "export", "no_such_module_xyz:build", "--shape", "1x3", "-o", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cannot import 'no_such_module_xyz'") and "\n" not in err
