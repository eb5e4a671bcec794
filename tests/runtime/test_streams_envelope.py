"""The engine's side of multi-stream sources: Envelope.stream, StreamEnd, Node.wake, and the report's streams."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from edgespeed import Input, Node, Output, Param, Stamped, StreamEnd, load_text
from edgespeed.graph.validate import check
from edgespeed.registry import default_registry
from edgespeed.runtime.scheduler import Run
from edgespeed.testing import ListSink
from testnodes import Deadline  # noqa: F401  (registers test.deadline; a child process imports it too)


class TwoStreams(Node):
    """Yields `n` packets of streams a and b in turn, then ends a, then `tail` more of b."""

    kind = "test.two_streams"
    out = Output()
    n: int = Param(4)
    tail: int = Param(3)
    gap_s: float = Param(0.0)

    def generate(self) -> Iterator[Any]:
        for i in range(self.n):
            for s in ("a", "b"):
                yield Stamped({"out": i}, pts_ns=i, stream=s)
        yield StreamEnd("a")
        for i in range(self.n, self.n + self.tail):
            if self.gap_s:
                self.pace(self.gap_s)
            yield Stamped({"out": i}, pts_ns=i, stream="b")
        self.stream_counts.update({"a": {"frames": self.n}, "b": {"frames": self.n + self.tail}})


class Twice(Node):
    """Forwards each packet, and records the stream ends it sees (class-wide, for the test)."""

    kind = "test.twice"
    data = Input()
    other = Input(optional=True)
    out = Output()
    ends: list[tuple[str, str, int]] = []

    def setup(self) -> None:
        self.seen: dict[str | None, int] = {}

    def process(self, data: Any = None, other: Any = None) -> dict[str, Any]:
        s = self.envelope.stream
        self.seen[s] = self.seen.get(s, 0) + 1
        return {"out": data if data is not None else other}

    def end_stream(self, stream: str) -> dict[str, Any]:
        Twice.ends.append((self.id, stream, self.seen.get(stream, 0)))
        return {"out": f"last of {stream}"}  # what is left of it goes out on its stream


for cls in (TwoStreams, Twice):
    default_registry().register(cls)


def run(text: str, duration_s: float = 20) -> Any:
    r = Run(check(load_text(text)))
    r.start()
    return r.wait(duration_s), r


def test_each_packet_keeps_its_stream_through_nodes() -> None:
    result, _ = run("""
nodes:
  - {id: src, type: test.two_streams, params: {n: 3, tail: 0}}
  - {id: mid, type: test.twice, inputs: {data: src/out}}
  - {id: sink, type: testing.list_sink, inputs: {data: mid/out}}
""")
    assert result.ok, result.failures
    got = [(e.stream, v) for e, v in zip(ListSink.envelopes["sink"], ListSink.collected["sink"])]
    assert got[:6] == [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    assert got[6] == ("a", "last of a")


def test_a_stream_end_runs_each_nodes_end_stream_once_after_its_last_packet() -> None:
    Twice.ends.clear()
    result, r = run("""
nodes:
  - {id: src, type: test.two_streams, params: {n: 5, tail: 4}}
  - {id: left, type: test.twice, inputs: {data: src/out}}
  - {id: right, type: test.twice, inputs: {data: src/out}}
  - {id: join, type: test.twice, sync: any, inputs: {data: left/out, other: right/out}}
  - {id: sink, type: testing.list_sink, inputs: {data: join/out}}
""")
    assert result.ok, result.failures
    # the end reached `join` on both inputs: its end_stream still ran once, after all of a's packets
    assert sorted(Twice.ends) == [("join", "a", 12), ("left", "a", 5), ("right", "a", 5)]
    # the engine's markers are not packets: nothing counts them
    assert result.report["nodes"]["left"]["in"] == 14 and result.report["nodes"]["join"]["in"] == 30
    assert [v for e, v in zip(ListSink.envelopes["sink"], ListSink.collected["sink"]) if e.stream == "b"][-1] == 8


@pytest.mark.parametrize("policy", ["latest", "drop_oldest"])
@pytest.mark.parametrize("isolate", ["thread", "process"])
def test_a_lossy_edge_drops_data_but_never_the_end_of_a_stream(isolate: str, policy: str) -> None:
    """A burst far faster than its consumers over edges that hold one packet: most frames are
    dropped, the end of stream a never is: `join` waits for a's end on both of its inputs (the
    source feeds both, one through `mid`) and ends it, once. (Lossy rings dropped ends like data:
    a camera that went away then left its state in every node past such an edge.)"""
    result, _ = run(f"""
