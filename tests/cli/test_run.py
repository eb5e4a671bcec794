"""`edgespeed run` as a user runs it: a real subprocess, real signals, real files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"


def edgespeed(*args: str, cwd: Path | None = None, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(TESTS))
    return subprocess.run([sys.executable, "-m", "edgespeed", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, **kw)


def start(*args: str, cwd: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(TESTS))
    return subprocess.Popen([sys.executable, "-m", "edgespeed", *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def write(tmp_path: Path, text: str) -> str:
    p = tmp_path / "g.yaml"
    p.write_text(text)
    return str(p)


def test_quickstart_runs_to_the_end_and_reports(tmp_path: Path) -> None:
    r = edgespeed("run", str(REPO / "graphs/quickstart.yaml"), "--set", "cam.realtime=false", "--set", "cam.frames=60",
                  "--report", "report.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = (tmp_path / "out/quickstart.jsonl").read_text().splitlines()
    assert len(lines) == 60 and json.loads(lines[-1])["seq"] == 59
    rep = json.loads((tmp_path / "report.json").read_text())
    for nid in ("cam", "small", "log", "preview"):
        assert {"in", "out", "dropped", "errors"} <= rep["nodes"][nid].keys()
        assert {"p50", "p99"} <= rep["nodes"][nid]["process_ms"].keys()
    assert rep["nodes"]["small"]["in"] == 60 and rep["nodes"]["log"]["in"] == 60
    assert rep["nodes"]["preview"]["in"] + rep["nodes"]["preview"]["dropped"] == 60
    assert rep["sinks"]["log"]["latency_ms"]["p99"] >= rep["sinks"]["log"]["latency_ms"]["p50"] > 0
    assert rep["wall_s"] > 0
    assert "quickstart: finished" in r.stderr and "latency log" in r.stderr


def test_builtin_graph_by_name_from_any_folder(tmp_path: Path) -> None:
    r = edgespeed("run", "quickstart", "--set", "cam.frames=5", "--set", "cam.realtime=false", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert len((tmp_path / "out/quickstart.jsonl").read_text().splitlines()) == 5


ENDLESS = """
name: endless
nodes:
  - {id: cam, type: video.synthetic, params: {width: 64, height: 48, fps: 200, frames: 0}}
  - {id: log, type: sink.jsonl, params: {path: frames.jsonl, flush_every: 1000}, inputs: {data: cam/frame}}
"""


@pytest.mark.parametrize(("sig", "code"), [pytest.param(signal.SIGINT, 130, id="ctrl-c"), pytest.param(signal.SIGTERM, 0, id="sigterm")])
def test_signals_drain_flush_and_close_the_sinks(tmp_path: Path, sig: int, code: int) -> None:
    p = start("run", write(tmp_path, ENDLESS), "--report", "rep.json", cwd=tmp_path)
    time.sleep(2.0)
    p.send_signal(sig)
    _, err = p.communicate(timeout=30)
    assert p.returncode == code, err
    assert "Traceback" not in err and "stopped by signal" in err
    lines = (tmp_path / "frames.jsonl").read_text().splitlines()
    assert all(json.loads(line)["data"]["shape"] == [48, 64, 3] for line in lines), "every line is complete"
    rep = json.loads((tmp_path / "rep.json").read_text())
    assert len(lines) == rep["nodes"]["log"]["in"] == rep["nodes"]["cam"]["out"] > 10, "nothing accepted was lost"


def test_sigusr1_prints_every_threads_stack_and_the_run_goes_on(tmp_path: Path) -> None:
    # how an operator (or a test that timed out) asks a stuck run where it is
    p = start("run", write(tmp_path, ENDLESS), "-q", cwd=tmp_path)
    time.sleep(1.5)
    p.send_signal(signal.SIGUSR1)
    time.sleep(0.5)
    assert p.poll() is None, "the run goes on"
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert err.count("Thread 0x") >= 2 and "worker.py" in err, err


def test_duration_stops_the_run(tmp_path: Path) -> None:
    r = edgespeed("run", write(tmp_path, ENDLESS), "--duration", "0.5", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "frames.jsonl").read_text().count("\n") > 5


FAILING = """
nodes:
  - {id: src, type: test.array_source, params: {count: 10, shape: [1]}}
  - {id: lc, type: "testnodes:Lifecycle", params: {fail_at: [3]}, inputs: {data: src/out}}
  - {id: log, type: sink.jsonl, params: {path: out.jsonl}, inputs: {data: lc/out}}
"""


def test_a_node_that_raises_gives_one_line_and_exit_1(tmp_path: Path) -> None:
    r = edgespeed("run", write(tmp_path, FAILING.replace("test.array_source", "testnodes:ArraySource")), "-q", cwd=tmp_path)
    assert r.returncode == 1
    assert "node 'lc' failed in process() on src/out #3: ValueError: bad value 3" in r.stderr
    assert "Traceback" not in r.stderr
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 3, "the sink kept and flushed what came before"
    dbg = edgespeed("--debug", "run", write(tmp_path, FAILING.replace("test.array_source", "testnodes:ArraySource")), "-q", cwd=tmp_path)
    assert dbg.returncode == 1 and "Traceback" in dbg.stderr


def test_on_error_skip_keeps_going(tmp_path: Path) -> None:
    g = FAILING.replace("test.array_source", "testnodes:ArraySource").replace("params: {fail_at: [3]}", "on_error: skip, params: {fail_at: [3, 5]}")
    r = edgespeed("run", write(tmp_path, g), "--report", "rep.json", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rep = json.loads((tmp_path / "rep.json").read_text())
    assert rep["nodes"]["lc"]["errors"] == 2 and rep["nodes"]["log"]["in"] == 8


def test_a_sink_that_cannot_open_its_file_names_the_node(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    g = ENDLESS.replace("path: frames.jsonl", "path: afile/frames.jsonl")
    r = edgespeed("run", write(tmp_path, g), "-q", cwd=tmp_path)
    assert r.returncode == 1
    lines = [ln for ln in r.stderr.splitlines() if "failed" in ln]
    assert lines and lines[0].startswith("node 'log' failed in setup(): ") and "afile" in lines[0]
    assert "Traceback" not in r.stderr


def test_a_plugin_that_does_not_import_names_the_node(tmp_path: Path) -> None:
    g = ENDLESS.replace("type: sink.jsonl", "type: 'nosuchpkg.sinks:Thing'")
    r = edgespeed("run", write(tmp_path, g), cwd=tmp_path)
    assert r.returncode == 2
    assert "node 'log'" in r.stderr and "cannot import plugin 'nosuchpkg.sinks:Thing'" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_set_rejects_bad_values_with_a_located_line(tmp_path: Path) -> None:
    r = edgespeed("run", write(tmp_path, ENDLESS), "--set", "cam.fps=30fps", "--set", "nope.x=1", cwd=tmp_path)
    assert r.returncode == 2
    assert "--set nope.x=1: no node 'nope'" in r.stderr
    r = edgespeed("run", write(tmp_path, ENDLESS), "--set", "cam.fps=30fps", cwd=tmp_path)
    assert r.returncode == 2
    assert "--set cam.fps=30fps: node 'cam' param 'fps': expected a number > 0 and <= 1000, got '30fps'" in r.stderr


def test_missing_graph_file(tmp_path: Path) -> None:
    r = edgespeed("run", "nope.yaml", cwd=tmp_path)
    assert r.returncode == 2 and "nope.yaml: no such graph file" in r.stderr
