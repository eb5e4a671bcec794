"""Bad media at run time: one line naming the file and what is wrong; a missing input file, or a
folder where a file belongs (and the reverse), is bad input and exits 2. Real files, real CLI."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

PCM = (np.sin(np.arange(8000) / 10) * 10000).astype("<i2").tobytes()


def wav(path: Path, fmt: bytes) -> Path:
    """A WAV with the given format chunk body and half a second of 8 kHz PCM."""
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(PCM)) + PCM
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def run(tmp_path: Path, node: str, port: str, path: Path) -> subprocess.CompletedProcess:
    g = tmp_path / "g.yaml"
    g.write_text(f"nodes:\n  - {{id: src, type: {node}, params: {{path: '{path}'}}}}\n"
                 f"  - {{id: out, type: sink.null, inputs: {{data: src/{port}}}}}\n")
    return subprocess.run([sys.executable, "-m", "edgespeed", "run", str(g), "-q"], capture_output=True, text=True, timeout=60)


def one_line(r: subprocess.CompletedProcess) -> str:
    lines = [s for s in r.stderr.splitlines() if s.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


@pytest.mark.parametrize(("fields", "why"), [
    ((0xBEEF, 0, 0, 0, 0, 0), "its WAV format chunk is broken: 0 channels, 0 Hz, 0 bits per sample"),
    ((1, 1, 8000, 16000, 2, 0), "its WAV format chunk is broken: 1 channels, 8000 Hz, 0 bits per sample"),
    ((0x1234, 1, 8000, 16000, 2, 16), "its WAV format chunk names codec 0x1234"),
    ((1, 0, 8000, 16000, 2, 16), "its WAV format chunk is broken: 0 channels, 8000 Hz, 16 bits per sample"),
], ids=["all-zero", "zero-bits", "unknown-codec", "zero-channels"])
def test_a_broken_wav_format_chunk_names_the_file_and_the_field(tmp_path: Path, fields: tuple[int, ...], why: str) -> None:
    path = wav(tmp_path / "bad.wav", struct.pack("<HHIIHH", *fields))
    r = run(tmp_path, "audio.file", "audio", path)
    assert r.returncode == 1
    line = one_line(r)
    assert line.startswith("node 'src' failed in ") and f"audio file '{path}': {why}" in line
    assert "AttributeError" not in line


def test_a_short_wav_format_chunk_is_named(tmp_path: Path) -> None:
    path = wav(tmp_path / "short.wav", struct.pack("<HH", 1, 1))
    assert f"audio file '{path}': its WAV format chunk is 4 bytes, expected at least 16" in one_line(run(tmp_path, "audio.file", "audio", path))


def test_a_good_wav_still_plays(tmp_path: Path) -> None:
    path = wav(tmp_path / "good.wav", struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16))
    r = run(tmp_path, "audio.file", "audio", path)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize(("node", "port", "kind"), [
    ("audio.file", "audio", "audio file"), ("video.file", "frame", "video file"), ("sensor.csv", "reading", "CSV file")])
def test_a_folder_where_a_file_belongs_says_so_and_exits_2(tmp_path: Path, node: str, port: str, kind: str) -> None:
    folder = tmp_path / "media"
    folder.mkdir()
    r = run(tmp_path, node, port, folder)
    assert r.returncode == 2
    line = one_line(r)
    # validate (run's first step) catches it, located; the node's own check says the same at run time
    assert f"'{folder}' is a folder" in line and "does not exist" not in line


@pytest.mark.parametrize(("node", "port"), [("audio.file", "audio"), ("video.file", "frame"), ("sensor.csv", "reading"),
                                            ("image.folder", "frame")])
def test_a_missing_input_exits_2_naming_it(tmp_path: Path, node: str, port: str) -> None:
    missing = tmp_path / "nowhere"
    r = run(tmp_path, node, port, missing)
    assert r.returncode == 2
    assert f"'{missing}'" in one_line(r)


def test_a_file_where_the_image_folder_belongs_says_so_and_exits_2(tmp_path: Path) -> None:
    f = tmp_path / "one.png"
    f.write_bytes(b"not a folder")
    r = run(tmp_path, "image.folder", "frame", f)
    assert r.returncode == 2
    assert f"'{f}' is a file" in one_line(r)
