"""Plugins next to the graph, misspelt built-in graph names, and ports typed with a non-PortType."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgespeed.cli import main

BESIDE = Path(__file__).parents[1] / "graphs" / "beside"
CLI = [sys.executable, "-c", "import sys; from edgespeed.cli import main; sys.exit(main())"]


def _env_without_pythonpath() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def test_plugin_beside_the_graph_is_found_by_validate_and_run(tmp_path: Path) -> None:
    """From another folder, with no PYTHONPATH: the graph's folder is searched."""
    graph = str(BESIDE / "beside.yaml")
    for argv in (["validate", graph], ["run", graph, "-q"]):
        r = subprocess.run([*CLI, *argv], cwd=tmp_path, env=_env_without_pythonpath(), capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
    assert "ok (3 nodes, 2 edges)" in subprocess.run([*CLI, "validate", graph], cwd=tmp_path, env=_env_without_pythonpath(),
                                                     capture_output=True, text=True, timeout=120).stdout


def test_missing_plugin_says_where_it_looked_and_to_set_pythonpath(capsys: pytest.CaptureFixture[str]) -> None:
    path = BESIDE / "missing.yaml"
    assert main(["validate", str(path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{path}:6:11: node 'inv': cannot import plugin 'nowhere_nodes:Invert'")
    assert f"or in the graph's folder {BESIDE}" in lines[0] and "set PYTHONPATH" in lines[0]


@pytest.mark.parametrize("name, expect", [
    pytest.param("quikstart", "quikstart: no such graph file or built-in graph 'quikstart'; did you mean 'quickstart'?", id="misspelt"),
    pytest.param("quickstrat.yaml", "built-in graph 'quickstrat'; did you mean 'quickstart'?", id="suffix"),
    pytest.param("zzzzzz", "; valid: ", id="nothing-close"),
])
def test_misspelt_builtin_graph_gets_did_you_mean(name: str, expect: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run", name, "-q"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and expect in lines[0], lines


def test_plugin_declaring_input_object_is_a_located_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "objport_nodes.py").write_text(
        "from edgespeed import Input, Node, Output\n"
        "class Bad(Node):\n    image = Input(object)\n    out = Output()\n"
        "    def process(self, image):\n        return {'out': image}\n")
    graph = tmp_path / "g.yaml"
    graph.write_text("nodes:\n  - {id: cam, type: video.synthetic}\n  - id: b\n    type: objport_nodes:Bad\n"
                     "    inputs: {image: cam/frame}\n")
    try:
        assert main(["validate", str(graph)]) == 2
    finally:
        sys.modules.pop("objport_nodes", None)
        if str(tmp_path) in sys.path:
            sys.path.remove(str(tmp_path))
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{graph}:4:11: node 'b': cannot import plugin 'objport_nodes:Bad'"), lines
    assert "Input(object): a port's type must be a PortType" in lines[0]
