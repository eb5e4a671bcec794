"""Each device a real `edgespeed run --device` process, linked over TCP on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from mdutil import Device, RecordingProxy, env, free_ports, numbers, stop_all, wait_for
from testnodes import check_stream_pair_join


def _graph(tmp: Path, body: str) -> Path:
    p = tmp / "g.yaml"
    p.write_text(body)
    return p


def test_three_devices_deliver_exact_counts_in_order(tmp_path):
    gw, res = free_ports(2)
    out = tmp_path / "out.txt"
    g = _graph(tmp_path, f"""
name: three
devices:
  camera: {{}}
  gateway: {{endpoint: "tcp://127.0.0.1:{gw}", insecure: true}}
  results: {{endpoint: "tcp://127.0.0.1:{res}", insecure: true}}
nodes:
  - {{id: src, type: "mdnodes:Counter", device: camera, params: {{count: 400, size: 20000}}}}
  - {{id: mid, type: "mdnodes:Relay", device: gateway, inputs: {{data: src/out}}}}
  - {{id: sink, type: "mdnodes:SeqSink", device: results, params: {{path: {out}}}, inputs: {{data: mid/out}}}}
""")
    devs = [Device(g, "results", tmp_path), Device(g, "gateway", tmp_path)]
    devs.append(Device(g, "camera", tmp_path))  # started last, though any order works
    try:
        assert [d.wait(60) for d in devs] == [0, 0, 0], [d.text() for d in devs]
    finally:
        stop_all(*devs)
    assert numbers(out) == list(range(400))
    results, gateway, camera = devs
    assert camera.counters("link_out_0")["packets"] == 400
    assert gateway.counters("link_in_0")["packets"] == 400 and gateway.counters("link_out_1")["packets"] == 400
    assert results.counters("link_in_1")["packets"] == 400
    assert camera.counters("link_out_0")["bytes"] > 400 * 20000 and "rtt_us" in camera.counters("link_out_0")
    # the same file without --device: one process, links become local edges, same result
    out.unlink()
    r = subprocess.run([sys.executable, "-m", "edgespeed", "run", str(g), "-q"], env=env(), check=False, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert numbers(out) == list(range(400))


def test_streams_and_their_ends_cross_devices(tmp_path, monkeypatch):
    # camera runs a two-stream source; its two edges to the gateway are two links. The gateway's
    # join (one input straight over a link, one through mid) runs its end_stream once, after a's
    # packets on both inputs, because the end keeps its source's id across the links
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parents[1]))  # testnodes, for both devices
    (gw,) = free_ports(1)
    out = tmp_path / "out.jsonl"
    g = _graph(tmp_path, f"""
name: streams
devices:
  camera: {{}}
  gateway: {{endpoint: "tcp://127.0.0.1:{gw}", insecure: true}}
nodes:
  - {{id: src, type: "testnodes:StreamPair", device: camera, params: {{n: 5, tail: 3}}}}
  - {{id: mid, type: "testnodes:StreamTag", device: gateway, inputs: {{data: src/out}}}}
  - {{id: join, type: "testnodes:StreamTag", device: gateway, sync: any, inputs: {{data: mid/out, other: src/out}}}}
  - {{id: log, type: sink.jsonl, device: gateway, params: {{path: "{out}"}}, inputs: {{data: join/out}}}}
""")
    devs = [Device(g, "gateway", tmp_path), Device(g, "camera", tmp_path)]
    try:
        assert [d.wait(60) for d in devs] == [0, 0], [d.text() for d in devs]
    finally:
        stop_all(*devs)
    got: dict[str, list] = {}
    for line in out.read_text().splitlines():
        rec = json.loads(line)
        v = rec["data"]
        got.setdefault(rec.get("stream"), []).append(v if isinstance(v, str) else int(v["mean"]))  # (sink.jsonl sums arrays up)
    check_stream_pair_join(got)


def test_kill_9_of_the_downstream_device_then_a_restart_loses_nothing(tmp_path):
    (port,) = free_ports(1)
    out = tmp_path / "out.txt"
    n = 600
    g = _graph(tmp_path, f"""
