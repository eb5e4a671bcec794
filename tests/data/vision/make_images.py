"""Copy the real test photo for the vision tests out of Debian's opencv-doc (run once; the output is committed).

    apt-get install -y opencv-doc
    .venv/bin/python tests/data/vision/make_images.py

`basketball.png` is OpenCV's own sample image `samples/data/basketball1.png` (640x480, two
people playing basketball indoors), byte for byte: the script checks the SHA-256 of the source
and of the copy, so the committed file is exactly the upstream one (no re-encoding, no edits).
OpenCV ships its samples under Apache-2.0 AND BSD-3-Clause (Debian's copyright file for
opencv-doc 4.6.0, `Files: *`). The tests need a photo with people in it: the Ultralytics
detector they run (nudenet's 320n.onnx) finds faces and feet on it.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

HERE = Path(__file__).parent
SOURCE = Path("/usr/share/doc/opencv-doc/examples/data/basketball1.png")
SHA256 = "ba06f6701f7260998b430c39b6557f775497e6ce7b1a74f0b7ea6af371bf54a6"


def main() -> None:
    if not SOURCE.is_file():
        raise SystemExit(f"{SOURCE} not found; install it with: apt-get install -y opencv-doc")
    if hashlib.sha256(SOURCE.read_bytes()).hexdigest() != SHA256:
        raise SystemExit(f"{SOURCE} is not the expected file (SHA-256 differs)")
    out = HERE / "basketball.png"
    shutil.copyfile(SOURCE, out)
    assert hashlib.sha256(out.read_bytes()).hexdigest() == SHA256
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
