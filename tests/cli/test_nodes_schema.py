"""`edgespeed nodes`, `edgespeed schema` and `edgespeed --help`."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from edgespeed.cli import main

REPO = Path(__file__).resolve().parents[2]


def test_nodes_lists_every_builtin(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nodes"]) == 0
    out = capsys.readouterr().out
    for t in ("video.synthetic", "image.resize", "sink.jsonl", "sink.null"):
        assert t in out


def test_nodes_describes_ports_params_defaults_and_docs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nodes", "video.synthetic"]) == 0
    out = capsys.readouterr().out
    assert "frame" in out and "Frame[uint8, ndim=3]" in out
    assert "fps" in out and "default 30.0" in out and "Example:" in out
    assert main(["nodes", "image.resize", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["params"]["width"]["required"] and d["params"]["interpolation"]["default"] == "area"


def test_nodes_unknown_type_suggests(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nodes", "image.resiz"]) == 2
    assert "did you mean 'image.resize'?" in capsys.readouterr().err


def test_schema_accepts_the_ready_graphs_and_rejects_bad_params(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    for path in sorted((REPO / "graphs").glob("*.yaml")):
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
    bad = {"nodes": [{"id": "cam", "type": "video.synthetic", "params": {"fps": "30fps"}}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_help_and_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0 and "run" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(["run"])
    assert e.value.code == 2
