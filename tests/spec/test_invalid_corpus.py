"""Every graph in tests/graphs/invalid is refused with one located line and exit code 2.

Each file starts with `# expect: <substring of the message>` and `# at: LINE:COL`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edgespeed import load, validate
from edgespeed.cli import main

GRAPHS = Path(__file__).parents[1] / "graphs"
INVALID = sorted((GRAPHS / "invalid").glob("*.yaml"))
QUICKSTART = Path(__file__).parents[2] / "graphs" / "quickstart.yaml"
CLI = [sys.executable, "-c", "import sys; from edgespeed.cli import main; sys.exit(main())"]


@pytest.fixture(autouse=True)
def _plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(GRAPHS))  # for `type: plugins_for_tests:...`


def _header(path: Path) -> tuple[str, str]:
    first, second = path.read_text(encoding="utf-8").splitlines()[:2]
    assert first.startswith("# expect: ") and second.startswith("# at: "), f"{path.name}: bad header"
    return first.removeprefix("# expect: "), second.removeprefix("# at: ")


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in INVALID])
def test_invalid_graph_is_reported_at_its_line(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expect, at = _header(path)
    assert main(["validate", str(path)]) == 2
    out, err = capsys.readouterr()
    lines = err.splitlines()
    located = [line for line in lines if line.startswith(f"{path}:{at}: ")]
    assert len(located) == 1 and expect in located[0], err
    assert len(lines) == (3 if path.stem == "three-mistakes" else 1), err  # one file, one mistake
    assert "Traceback" not in out + err


def test_all_mistakes_are_reported_together_sorted_by_line() -> None:
    errors = validate(load(GRAPHS / "invalid" / "three-mistakes.yaml"))
    got = [(e.location.line, e.node_id, e.field) for e in errors if e.location]
    assert got == [(4, "cam", "params.fps"), (7, "small", "params.widht"), (8, "small", "inputs.image")]


@pytest.mark.parametrize("item, expect", [
    pytest.param("camera.fps=10", "--set camera.fps=10: no node 'camera'; did you mean 'cam'?", id="unknown-node"),
    pytest.param("cam.fsp=10", "--set cam.fsp=10: node 'cam': unknown param 'fsp'; did you mean 'fps'?",
                 id="unknown-param"),
    pytest.param("cam.fps=fast", "--set cam.fps=fast: node 'cam' param 'fps': expected a number > 0", id="bad-value"),
])
def test_bad_set_is_refused_before_running(item: str, expect: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # were the check to pass, the run's output lands here
    assert main(["run", str(QUICKSTART), "--set", item, "--duration", "0.01", "-q"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(expect), lines


@pytest.mark.parametrize("flags, traceback", [
    pytest.param([], False, id="plain"),
    pytest.param(["--debug"], True, id="debug"),
])
def test_cli_process_exit_code_and_traceback(flags: list[str], traceback: bool) -> None:
    path = GRAPHS / "invalid" / "cycle.yaml"
    r = subprocess.run([*CLI, *flags, "validate", str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert ("Traceback" in r.stderr) is traceback, r.stderr
    assert "cycle: a -> b -> c -> a" in r.stderr
