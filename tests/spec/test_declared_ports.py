"""Ports that follow a node's params (Node.declare_ports) are validated and run like static ones."""

from __future__ import annotations

import numpy as np
import pytest

from edgespeed.errors import GraphErrors
from edgespeed.graph import load_text
from edgespeed.graph.validate import check
from edgespeed.runtime.scheduler import run_spec
from edgespeed.testing import ListSink

GRAPH = """
nodes:
  - {{id: src, type: test.float_source}}
  - {{id: m, type: test.dynamic, params: {{names: [images], dtype: {dtype}}}, inputs: {{{port}: src/out}}}}
  - {{id: sink, type: testing.list_sink, inputs: {{data: m/images_out}}}}
"""


def test_ports_from_params_are_wired_and_run() -> None:
    result = run_spec(load_text(GRAPH.format(dtype="float32", port="images")))
    assert result.ok
    (x,) = ListSink.collected["sink"]
    assert x.dtype == np.float32


@pytest.mark.parametrize(
    ("dtype", "port", "text", "line"),
    [
        pytest.param("uint8", "images", "input 'images': src/out does not fit: expected dtype uint8, got float32", 4, id="contract"),
        pytest.param("float32", "image", "unknown input 'image'; did you mean 'images'?", 4, id="unknown-port"),
        pytest.param("broken", "images", "node 'm': cannot read model 'm.onnx': not an ONNX file", 4, id="declare-fails"),
    ],
)
def test_declared_ports_errors_are_located(dtype: str, port: str, text: str, line: int) -> None:
    with pytest.raises(GraphErrors) as e:
        check(load_text(GRAPH.format(dtype=dtype, port=port), file="g.yaml"))
    assert any(text in str(err) and err.location.line == line for err in e.value.errors), str(e.value)
