"""Decode a video file with PyAV: threaded, looped, trimmed, optionally paced like a camera."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from edgespeed import Frame, Node, Output, Param, Stamped

from .formats import PixelFormatPorts, import_av


class FileSource(PixelFormatPorts, Node):
    """Frames of any file FFmpeg reads (mp4, mkv, avi, ts; H.264, HEVC, VP9, MJPEG, ...).

    Frames are decoded on FFmpeg's threads (`thread_type AUTO`) and converted by FFmpeg's
    swscale straight to `format`: the array the node emits is the converted frame's own buffer,
    with no copy after the conversion. Each frame carries its media time from the stream's PTS
    (`pts_ns`, continuing across loops), so `sync: timestamp` works on files.

    Ports:
        frame (out): HxWx3 uint8 (bgr24 or rgb24), or HxW uint8 for gray; its media time is
            seconds from the start of the stream.

    Params:
        path: the video file (required; checked when the graph starts).
        format: bgr24 (OpenCV's order), rgb24 or gray (default bgr24).
        loop: start again at `start_s` after the end; media time keeps increasing (default false).
        start_s: skip to this media time in seconds (seeks to the keyframe before it, then
            decodes up to it; default 0).
        end_s: stop at this media time in seconds; null for the end of the file (default null).
        realtime: pace frames at the stream's rate like a live camera; false decodes as fast as
            the graph takes them (default false).
        threads: decoder threads, 0 for FFmpeg's choice (one per core; default 0).

    Example:
        ```yaml
        - id: src
          type: video.file
          params: {path: traffic.mp4, loop: true, realtime: true}
        ```
    """

    kind = "video.file"
    frame = Output(Frame)
    path: Path = Param(doc="video file", kind="input_file")
    format: Literal["bgr24", "rgb24", "gray"] = Param("bgr24", doc="pixel format of emitted frames")
    loop: bool = Param(False, doc="start again after the end")
    start_s: float = Param(0.0, ge=0, doc="start at this media time, seconds")
    end_s: float | None = Param(None, gt=0, doc="stop at this media time, seconds; null: the end")
    realtime: bool = Param(False, doc="pace frames at the stream's rate")
    threads: int = Param(0, ge=0, le=64, doc="decoder threads; 0: FFmpeg's choice")

    def setup(self) -> None:
        self._av = import_av()
        if self.end_s is not None and self.end_s <= self.start_s:
            raise ValueError(f"end_s {self.end_s:g} must be after start_s {self.start_s:g}")
        if self.path.is_dir():
            raise IsADirectoryError(f"video file '{self.path}' is a folder; give a file in it")
        if not self.path.is_file():
            raise FileNotFoundError(f"video file '{self.path}' does not exist")
        self._container = self._open()

    def _open(self) -> Any:
        try:
            container = self._av.open(str(self.path))
        except self._av.error.FFmpegError as e:
            raise ValueError(f"cannot read video file '{self.path}': {_reason(e)}") from None
        if not container.streams.video:
            container.close()
            raise ValueError(f"video file '{self.path}' has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = self.threads
        return container

    def progress(self) -> float | None:
        """The fraction of the file (or of start_s..end_s) decoded so far; None when looping."""
        dur = self._container.duration
        end = self.end_s if self.end_s is not None else (dur / 1e6 if dur else None)  # duration: in AV_TIME_BASE (us)
        if self.loop or not end or end <= self.start_s:
            return None
        return (getattr(self, "_pos_ns", 0) / 1e9 - self.start_s) / (end - self.start_s)

    def teardown(self) -> None:
        self._container.close()

    def pacing(self) -> float | None:
        return 1.0 if self.realtime else None  # the engine paces from media time

    def generate(self) -> Iterator[Any]:
        container = self._container
        stream = container.streams.video[0]
        tb = stream.time_base
        first = stream.start_time or 0  # media time counts from the start of the stream
        num, den = tb.numerator * 1_000_000_000, tb.denominator
        start_ns = int(self.start_s * 1e9)
        end_ns = int(self.end_s * 1e9) if self.end_s is not None else None
        fmt = self.format
        period_ns = int(1e9 / float(stream.average_rate or stream.guessed_rate or 30))
        offset_ns = 0  # added to media time on each loop, so it keeps increasing
        rewind = self.start_s > 0
        while True:
            last_ns, n = -1, 0
            for frame in self._frames(container, stream, rewind):
                t_ns = (frame.pts - first) * num // den if frame.pts is not None else n * period_ns
                n += 1
                if t_ns < start_ns:
                    continue
                if end_ns is not None and t_ns >= end_ns:
                    break
                last_ns = self._pos_ns = t_ns
                yield Stamped({"frame": frame.to_ndarray(format=fmt)}, pts_ns=offset_ns + t_ns)
                if self.stopping:
                    return
            else:  # the end of the file, not end_s
                self._check_complete(stream, n)
            if not self.loop or self.stopping or last_ns < 0:
                return
            offset_ns += last_ns + period_ns - start_ns
            rewind = True

    def _check_complete(self, stream: Any, decoded: int) -> None:
        # An mp4/mov index knows its frame count exactly: fewer frames means the file was cut
        # (FFmpeg itself just reports the end of the file). Other containers only estimate it.
        declared = stream.frames
        if declared > 0 and self.start_s == 0 and decoded < declared and self._container.format.name.startswith("mov"):
            raise ValueError(f"video file '{self.path}' is truncated: it ends after {decoded} of {declared} frames")

    def _frames(self, container: Any, stream: Any, rewind: bool) -> Iterator[Any]:
        """Decoded frames, from the keyframe before `start_s` when `rewind`; FFmpeg errors
        become one line naming the file."""
        av = self._av
        if rewind:  # seeking also flushes the decoder, which the end of the last pass drained
            container.seek(int(self.start_s / stream.time_base) + (stream.start_time or 0), stream=stream, backward=True)
        frames = container.decode(stream)
        while True:
            try:
                frame = next(frames)
            except StopIteration:
                return
            except av.error.FFmpegError as e:
                raise ValueError(f"cannot decode video file '{self.path}': {_reason(e)}") from None
            yield frame


def _reason(e: Exception) -> str:
    """FFmpeg's message without the errno and the repeated file name."""
    text = getattr(e, "strerror", None) or str(e)
    return str(text).rstrip(".").lower()
