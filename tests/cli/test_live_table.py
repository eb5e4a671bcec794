"""On a terminal, `edgespeed run` redraws a live per-node table while the graph runs."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_live_table_on_a_terminal(tmp_path: Path) -> None:
    master, slave = pty.openpty()
    p = subprocess.Popen(
        [sys.executable, "-m", "edgespeed", "run", str(REPO / "graphs/quickstart.yaml"), "--set", "cam.frames=75"],
        cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave,
    )
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    assert p.wait(timeout=30) == 0
    os.close(master)
    text = b"".join(chunks).decode(errors="replace")
    assert "running" in text and "(Ctrl-C to stop)" in text, "the live table was drawn while running"
    assert "\x1b[" in text, "and redrawn in place"
    assert "quickstart: finished" in text