name: kill
devices:
  camera: {{}}
  results: {{endpoint: "tcp://127.0.0.1:{port}", timeout_s: 1.0, insecure: true}}
nodes:
  - {{id: src, type: "mdnodes:Counter", device: camera, params: {{count: {n}, size: 1000}}}}
  - {{id: sink, type: "mdnodes:SeqSink", device: results, params: {{path: {out}, delay_ms: 2}}, inputs: {{data: src/out}}}}
""")
    first = Device(g, "results", tmp_path)
    camera = Device(g, "camera", tmp_path)
    devs = [first, camera]
    try:
        assert wait_for(lambda: len(numbers(out)) >= 150, 30)
        first.kill()  # SIGKILL, mid-stream
        killed_at = len(numbers(out))
        time.sleep(1.5)  # the camera keeps running meanwhile, holding what is not acknowledged
        assert camera.proc.poll() is None
        second = Device(g, "results", tmp_path)
        devs.append(second)
        assert camera.wait(60) == 0, camera.text()
        assert second.wait(30) == 0, second.text()
    finally:
        stop_all(*devs)
    got = numbers(out)
    assert 150 <= killed_at < n
    # nothing lost, nothing twice, order kept: the sink writes each packet's link origin, and
    # the restarted device resumes after the last one written (not after the last acknowledged)
    assert got == list(range(n))
    assert "resuming after it" in second.text()
    c = camera.counters("link_out_0")
    assert c["peer_lost"] >= 1 and c["resends"] >= 1


def _camera_to_slow_sink(tmp: Path, n: int, delay_ms: int, edge: str) -> tuple[list[int], Device, Device]:
    """`n` packets, one each 1 ms, from device camera to a sink on device results that takes
    `delay_ms` per packet, over the edge `edge`; returns what the sink got, and both devices."""
    (port,) = free_ports(1)
    out = tmp / "out.txt"
    g = _graph(tmp, f"""
name: slow
devices:
  camera: {{}}
  results: {{endpoint: "tcp://127.0.0.1:{port}", insecure: true}}
nodes:
  - {{id: src, type: "mdnodes:Counter", device: camera, params: {{count: {n}, size: 1000, period_ms: 1}}}}
  - id: sink
    type: "mdnodes:SeqSink"
    device: results
    params: {{path: {out}, delay_ms: {delay_ms}}}
    inputs: {{data: {edge}}}
""")
    results = Device(g, "results", tmp)
    time.sleep(0.5)
    camera = Device(g, "camera", tmp)
    try:
        assert camera.wait(60) == 0 and results.wait(30) == 0, camera.text() + results.text()
    finally:
        stop_all(results, camera)
    return numbers(out), camera, results


def test_realtime_link_reports_its_drops_exactly(tmp_path):
    n = 300
    got, camera, results = _camera_to_slow_sink(tmp_path, n, 10, "{from: src/out, mode: realtime}")
    dropped = camera.counters("link_out_0")["dropped"]
    assert dropped > 0
    assert len(got) + dropped == n  # every packet is delivered or counted as dropped
    assert got == sorted(set(got)) and got[-1] == n - 1
    assert results.counters("link_in_0")["packets"] == len(got)


def test_a_latest_edge_drops_its_backlog_on_the_receiving_device(tmp_path):
    """`policy: latest` holds where the consumer is: a slow sink on another device gets the
    newest packet, not a queue of stale ones that the link handed over."""
    n = 300
    got, _, results = _camera_to_slow_sink(tmp_path, n, 20, "{from: src/out, queue: 1, policy: latest}")
    rep = json.loads(results.report.read_text())
    # a packet each 1 ms, one taken each 20 ms: about one in twenty arrives, the last always does
    assert got == sorted(set(got)) and got[-1] == n - 1
    assert len(got) < n // 4, f"{len(got)} of {n} delivered: the backlog was not dropped"
    # each one taken is the newest there: none is the very next of the one before (a backlog
    # handed over whole gives runs of consecutive numbers: 0, 1, 2 ... 31)
    runs = sum(b == a + 1 for a, b in zip(got, got[1:]))
    assert runs <= len(got) // 10, f"{runs} of {len(got)} deliveries were the next packet, not the newest: {got[:40]}"
    assert rep["nodes"]["sink"]["dropped"] > 0


@pytest.fixture
def keys(tmp_path):
    for name in ("camera", "results", "rogue"):
        r = subprocess.run([sys.executable, "-m", "edgespeed", "keys", "generate", name, "--dir", str(tmp_path / "keys")],
                           env=env(), check=False, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
    return tmp_path / "keys"


CANARY = "EDGESPEED-PLAINTEXT-CANARY"


def _curve_graph(tmp: Path, port: int, proxy: int, out: Path, with_keys: bool) -> Path:
    k = (lambda name: f", keys: keys/{name}") if with_keys else (lambda name: "")
    return _graph(tmp, f"""
