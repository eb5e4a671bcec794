"""Make `silero_vad.onnx` here from the `silero-vad` wheel on PyPI, without installing it.

The wheel depends on torch, which EdgeSpeed does not need for the VAD: ONNX Runtime runs the
model. So this downloads the wheel alone (`pip download --no-deps`), takes the one ONNX file
out of it and checks its SHA-256 against the value recorded in `../PROVENANCE.md`.

Run it from anywhere (it needs network access to PyPI, once; nothing at run time does):

    python edgespeed/data/models/extract_silero_vad.py
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

VERSION = "6.2.3"
MEMBER = "silero_vad/data/silero_vad.onnx"  # the model silero-vad's own OnnxWrapper loads (8 and 16 kHz)
SHA256 = "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3"
TARGET = Path(__file__).with_name("silero_vad.onnx")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                        f"silero-vad=={VERSION}", "-d", tmp], check=True)
        wheel = next(Path(tmp).glob("silero_vad-*.whl"))
        data = zipfile.ZipFile(wheel).read(MEMBER)
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        print(f"{MEMBER} in silero-vad {VERSION} has SHA-256 {digest}, expected {SHA256}", file=sys.stderr)
        return 1
    TARGET.write_bytes(data)
    print(f"wrote {TARGET} ({len(data)} bytes, sha256 {digest})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
