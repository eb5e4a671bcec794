"""`builtin:<path>` params name files shipped in edgespeed/data: resolved when params are
converted, a missing one is a located error naming what ships, and nothing escapes the package."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgespeed.data import ROOT, resolve, shipped
from edgespeed.graph import load_text, validate


def test_shipped_sample_resolves_inside_the_package() -> None:
    path = resolve("builtin:media/speech/long.flac")
    assert path.is_file() and ROOT.resolve() in path.parents
    assert "builtin:media/speech/long.flac" in shipped()


@pytest.mark.parametrize("value", ["builtin:media/nothing.flac", "builtin:../../__init__.py", "builtin:/etc/passwd"])
def test_unknown_or_escaping_names_are_refused(value: str) -> None:
    with pytest.raises(LookupError, match="no shipped file"):
        resolve(value)


def test_missing_builtin_is_a_located_param_error(tmp_path: Path) -> None:
    text = 'nodes:\n  - id: a\n    type: audio.file\n    params: {path: "builtin:media/speech/none.flac"}\n' \
           '  - id: s\n    type: sink.null\n    inputs: {data: a/audio}\n'
    errors = validate(load_text(text, "g.yaml"))
    assert len(errors) == 1, errors
    line = str(errors[0])
    assert "g.yaml:4" in line and "param 'path'" in line and "no shipped file" in line and "long.flac" in line


def test_a_param_may_not_replace_an_engine_method() -> None:
    from edgespeed import Node, Param

    with pytest.raises(TypeError, match="param buffer would replace"):
        type("Bad", (Node,), {"kind": "t.bad", "buffer": Param(10), "__annotations__": {"buffer": int}})
    with pytest.raises(TypeError, match="engine_packet: reserved by the engine"):
        type("Bad2", (Node,), {"kind": "t.bad2", "engine_packet": None})
