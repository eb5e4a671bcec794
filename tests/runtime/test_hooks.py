"""Node hooks: flush() at end of stream, the sync trigger port, and node counters."""

from __future__ import annotations

from edgespeed.testing import ListSink


def test_flush_emits_what_is_left_at_end_of_stream(run_yaml) -> None:
    result, _ = run_yaml("""
nodes:
  - {id: src, type: testing.list_source, params: {items: [1, 2, 3, 4, 5, 6, 7]}}
  - {id: b, type: test.batcher, params: {size: 3}, inputs: {data: src/out}}
  - {id: sink, type: testing.list_sink, inputs: {data: b/out}}
""")
    assert ListSink.collected["sink"] == [[1, 2, 3], [4, 5, 6], [7]]
    assert result.report["nodes"]["b"]["counters"] == {"seen": 7}


def test_latest_is_triggered_by_the_declared_port_whatever_the_yaml_order(run_yaml) -> None:
    run_yaml("""
nodes:
  - {id: words, type: testing.list_source, params: {items: [hello]}}
  - {id: frames, type: test.array_source, params: {count: 4, period_s: 0.02}}
  - {id: cap, type: test.caption, inputs: {text: words/out, frame: frames/out}}
  - {id: sink, type: testing.list_sink, inputs: {data: cap/out}}
""")
    got = ListSink.collected["sink"]
    assert len(got) == 4, "one output per frame: frames trigger, text is held"
    assert got[-1][1] == "hello"