name: curve
devices:
  camera: {{endpoint: "tcp://127.0.0.1:1"{k('camera')}}}
  results: {{endpoint: "tcp://127.0.0.1:{proxy}", bind: "tcp://127.0.0.1:{port}"{k('results') or ', insecure: true'}}}
nodes:
  - {{id: src, type: "mdnodes:Counter", device: camera, params: {{count: 50, size: 4096, pattern: {CANARY}}}}}
  - {{id: sink, type: "mdnodes:SeqSink", device: results, params: {{path: {out}}}, inputs: {{data: src/out}}}}
""")


@pytest.mark.parametrize("with_keys", [pytest.param(True, id="curve"), pytest.param(False, id="plaintext-control")])
def test_encrypted_link_carries_no_plaintext_and_refuses_unknown_keys(tmp_path, keys, with_keys):
    port, proxy_port = free_ports(2)
    out = tmp_path / "out.txt"
    g = _curve_graph(tmp_path, port, proxy_port, out, with_keys)
    proxy = RecordingProxy(proxy_port, port)
    proxy.start()
    results = Device(g, "results", tmp_path)
    devs = [results]
    try:
        if with_keys:  # a peer with a key the graph does not know gets nothing through
            from edgespeed.transport import security
            from edgespeed.transport.link import Sender

            server, _ = security.load(keys / "results.key")
            public, secret = security.load(keys / "rogue", secret=True)
            rogue = Sender("src/out -> sink.data", f"tcp://127.0.0.1:{port}", mode="realtime", curve=(public, secret, server))
            for i in range(10):
                rogue.send(np.zeros(16, np.uint8), 0, 0)
                rogue.pump(50)
            assert wait_for(lambda: "refused a peer" in results.text(), 10), results.text()
            assert rogue.counters["packets"] == 0 and not rogue.welcomed
            rogue.close(linger_s=0)
        camera = Device(g, "camera", tmp_path)
        devs.append(camera)
        assert camera.wait(60) == 0 and results.wait(30) == 0, camera.text() + results.text()
    finally:
        stop_all(*devs)
        proxy.close()
    assert numbers(out) == list(range(50))
    assert len(proxy.captured) > 50 * 4096
    assert (CANARY.encode() in proxy.captured) is (not with_keys)
    if with_keys:
        assert public.decode() in results.text()
        assert results.counters("link_in_0")["refused"] >= 1


def test_unknown_device_is_bad_input(tmp_path):
    g = _graph(tmp_path, """
devices: {camera: {}}
nodes: [{id: src, type: "mdnodes:Counter", device: camera}]
""")
    r = subprocess.run([sys.executable, "-m", "edgespeed", "run", str(g), "--device", "camra"], env=env(), check=False, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert "--device 'camra' is not a device of this graph; did you mean 'camera'?" in r.stderr


def test_kill_9_of_a_middle_device_loses_nothing_downstream(tmp_path):
    gw, res = free_ports(2)
    out = tmp_path / "out.txt"
    n = 500
    g = _graph(tmp_path, f"""
