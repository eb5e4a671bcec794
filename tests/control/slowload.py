"""Measure a graph's rate with and without 50 idle and slow (slowloris) control API clients.

The clients run in a process of their own, so what is measured is what the server's threads
cost the graph, not the clients' own Python. Windows alternate (quiet, loaded, quiet, ...) so
a neighbour's load on a shared box affects both sides alike; the medians are compared.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from edgespeed.cli.validate import load_checked
from edgespeed.control import Control, ControlServer
from edgespeed.runtime.scheduler import Run

GRAPH = """
name: load
nodes:
  - {id: src, type: "ctlnodes:Ticker", params: {width: 8, height: 8}}
  - {id: sink, type: "ctlnodes:Shapes", inputs: {data: src/out}}
"""

CLIENTS = r"""
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(n // 2)]   # connect, send nothing
slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(n - n // 2)]
request = b"GET /status HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 4000
print("connected", flush=True)
i = 0
while True:  # a byte per client every 50 ms: each keeps a handler thread reading for ever
    for s in slow:
        s.send(request[i % len(request):i % len(request) + 1])
    i += 1
    time.sleep(0.05)
"""


def rate(run: Run, window_s: float) -> float:
    sink = run.nodes["sink"]
    n0, t0 = sink.seen, time.perf_counter()
    time.sleep(window_s)
    return (sink.seen - n0) / (time.perf_counter() - t0)


def measure(tmp_path: Path, clients: int = 50, windows: int = 3, window_s: float = 1.0) -> dict[str, Any]:
    """Return {quiet, loaded: packets/s medians, ratio: loaded / quiet}."""
    g = tmp_path / "load.yaml"
    g.write_text(GRAPH)
    run = Run(load_checked(str(g)))
    server = ControlServer(("127.0.0.1", 0), Control(run, run.snapshot))
    run.start()
    server.start()
    quiet, loaded = [], []
    try:
        rate(run, 0.5)  # warm up
        for _ in range(windows):
            quiet.append(rate(run, window_s))
            p = subprocess.Popen([sys.executable, "-c", CLIENTS, str(server.port), str(clients)], stdout=subprocess.PIPE, text=True)
            try:
                assert p.stdout is not None and p.stdout.readline().strip() == "connected"
                time.sleep(0.2)
                loaded.append(rate(run, window_s))
            finally:
                p.kill()
                p.wait()
    finally:
        server.close()
        run.stop()
        run.wait()
    q, lo = statistics.median(quiet), statistics.median(loaded)
    return {"quiet": q, "loaded": lo, "ratio": lo / q}
