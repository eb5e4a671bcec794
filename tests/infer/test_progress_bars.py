"""Long model tools show a progress bar on a terminal, and none in a pipe."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pyte
import pytest


def on_terminal(args: list[str], cwd: Path, cols: int = 80) -> tuple[int, str, list[str]]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, cols, 0, 0))
    p = subprocess.Popen([sys.executable, "-m", "edgespeed", *args], cwd=cwd, stdin=subprocess.DEVNULL,
                         stdout=slave, stderr=slave, env={**os.environ, "COLUMNS": str(cols)})
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    rc = p.wait(timeout=60)
    os.close(master)
    raw = b"".join(chunks)
    screen = pyte.Screen(cols, 40)
    pyte.ByteStream(screen).feed(raw)
    return rc, raw.decode(errors="replace"), [line.rstrip() for line in screen.display if line.strip()]


@pytest.mark.parametrize(("tool", "label"), [
    pytest.param(["bench", "{model}", "--threads", "1", "--runs", "300"], "CPUExecutionProvider [", id="bench"),
    pytest.param(["quantize", "{model}", "--int8", "--calib", "{calib}", "-o", "{out}"], "calibrating [", id="quantize"),
    pytest.param(["prune", "{model}", "--sparsity", "0.5", "-o", "{out}"], "pruning [", id="prune"),
])
def test_progress_bar_on_a_terminal(tmp_path: Path, classifier: Path, calib_dir: Path, tool: list[str], label: str) -> None:
    args = ["model", *[a.format(model=classifier, calib=calib_dir, out=tmp_path / "out.onnx") for a in tool]]
    rc, raw, screen = on_terminal(args, tmp_path)
    assert rc == 0, raw
    assert label in raw and "100%" in raw, "a bar was drawn, up to the end"
    assert all(len(line) < 80 for line in raw.replace("\x1b[K", "").replace("\r", "\n").splitlines() if label in line)
    assert not any(label in line for line in screen), "and cleared: the tool's own output follows"
    piped = subprocess.run([sys.executable, "-m", "edgespeed", *args], cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert piped.returncode == 0 and label not in piped.stderr + piped.stdout and "\x1b[" not in piped.stderr
