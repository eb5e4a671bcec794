"""File sources report how far they are (fraction and time left) in /status, over real HTTP."""

from __future__ import annotations

import sys
import wave
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from test_control import request, until  # noqa: E402

from edgespeed.cli.validate import load_checked  # noqa: E402
from edgespeed.control import Control, ControlServer  # noqa: E402
from edgespeed.metrics.console import with_progress  # noqa: E402
from edgespeed.runtime.scheduler import Run  # noqa: E402


def make_video(path: Path, frames: int = 30, fps: int = 15) -> Path:
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=fps)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            img = np.full((48, 64, 3), i * 8 % 256, np.uint8)
            for pkt in s.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return path


def make_wav(path: Path, seconds: float = 2.0, rate: int = 16000) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.zeros(int(seconds * rate), np.int16).tobytes())
    return path


def test_file_sources_progress_in_status(tmp_path: Path) -> None:
    video, audio = make_video(tmp_path / "v.mp4"), make_wav(tmp_path / "a.wav")
    g = tmp_path / "g.yaml"
    g.write_text(f"""
name: files
nodes:
  - {{id: vid, type: video.file, params: {{path: {str(video)!r}, realtime: true}}}}
  - {{id: vsink, type: "ctlnodes:Shapes", inputs: {{data: vid/frame}}}}
  - {{id: aud, type: audio.file, params: {{path: {str(audio)!r}, realtime: true}}}}
  - {{id: asink, type: "ctlnodes:Shapes", inputs: {{data: aud/audio}}}}
""")
    run = Run(load_checked(str(g)))
    server = ControlServer(("127.0.0.1", 0), Control(run, lambda: with_progress(run.snapshot(), run.nodes)))
    run.start()
    server.start()
    try:
        def midway() -> dict | None:
            rep = request(server.port, "GET", "/status")[1]["nodes"]
            p = {n: rep[n].get("progress") for n in ("vid", "aud")}
            return p if all(v and 0.2 < v["fraction"] < 0.8 for v in p.values()) else None

        got = until(midway)
        for v in got.values():  # 2 s files read at their pace: time left is about what remains
            assert v["eta_s"] is not None and 0.2 < v["eta_s"] < 3.0, got
        result = run.wait(30)
    finally:
        server.close()
        run.stop()
    assert result.ok and result.report["nodes"]["vsink"]["in"] == 30
