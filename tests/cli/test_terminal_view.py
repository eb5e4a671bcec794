"""The live table through a real pseudo-terminal, read back with a terminal emulator (pyte).

At 80 and 150 columns: log lines printed during the run land above the table and none is
lost, the table fits the width, and the final summary leaves no stale copy of the live table.
"""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pyte
import pytest

REPO = Path(__file__).resolve().parents[2]
CTL = REPO / "tests" / "control"

GRAPH = """
name: tty
nodes:
  - {id: cam, type: "ctlnodes:Ticker", params: {period_s: 0.01, count: 300, log_every: 40}}
  - {id: small, type: image.resize, params: {width: 32, height: 24}, inputs: {image: cam/out}}
  - {id: shapes, type: "ctlnodes:Shapes", inputs: {data: small/out}}
"""
LOGGED = [f"ticker log line {n}" for n in range(40, 301, 40)]


def run_on_terminal(tmp_path: Path, cols: int, rows: int = 100) -> tuple[str, list[str]]:
    """Run `edgespeed run` with stderr on a pty of `cols` columns; the raw output and the screen."""
    g = tmp_path / "g.yaml"
    g.write_text(GRAPH)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    env = {**os.environ, "COLUMNS": str(cols), "LINES": str(rows), "PYTHONPATH": str(CTL)}
    p = subprocess.Popen([sys.executable, "-m", "edgespeed", "run", str(g)], cwd=tmp_path, env=env,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    assert p.wait(timeout=30) == 0
    os.close(master)
    raw = b"".join(chunks)
    screen = pyte.Screen(cols, rows)
    pyte.ByteStream(screen).feed(raw)
    return raw.decode(errors="replace"), [line.rstrip() for line in screen.display if line.strip()]


@pytest.mark.parametrize("cols", [80, 150])
def test_terminal_view(tmp_path: Path, cols: int) -> None:
    raw, screen = run_on_terminal(tmp_path, cols)
    assert raw.count("(Ctrl-C to stop)") >= 2, "the live table was drawn, and redrawn, while running"
    # every log line, once and in order, above the final table
    logged = [line for line in screen if line.startswith("ticker log line")]
    assert logged == LOGGED
    # no stale copy: one table (the summary), no "running" line left behind
    assert not any("(Ctrl-C to stop)" in line for line in screen)
    assert sum(line.startswith("node ") for line in screen) == 1
    for nid in ("cam ", "small ", "shapes "):
        assert sum(line.startswith(nid) for line in screen) == 1, screen
    assert screen[-1].startswith("tty: finished in")
    table = screen[len(LOGGED):-1]
    assert screen[:len(LOGGED)] == LOGGED and table[0].startswith("node ")
    assert all(len(line) < cols for line in screen)
    if cols == 80:  # fewer or abbreviated columns
        assert "dropped" not in table[0].split() and {"drop", "err", "p50"} <= set(table[0].split())
    else:
        assert {"type", "dropped", "errors", "p99"} <= set(table[0].split()) and any("image.resize" in t for t in table)
    # the live table showed the paced source's progress
    assert "% " in raw and " left" in raw


def test_paced_wait_is_not_processing_time(tmp_path: Path) -> None:
    """cam waits 10 ms per frame to keep its rate; its p50 process time must not show it."""
    import json

    g = tmp_path / "g.yaml"
    g.write_text(GRAPH.replace("count: 300", "count: 50"))
    env = {**os.environ, "PYTHONPATH": str(CTL)}
    r = subprocess.run([sys.executable, "-m", "edgespeed", "run", str(g), "-q", "--report", "r.json"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["wall_s"] >= 0.45  # it was paced
    assert rep["nodes"]["cam"]["process_ms"]["p50"] < 5.0


def test_narrow_table_drops_columns() -> None:
    """Long type names do not fit 80 columns even abbreviated: the type column goes first."""
    from edgespeed.metrics.console import table

    ms = {"p50": 1.25, "p99": 3.5, "mean": 1.0, "max": 4.0, "count": 10}
    node = {"type": "inference.onnx_detector_with_a_long_name", "in": 123456, "out": 123456, "dropped": 0, "errors": 0,
            "state": "running", "fps": 29.97, "process_ms": ms, "progress": {"fraction": 0.42, "eta_s": 75.0}}
    rep = {"nodes": {"detector_main": node}, "edges": {}, "sinks": {}}
    wide, narrow = table(rep, width=150).splitlines(), table(rep, width=80).splitlines()
    assert "type" in wide[0].split() and "running 42% 1:15 left" in wide[1]
    assert all(len(line) < 80 for line in narrow) and "type" not in narrow[0].split()
    assert narrow[1].startswith("detector_main") and "42% 1:15 left" in narrow[1]
