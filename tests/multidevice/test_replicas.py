"""A node run as replicas on several devices (`device: [gw1, gw2]`): real processes, real sockets."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from mdutil import Device, env, free_ports, numbers, stop_all, wait_for

from edgespeed.graph import load_text
from edgespeed.graph.validate import validate


def _graph(tmp: Path, n: int, mid: str = '"mdnodes:Relay"', params: str = "{delay_ms: 2}") -> Path:
    gw1, gw2, res = free_ports(3)
    p = tmp / "g.yaml"
    p.write_text(f"""
name: replicas
devices:
  camera: {{}}
  gw1: {{endpoint: "tcp://127.0.0.1:{gw1}", timeout_s: 1.0, insecure: true}}
  gw2: {{endpoint: "tcp://127.0.0.1:{gw2}", timeout_s: 1.0, insecure: true}}
  results: {{endpoint: "tcp://127.0.0.1:{res}", timeout_s: 1.0, insecure: true}}
nodes:
  - {{id: src, type: "mdnodes:Counter", device: camera, params: {{count: {n}, size: 1000}}}}
  - {{id: mid, type: {mid}, device: [gw1, gw2], params: {params}, inputs: {{data: src/out}}}}
  - {{id: sink, type: "mdnodes:SeqSink", device: results, params: {{path: {tmp / "out.txt"}}}, inputs: {{data: mid/out}}}}
""")
    return p


def _run_all(g, tmp_path):
    """Run the graph's four devices to their end; each must exit 0."""
    devs = [Device(g, name, tmp_path) for name in ("results", "gw1", "gw2", "camera")]
    try:
        assert [d.wait(60) for d in devs] == [0, 0, 0, 0], [d.text() for d in devs]
    finally:
        stop_all(*devs)
    return devs


def test_a_packets_stream_goes_through_replicas(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parents[1]))  # testnodes, for every device
    g = _graph(tmp_path, 0, mid='"testnodes:StreamTag"', params="{}")
    out = tmp_path / "out.jsonl"
    g.write_text(g.read_text().replace('"mdnodes:Counter"', '"testnodes:StreamPair"').replace(
        "{count: 0, size: 1000}", "{n: 20, tail: 5}").replace('"mdnodes:SeqSink"', "sink.jsonl").replace(
        str(tmp_path / "out.txt"), f'"{out}"'))
    _run_all(g, tmp_path)
    got = [(rec.get("stream"), rec["data"]) for rec in map(json.loads, out.read_text().splitlines())]
    # every frame comes back with its stream, in order (the end of a stays before the merge)
    assert [(s, int(d["mean"])) for s, d in got] == [(s, i) for i in range(20) for s in "ab"] + [("b", i) for i in range(20, 25)]


