"""Two hosts: Linux network namespaces joined by a veth pair, one device in each.

The link is taken down for a few seconds mid-stream and brought back: the graph recovers and
nothing is lost. Needs root and `ip` (the CI machine runs as root); the namespaces are removed
whatever happens. Addresses are private (10.231.x.0/24) and exist only inside the namespaces.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from mdutil import Device, numbers, stop_all, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2 (ip netns)")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture
def hosts():
    """Namespaces a and b, joined by a veth pair: a = 10.231.N.1, b = 10.231.N.2."""
    n = os.getpid() % 250
    tag = f"es{os.getpid() % 100000}"
    ns_a, ns_b, veth_a, veth_b = f"{tag}_a", f"{tag}_b", f"{tag}a", f"{tag}b"
    try:
        _ip("netns", "add", ns_a)
        _ip("netns", "add", ns_b)
        _ip("link", "add", veth_a, "netns", ns_a, "type", "veth", "peer", "name", veth_b, "netns", ns_b)
        for ns, veth, addr in ((ns_a, veth_a, f"10.231.{n}.1/24"), (ns_b, veth_b, f"10.231.{n}.2/24")):
            _ip("-n", ns, "addr", "add", addr, "dev", veth)
            _ip("-n", ns, "link", "set", veth, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        yield {"a": ns_a, "b": ns_b, "veth_a": veth_a, "addr_b": f"10.231.{n}.2"}
    finally:
        for ns in (ns_a, ns_b):  # deleting a namespace deletes its end of the veth pair too
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True, timeout=10)


def test_link_down_for_seconds_then_up_loses_nothing(tmp_path, hosts):
    out = tmp_path / "out.txt"
    n = 400
    g = tmp_path / "g.yaml"
    g.write_text(f"""
name: netns
devices:
  camera: {{}}
  results: {{endpoint: "tcp://{hosts['addr_b']}:5700", timeout_s: 1.0, insecure: true}}
nodes:
  - {{id: src, type: "mdnodes:Counter", device: camera, params: {{count: {n}, size: 2000, period_ms: 10}}}}
  - {{id: sink, type: "mdnodes:SeqSink", device: results, params: {{path: {out}}}, inputs: {{data: src/out}}}}
""")
    results = Device(g, "results", tmp_path, prefix=["ip", "netns", "exec", hosts["b"]])
    camera = Device(g, "camera", tmp_path, prefix=["ip", "netns", "exec", hosts["a"]])
    try:
        assert wait_for(lambda: len(numbers(out)) >= 60, 30), camera.text() + results.text()
        _ip("-n", hosts["a"], "link", "set", hosts["veth_a"], "down")
        time.sleep(3.0)  # longer than the heartbeat timeout: both sides notice, and keep running
        stalled = len(numbers(out))
        assert camera.proc.poll() is None and results.proc.poll() is None
        _ip("-n", hosts["a"], "link", "set", hosts["veth_a"], "up")
        assert camera.wait(60) == 0, camera.text()
        assert results.wait(30) == 0, results.text()
    finally:
        stop_all(camera, results)
    assert stalled < n
    assert numbers(out) == list(range(n))
    assert camera.counters("link_out_0")["peer_lost"] >= 1
