"""The command line: validating a 100-node graph, and `edgespeed --help` start-up.

Targets:
- load + validate of a generated 100-node graph: median <= 200 ms in-process (the whole
  `edgespeed validate` subprocess is reported too);
- `edgespeed --help`: median of 5 runs <= 0.5 s (bare `python -c pass` is the baseline of
  the same run);
- neither imports av, cv2, onnxruntime or zmq: those belong in nodes' `setup()`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from edgespeed.graph import load
from edgespeed.graph.validate import check

NODES = 100
VALIDATE_MAX_S = 0.2
HELP_MAX_S = 0.5
HEAVY = ("av", "cv2", "onnxruntime", "zmq")
CLI = [sys.executable, "-c", "import sys; from edgespeed.cli import main; sys.exit(main())"]


@pytest.fixture(scope="module")
def graph_100(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One synthetic source feeding a binary tree of 99 resizers."""
    lines = ["name: tree100", "nodes:",
             "  - {id: cam, type: video.synthetic, params: {width: 640, height: 480, frames: 10}}"]
    for i in range(1, NODES):
        src = "cam/frame" if i <= 2 else f"r{(i - 1) // 2}/out"
        params = "{width: 320, height: 240}"
        lines.append(f"  - {{id: r{i}, type: image.resize, params: {params}, inputs: {{image: {src}}}}}")
    path = tmp_path_factory.mktemp("cli") / "tree100.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _heavy_imports(argv: list[str]) -> list[str]:
    """The heavy modules imported by `main(argv)` in a fresh interpreter."""
    code = ("import json, sys\nfrom edgespeed.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True, timeout=60)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_validate_in_process(benchmark: Any, figures: dict[str, Any], graph_100: Path) -> None:
    resolved = benchmark(lambda: check(load(graph_100)))
    median_s = benchmark.stats.stats.median
    figures["validate_100_ms"] = round(median_s * 1e3, 2)
    assert len(resolved.spec.nodes) == NODES
    assert median_s <= VALIDATE_MAX_S, f"load + validate of {NODES} nodes took {median_s * 1e3:.0f} ms"


def test_validate_subprocess(benchmark: Any, figures: dict[str, Any], graph_100: Path) -> None:
    run = [*CLI, "validate", str(graph_100)]
    done = benchmark.pedantic(subprocess.run, args=(run,), kwargs={"capture_output": True, "text": True, "timeout": 60},
                              rounds=3, iterations=1)
    figures["validate_100_subprocess_s"] = round(benchmark.stats.stats.median, 3)
    assert done.returncode == 0 and f"ok ({NODES} nodes" in done.stdout, done.stderr
    assert _heavy_imports(["validate", str(graph_100)]) == []


STARTUPS = [
    pytest.param(["-c", "pass"], id="python-c-pass"),  # the baseline: runs first
    pytest.param([*CLI[1:], "--help"], id="edgespeed-help"),
]


@pytest.mark.parametrize("argv", STARTUPS)
def test_startup(benchmark: Any, figures: dict[str, Any], argv: list[str]) -> None:
    done = benchmark.pedantic(subprocess.run, args=([sys.executable, *argv],),
                              kwargs={"capture_output": True, "timeout": 60}, rounds=5, iterations=1, warmup_rounds=1)
    median_s = benchmark.stats.stats.median
    assert done.returncode == 0, done.stderr
    if argv[-1] == "pass":
        figures["python_startup_s"] = round(median_s, 3)
        return
    figures["help_s"] = round(median_s, 3)
    if "python_startup_s" in figures:
        figures["help_minus_python_s"] = round(median_s - figures["python_startup_s"], 3)
    assert median_s <= HELP_MAX_S, f"edgespeed --help took {median_s:.2f} s (median of 5)"
    assert _heavy_imports(["--help"]) == []
