"""`run_node` drives the runtime's worker: node tests see the input matching a graph gives."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from edgespeed import Input, Node, NodeError, Output
from edgespeed.testing import run_node


class Pair(Node):
    """Emits what each call got on `a` and `b` (None where nothing came)."""

    kind = "test.pair"
    a = Input()
    b = Input(optional=True)
    out = Output()

    def process(self, a: Any = None, b: Any = None) -> dict[str, Any]:
        return {"out": (a, b)}


@pytest.mark.parametrize(("sync", "calls"), [
    pytest.param("any", [(1, None), (None, 10), (2, None), (None, 20)], id="any-each-packet-alone"),
    pytest.param("timestamp", [(1, 10), (2, 20)], id="timestamp-the-ith-meet"),
    pytest.param("latest", [(1, 10), (2, 20)], id="latest-newest-of-the-others"),
])
def test_inputs_are_matched_by_the_nodes_sync(sync: str, calls: list[tuple[Any, Any]]) -> None:
    out = run_node(Pair, inputs={"a": [1, 2], "b": [10, 20]}, sync=sync)
    assert [tuple(c) for c in out["out"]] == calls


def test_inputs_are_read_only_and_failures_are_the_runtimes_node_errors() -> None:
    class Writes(Node):
        kind = "test.writes"
        data = Input()

        def process(self, data: np.ndarray) -> None:
            data[0] = 1

    with pytest.raises(NodeError) as e:
        run_node(Writes, inputs={"data": [np.zeros(3)]}, node_id="w")
    assert e.value.node_id == "w" and e.value.method == "process" and e.value.seq == 0
    assert isinstance(e.value.__cause__, ValueError)  # numpy: assignment destination is read-only


class _Named(Node):
    """Its lone input `data`, named first by `process` (passed positionally by the worker)."""

    kind = "test.named_first"
    data = Input()
    out = Output()

    def process(self, data: Any) -> dict[str, Any]:
        return {"out": ("first", data)}


class _KeywordOnly(_Named):
    kind = "test.keyword_only"

    def process(self, *, data: Any) -> dict[str, Any]:  # type: ignore[override]
        return {"out": ("keyword", data)}


class _OtherFirst(_Named):
    kind = "test.other_first"

    def process(self, scale: int = 2, **inputs: Any) -> dict[str, Any]:  # type: ignore[override]
        return {"out": ("by-name", inputs["data"] * scale)}


@pytest.mark.parametrize(("cls", "want"), [
    pytest.param(_Named, [("first", 1), ("first", 2)], id="named-first-positionally"),
    pytest.param(_KeywordOnly, [("keyword", 1), ("keyword", 2)], id="keyword-only-by-name"),
    pytest.param(_OtherFirst, [("by-name", 2), ("by-name", 4)], id="first-parameter-not-the-port-by-name"),
])
def test_a_lone_input_binds_to_its_port_name_however_process_declares_it(cls: type[Node], want: list[Any]) -> None:
    assert [tuple(v) for v in run_node(cls, inputs={"data": [1, 2]})["out"]] == want
