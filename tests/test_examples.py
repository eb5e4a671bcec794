"""The examples run as a user would run them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_builder_example_round_trips_and_runs(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, str(REPO / "examples/build_graph.py")], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    counts = json.loads(r.stdout.strip().splitlines()[-1])
    assert counts["log"]["in"] == 60
    assert len((tmp_path / "out/quickstart_py.jsonl").read_text().splitlines()) == 60


def test_plugin_example_by_module_path(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO / "examples/plugin"))
    r = subprocess.run([sys.executable, "-m", "edgespeed", "run", str(REPO / "examples/plugin/blur.yaml"), "-q"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert len((tmp_path / "out/blur.jsonl").read_text().splitlines()) == 30
