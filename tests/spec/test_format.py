"""The graph format is defined once (edgespeed/format.py): the loader, validation and
`edgespeed schema` all follow it, and the schema completes `params:` for the chosen `type`."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from edgespeed import format as fmt
from edgespeed.cli import main
from edgespeed.graph.spec import option_problem

REPO = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def schema() -> dict:  # type: ignore[type-arg]
    from edgespeed.cli.schema import graph_schema

    return graph_schema()


def test_format_is_a_leaf_module() -> None:
    tree = ast.parse((REPO / "edgespeed" / "format.py").read_text())
    imports = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert all(isinstance(n, ast.ImportFrom) and n.module == "__future__" for n in imports)


def test_schema_keys_and_choices_are_the_formats(schema: dict) -> None:  # type: ignore[type-arg]
    node = schema["properties"]["nodes"]["items"]
    inp = node["properties"]["inputs"]["additionalProperties"]["anyOf"][1]
    device = schema["properties"]["devices"]["additionalProperties"]["anyOf"][0]
    assert tuple(schema["properties"]) == fmt.TOP_KEYS
    assert tuple(node["properties"]) == fmt.NODE_KEYS
    assert tuple(inp["properties"]) == fmt.INPUT_KEYS
    assert tuple(device["properties"]) == fmt.DEVICE_KEYS
    assert node["properties"]["on_error"]["enum"] == list(fmt.ON_ERROR)
    assert node["properties"]["sync"]["enum"] == list(fmt.SYNC_MODES)
    assert inp["properties"]["policy"]["enum"] == list(fmt.POLICIES)
    assert inp["properties"]["mode"]["enum"] == list(fmt.LINK_MODES)
    assert inp["properties"]["compress"]["enum"] == list(fmt.COMPRESS_CODECS)


@pytest.mark.parametrize("key, choices", [("on_error", fmt.ON_ERROR), ("sync", fmt.SYNC_MODES), ("policy", fmt.POLICIES),
                                          ("mode", fmt.LINK_MODES), ("compress", fmt.COMPRESS_CODECS)])
def test_loader_accepts_exactly_the_formats_choices(key: str, choices: tuple[str, ...]) -> None:
    assert all(option_problem(key, c) is None for c in choices)
    msg = option_problem(key, "nope")
    assert msg is not None and ", ".join(choices) in msg


def _graph(params: str) -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(f"""
nodes:
  - {{id: cam, type: video.synthetic, params: {params}}}
  - {{id: small, type: image.resize, params: {{width: 32, height: 24}}, inputs: {{image: cam/frame}}}}
  - {{id: out, type: sink.jsonl, params: {{path: out.jsonl}}, inputs: {{data: small/out}}}}
""")


def test_schema_checks_params_of_the_chosen_type(schema: dict) -> None:  # type: ignore[type-arg]
    jsonschema.validate(_graph("{width: 64, height: 48, fps: 15}"), schema)
    for bad in ("{width: wide}", "{fps: 0}", "{widht: 64}"):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(_graph(bad), schema)
    resize = next(c["then"]["properties"]["params"] for c in schema["properties"]["nodes"]["items"]["allOf"]
                  if c["if"]["properties"]["type"]["const"] == "image.resize")
    assert {"width", "height"} <= set(resize["properties"]) and resize["additionalProperties"] is False


def test_schema_command_writes_what_editors_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "graph.schema.json"
    assert main(["schema", "-o", str(out)]) == 0
    schema = json.loads(out.read_text())
    for path in sorted((REPO / "tests" / "graphs" / "valid").glob("*.yaml")):
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
