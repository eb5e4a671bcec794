"""The preview page shows per-node rate, latency and drops beside the video, from the run's status."""

from __future__ import annotations

import json
import socket
import sys
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from test_control import until  # noqa: E402

from edgespeed.cli.validate import load_checked  # noqa: E402
from edgespeed.runtime.scheduler import Run  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_preview_stats_panel(tmp_path: Path) -> None:
    port = free_port()
    g = tmp_path / "g.yaml"
    g.write_text(f"""
name: pv
nodes:
  - {{id: cam, type: "ctlnodes:Ticker", params: {{period_s: 0.005}}}}
  - {{id: small, type: image.resize, params: {{width: 32, height: 24}}, inputs: {{image: cam/out}}}}
  - {{id: preview, type: video.preview, params: {{port: {port}}}, inputs: {{frame: small/out}}}}
""")
    run = Run(load_checked(str(g)))
    run.start()
    try:
        def get(path: str) -> bytes:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                return bytes(r.read())

        page = until(lambda: _try(get, "/")).decode()
        assert 'fetch("/stats.json")' in page and "<th>dropped</th>" in page and 'src="/stream"' in page
        first = json.loads(get("/stats.json"))
        assert set(first["nodes"]) == set(run.snapshot()["nodes"]) == {"cam", "small", "preview"}
        until(lambda: json.loads(get("/stats.json"))["nodes"]["small"]["fps"] > 10)
        now, rep = json.loads(get("/stats.json")), run.snapshot()
        # the preview's input is `latest` of 1 with nobody watching: it drops and says so, as the report does
        assert now["nodes"]["preview"]["dropped"] <= rep["nodes"]["preview"]["dropped"]
        assert set(now["nodes"]["cam"]) == {"fps", "p50_ms", "p99_ms", "dropped"}
        assert "preview" in now["latency_ms"] and now["latency_ms"]["preview"]["p50"] > 0
    finally:
        run.stop()
        run.wait()


def _try(get, path: str) -> bytes | None:  # type: ignore[no-untyped-def]
    try:
        return get(path)
    except OSError:
        return None
