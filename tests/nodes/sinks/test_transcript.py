"""sink.transcript: one JSON line per final transcript."""

from __future__ import annotations

import json

import pytest
from edgespeed.nodes.sinks.transcript import TranscriptSink

from edgespeed.errors import NodeError
from edgespeed.testing import run_node

FINAL = {"text": "good morning", "start_s": 3.1, "end_s": 3.8234, "confidence": 0.91234, "words": [], "final": True}
PARTIAL = {"text": "good", "start_s": 3.1, "end_s": 3.8, "final": False}


@pytest.mark.parametrize(("params", "n"), [pytest.param({}, 1, id="finals"), pytest.param({"partials": True}, 2, id="with-partials")])
def test_lines(tmp_path, params, n):
    path = tmp_path / "sub" / "t.jsonl"
    run_node(TranscriptSink, params={"path": path, **params}, inputs={"transcript": [PARTIAL, FINAL]})
    lines = [json.loads(s) for s in path.read_text().splitlines()]
    assert len(lines) == n
    assert lines[-1] == {"text": "good morning", "start_s": 3.1, "end_s": 3.823, "confidence": 0.912}


def test_details_and_bad_input(tmp_path):
    path = tmp_path / "t.jsonl"
    run_node(TranscriptSink, params={"path": path, "details": True}, inputs={"transcript": [FINAL]})
    assert json.loads(path.read_text())["words"] == []
    with pytest.raises(NodeError, match="expected a transcript record with 'text'"):
        run_node(TranscriptSink, params={"path": path}, inputs={"transcript": [[1, 2]]})
