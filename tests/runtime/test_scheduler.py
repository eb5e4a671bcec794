"""The scheduler over real threads: end-of-stream, fan-out, fan-in sync, policies, envelopes."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from edgespeed.graph import load_text
from edgespeed.graph.validate import check
from edgespeed.runtime.scheduler import Run
from edgespeed.testing import ListSink


def test_finite_graph_ends_by_itself_in_order(run_yaml) -> None:
    result, _ = run_yaml("""
nodes:
  - {id: src, type: testing.list_source, params: {items: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]}}
  - {id: a, type: test.pass, inputs: {data: src/out}}
  - {id: b, type: test.double, params: {factor: 3}, inputs: {data: a/out}}
  - {id: sink, type: testing.list_sink, inputs: {data: b/out}}
""")
    assert result.ok and result.stopped_by is None
    assert ListSink.collected["sink"] == [3 * i for i in range(10)]
    assert [e.seq for e in ListSink.envelopes["sink"]] == list(range(10))
    rep = result.report
    assert rep["nodes"]["a"]["in"] == 10 and rep["nodes"]["a"]["out"] == 10
    assert rep["sinks"]["sink"]["latency_ms"]["count"] == 10


def test_fan_out_gives_every_consumer_the_same_read_only_array(run_yaml) -> None:
    result, _ = run_yaml("""
nodes:
  - {id: src, type: test.array_source, params: {count: 5, shape: [64, 64, 3]}}
  - {id: s1, type: testing.list_sink, inputs: {data: src/out}}
  - {id: s2, type: testing.list_sink, inputs: {data: src/out}}
""")
    assert result.ok
    a, b = ListSink.collected["s1"], ListSink.collected["s2"]
    assert len(a) == len(b) == 5
    for x, y in zip(a, b):
        assert x is y, "both consumers receive one shared object"
        assert np.shares_memory(x, y)
        with pytest.raises(ValueError):
            x[0, 0, 0] = 1


def test_timestamps_travel_in_the_envelope_without_node_code(run_yaml) -> None:
    result, _ = run_yaml("""
nodes:
  - {id: src, type: test.array_source, params: {count: 4}}
  - {id: a, type: test.pass, inputs: {data: src/out}}
  - {id: sink, type: testing.list_sink, inputs: {data: a/out}}
""")
    envs = ListSink.envelopes["sink"]
    assert [e.pts_ns for e in envs] == [0, 1_000_000, 2_000_000, 3_000_000]
    now = time.time_ns()
    assert all(0 < now - e.ts_ns < 30e9 for e in envs), "ts_ns is the source's wall-clock stamp"


def test_chunker_yields_several_outputs_per_input(run_yaml) -> None:
    run_yaml("""
nodes:
  - {id: src, type: testing.list_source, params: {items: [7, 8]}}
  - {id: c, type: test.chunker, params: {n: 3}, inputs: {data: src/out}}
  - {id: sink, type: testing.list_sink, inputs: {data: c/out}}
""")
    assert ListSink.collected["sink"] == [(7, 0), (7, 1), (7, 2), (8, 0), (8, 1), (8, 2)]
    assert [e.seq for e in ListSink.envelopes["sink"]] == list(range(6))


def test_sync_timestamp_pairs_equal_media_times(run_yaml) -> None:
    result, _ = run_yaml("""
nodes:
  - {id: src, type: testing.list_source, params: {items: [1, 2, 3, 4, 5, 6], pts_step_ns: 1000}}
  - {id: fast, type: test.pass, inputs: {data: src/out}}
  - {id: slow, type: test.slow, params: {delay_s: 0.005}, inputs: {data: src/out}}
  - {id: pair, type: test.pair, sync: timestamp, inputs: {left: fast/out, right: slow/out}}
  - {id: sink, type: testing.list_sink, inputs: {data: pair/out}}
""")
    assert result.ok
    assert ListSink.collected["sink"] == [(i, i) for i in range(1, 7)]


def test_sync_timestamp_drops_what_can_never_match_and_counts_it(run_yaml) -> None:
    # right runs at half rate (pts 0, 2000, 4000): left's odd packets have no partner
    result, _ = run_yaml("""
