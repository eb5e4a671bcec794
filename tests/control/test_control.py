"""The control API over real HTTP against a running graph (in this process, or `edgespeed run`)."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edgespeed.cli.validate import load_checked
from edgespeed.control import Control, ControlServer
from edgespeed.errors import GraphErrors
from edgespeed.metrics.console import with_progress
from edgespeed.runtime.scheduler import Run

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

GRAPH = """
name: ctl
nodes:
  - {id: cam, type: "ctlnodes:Ticker", params: {period_s: 0.002}}
  - {id: small, type: image.resize, params: {width: 32, height: 24}, inputs: {image: cam/out}}
  - {id: shapes, type: "ctlnodes:Shapes", inputs: {data: small/out}}
  - {id: pred, type: "ctlnodes:Predictions"}
  - {id: yolo, type: post.yolo, params: {score_min: 0.1, layout: v8}, inputs: {predictions: pred/out}}
  - {id: dets, type: "ctlnodes:Shapes", inputs: {data: yolo/detections}}
  - {id: walk, type: "ctlnodes:Walker"}
  - {id: count, type: post.counter, params: {lines: {gate: [0, 50, 100, 50]}}, inputs: {tracks: walk/out}}
  - {id: counts, type: "ctlnodes:Shapes", inputs: {data: count/counts}}
  - {id: multi, type: "ctlnodes:Streams"}
  - {id: names, type: "ctlnodes:Shapes", inputs: {data: multi/out}}
