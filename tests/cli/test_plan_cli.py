"""`edgespeed plan GRAPH [--device NAME] [--json]` prints what runs where and over what."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgespeed.cli import main

MULTI = str(Path(__file__).resolve().parents[2] / "graphs" / "multi_device.yaml")


def test_text_names_each_node_and_each_edges_carrier(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", MULTI, "--device", "gateway"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("plan of multi_device@gateway: device 'gateway'")
    assert "small  image.resize" in out and "device gateway, main process, thread" in out and "cam " not in out
    assert "box/out -> small.image  link queue 32 block, reliable jpeg (camera -> gateway), private" in out
    assert "norm/tensor -> log.data  link queue 32 block, realtime zstd (gateway -> results)" in out


def test_json_is_the_plan(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", MULTI, "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["device"] is None and set(d["nodes"]) == {"cam", "box", "small", "norm", "log"}
    assert [e["carrier"] for e in d["edges"]] == ["ring"] * 4


def test_unknown_device_and_missing_graph_exit_2(tmp_path: Path) -> None:
    cmd = [sys.executable, "-c", "import sys; from edgespeed.cli import main; sys.exit(main())", "plan"]
    r = subprocess.run([*cmd, MULTI, "--device", "gatewya"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.strip() == "error: unknown device 'gatewya'; devices: camera, gateway, results"
    r = subprocess.run([*cmd, str(tmp_path / "none.yaml")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "no such graph file" in r.stderr


def test_graph_draws_devices_and_process_groups_as_clusters_and_labels_carriers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dot, mmd = tmp_path / "g.dot", tmp_path / "g.mmd"
    assert main(["graph", MULTI, "-o", str(dot)]) == 0 and main(["graph", MULTI, "-o", str(mmd)]) == 0
    text = dot.read_text()
    for dev, members in {"camera": ("cam", "box"), "gateway": ("small", "norm"), "results": ("log",)}.items():
        block = text.split(f'subgraph "cluster_{dev}" {{', 1)[1].split("  }", 1)[0]
        assert all(f'"{m}" [label=' in block for m in members)
    assert '"box" -> "small" [label="out -> image [link reliable jpeg, private]"];' in text
    assert '"norm" -> "log" [label="tensor -> data [link realtime zstd]"];' in text
    assert 'subgraph c_results_["device results"]' in mmd.read_text()
    iso = tmp_path / "iso.yaml"
    iso.write_text("name: iso\nnodes:\n  - {id: src, type: video.synthetic, params: {frames: 3}}\n"
                   "  - {id: a, type: image.resize, isolate: process, params: {width: 8, height: 8}, inputs: {image: src/frame}}\n")
    assert main(["graph", str(iso), "-o", str(dot)]) == 0
    text = dot.read_text()
    assert 'subgraph "cluster__a" {' in text and 'label="process a";' in text and "frame -> image [shm]" in text
