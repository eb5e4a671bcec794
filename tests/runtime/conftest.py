from __future__ import annotations

from typing import Any

import pytest

from edgespeed.graph import load_text
from edgespeed.graph.validate import check
from edgespeed.runtime.scheduler import Run, RunResult


@pytest.fixture
def run_yaml() -> Any:
    """Run graph YAML to the end; returns (result, run)."""

    def _run(text: str, duration_s: float | None = None, timeout_s: float = 30.0) -> tuple[RunResult, Run]:
        run = Run(check(load_text(text)), drain_timeout_s=5.0)
        run.start()
        result = run.wait(duration_s or timeout_s)
        assert result.stopped_by != "duration" or duration_s, f"graph did not finish in {timeout_s} s"
        return result, run

    return _run
