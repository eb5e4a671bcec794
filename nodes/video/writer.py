"""Encode frames to an H.264 mp4 with PyAV, finalized on every way a run can end."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import numpy as np

from edgespeed import Input, MissingDependency, Node, Param

log = logging.getLogger("edgespeed.nodes.video.writer")

# Tried in order when `codec: auto`: the first that opens on this machine wins. Hardware
# encoders are listed after libx264 because FFmpeg builds often include them without the
# hardware being there; opening one is the only reliable test.
H264_ENCODERS = ("libx264", "libopenh264", "h264_nvenc", "h264_qsv", "h264_vaapi", "h264_videotoolbox", "h264_v4l2m2m", "h264")


class Encoder(Node):
    """(base) Encode frames with PyAV into a container that `_open` opens: the params, codec
    choice and timestamps a file writer and a network stream share."""

    frame = Input(dtype="uint8", doc="HxWx3 (bgr24/rgb24) or HxW gray uint8")
    fps: float = Param(30.0, gt=0, le=1000, doc="frame rate of the video")
    timing: Literal["rate", "pts"] = Param("rate", doc="rate: i / fps; pts: the envelope's media time")
    codec: str = Param("auto", doc="auto or an FFmpeg encoder name")
    crf: int = Param(23, ge=0, le=51, doc="libx264/libx265 quality (lower is better)")
    preset: str = Param("veryfast", doc="libx264/libx265 speed preset")
    bitrate_kbps: int = Param(0, ge=0, doc="target bitrate; 0: the encoder's default")
    format: Literal["bgr24", "rgb24"] = Param("bgr24", doc="channel order of 3-channel frames")

    def setup(self) -> None:
        try:
            import av
        except ImportError:
            raise MissingDependency("av", "video") from None
        self._av = av
        self._container: Any = None
        self._stream: Any = None
        self._pts0: int | None = None
        self._last_pts = -1
        self._codec_name: str | None = None
        self.frames = 0
        self.target = ""
        self.open_kw: dict[str, Any] = {}

    def _open(self) -> Any:
        """The output container, open for writing: `target` with `open_kw` (a subclass's setup
        sets both: a file, or a URL with its format)."""
        return self._av.open(self.target, "w", **self.open_kw)

    def _codec_options(self, name: str) -> dict[str, str]:
        return {"crf": str(self.crf), "preset": self.preset} if name in ("libx264", "libx265") else {}

    def process(self, frame: np.ndarray) -> None:
        if self._stream is None:
            self._start(frame)
        self._encode(frame)

    def _encode(self, frame: np.ndarray) -> None:
        fmt = "gray" if frame.ndim == 2 else self.format
        vf = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format=fmt)
        vf.pts = self._pts()
        for packet in self._stream.encode(vf):
            self._container.mux(packet)
        self.frames += 1

    def _pts(self) -> int:
        if self.timing == "rate":
            return self.frames
        env = self.envelope
        t_ms = (env.pts_ns if env else 0) // 1_000_000
        if self._pts0 is None:
            self._pts0 = t_ms
        pts = max(t_ms - self._pts0, self._last_pts + 1)  # strictly increasing, as muxers require
        self._last_pts = pts
        return pts

    def _start(self, frame: np.ndarray) -> None:
        if frame.ndim not in (2, 3) or (frame.ndim == 3 and frame.shape[2] != 3):
            raise ValueError(f"expected an HxWx3 or HxW uint8 frame, got shape {frame.shape}")
        h, w = frame.shape[:2]
        if self._codec_name is None:  # (once: a stream that reconnects keeps its encoder)
            self._codec_name = self._choose_codec(w - w % 2, h - h % 2)
        name = self._codec_name
        self._container = self._open()
        from fractions import Fraction

        stream = self._container.add_stream(name, rate=Fraction(self.fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = w - w % 2, h - h % 2, _pix_fmt(stream)
        if self.timing == "pts":
            stream.codec_context.time_base = Fraction(1, 1000)
        options = self._codec_options(name)
        if options:
            stream.options = options
        if self.bitrate_kbps and name not in ("libx264", "libx265"):
            stream.bit_rate = self.bitrate_kbps * 1000
        self._stream = stream
        if (w, h) != (stream.width, stream.height):
            log.info("node %r: %dx%d frames are scaled to %dx%d (the encoder needs even sizes)", self.id, w, h, stream.width, stream.height)

    def _choose_codec(self, w: int, h: int) -> str:
        if self.codec != "auto":
            if self.codec not in self._av.codecs_available:
                raise ValueError(f"unknown codec {self.codec!r}; this FFmpeg has no such encoder (try auto, libx264 or mpeg4)")
            return self.codec
        for name in H264_ENCODERS:
            if name in self._av.codecs_available and _opens(self._av, name, w, h):
                log.info("node %r: encoding with %s", self.id, name)
                return name
        log.warning("node %r: no H.264 encoder works here; writing MPEG-4 Part 2 (mpeg4) instead", self.id)
        return "mpeg4"

    def _finish(self) -> None:
        """Flush the encoder (B-frames and lookahead held back) and close the container."""
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        finally:
            self._container.close()
            self._container = self._stream = None


class VideoWriter(Encoder):
    """Write frames to a video file (H.264 in mp4 by default) that always plays.

    The file is finalized in teardown, which the engine runs at end-of-stream, on Ctrl-C,
    SIGTERM and when another node fails: the encoder is flushed and the mp4 index written.
    `fragmented: true` writes a fragmented mp4 instead, which stays playable even if the
    process is killed outright (SIGKILL, power loss) at the cost of a slightly larger file.
    With `codec: auto` the encoder is libx264 if present, else the first other H.264 encoder
    that opens here, else mpeg4 (with a warning). The container and size are fixed by the first
    frame; later frames of another size are scaled to it.

    Ports:
        frame (in): HxWx3 uint8 (bgr24 or rgb24, see `format`) or HxW uint8 gray.

    Params:
        path: the output file; the extension picks the container (.mp4, .mkv, .mov, .avi;
            default out.mp4). Parent folders are created.
        fps: frame rate written in the file (default 30).
        timing: `rate`: frame i is shown at i / fps; `pts`: at its media time from the
            envelope, so dropped frames keep real time (default rate).
        codec: `auto`, or an FFmpeg encoder name (libx264, mpeg4, libx265, ...; default auto).
        crf: quality for libx264/libx265, 0 (lossless) to 51 (default 23).
        preset: libx264/libx265 speed preset (default veryfast).
        bitrate_kbps: target bitrate for encoders without crf, 0 for the encoder's default.
        format: channel order of 3-channel input frames: bgr24 or rgb24 (default bgr24).
        fragmented: write a fragmented mp4 that plays even after a hard kill (default false).

    Example:
        ```yaml
        - id: out
          type: video.writer
          params: {path: out/annotated.mp4, fps: 30}
          inputs: {frame: overlay/frame}
        ```
    """

    kind = "video.writer"
    path: Path = Param(Path("out.mp4"), doc="output file")
    fragmented: bool = Param(False, doc="fragmented mp4: playable even after a hard kill")

    def setup(self) -> None:
        super().setup()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.target = str(self.path)
        self.open_kw = {"options": {"movflags": "frag_keyframe+empty_moov+default_base_moof"} if self.fragmented else {}}

    def teardown(self) -> None:
        if self._container is None:
            log.warning("node %r: no frames arrived; %s was not written", self.id, self.path)
            return
        self._finish()  # writes the mp4 index (moov): without it nothing plays
        log.info("node %r: wrote %d frames to %s", self.id, self.frames, self.path)


def _pix_fmt(stream: Any) -> str:
    formats = [f.name for f in (stream.codec_context.codec.video_formats or [])]
    return "yuv420p" if not formats or "yuv420p" in formats else formats[0]


def _opens(av: Any, name: str, w: int, h: int) -> bool:
    """Whether encoder `name` opens for this size (a hardware encoder without its hardware fails)."""
    from fractions import Fraction

    try:
        ctx = av.CodecContext.create(name, "w")
        ctx.width, ctx.height, ctx.time_base = w, h, Fraction(1, 30)
        formats = [f.name for f in (ctx.codec.video_formats or [])]
        ctx.pix_fmt = "yuv420p" if not formats or "yuv420p" in formats else formats[0]
        ctx.open()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not usable here"
        return False
