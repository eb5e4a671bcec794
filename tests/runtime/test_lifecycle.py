"""Lifecycle guarantees and on_error policies, through the real scheduler."""

from __future__ import annotations

import pytest

from edgespeed.testing import ListSink
from testnodes import Lifecycle

GRAPH = """
nodes:
  - {{id: src, type: test.array_source, params: {{count: 8, shape: [1]}}}}
  - {{id: lc, type: test.lifecycle, on_error: {policy}, params: {params}, inputs: {{data: src/out}}}}
  - {{id: sink, type: testing.list_sink, inputs: {{data: lc/out}}}}
"""


def values() -> list[int]:
    return [int(v[0]) for v in ListSink.collected["sink"]]


@pytest.fixture(autouse=True)
def _clear() -> None:
    Lifecycle.calls.clear()


def test_stop_names_node_method_port_and_sequence(run_yaml) -> None:
    result, _ = run_yaml(GRAPH.format(policy="stop", params="{fail_at: [3]}"))
    assert not result.ok and result.stopped_by == "error"
    (err,) = result.failures
    assert (err.node_id, err.method, err.port, err.seq) == ("lc", "process", "src/out", 3)
    assert str(err) == "node 'lc' failed in process() on src/out #3: ValueError: bad value 3"
    assert isinstance(err.__cause__, ValueError)
    assert values() == [0, 1, 2]
    assert Lifecycle.calls["lc"] == ["setup", "teardown"], "teardown runs after a failed process()"


def test_skip_counts_and_continues(run_yaml) -> None:
    result, _ = run_yaml(GRAPH.format(policy="skip", params="{fail_at: [2, 5]}"))
    assert result.ok
    assert values() == [0, 1, 3, 4, 6, 7]
    assert result.report["nodes"]["lc"]["errors"] == 2


def test_restart_sets_up_again_and_continues(run_yaml) -> None:
    result, _ = run_yaml(GRAPH.format(policy="restart", params="{fail_at: [4]}"))
    assert result.ok
    assert values() == [0, 1, 2, 3, 5, 6, 7]
    assert Lifecycle.calls["lc"] == ["setup", "teardown", "setup", "teardown"]
    assert result.report["nodes"]["lc"]["restarts"] == 1


def test_failed_setup_means_no_teardown_and_the_graph_stops(run_yaml) -> None:
    result, _ = run_yaml(GRAPH.format(policy="stop", params="{fail_setup: true}"))
    (err,) = result.failures
    assert (err.node_id, err.method) == ("lc", "setup")
    assert "cannot open the device" in str(err)
    assert Lifecycle.calls["lc"] == ["setup"], "teardown runs if and only if setup returned"


@pytest.mark.parametrize(
    ("mode", "text"),
    [
        pytest.param("unknown_port", "returned unknown output 'frames'; it has: frame", id="unknown-output"),
        pytest.param("bad_dtype", "output 'frame': expected dtype uint8, got float32", id="contract"),
    ],
)
def test_bad_outputs_name_the_node_and_port(run_yaml, mode: str, text: str) -> None:
    result, _ = run_yaml(f"""
nodes:
  - {{id: src, type: testing.list_source, params: {{items: [1]}}}}
  - {{id: bad, type: test.bad_output, params: {{mode: {mode}}}, inputs: {{data: src/out}}}}
  - {{id: sink, type: sink.null, inputs: {{data: bad/frame}}}}
""")
    (err,) = result.failures
    assert str(err).startswith("node 'bad' failed in process() on src/out #0: ") and text in str(err)
