"""Shared fixtures for the benchmarks, and the one-line-per-run results log.

Every benchmark records its key figures into the session-level `figures` dict; at the end of
the session one JSON line (commit, machine, time, figures) is appended to `results.jsonl`, so
runs on different commits and machines can be compared later. Targets are asserted as ratios
or thresholds against baselines measured in the same run: absolute times are noisy on a
shared 2-core box.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
RESULTS = HERE / "results.jsonl"
FIGURES: dict[str, Any] = {}


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    """Collect `bench_*.py` (pytest's default `python_files` only knows `test_*.py`)."""
    if file_path.suffix == ".py" and file_path.name.startswith("bench_") and not parent.session.isinitpath(file_path):
        return pytest.Module.from_parent(parent, path=file_path)
    return None  # files named on the command line are collected by pytest itself


@pytest.fixture(scope="session")
def figures() -> dict[str, Any]:
    """The session's key figures (name -> number); written to results.jsonl at the end."""
    return FIGURES


def _commit() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], check=False, cwd=HERE, capture_output=True, text=True, timeout=10)
        return done.stdout.strip()

    try:
        sha = git("rev-parse", "--short", "HEAD") or "unknown"
        return sha + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not FIGURES:  # collection only, or every benchmark skipped: nothing to record
        return
    line = {
        "commit": _commit(),
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": os.cpu_count(), "impl": sys.implementation.name},
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "exitstatus": int(exitstatus),
        "figures": FIGURES,
    }
    with RESULTS.open("a", encoding="utf-8") as f:
        f.write(json.dumps(line, sort_keys=True) + "\n")