nodes:
  - {id: l, type: testing.list_source, params: {items: [0, 1, 2, 3, 4, 5], pts_step_ns: 1000}}
  - {id: r, type: testing.list_source, params: {items: [0, 2, 4], pts_step_ns: 2000}}
  - {id: pair, type: test.pair, sync: timestamp, inputs: {left: l/out, right: r/out}}
  - {id: sink, type: testing.list_sink, inputs: {data: pair/out}}
""")
    assert ListSink.collected["sink"] == [(0, 0), (2, 2), (4, 4)]
    assert result.report["nodes"]["pair"]["dropped"] == 3


def test_sync_timestamp_tolerance(run_yaml) -> None:
    run_yaml("""
nodes:
  - {id: l, type: testing.list_source, params: {items: [0, 1, 2], pts_step_ns: 10000000}}
  - {id: r, type: testing.list_source, params: {items: [0, 1, 2], pts_step_ns: 10500000}}
  - {id: pair, type: test.pair, sync: timestamp, sync_tolerance_ms: 2, inputs: {left: l/out, right: r/out}}
  - {id: sink, type: testing.list_sink, inputs: {data: pair/out}}
""")
    assert ListSink.collected["sink"] == [(0, 0), (1, 1), (2, 2)]


def test_sync_any_passes_each_packet_alone(run_yaml) -> None:
    run_yaml("""
nodes:
  - {id: l, type: testing.list_source, params: {items: [1, 2]}}
  - {id: r, type: testing.list_source, params: {items: [10]}}
  - {id: pair, type: test.pair, sync: any, inputs: {left: l/out, right: r/out}}
  - {id: sink, type: testing.list_sink, inputs: {data: pair/out}}
""")
    got = ListSink.collected["sink"]
    assert sorted(got, key=str) == sorted([(1, None), (2, None), (None, 10)], key=str)


def test_sync_latest_pairs_each_trigger_with_the_newest_other(run_yaml) -> None:
    run_yaml("""
nodes:
  - {id: r, type: testing.list_source, params: {items: [10, 20]}}
  - {id: l, type: test.array_source, params: {count: 5, period_s: 0.05}}
  - {id: pair, type: test.pair, sync: latest, inputs: {left: l/out, right: r/out}}
  - {id: sink, type: testing.list_sink, inputs: {data: pair/out}}
""")
    got = ListSink.collected["sink"]
    assert len(got) == 5, "one output per trigger packet"
    assert [g[1] for g in got][-1] == 20, "paired with the newest value of the other input"


@pytest.mark.parametrize("policy", ["latest", "drop_oldest"])
def test_lossy_edge_never_slows_the_source_and_reports_drops(run_yaml, policy: str) -> None:
    result, _ = run_yaml(f"""
nodes:
  - {{id: src, type: testing.list_source, params: {{items: {list(range(200))}}}}}
  - {{id: slow, type: test.slow, params: {{delay_s: 0.002}}, inputs: {{data: {{from: src/out, queue: 2, policy: {policy}}}}}}}
  - {{id: sink, type: testing.list_sink, inputs: {{data: slow/out}}}}
""")
    rep = result.report
    got = ListSink.collected["sink"]
    assert got == sorted(got), "order is kept"
    assert rep["nodes"]["slow"]["dropped"] > 0
    assert rep["nodes"]["slow"]["in"] + rep["nodes"]["slow"]["dropped"] == 200, "every packet is delivered or counted"
    edge = rep["edges"]["src/out -> slow.data"]
    assert edge["policy"] == policy and edge["capacity"] == 2 and edge["peak"] <= 2


def test_block_edge_is_lossless_under_a_slow_consumer(run_yaml) -> None:
    result, _ = run_yaml("""
nodes:
  - {id: src, type: testing.list_source, params: {items: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]}}
  - {id: slow, type: test.slow, params: {delay_s: 0.005}, inputs: {data: {from: src/out, queue: 1}}}
  - {id: sink, type: testing.list_sink, inputs: {data: slow/out}}
""")
    assert ListSink.collected["sink"] == list(range(12))
    assert result.report["edges"]["src/out -> slow.data"]["peak"] == 1


def test_stop_drains_in_order_and_tears_down() -> None:
    run = Run(check(load_text("""
nodes:
  - {id: src, type: test.array_source, params: {endless: true, period_s: 0.001}}
  - {id: lc, type: test.lifecycle, inputs: {data: src/out}}
  - {id: sink, type: testing.list_sink, inputs: {data: lc/out}}
