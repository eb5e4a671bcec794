"""Frames from a network stream (rtsp, http, tcp, udp, ...) that reconnects when it drops."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any, Literal

from edgespeed import Frame, Node, Output, Param, Record

from .formats import PixelFormatPorts, import_av


class StreamSource(PixelFormatPorts, Node):
    """Frames from a live network stream, reconnecting with backoff whenever it drops.

    Opening and every read are bounded by timeouts, so a dead peer is noticed and `stopping`
    is seen promptly. When the stream drops (the peer closes, a read times out, the network
    goes), the source waits and reconnects: 0.5 s, then doubling up to `backoff_max_s`, reset
    by every successful connect. Meanwhile the rest of the graph keeps running: downstream
    nodes just receive nothing. Every connect and disconnect is logged and emitted on
    `status`, which carries the running count of reconnects (wire it to `sink.events` or a
    `sink.jsonl` to keep a record); the count is also the node's `reconnects` counter in the
    run report (`nodes.<id>.counters.reconnects`). Frames are stamped with their arrival time (a live
    stream's own clock restarts with each connection).

    Ports:
        frame (out): HxWx3 uint8 (bgr24 or rgb24), or HxW uint8 for gray.
        status (out): `{"state": "connected" | "disconnected", "url", "reconnects",
            "attempt", "error"}` on each change (the URL without its password).

    Params:
        url: the stream, e.g. `rtsp://cam.local:554/stream1`, `http://host/video.mjpg`,
            `tcp://10.0.0.5:9000`, `udp://0.0.0.0:5000` (required). http, tcp and udp
            (MPEG-TS) are tested on loopback; rtsp against GStreamer's RTSP server, through
            video.streams (tests/nodes/video/test_rtsp.py).
        format: bgr24, rgb24 or gray (default bgr24).
        open_timeout_s: give up on a connection attempt after this long (default 5).
        read_timeout_s: treat the stream as dropped after this long without data (default 5).
        reconnect: reconnect when the stream drops or cannot be opened; false ends the stream
            at its end and fails on errors (default true).
        backoff_max_s: longest wait between attempts (default 10).
        max_attempts: fail after this many failed attempts in a row, 0 for never (default 0).
        options: FFmpeg options for the input, e.g. `{rtsp_transport: tcp}` (default none).

    Example:
        ```yaml
        - id: cam
          type: video.stream
          params: {url: "rtsp://10.0.0.7:554/h264", options: {rtsp_transport: tcp}}
        - id: reconnects
          type: sink.events
          params: {path: out/stream_status.jsonl}
          inputs: {data: cam/status}
        ```
    """

    kind = "video.stream"
    live = True  # frames come at the sender's pace: overlays downstream draw the newest results
    frame = Output(Frame)
    status = Output(Record, doc="connection state and reconnect count, on each change")
    url: str = Param(doc="stream URL")
    format: Literal["bgr24", "rgb24", "gray"] = Param("bgr24", doc="pixel format of emitted frames")
    open_timeout_s: float = Param(5.0, gt=0, doc="connection attempt timeout, seconds")
    read_timeout_s: float = Param(5.0, gt=0, doc="no data for this long drops the connection, seconds")
    reconnect: bool = Param(True, doc="reconnect with backoff when the stream drops")
    backoff_max_s: float = Param(10.0, ge=0.1, doc="longest wait between attempts, seconds")
    max_attempts: int = Param(0, ge=0, doc="fail after this many failed attempts in a row; 0: never")
    options: dict[str, str] = Param({}, doc="FFmpeg input options")

    BACKOFF_FIRST_S = 0.5
    stream_name: str | None = None  # set by video.streams, which runs one of these per URL: logs name it

    def _who(self) -> str:
        return f"stream {self.stream_name!r} ({self.shown_url})" if self.stream_name else f"stream {self.shown_url}"

    def setup(self) -> None:
        self._av = import_av()
        self.shown_url = re.sub(r"//([^:/@]+):[^@/]*@", r"//\1:***@", self.url)
        self.reconnects = 0

    def generate(self) -> Iterator[Any]:
        attempt, delay, connected_once = 0, self.BACKOFF_FIRST_S, False
        while not self.stopping:
            error = None
            try:
                container = self._open()
            except (self._av.error.FFmpegError, OSError, EOFError) as e:
                container, error = None, _reason(e)
            if container is not None:
                if connected_once:
                    self.reconnects += 1
                    self.count("reconnects")  # the run report's nodes.<id>.counters
                connected_once, attempt, delay = True, 0, self.BACKOFF_FIRST_S
                self.log.info("%s connected (reconnects: %d)", self._who(), self.reconnects)
                yield {"status": self._status("connected", attempt, None)}
                try:
                    yield from self._frames(container)
                    error = "end of stream"
                except (self._av.error.FFmpegError, OSError, EOFError) as e:
                    error = _reason(e)
                finally:
                    container.close()
                if self.stopping:
                    return
                if not self.reconnect and error == "end of stream":
                    return
                yield {"status": self._status("disconnected", attempt, error)}
            if not self.reconnect:
                raise ConnectionError(f"{self._who()}: {error}")
            attempt += 1
            if self.max_attempts and attempt >= self.max_attempts:
                raise ConnectionError(f"{self._who()}: gave up after {attempt} failed attempts in a row: {error}")
            self.log.warning("%s: %s; reconnecting in %.1f s (attempt %d)", self._who(), error, delay, attempt)
            self._sleep(delay)
            delay = min(delay * 2, self.backoff_max_s)

    def _open(self) -> Any:
        container = self._av.open(self.url, options=dict(self.options), timeout=(self.open_timeout_s, self.read_timeout_s))
        if not container.streams.video:
            container.close()
            raise ValueError(f"stream {self.shown_url} has no video")
        return container

    def _frames(self, container: Any) -> Iterator[Any]:
        fmt = self.format
        for frame in container.decode(video=0):
            yield {"frame": frame.to_ndarray(format=fmt)}
            if self.stopping:
                return

    def _status(self, state: str, attempt: int, error: str | None) -> dict[str, Any]:
        return {"state": state, "url": self.shown_url, "reconnects": self.reconnects, "attempt": attempt, "error": error}

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < end:
            time.sleep(min(0.05, max(0.0, end - time.monotonic())))


def _reason(e: BaseException) -> str:
    text = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return str(text).rstrip(".").lower()
