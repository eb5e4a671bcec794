"""Input and model files named in params are checked by validate; outputs never are."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgespeed import Node, Param
from edgespeed.cli import main


def test_output_paths_are_not_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    graph = tmp_path / "g.yaml"
    graph.write_text("nodes:\n  - {id: cam, type: video.synthetic}\n  - id: out\n    type: sink.jsonl\n"
                     "    params: {path: /no/such/folder/out.jsonl}\n    inputs: {data: cam/frame}\n")
    assert main(["validate", str(graph)]) == 0, capsys.readouterr().err


def test_relative_input_is_resolved_against_the_working_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    graph = tmp_path / "g.yaml"
    graph.write_text("nodes:\n  - id: imu\n    type: sensor.csv\n    params: {path: imu.csv}\n"
                     "  - id: out\n    type: sink.null\n    inputs: {data: imu/reading}\n")
    monkeypatch.chdir(tmp_path)
    assert main(["validate", str(graph)]) == 2
    err = capsys.readouterr().err
    assert err == f"{graph}:4:20: node 'imu' param 'path': input file 'imu.csv' not found (relative to {tmp_path})\n"
    (tmp_path / "imu.csv").write_text("t_s,ax,ay,az\n0,0,0,1\n")
    assert main(["validate", str(graph)]) == 0, capsys.readouterr().err


def test_run_refuses_a_missing_input_before_opening_anything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    graph = tmp_path / "g.yaml"
    graph.write_text("nodes:\n  - id: src\n    type: video.file\n    params: {path: gone.mp4}\n  - id: out\n"
                     "    type: sink.jsonl\n    params: {path: out/x.jsonl}\n    inputs: {data: src/frame}\n")
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(graph), "-q"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "param 'path': input file 'gone.mp4' not found" in lines[0], lines
    assert not (tmp_path / "out").exists()


def test_param_kind_must_be_a_known_one() -> None:
    with pytest.raises(ValueError, match="Param kind must be one of input_file, input_folder, model_file, model_folder"):
        class Bad(Node):  # noqa: F841 - the class statement is what raises
            path: Path = Param(kind="output_file")