""")))
    run.start()
    time.sleep(0.3)
    run.stop("signal")
    result = run.wait(10)
    assert result.ok and result.stopped_by == "signal"
    rep = result.report
    assert rep["nodes"]["sink"]["in"] == rep["nodes"]["src"]["out"] > 10, "everything produced was drained"
    from testnodes import Lifecycle

    assert Lifecycle.calls["lc"][-1] == "teardown"


def test_steady_state_run_allocates_no_new_frame_buffers() -> None:
    run = Run(check(load_text("""
nodes:
  - {id: src, type: test.array_source, params: {count: 10000, shape: [120, 160, 3], pooled: true}}
  - {id: small, type: image.resize, params: {width: 80, height: 60}, inputs: {data: src/out}}
  - {id: a, type: sink.null, inputs: {data: small/out}}
  - {id: b, type: sink.null, inputs: {data: {from: src/out, queue: 2, policy: latest}}}
""".replace("inputs: {data: src/out}}\n  - {id: a", "inputs: {image: src/out}}\n  - {id: a"))))
    src_pool_sizes = []

    def watch() -> None:
        while not run.finished:
            allocated = run.snapshot()["nodes"]["src"].get("buffers", {}).get("out")
            if allocated is not None:
                src_pool_sizes.append(allocated)
            time.sleep(0.01)

    run.start()
    t = threading.Thread(target=watch)
    t.start()
    result = run.wait(60)
    t.join()
    assert result.ok and result.report["nodes"]["a"]["in"] == 10000
    src, small = (result.report["nodes"][n]["buffers"]["out"] for n in ("src", "small"))
    # buffers in flight are bounded by the rings (1.5 x 32 + 2 slots, a few in hand), never ~10,000
    assert src <= 64 and small <= 64
    # After warm-up the pool is flat: the second half of the run may still meet a new peak of
    # frames in flight (a consumer descheduled on a loaded machine holds one or two more), but it
    # allocates a handful at most, never one per frame (5,000 frames there).
    assert src_pool_sizes, "the watcher saw the pool"
    assert src - src_pool_sizes[len(src_pool_sizes) // 2] <= 4, f"allocations after warm-up: {src_pool_sizes}"


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2, reason="needs Linux and 2 CPUs to pin")
def test_cpus_pins_a_node_and_keeps_the_others_off_its_cpu(run_yaml) -> None:
    offered = sorted(os.sched_getaffinity(0))
    mine, rest = offered[-1], offered[:-1]
    result, _ = run_yaml(f"""
nodes:
  - {{id: src, type: testing.list_source, params: {{items: [0]}}}}
  - {{id: pinned, type: test.affinity, cpus: "{mine}", inputs: {{data: src/out}}}}
  - {{id: free, type: test.affinity, inputs: {{data: src/out}}}}
  - {{id: s1, type: testing.list_sink, inputs: {{data: pinned/out}}}}
  - {{id: s2, type: testing.list_sink, inputs: {{data: free/out}}}}
""")
    assert result.ok, result.failures
    assert ListSink.collected["s1"] == [([mine], [mine])]  # the threads it starts inherit the pin
    assert ListSink.collected["s2"] == [(rest, rest)]
    assert sorted(os.sched_getaffinity(0)) == offered  # the caller's thread is left as it was


def test_cpus_the_machine_lacks_is_a_located_error() -> None:
    from edgespeed.errors import GraphErrors

    spec = load_text("nodes:\n  - {id: src, type: testing.list_source, params: {items: [0]}}\n"
                     "  - id: sink\n    type: testing.list_sink\n    cpus: [4096]\n    inputs: {data: src/out}\n", "g.yaml")
    with pytest.raises(GraphErrors, match=r"g.yaml:5:11: node 'sink'.*'cpus' names CPU 4096, which this machine does not offer"):
        Run(check(spec))


def test_cpus_round_trips_through_the_builder() -> None:
    from edgespeed import Graph

    g = Graph("pins")
    src = g.add("testing.list_source", id="src", items=[1])
    g.add("testing.list_sink", id="sink", cpus="0-1,3", data=src.out)
    spec = g.spec()
    assert spec.node("sink").cpus == (0, 1, 3)
    assert load_text(spec.to_yaml()) == spec
