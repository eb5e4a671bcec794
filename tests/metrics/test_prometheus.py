"""`--metrics-port`: the text format at /metrics, scraped by a real Prometheus server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from prometheus_client.parser import text_string_to_metric_families

from edgespeed.metrics.prometheus import RunCollector, histogram_buckets
from edgespeed.metrics import Histogram

GRAPH = """\
name: scraped
nodes:
  - {id: cam, type: video.synthetic, params: {width: 64, height: 48, fps: 50, frames: 0}}
  - {id: small, type: image.resize, params: {width: 32, height: 24}, inputs: {image: cam/frame}}
  - {id: out, type: sink.null, inputs: {data: small/out}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
        return str(r.read().decode())


def start_run(tmp_path: Path, port: int, *extra: str) -> subprocess.Popen[str]:
    g = tmp_path / "g.yaml"
    g.write_text(GRAPH)
    return subprocess.Popen([sys.executable, "-m", "edgespeed", "run", str(g), "-q", "--metrics-port", str(port), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(fn: Any, timeout: float = 30.0) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            v = fn()
            if v:
                return v
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {fn}")


def test_metrics_endpoint_has_the_stable_names(tmp_path: Path) -> None:
    port = free_port()
    proc = start_run(tmp_path, port, "--duration", "20")
    try:
        text = wait_for(lambda: (t := get(f"http://127.0.0.1:{port}/metrics")) and 'node="out"' in t and t)
        time.sleep(0.5)
        text = get(f"http://127.0.0.1:{port}/metrics")
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    for name in ("edgespeed_node_packets_in", "edgespeed_node_packets_out", "edgespeed_node_errors", "edgespeed_node_restarts",
                 "edgespeed_node_process_seconds", "edgespeed_edge_queue_depth", "edgespeed_edge_dropped",
                 "edgespeed_sink_latency_seconds"):
        assert name in fams, name
    out = {s.labels["node"]: s.value for s in fams["edgespeed_node_packets_out"].samples if s.name.endswith("_total")}
    assert out["cam"] > 0
    lat = [s for s in fams["edgespeed_sink_latency_seconds"].samples if s.name.endswith("_count") and s.labels["sink"] == "out"]
    assert lat and lat[0].value > 0
    edges = {s.labels["edge"] for s in fams["edgespeed_edge_queue_depth"].samples}
    assert any("small" in e and "out" in e for e in edges)


def test_port_in_use_is_one_line_exit_2(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = start_run(tmp_path, port, "--duration", "5")
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"--metrics-port {port!r}" in lines[0] and "already in use" in lines[0], err


def test_histogram_buckets_are_cumulative_and_bounded() -> None:
    h = Histogram()
    for ns in (5_000, 80_000, 2_000_000, 2_000_000, 40_000_000_000):
        h.add(ns)
    buckets, total = histogram_buckets(h)
    values = dict(buckets)
    assert values["1e-05"] == 1 and values["0.0001"] == 2 and values["0.0025"] == 4 and values["30.0"] == 4
    assert values["+Inf"] == 5
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)
    assert total == pytest.approx(40.004085, rel=1e-9)


STREAMS = """\
name: cams
nodes:
  - id: src
    type: video.streams
    params:
      paths: [{name: left, path: "builtin:media/video/squares_a.mp4"}, {name: right, path: "builtin:media/video/squares_b.mp4"}]
  - {id: small, type: image.resize, params: {width: 32, height: 24}, inputs: {image: src/frame}}
  - {id: out, type: sink.null, inputs: {data: small/out}}
"""


def test_a_multi_stream_source_has_series_per_stream() -> None:
    """A real run of video.streams: frames, drops, reconnects, fps and latency at each sink carry
    the stream's name; node totals stay one series per node."""
    from prometheus_client import CollectorRegistry, generate_latest

    from edgespeed.graph import load_text
    from edgespeed.graph.validate import check
    from edgespeed.runtime.scheduler import Run

    run = Run(check(load_text(STREAMS)))
    run.start()
    result = run.wait(60)
    assert result.ok, result.failures
    reg = CollectorRegistry(auto_describe=False)
    reg.register(RunCollector(run))
    text = generate_latest(reg).decode()
    frames = {s: result.report["streams"][s]["frames"] for s in ("left", "right")}
    assert frames["left"] > 0 and frames["right"] > 0
    for s in ("left", "right"):
        assert f'edgespeed_stream_frames_total{{node="src",stream="{s}"}} {float(frames[s])}' in text
        assert f'edgespeed_stream_reconnects_total{{node="src",stream="{s}"}} 0.0' in text
        assert f'edgespeed_stream_latency_seconds_count{{sink="out",stream="{s}"}} {float(frames[s])}' in text
    assert f'edgespeed_node_packets_in_total{{node="out"}} {float(sum(frames.values()))}' in text  # totals: per node
    assert 'edgespeed_edge_queue_depth{edge="src/frame -> small.image"}' in text


def test_a_real_prometheus_scrapes_the_graph(tmp_path: Path) -> None:
    port, prom_port = free_port(), free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(f"global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n"
                   f"scrape_configs:\n  - job_name: edgespeed\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n")
    proc = start_run(tmp_path, port, "--duration", "60")
    prom = subprocess.Popen(["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{prom_port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    q = urllib.parse.quote('edgespeed_node_packets_out_total{node="cam"}')

    def series() -> float:
        data = json.loads(get(f"http://127.0.0.1:{prom_port}/api/v1/query?query={q}"))
        result = data["data"]["result"]
        return float(result[0]["value"][1]) if result else 0.0

    try:
        first = wait_for(series, timeout=60)
        assert first > 0
        wait_for(lambda: series() > first, timeout=30)  # a live counter, scraped again
    finally:
        prom.terminate()
        prom.wait(30)
        proc.terminate()
        proc.communicate(timeout=30)