"""


def request(port: int, method: str, path: str, body: Any = None, raw: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
    resp = conn.getresponse()
    out = json.loads(resp.read())
    conn.close()
    return resp.status, out


def until(cond: Callable[[], Any], timeout_s: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


@pytest.fixture()
def live(tmp_path: Path) -> Iterator[tuple[Run, int]]:
    g = tmp_path / "g.yaml"
    g.write_text(GRAPH)
    run = Run(load_checked(str(g)))
    server = ControlServer(("127.0.0.1", 0), Control(run, lambda: with_progress(run.snapshot(), run.nodes)))
    run.start()
    server.start()
    try:
        yield run, server.port
    finally:
        server.close()
        run.stop()
        run.wait()


def test_status_and_graph(live: tuple[Run, int]) -> None:
    run, port = live
    until(lambda: run.nodes["shapes"].seen > 0)
    status, rep = request(port, "GET", "/status")
    assert status == 200 and set(rep["nodes"]) >= {"cam", "small", "shapes"} and rep["nodes"]["small"]["in"] > 0
    assert "wall_s" in rep and "edges" in rep  # the --report schema
    status, spec = request(port, "GET", "/graph")
    assert status == 200 and [n["id"] for n in spec["nodes"]][:3] == ["cam", "small", "shapes"]


def test_resize_reloads_from_the_next_packet(live: tuple[Run, int]) -> None:
    run, port = live
    until(lambda: run.nodes["shapes"].last == (24, 32, 3))
    status, out = request(port, "PATCH", "/nodes/small/params", {"width": 40, "height": 30})
    assert status == 200, out
    until(lambda: run.nodes["shapes"].last == (30, 40, 3))
    assert run.nodes["small"].width == 40 and not run.failures


def test_yolo_threshold_reloads(live: tuple[Run, int]) -> None:
    run, port = live
    sink = run.nodes["dets"]  # keeps yolo's last detections

    def kept() -> int:
        return len(sink.last["scores"]) if isinstance(sink.last, dict) else -1

    until(lambda: kept() == 3)
    assert request(port, "PATCH", "/nodes/yolo/params", {"score_min": 0.6})[0] == 200
    until(lambda: kept() == 1)
    status, out = request(port, "PATCH", "/nodes/yolo/params", {"iou_max": 0.3})
    assert status == 200 and out == {"node": "yolo", "params": {"iou_max": 0.3}}
    until(lambda: run.nodes["yolo"].iou_max == 0.3)
    assert run.nodes["yolo"].score_min == 0.6 and not run.failures


def test_counter_lines_and_zones_reload(live: tuple[Run, int]) -> None:
    run, port = live
    sink = run.nodes["counts"]
    until(lambda: isinstance(sink.last, dict) and sink.last["counts"].get("gate_in", 0) > 0)
    body = {"lines": {"gate": [0, 50, 100, 50], "low": [0, 80, 100, 80]}, "zones": {"mid": [[0, 40], [100, 40], [100, 60], [0, 60]]}}
    assert request(port, "PATCH", "/nodes/count/params", body)[0] == 200
    until(lambda: sink.last["counts"].get("low_in", 0) > 0 and sink.last["counts"].get("mid_enter", 0) > 0)
    assert sink.last["counts"]["gate_in"] > 1  # the line kept as it was kept counting
    # a line with both ends at one point: the same check validation makes, and nothing changes
    status, out = request(port, "PATCH", "/nodes/count/params", {"lines": {"bad": [1, 1, 1, 1]}})
    assert status == 400 and "line 'bad' has both ends" in out["error"]
    assert set(run.nodes["count"].lines) == {"gate", "low"}


@pytest.mark.parametrize(("path", "body", "status", "text"), [
    pytest.param("/nodes/yolo/params", {"score_min": 2}, 400, "node 'yolo' param 'score_min': expected a number >= 0 and <= 1, got 2", id="bad-value"),
    pytest.param("/nodes/yolo/params", {"score_min": "high"}, 400, "param 'score_min': expected a number", id="wrong-type"),
    pytest.param("/nodes/yolo/params", {"scor_min": 0.5}, 400, "unknown param 'scor_min'; did you mean 'score_min'?", id="unknown-param"),
    pytest.param("/nodes/yolox/params", {"score_min": 0.5}, 400, "unknown node 'yolox'; did you mean 'yolo'?", id="unknown-node"),
    pytest.param("/nodes/yolo/params", {"layout": "v5"}, 409, "param 'layout' is not reloadable", id="not-reloadable"),
    pytest.param("/nodes/yolo/params", {"score_min": 0.5, "layout": "v5"}, 409, "param 'layout' is not reloadable", id="partly-reloadable"),
    pytest.param("/nodes/yolo/params", {"labels": "evil.module:Class"}, 400, "names a plugin module path", id="module-path"),
    pytest.param("/nodes/yolo/params", [1, 2], 400, "expected a JSON object of params", id="not-an-object"),
    pytest.param("/nodes/small/streams", {"path": "a.mp4"}, 409, "node 'small' (image.resize) has no streams", id="no-streams"),
    pytest.param("/nowhere", None, 404, "no endpoint", id="no-endpoint"),
])
def test_bad_requests_change_nothing(live: tuple[Run, int], path: str, body: Any, status: int, text: str) -> None:
    run, port = live
    before = {n: dict(vars(node)) for n, node in run.nodes.items() if n in ("yolo", "small")}
    method = "PATCH" if path.endswith("/params") else ("POST" if "streams" in path else "GET")
    got, out = request(port, method, path, body)
    assert got == status and text in out["error"], out
    assert "\n" not in out["error"]
    assert all(run.nodes[n].pending_params is None and run.nodes[n].score_min == before[n]["score_min"]
               for n in ("yolo",) if n in before)
    assert run.nodes["small"].width == 32 and run.nodes["yolo"].layout == "v8"


def test_malformed_json(live: tuple[Run, int]) -> None:
    _, port = live
    status, out = request(port, "PATCH", "/nodes/yolo/params", raw=b"{score_min: 0.5")
    assert status == 400 and out["error"].startswith("malformed JSON body")


def test_streams(live: tuple[Run, int]) -> None:
    run, port = live
    status, out = request(port, "POST", "/nodes/multi/streams", {"path": "cam1.mp4", "name": "door"})
    assert status == 200 and out["stream"] == "door"
    until(lambda: run.nodes["names"].last == ["door"])
    status, out = request(port, "POST", "/nodes/multi/streams", {"path": "cam1.mp4", "name": "door"})
    assert status == 400 and "stream 'door' is already open" in out["error"]
    assert request(port, "POST", "/nodes/multi/streams", {"path": "x.mp4", "nme": "y"})[0] == 400
    assert request(port, "DELETE", "/nodes/multi/streams/door")[0] == 200
    until(lambda: run.nodes["names"].last == [])
    status, out = request(port, "DELETE", "/nodes/multi/streams/door")
    assert status == 400 and "no stream 'door'" in out["error"]


def test_stop_drains(live: tuple[Run, int]) -> None:
    run, port = live
    assert request(port, "POST", "/stop") == (200, {"stopping": True})
    result = run.wait()
    assert result.stopped_by == "signal" and result.ok


def test_a_node_in_an_isolated_process_reloads_and_keeps_it_across_a_restart(tmp_path: Path) -> None:
    g = tmp_path / "g.yaml"
    g.write_text(GRAPH.replace("{id: small, type: image.resize,", "{id: small, type: image.resize, isolate: process, on_error: restart,"))
    run = Run(load_checked(str(g)))
    server = ControlServer(("127.0.0.1", 0), Control(run, run.snapshot))
    run.start()
    server.start()
    try:
        until(lambda: run.nodes["shapes"].last == (24, 32, 3), 30)
        # checked here as in one process: a bad value is 400, a param that is not reloadable 409
        status, out = request(server.port, "PATCH", "/nodes/small/params", {"width": 0})
        assert status == 400 and "'width'" in out["error"], out
        status, out = request(server.port, "PATCH", "/nodes/small/params", {"interpolation": "nearest"})
        assert status == 409 and "not reloadable" in out["error"], out
        status, out = request(server.port, "PATCH", "/nodes/small/params", {"width": 40, "height": 30})
        assert status == 200, out
        until(lambda: run.nodes["shapes"].last == (30, 40, 3), 30)
        # the child dies: the one that replaces it runs with the params set since the start
        (group,) = run.groups
        first = group.proc.pid
        os.kill(first, 9)
        until(lambda: group.proc is not None and group.proc.pid != first, 30)
        run.nodes["shapes"].last = None
        until(lambda: run.nodes["shapes"].last is not None, 30)
        assert run.nodes["shapes"].last == (30, 40, 3)
        assert group.restarts >= 1
    finally:
        server.close()
        run.stop()
        run.wait()


def test_token_required_off_loopback() -> None:
    with pytest.raises(GraphErrors, match="not loopback; give a token"):
        ControlServer(("0.0.0.0", 0), Control(None, dict))


# -- through `edgespeed run` ------------------------------------------------------------------

def edgespeed(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    e = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]), **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "edgespeed", *args], cwd=cwd, env=e, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _port_from(p: subprocess.Popen[str]) -> tuple[int, list[str]]:
    lines: list[str] = []
    assert p.stderr is not None
    while True:
        line = p.stderr.readline()
        assert line, "edgespeed ended before serving: " + "".join(lines)
        lines.append(line)
        if m := re.search(r"control API on http://[^:]+:(\d+)", line):
            return int(m.group(1)), lines


def test_cli_token_and_stop(tmp_path: Path) -> None:
    g = tmp_path / "g.yaml"
    g.write_text(GRAPH)
    p = edgespeed("run", str(g), "-q", "--control-port", "0.0.0.0:0", cwd=tmp_path, env={"EDGESPEED_CONTROL_TOKEN": "s3cret"})
    try:
        port, _ = _port_from(p)
        status, out = request(port, "GET", "/status")
        assert status == 401 and "Bearer" in out["error"]
        assert request(port, "GET", "/status", headers={"Authorization": "Bearer wrong"})[0] == 401
        ok = {"Authorization": "Bearer s3cret"}
        assert request(port, "GET", "/status", headers=ok)[0] == 200
        assert request(port, "POST", "/stop", headers=ok)[0] == 200
        _, err = p.communicate(timeout=30)
    finally:
        p.kill()
    assert p.returncode == 0
    assert err.count("refused GET /status") == 2 and "no bearer token" in err and "wrong bearer token" in err


def test_cli_port_in_use(tmp_path: Path) -> None:
    g = tmp_path / "g.yaml"
    g.write_text(GRAPH)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        p = edgespeed("run", str(g), "-q", "--control-port", str(port), cwd=tmp_path)
        _, err = p.communicate(timeout=60)
    assert p.returncode == 2
    assert err.strip().splitlines() == [f"--control-port 127.0.0.1:{port}: cannot listen there: Address already in use"]


def test_nodes_lists_reloadable_params(capsys: pytest.CaptureFixture[str]) -> None:
    from edgespeed.cli import main

    assert main(["nodes", "post.yolo", "--json"]) == 0
    params = json.loads(capsys.readouterr().out)["params"]
    assert params["score_min"]["reloadable"] and params["iou_max"]["reloadable"] and not params["layout"]["reloadable"]


def test_cli_bad_control_port(tmp_path: Path) -> None:
    g = tmp_path / "g.yaml"
    g.write_text(GRAPH)
    p = edgespeed("run", str(g), "-q", "--control-port", "80x", cwd=tmp_path)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 2 and err.strip() == "--control-port: expected PORT or HOST:PORT, got '80x'"
