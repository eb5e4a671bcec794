"""Idle and slow control API clients never stall the graph (a generous bound here; the 0.9
target is benchmarks/bench_control.py's)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from slowload import measure  # noqa: E402


def test_fifty_slow_clients_leave_the_rate(tmp_path: Path) -> None:
    got = measure(tmp_path, clients=50, windows=5, window_s=0.7)  # medians of 5: a neighbour's burst is outvoted
    assert got["quiet"] > 0
    assert got["ratio"] >= 0.6, got
