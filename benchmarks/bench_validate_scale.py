"""`edgespeed validate` on a 20,000-node graph and on YAML bombs: time and peak memory.

Targets:
- a generated 20,000-node graph validates in seconds, and every check is linear: the
  20,000-node run takes at most 25x the 2,000-node run of the same session (linear is 10x,
  quadratic would be 100x);
- a billion-laughs file (nine levels of nine aliases, at the top level and inside params) is
  refused with exit 2 in under 1 s and under 150 MiB peak RSS, the bare interpreter start-up
  of the same run being the baseline.
Each figure is one fresh `edgespeed validate` subprocess, its peak RSS read from
`getrusage(RUSAGE_CHILDREN)` of a wrapper process that runs only it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

LINEAR_RATIO_MAX = 25.0
BOMB_MAX_S = 1.0
BOMB_MAX_MIB = 150.0
INVALID = Path(__file__).parents[1] / "tests" / "graphs" / "invalid"
# Runs the CLI in a child and prints its wall time and peak RSS (KiB on Linux).
_MEASURE = ("import json, resource, subprocess, sys, time\n"
            "t = time.perf_counter()\n"
            "r = subprocess.run([sys.executable, '-c', 'import sys; from edgespeed.cli import main; sys.exit(main())', *sys.argv[1:]],"
            " capture_output=True, text=True)\n"
            "wall = time.perf_counter() - t\n"
            "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
            "print(json.dumps({'rc': r.returncode, 's': wall, 'mib': rss / 1024, 'err': r.stderr[-400:]}))")


def tree_graph(path: Path, nodes: int) -> Path:
    """One synthetic source feeding a binary tree of `nodes - 1` resizers."""
    lines = [f"name: tree{nodes}", "nodes:",
             "  - {id: cam, type: video.synthetic, params: {width: 640, height: 480, frames: 10}}"]
    for i in range(1, nodes):
        src = "cam/frame" if i <= 2 else f"r{(i - 1) // 2}/out"
        lines.append(f"  - {{id: r{i}, type: image.resize, params: {{width: 320, height: 240}}, inputs: {{image: {src}}}}}")
    path.write_text("\n".join(lines) + "\n")
    return path


def measure(*argv: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", _MEASURE, *argv], capture_output=True, text=True, check=True, timeout=300)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def test_validate_is_linear(figures: dict[str, Any], tmp_path: Path) -> None:
    small = measure("validate", str(tree_graph(tmp_path / "t2k.yaml", 2_000)))
    big = measure("validate", str(tree_graph(tmp_path / "t20k.yaml", 20_000)))
    assert small["rc"] == 0 and big["rc"] == 0, (small["err"], big["err"])
    base = measure("--help")
    figures["validate_2k_s"] = round(small["s"], 3)
    figures["validate_20k_s"] = round(big["s"], 3)
    figures["validate_20k_mib"] = round(big["mib"], 1)
    # start-up is the same in both; what grows with the graph is the rest
    ratio = (big["s"] - base["s"]) / max(small["s"] - base["s"], 1e-3)
    figures["validate_20k_over_2k"] = round(ratio, 1)
    assert ratio <= LINEAR_RATIO_MAX, f"20,000 nodes took {ratio:.1f}x 2,000 nodes: something is quadratic"


@pytest.mark.parametrize("name", ["yaml-bomb-top", "yaml-bomb-params"])
def test_bomb_is_refused_fast_and_small(name: str, figures: dict[str, Any]) -> None:
    base = measure("--help")
    got = measure("validate", str(INVALID / f"{name}.yaml"))
    assert got["rc"] == 2 and "YAML bomb" in got["err"], got["err"]
    key = name.replace("-", "_")
    figures[f"{key}_s"] = round(got["s"], 3)
    figures[f"{key}_mib"] = round(got["mib"], 1)
    figures["help_mib"] = round(base["mib"], 1)
    assert got["s"] <= BOMB_MAX_S + base["s"], f"refusing {name} took {got['s']:.2f} s"
    assert got["mib"] <= BOMB_MAX_MIB, f"refusing {name} peaked at {got['mib']:.0f} MiB"