nodes:
  - {{id: src, type: "testnodes:StreamPair", params: {{n: 60, tail: 20}}}}
  - {{id: mid, type: "testnodes:StreamTag", isolate: {isolate}, inputs: {{data: {{from: src/out, queue: 1, policy: {policy}}}}}}}
  - id: join
    type: "testnodes:StreamTag"
    sync: any
    inputs: {{data: {{from: mid/out, queue: 1, policy: {policy}}}, other: {{from: src/out, queue: 1, policy: {policy}}}}}
  - {{id: sink, type: testing.list_sink, inputs: {{data: join/out}}}}
""")
    assert result.ok, result.failures
    tags = [v for v in ListSink.collected["sink"] if isinstance(v, str)]
    assert [t.split(" after")[0] for t in tags if t.startswith("join")] == ["join: a ended"], tags


@pytest.mark.parametrize(("sync", "trigger"), [("latest", "src"), ("latest", "mid"), ("timestamp", "src"), ("trigger", "src"),
                                             ("trigger", "mid")])
def test_every_sync_hands_a_stream_end_on_whatever_input_it_is_next(sync: str, trigger: str) -> None:
    """A node with two inputs that the source feeds both (one through `mid`) ends stream a
    once, whatever its `sync`: an end is never matched, held as the newest packet, or dropped
    as too old to match (all four of these never ended a: the end was held or dropped)."""
    other = "mid" if trigger == "src" else "src"
    result, _ = run(f"""
nodes:
  - {{id: src, type: "testnodes:StreamPair", params: {{n: 30, tail: 5}}}}
  - {{id: mid, type: "testnodes:StreamTag", inputs: {{data: src/out}}}}
  - {{id: join, type: "testnodes:StreamTag", sync: {sync}, inputs: {{data: {trigger}/out, other: {other}/out}}}}
  - {{id: sink, type: testing.list_sink, inputs: {{data: join/out}}}}
""")
    assert result.ok, result.failures
    tags = [v for v in ListSink.collected["sink"] if isinstance(v, str) and v.startswith("join")]
    assert [t.split(" after")[0] for t in tags] == ["join: a ended"], tags


@pytest.mark.parametrize("isolate", ["thread", "process"])
def test_wake_emits_at_the_deadline_while_no_packet_comes(isolate: str) -> None:
    # in a process of its own, the node reads the channel in its own thread: the channel's
    # wait is what must run out at the deadline
    result, _ = run(f"""
nodes:
  - {{id: src, type: test.two_streams, params: {{n: 1, tail: 2, gap_s: 0.3}}}}
  - {{id: late, type: "testnodes:Deadline", isolate: {isolate}, inputs: {{data: src/out}}}}
  - {{id: sink, type: testing.list_sink, inputs: {{data: late/out}}}}
""")
    assert result.ok, result.failures
    got = ListSink.collected["sink"]
    # a tick in each 0.3 s silence; none after the end (the stream's end is flush's business)
    assert got == [0, 0, "tick", 1, "tick", 2]


def test_the_report_gives_each_stream_its_counts_and_its_latency_at_each_sink() -> None:
    result, _ = run("""
nodes:
  - {id: src, type: test.two_streams, params: {n: 3, tail: 2}}
  - {id: sink, type: testing.list_sink, inputs: {data: src/out}}
""")
    rep = result.report["streams"]
    assert rep["a"]["frames"] == 3 and rep["b"]["frames"] == 5 and rep["a"]["node"] == "src"
    assert rep["a"]["latency_ms"]["sink"]["count"] == 3 and rep["b"]["latency_ms"]["sink"]["count"] == 5
    assert rep["b"]["edge_drops"] == {}
