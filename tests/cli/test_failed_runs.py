"""Failed runs leave nothing misleading, and `bench` leaves the graph's outputs alone. Real CLI,
real files, a real preview server."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path


def edgespeed(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgespeed", *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def graph(tmp_path: Path, source: str) -> str:
    g = tmp_path / "g.yaml"
    g.write_text(f"""
nodes:
  - {{id: src, {source}}}
  - {{id: view, type: video.preview, params: {{port: 0}}, inputs: {{frame: src/frame}}}}
  - {{id: log, type: sink.jsonl, params: {{path: out/frames.jsonl}}, inputs: {{data: src/frame}}}}
""")
    return str(g)


def test_a_run_that_fails_before_any_packet_leaves_no_file_no_preview_line_and_no_done(tmp_path: Path) -> None:
    (tmp_path / "broken.mp4").write_bytes(b"not a video")  # exists (validate passes), fails in setup
    r = edgespeed("run", graph(tmp_path, "type: video.file, params: {path: broken.mp4}"), "--report", "rep.json", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert "preview at" not in r.stderr
    assert not (tmp_path / "out/frames.jsonl").exists()
    states = {k: v["state"] for k, v in json.loads((tmp_path / "rep.json").read_text())["nodes"].items()}
    assert states == {"src": "failed", "view": "not run", "log": "not run"}
    table = [line.split() for line in r.stderr.splitlines() if line.startswith(("view ", "log "))]
    assert table and all(row[-2:] == ["not", "run"] for row in table), r.stderr


def test_a_run_that_works_still_announces_the_preview_and_writes_its_file(tmp_path: Path) -> None:
    r = edgespeed("run", graph(tmp_path, "type: video.synthetic, params: {frames: 5, fps: 100, width: 64, height: 48}"),
                  "--report", "rep.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert re.search(r"^preview at http://127\.0\.0\.1:\d+/$", r.stderr, re.M), r.stderr
    assert len((tmp_path / "out/frames.jsonl").read_text().splitlines()) == 5
    assert {v["state"] for v in json.loads((tmp_path / "rep.json").read_text())["nodes"].values()} == {"done"}


BENCH = """
nodes:
  - {id: cam, type: video.synthetic, params: {frames: 20, width: 64, height: 48}}
  - {id: log, type: sink.jsonl, params: {path: out/real.jsonl}, inputs: {data: cam/frame}}
"""


def test_bench_never_overwrites_the_graphs_outputs(tmp_path: Path) -> None:
    (tmp_path / "g.yaml").write_text(BENCH)
    (tmp_path / "out").mkdir()
    (tmp_path / "out/real.jsonl").write_text("REAL\n")
    r = edgespeed("bench", "g.yaml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out/real.jsonl").read_text() == "REAL\n"
    folder = Path(re.search(r"^bench: sinks write to (\S+), not to the graph's outputs$", r.stderr, re.M).group(1))
    assert len((folder / "log/real.jsonl").read_text().splitlines()) == 20
    again = edgespeed("bench", "g.yaml", "--set", "log.path=elsewhere.jsonl", "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["nodes"]["log"]["in"] == 20
    assert not (tmp_path / "elsewhere.jsonl").exists()
    other = Path(re.search(r"sinks write to (\S+),", again.stderr).group(1))
    assert other != folder and len((other / "log/elsewhere.jsonl").read_text().splitlines()) == 20
