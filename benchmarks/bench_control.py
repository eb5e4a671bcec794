"""The control API never stalls the graph: its rate with 50 idle + slow clients vs without."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "control"))

from slowload import measure  # noqa: E402


def test_control_slow_clients(tmp_path: Path, figures: dict[str, Any]) -> None:
    got = measure(tmp_path, clients=50, windows=5, window_s=1.0)
    figures["control_slow_clients_ratio"] = round(got["ratio"], 3)
    figures["control_quiet_pps"] = round(got["quiet"])
    print(f"\nrate without clients {got['quiet']:.0f} pkt/s, with 50 idle+slow {got['loaded']:.0f} pkt/s: {got['ratio']:.3f}x")
    assert got["ratio"] >= 0.9, got