name: middle
devices:
  camera: {{}}
  gateway: {{endpoint: "tcp://127.0.0.1:{gw}", timeout_s: 1.0, insecure: true}}
  results: {{endpoint: "tcp://127.0.0.1:{res}", timeout_s: 1.0, insecure: true}}
nodes:
  - {{id: src, type: "mdnodes:Counter", device: camera, params: {{count: {n}, size: 1000, period_ms: 2}}}}
  - {{id: mid, type: "mdnodes:Relay", device: gateway, inputs: {{data: src/out}}}}
  - {{id: sink, type: "mdnodes:SeqSink", device: results, params: {{path: {out}}}, inputs: {{data: mid/out}}}}
""")
    results, first, camera = Device(g, "results", tmp_path), Device(g, "gateway", tmp_path), Device(g, "camera", tmp_path)
    devs = [results, first, camera]
    try:
        assert wait_for(lambda: len(numbers(out)) >= 100, 30)
        first.kill()
        time.sleep(1.0)
        devs.append(Device(g, "gateway", tmp_path))
        assert camera.wait(60) == 0 and devs[-1].wait(30) == 0 and results.wait(30) == 0, camera.text() + results.text()
    finally:
        stop_all(*devs)
    got = numbers(out)
    assert sorted(set(got)) == list(range(n))  # nothing lost
    # the gateway acknowledges the camera only once the results device has acknowledged it,
    # so at most what was between those two acknowledgements at the kill comes again
    rewinds = [i for i in range(1, len(got)) if got[i] <= got[i - 1]]
    assert len(rewinds) <= 1 and len(got) - n <= 8


def test_per_device_keys_files_encrypt_a_graph_that_names_no_keys(tmp_path, keys):
    port, proxy_port = free_ports(2)
    out = tmp_path / "out.txt"
    g = _curve_graph(tmp_path, port, proxy_port, out, with_keys=False)  # the shared graph: no keys in it
    (tmp_path / "camera-keys.yaml").write_text("keys: keys/camera\npeers: {results: keys/results.key}\n")
    (tmp_path / "results-keys.yaml").write_text("keys: keys/results\npeers: {camera: keys/camera.key}\n")
    proxy = RecordingProxy(proxy_port, port)
    proxy.start()
    results = Device(g, "results", tmp_path, "--keys", str(tmp_path / "results-keys.yaml"))
    camera = Device(g, "camera", tmp_path, "--keys", str(tmp_path / "camera-keys.yaml"))
    try:
        assert camera.wait(60) == 0 and results.wait(30) == 0, camera.text() + results.text()
    finally:
        stop_all(results, camera)
        proxy.close()
    assert numbers(out) == list(range(50))
    assert len(proxy.captured) > 50 * 4096 and CANARY.encode() not in proxy.captured
    assert "plain text" not in results.text()  # no plaintext warning: the link is encrypted


@pytest.mark.parametrize("text, expect", [
    pytest.param("keys: k/cam\npeers: {gateway: k/gw.key}\n", "keys.yaml: 'peers' names 'gateway', which is not a device of", id="unknown-peer"),
    pytest.param("peers: {}\n", "keys.yaml: expected a mapping with 'keys: PATH'", id="no-keys"),
    pytest.param("keys: k/cam\nkeyz: 1\n", "keys.yaml: unknown key 'keyz'; expected keys, peers, allow", id="unknown-key"),
    pytest.param("keys: [\n", "keys.yaml:2: not valid YAML", id="yaml"),
])
def test_bad_keys_file_is_a_one_line_error(tmp_path, text, expect):
    g = _curve_graph(tmp_path, 1, 2, tmp_path / "out.txt", with_keys=False)
    (tmp_path / "keys.yaml").write_text(text)
    r = subprocess.run([sys.executable, "-m", "edgespeed", "run", str(g), "--device", "camera", "--keys", str(tmp_path / "keys.yaml")],
                       env=env(), check=False, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and expect in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