def test_replicas_share_the_work_and_results_come_back_in_order(tmp_path):
    n = 400
    g = _graph(tmp_path, n)
    devs = _run_all(g, tmp_path)
    assert numbers(tmp_path / "out.txt") == list(range(n))
    results, gw1, gw2, camera = devs
    out = camera.counters("replica_out_0")
    assert out["packets_0"] + out["packets_1"] == n and min(out["packets_0"], out["packets_1"]) > n // 5  # both worked
    assert gw1.counters("link_in_0")["packets"] == out["packets_0"] and gw2.counters("link_in_0")["packets"] == out["packets_1"]
    merge = results.counters("replica_in_1")
    assert merge["packets"] == n and merge["duplicates"] == 0
    # the same file without --device: one process, the node runs once, same result
    (tmp_path / "out.txt").unlink()
    r = subprocess.run([sys.executable, "-m", "edgespeed", "run", str(g), "-q"], env=env(), check=False, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert numbers(tmp_path / "out.txt") == list(range(n))


def test_kill_9_of_a_replica_sends_its_packets_to_the_other_and_loses_nothing(tmp_path):
    n = 600
    g = _graph(tmp_path, n)
    results, gw2, camera = Device(g, "results", tmp_path), Device(g, "gw2", tmp_path), Device(g, "camera", tmp_path)
    gw1 = Device(g, "gw1", tmp_path)
    devs = [results, gw2, camera, gw1]
    try:
        assert wait_for(lambda: len(numbers(tmp_path / "out.txt")) >= 150, 30)
        gw1.kill()  # SIGKILL mid-stream; it does not come back
        assert camera.wait(60) == 0 and gw2.wait(30) == 0 and results.wait(30) == 0, camera.text() + results.text()
    finally:
        stop_all(*devs)
    assert numbers(tmp_path / "out.txt") == list(range(n))  # nothing lost, nothing twice, in order
    out = camera.counters("replica_out_0")
    assert out["peer_lost"] >= 1 and out["reassigned"] >= 1
    assert "its " in camera.text() and "unacknowledged packets go to the others" in camera.text()


def test_a_replicated_filter_skips_without_stalling_the_merge(tmp_path):
    n = 300
    g = _graph(tmp_path, n, mid='"mdnodes:Drop"', params="{every: 3, delay_ms: 1}")
    devs = _run_all(g, tmp_path)
    assert numbers(tmp_path / "out.txt") == [i for i in range(n) if i % 3]
    assert devs[0].counters("replica_in_1")["skipped"] == len(range(0, n, 3))


@pytest.mark.parametrize("nodes, expect", [
    pytest.param("""
  - {id: a, type: "testing.list_source", device: cam, params: {items: [1]}}
  - {id: b, type: "testing.list_source", device: cam, params: {items: [1]}}
  - {id: mid, type: "test.pair", device: [gw1, gw2], inputs: {left: a/out, right: b/out}}
  - {id: sink, type: testing.list_sink, device: cam, inputs: {data: mid/out}}""",
                 "node 'mid': runs as replicas on gw1, gw2, so it must have exactly one wired input, it has 2", id="two-inputs"),
    pytest.param("""
  - {id: a, type: "testing.list_source", device: cam, params: {items: [1]}}
  - {id: mid, type: test.pass, device: [gw1, gw2], inputs: {data: a/out}}
  - {id: s1, type: testing.list_sink, device: cam, inputs: {data: mid/out}}
  - {id: s2, type: testing.list_sink, device: gw1, inputs: {data: mid/out}}""",
                 "node 'mid': runs as replicas, so the nodes it feeds must all be on one device", id="two-merge-devices"),
    pytest.param("""
  - {id: a, type: "testing.list_source", device: cam, params: {items: [1]}}
  - {id: mid, type: test.pass, device: [gw1, gw3], inputs: {data: a/out}}
  - {id: s1, type: testing.list_sink, device: cam, inputs: {data: mid/out}}""",
                 "node 'mid': unknown device 'gw3'; did you mean 'gw2'?", id="unknown-replica-device"),
])
def test_invalid_replica_placements_name_the_problem(nodes, expect):
    text = """
devices:
  cam: {endpoint: "tcp://127.0.0.1:7000"}
  gw1: {endpoint: "tcp://127.0.0.1:7100"}
  gw2: {endpoint: "tcp://127.0.0.1:7200"}
nodes:""" + nodes
    found = [str(e) for e in validate(load_text(text, "r.yaml"))]
    assert any(expect in f for f in found), found


def test_replica_placement_round_trips_and_splits_into_valid_parts():
    from edgespeed.graph.validate import check
    from edgespeed.runtime.devices import split

    text = """
devices:
  cam: {}
  gw1: {endpoint: "tcp://127.0.0.1:7100", insecure: true}
  gw2: {endpoint: "tcp://127.0.0.1:7200", insecure: true}
  res: {endpoint: "tcp://127.0.0.1:7300", insecure: true}
nodes:
  - {id: a, type: "testing.list_source", device: cam, params: {items: [1]}}
  - {id: mid, type: test.pass, device: [gw1, gw2], inputs: {data: a/out}}
  - {id: s1, type: testing.list_sink, device: res, inputs: {data: mid/out}}
  - {id: s2, type: testing.list_sink, device: res, inputs: {data: mid/out}}
"""
    spec = load_text(text)
    assert spec.node("mid").replicas == ("gw1", "gw2")
    assert load_text(spec.to_yaml()) == spec
    kinds = {d: sorted(n.type for n in split(spec, d).nodes) for d in ("cam", "gw1", "gw2", "res")}
    assert kinds["cam"] == ["runtime.replica_out", "testing.list_source"]
    assert kinds["gw1"] == kinds["gw2"] == ["runtime.link_in", "runtime.link_out", "test.pass"]
    assert kinds["res"] == ["runtime.replica_in", "testing.list_sink", "testing.list_sink"]  # one merge feeds both
    res = split(spec, "res")
    merge = next(n for n in res.nodes if n.type == "runtime.replica_in")
    assert merge.params["binds"] == ["tcp://127.0.0.1:7300", "tcp://127.0.0.1:7301"]
    for d in kinds:
        check(split(spec, d))


def test_a_replica_that_comes_back_gets_work_again(tmp_path):
    n = 1200
    g = _graph(tmp_path, n)
    out = tmp_path / "out.txt"
    results, gw2, camera, gw1 = (Device(g, name, tmp_path) for name in ("results", "gw2", "camera", "gw1"))
    devs = [results, gw2, camera, gw1]
    try:
        assert wait_for(lambda: len(numbers(out)) >= 100, 30)
        gw1.kill()
        assert wait_for(lambda: "unacknowledged packets go to the others" in camera.text(), 30), camera.text()
        back = Device(g, "gw1", tmp_path)  # the same device, restarted
        devs.append(back)
        assert camera.wait(90) == 0 and gw2.wait(30) == 0 and back.wait(30) == 0 and results.wait(30) == 0, camera.text()
    finally:
        stop_all(*devs)
    assert numbers(out) == list(range(n))  # in order, each once
    assert back.counters("link_in_0")["packets"] > 0  # the dispatcher dealt to it again


def test_kill_9_of_the_merging_device_then_a_restart_loses_nothing(tmp_path):
    n = 600
    g = _graph(tmp_path, n)
    out = tmp_path / "out.txt"
    first, gw1, gw2, camera = (Device(g, name, tmp_path) for name in ("results", "gw1", "gw2", "camera"))
    devs = [first, gw1, gw2, camera]
    try:
        assert wait_for(lambda: len(numbers(out)) >= 150, 30)
        first.kill()
        time.sleep(1.0)
        second = Device(g, "results", tmp_path)
        devs.append(second)
        assert camera.wait(60) == 0 and second.wait(30) == 0, camera.text() + second.text()
    finally:
        stop_all(*devs)
    got = numbers(out)
    assert sorted(set(got)) == list(range(n))  # nothing lost
    assert got == sorted(got) or len([i for i in range(1, len(got)) if got[i] <= got[i - 1]]) <= 1  # order, one rewind at most


def test_a_latest_edge_out_of_replicas_drops_at_the_consumer(tmp_path):
    """Results of a replicated node merged in order, into a slow sink under `policy: latest`:
    the sink takes the newest result, and what it skipped is counted as dropped there."""
    n = 300
    g = _graph(tmp_path, n, params="{delay_ms: 0}")
    g.write_text(g.read_text().replace("{count: 300, size: 1000}", "{count: 300, size: 1000, period_ms: 1}").replace(
        "inputs: {data: mid/out}", "inputs: {data: {from: mid/out, queue: 1, policy: latest}}").replace(
        f"{{path: {tmp_path / 'out.txt'}}}", f"{{path: {tmp_path / 'out.txt'}, delay_ms: 20}}"))
    devs = _run_all(g, tmp_path)
    got = numbers(tmp_path / "out.txt")
    rep = json.loads(devs[0].report.read_text())
    assert got == sorted(set(got)) and got[-1] == n - 1
    assert len(got) < n // 4 and rep["nodes"]["sink"]["dropped"] > 0, (len(got), got[:40])
    # taken in turn, nearly every result would follow the one before; taken newest, only while
    # results trickle in (the links ramp up in bursts of their window: 7, 8, 15, 16 on a busy box)
    runs = sum(b == a + 1 for a, b in zip(got, got[1:]))
    assert runs <= len(got) // 3, f"{runs} of {len(got)} were the next result, not the newest: {got[:40]}"


def test_a_latest_edge_into_replicas_drops_at_each_replica(tmp_path):
    """A slow replicated node under `policy: latest`: each replica takes the newest packet it
    holds, rather than working in turn through what its link's window brought, and what it
    skipped is counted as dropped there (before, every drop was at the dispatcher and each
    replica took its window's 8 packets in turn: p50 latency 165 ms against 50 ms now, for a
    25 ms node); the merge still hands results on in order and does not wait for the skipped."""
    n = 400
    g = _graph(tmp_path, n, params="{delay_ms: 25}")
    g.write_text(g.read_text().replace("{count: 400, size: 1000}", "{count: 400, size: 1000, period_ms: 2}").replace(
        "inputs: {data: src/out}", "inputs: {data: {from: src/out, queue: 1, policy: latest}}"))
    devs = _run_all(g, tmp_path)
    got = numbers(tmp_path / "out.txt")
    assert got == sorted(set(got)) and got[-1] == n - 1, got[-20:]  # in order, and the newest is never dropped
    reps = [json.loads(d.report.read_text())["nodes"]["mid"] for d in devs[1:3]]
    assert len(got) < n // 2 and all(r["dropped"] > 0 for r in reps), (len(got), [r["dropped"] for r in reps])
    assert len(got) == sum(r["out"] for r in reps)  # every result was handed on: no skip held one back
