"""Push encoded frames to a media server (RTSP, RTMP, SRT, UDP), reconnecting while it is away."""

from __future__ import annotations

import logging
import re
import time
from typing import Any, Literal
from urllib.parse import urlsplit

import numpy as np

from edgespeed import Input, Param

from .writer import Encoder

log = logging.getLogger("edgespeed.nodes.video.stream_out")

# scheme -> FFmpeg muxer: RTSP publishes with ANNOUNCE/RECORD; RTMP carries FLV; SRT and
# plain UDP/TCP carry MPEG-TS, what receivers of those expect
FORMATS = {"rtsp": "rtsp", "rtsps": "rtsp", "rtmp": "flv", "rtmps": "flv", "srt": "mpegts", "udp": "mpegts", "tcp": "mpegts"}


class VideoStreamOut(Encoder):
    """Publish frames as a live H.264 stream to a media server (e.g. MediaMTX, or any RTSP
    server that accepts RECORD): the annotated video of a pipeline, watched from elsewhere.

    Encoded for latency (libx264 `tune: zerolatency`, no B-frames, a keyframe every `gop_s`, so
    a viewer that joins waits at most that long). A server that is unreachable or goes away is
    one warning line; frames are dropped (counted: `dropped_while_down`) until the node reopens
    the stream, every `retry_s`, with a keyframe first. The stream is closed cleanly on every
    way a run ends. Frames carry their media time by default (`timing: pts`), so a stream whose
    frames were dropped upstream keeps real time. Its input defaults to `queue: 8, policy:
    drop_oldest`: a slow network never slows the pipeline (drops counted on the edge).

    Ports:
        frame (in): HxWx3 uint8 (bgr24 or rgb24, see `format`) or HxW uint8 gray.

    Params:
        url: where to publish: rtsp://, rtsps://, rtmp://, rtmps://, srt://, udp:// or tcp://
            (credentials in the URL are never logged).
        transport: RTSP over tcp (interleaved, the default) or udp.
        gop_s: seconds between keyframes (default 2).
        retry_s: seconds between attempts to reopen while the server is away (default 2).
        fps, timing, codec, crf, preset, bitrate_kbps, format: as `video.writer`
            (`timing` defaults to pts here).

    Example:
        ```yaml
        - id: publish
          type: video.stream_out
          params: {url: "rtsp://127.0.0.1:8554/annotated", fps: 15}
          inputs: {frame: overlay/frame}
        ```
    """

    kind = "video.stream_out"
    # a live output never slows the pipeline: a slow network or encoder drops the oldest frames
    # (counted, as the edge's drops), as video.preview and video.mosaic do
    frame = Input(dtype="uint8", queue=8, policy="drop_oldest", doc="HxWx3 (bgr24/rgb24) or HxW gray uint8")
    url: str = Param(doc="rtsp://, rtmp://, srt://, udp:// or tcp:// address to publish to")
    transport: Literal["tcp", "udp"] = Param("tcp", doc="RTSP transport")
    gop_s: float = Param(2.0, gt=0, le=60, doc="seconds between keyframes")
    retry_s: float = Param(2.0, gt=0, le=600, doc="seconds between attempts to reopen")
    timing: Literal["rate", "pts"] = Param("pts", doc="rate: i / fps; pts: the envelope's media time")

    @classmethod
    def declare_ports(cls, params: dict[str, Any]) -> Any:
        scheme_of(params["url"])  # validate: a URL it cannot publish to is one located line
        return super().declare_ports(params)

    def setup(self) -> None:
        super().setup()
        scheme = scheme_of(self.url)
        self.shown_url = re.sub(r"//([^:/@]+):[^@/]*@", r"//\1:***@", self.url)
        self.target = self.url
        options = {"rtsp_transport": self.transport} if FORMATS[scheme] == "rtsp" else {}
        self.open_kw = {"format": FORMATS[scheme], "options": options, "timeout": (10.0, 10.0)}
        self._retry_at = 0.0  # monotonic time of the next attempt while down
        self._down = False
        self.counters.update(dropped_while_down=0, reconnects=0)

    def _codec_options(self, name: str) -> dict[str, str]:
        options = {"g": str(max(1, round(self.gop_s * self.fps))), "bf": "0"}
        if name in ("libx264", "libx265"):
            options.update(tune="zerolatency", preset=self.preset, crf=str(self.crf))
        return options

    def process(self, frame: np.ndarray) -> None:
        opened = self._stream is None
        if opened:
            if time.monotonic() < self._retry_at:
                self.counters["dropped_while_down"] += 1
                return
            try:
                self._start(frame)
            except Exception as e:  # noqa: BLE001 - av raises OSError subclasses, and others for a bad address
                self._went_down(f"cannot publish to {self.shown_url}: {e}")
                self.counters["dropped_while_down"] += 1
                return
        try:
            self._encode(frame)  # (the muxer connects on its first packet: a refusal shows here)
        except Exception as e:  # noqa: BLE001 - refused, or the server went away mid-stream
            self._drop_stream()
            self._went_down(f"{'cannot publish to' if opened else 'lost'} {self.shown_url}: {e}")
            self.counters["dropped_while_down"] += 1
            return
        if self._down:
            self._down = False
            self.counters["reconnects"] += 1
            log.info("node %r: publishing to %s again", self.id, self.shown_url)

    def _went_down(self, why: str) -> None:
        if not self._down:  # one line per outage, not one per frame
            log.warning("node %r: %s; retrying every %g s, dropping frames meanwhile", self.id, why, self.retry_s)
        self._down = True
        self._retry_at = time.monotonic() + self.retry_s

    def _drop_stream(self) -> None:
        try:
            self._container.close()
        except Exception:  # noqa: BLE001, S110 - the connection is gone already; nothing to flush to
            pass
        self._container = self._stream = None
        self._pts0, self._last_pts = None, -1  # a new stream starts its clock again

    def teardown(self) -> None:
        if self._container is None:
            return
        try:
            self._finish()
        except Exception as e:  # noqa: BLE001 - the server went away at the end: nothing is kept here
            log.warning("node %r: closing %s: %s", self.id, self.shown_url, e)
            return
        log.info("node %r: published %d frames to %s", self.id, self.frames, self.shown_url)


def scheme_of(url: str) -> str:
    """The scheme of a URL the node can publish to.

    Raises:
        ValueError: anything else, naming the schemes it takes.
    """
    scheme = urlsplit(str(url)).scheme.lower()
    if scheme not in FORMATS or "//" not in str(url):
        raise ValueError(f"url: {url!r} is not an address to publish to (schemes: {', '.join(sorted(FORMATS))})")
    return scheme
