"""inference.torch on TorchScript and torch.export models saved in the test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import torch  # a dev dependency (torch==2.13.0, the CPU build): missing, the test must fail
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")

from edgespeed import load_text, validate
from edgespeed.errors import NodeError
from edgespeed.testing import run_node


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


class TwoOut(torch.nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return a + b, a * b


def _inputs(n: int = 2) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.random((1, 3, 8, 8), dtype=np.float32) for _ in range(n)]


def test_scripted_model_matches_torch(tmp_path: Path) -> None:
    net = Net().eval()
    path = tmp_path / "net.pt"
    torch.jit.script(net).save(str(path))
    xs = _inputs()
    for x in xs:
        x.setflags(write=False)  # inputs arrive as read-only ring views
    out = run_node("inference.torch", params={"model": str(path)}, inputs={"tensor": xs})["out"]
    with torch.no_grad():
        for x, got in zip(xs, out):
            np.testing.assert_allclose(got, net(torch.from_numpy(x.copy())).numpy(), rtol=1e-6, atol=1e-6)
            assert isinstance(got, np.ndarray) and got.shape == (1, 3)


def test_exported_program_and_several_ports(tmp_path: Path) -> None:
    a, b = np.arange(4, dtype=np.float32), np.full(4, 2, np.float32)
    path = tmp_path / "two.pt2"
    torch.export.save(torch.export.export(TwoOut(), (torch.from_numpy(a), torch.from_numpy(b))), str(path))
    out = run_node("inference.torch", params={"model": str(path), "input_ports": ["a", "b"], "output_ports": ["sum", "prod"]},
                   inputs={"a": [a], "b": [b]})
    np.testing.assert_array_equal(out["sum"][0], a + b)
    np.testing.assert_array_equal(out["prod"][0], a * b)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda p: p / "missing.pt", "model file '.*missing.pt' not found", id="missing"),
        pytest.param(lambda p: (p / "bad.pt", (p / "bad.pt").write_text("nope"))[0], "is not a TorchScript", id="not-a-model"),
    ],
)
def test_bad_model_file_is_one_line(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(NodeError, match=message) as e:
        run_node("inference.torch", params={"model": str(make(tmp_path))}, inputs={"tensor": []})
    assert "\n" not in str(e.value)


def test_output_count_mismatch_names_the_ports(tmp_path: Path) -> None:
    path = tmp_path / "net.pt"
    torch.jit.script(Net().eval()).save(str(path))
    with pytest.raises(NodeError, match="returned 1 outputs but output_ports names 2: logits, extra"):
        run_node("inference.torch", params={"model": str(path), "output_ports": ["logits", "extra"]}, inputs={"tensor": _inputs(1)})


def test_validates_without_torch_loaded(tmp_path: Path) -> None:
    spec = load_text("""
nodes:
  - {id: cam, type: video.synthetic}
  - {id: m, type: inference.torch, params: {model: later.pt, device: tpu}, inputs: {tensor: cam/frame}}
""")
    errors = validate(spec)
    assert len(errors) == 1 and "param 'device'" in str(errors[0]) and "'cpu', 'cuda', 'auto'" in errors[0].msg
