"""Make media/video/pedestrians.mp4: the first 15 s of OpenCV's vtest.avi, re-encoded small.

vtest.avi (768x576, pedestrians on a plaza, filmed from above) ships with Debian's opencv-doc:

    apt-get install -y opencv-doc           # examples/data/vtest.avi; BSD-3-Clause / Apache-2.0
    python edgespeed/data/media/make_media.py [path/to/vtest.avi]

Encoded with PyAV (pip install 'edgespeed[video]'): H.264 when its FFmpeg has libx264, else
MPEG-4 part 2; about 1 Mbit/s, so the clip stays near 2 MB while people remain sharp enough for
a detector. Frame size and rate are kept, so boxes and line positions in source pixels match
the original.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

OUT = Path(__file__).resolve().parent / "video" / "pedestrians.mp4"
SECONDS = 15
BIT_RATE = 1_000_000


def find_vtest() -> Path:
    """vtest.avi from the installed opencv-doc package."""
    files = subprocess.run(["dpkg", "-L", "opencv-doc"], capture_output=True, text=True, check=True).stdout.split()
    return Path(next(f for f in files if f.endswith("/vtest.avi")))


def main(src: Path) -> None:
    import av

    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(src)) as inp, av.open(str(OUT), "w") as out:
        vin = inp.streams.video[0]
        rate = Fraction(vin.average_rate or 10)
        vout = out.add_stream(codec, rate=rate)
        vout.width, vout.height, vout.pix_fmt, vout.bit_rate = vin.width, vin.height, "yuv420p", BIT_RATE
        # one thread and fixed options: the same input gives the same bytes (the SHA-256 in PROVENANCE.md)
        vout.thread_count = 1
        if codec == "libx264":
            vout.options = {"preset": "medium", "tune": "film", "g": str(int(rate) * 2)}
        n_frames = int(rate * SECONDS)
        for k, frame in enumerate(inp.decode(vin)):
            if k >= n_frames:
                break
            img = frame.reformat(format="yuv420p")
            img.pts, img.time_base = k, 1 / rate
            out.mux(vout.encode(img))
        out.mux(vout.encode(None))
    print(OUT.name, codec, f"{rate} fps", n_frames, "frames", OUT.stat().st_size, "bytes",
          hashlib.sha256(OUT.read_bytes()).hexdigest())


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else find_vtest())
