"""Many cameras (and files) in one source: each decodes on its own thread, every frame carries its stream."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import replace
from collections.abc import Iterator
from typing import Any, Literal

from edgespeed import Frame, Node, Output, Pacer, Param, Record, Stamped, StreamEnd

from .file import FileSource
from .formats import PixelFormatPorts, import_av
from .paths import check_entries, is_url
from .stream import StreamSource

class _Feed:
    """One stream: its decode thread, its frames waiting for `generate`, and its counters."""

    def __init__(self, name: str, path: str, capacity: int, lossless: bool) -> None:
        self.name, self.path = name, path
        self.items: deque[Stamped] = deque()
        self.capacity, self.lossless = capacity, lossless
        self.stop = threading.Event()  # the stream is removed, or the run stops
        self.removed = False
        self.done = False
        self.child: Node | None = None
        self.thread: threading.Thread | None = None
        self.counts: dict[str, Any] = {"frames": 0, "dropped": 0, "reconnects": 0}
        self.state = "opening"


class StreamsSource(PixelFormatPorts, Node):
    """Frames of many streams, files and cameras mixed, each decoded on its own thread.

    Each entry of `paths` is opened by the single-stream nodes: a URL (rtsp, http, tcp, udp,
    ...) by `video.stream`, reconnecting with its backoff whenever it drops, and a file by
    `video.file` (looped or paced when asked). Every frame carries its stream's name in the
    envelope (`envelope.stream`), so tracker, counter and smoothing keep state per stream and
    sinks write it. Frames leave in turn, one per stream with frames waiting, so a fast file
    never starves a camera. A stream that stalls, drops or is unreachable only stops its own
    frames (one log line per attempt names it); the others go on. The run report gives, under
    `streams.<name>`, its frames, fps, drops, reconnects, state and latency at each sink.

    Streams can be added and removed while running (`add_stream`, `remove_stream`; the control
    API's `POST /nodes/ID/streams` and `DELETE /nodes/ID/streams/NAME`). A removed stream sends
    a last `status` packet `{"state": "removed"}` on its stream, after its last frame, so
    per-stream nodes drop its state and sinks flush.

    Ports:
        frame (out): HxWx3 uint8 (bgr24/rgb24) or HxW (gray), stamped with its stream.
        status (out): `{"stream", "state", ...}`: connected, disconnected (from video.stream),
            ended, failed, removed (stopped, when the run stops); each on its stream.

    Params:
        paths: the streams: each a path or URL, or `{name: door, path: rtsp://...}` (required;
            an entry that is neither an existing file nor a URL is a validation error). Unnamed
            ones are named after their file or URL.
        format: bgr24, rgb24 or gray (default bgr24).
        queue: frames kept per stream while the graph is busy (default 4). Files wait for
            room (lossless); live streams drop their oldest (counted per stream).
        loop: files start again at the end (default false).
        realtime: pace files at their frame rate, like cameras (default false).
        reconnect, backoff_max_s, max_attempts, open_timeout_s, read_timeout_s, options: as
            in `video.stream`, for every URL.
        end_when_idle: end the source once every stream has ended (default true); false keeps
            it running for streams added later through the control API.

    Example:
        ```yaml
        - id: src
          type: video.streams
          params:
            paths: [lobby.mp4, {name: door, path: "rtsp://10.0.0.7:554/h264"}]
            options: {rtsp_transport: tcp}
        ```
    """

    kind = "video.streams"
    frame = Output(Frame)
    status = Output(Record, doc="per-stream state changes, each on its stream")
    paths: list[Any] = Param(doc="paths or URLs, or {name, path} mappings")
    format: Literal["bgr24", "rgb24", "gray"] = Param("bgr24", doc="pixel format of emitted frames")
    queue: int = Param(4, ge=1, le=1024, doc="frames kept per stream")
    loop: bool = Param(False, doc="files start again at the end")
    realtime: bool = Param(False, doc="pace files at their frame rate")
    reconnect: bool = Param(True, doc="URLs reconnect with backoff when they drop")
    backoff_max_s: float = Param(10.0, ge=0.1, doc="longest wait between attempts, seconds")
    max_attempts: int = Param(0, ge=0, doc="a URL fails after this many failed attempts in a row; 0: never")
    open_timeout_s: float = Param(5.0, gt=0, doc="connection attempt timeout, seconds")
    read_timeout_s: float = Param(5.0, gt=0, doc="no data for this long drops a connection, seconds")
    options: dict[str, str] = Param({}, doc="FFmpeg input options for URLs")
    end_when_idle: bool = Param(True, doc="end once every stream has ended")

    @classmethod
    def declare_ports(cls, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Output]]:
        check_entries(params["paths"])  # validate: a bad entry is one located line
        return super().declare_ports(params)

    def setup(self) -> None:
        self._paced = False  # until the engine asks for pacing (pacing())
        import_av()
        self._cond = threading.Condition()
        self._feeds: dict[str, _Feed] = {}
        self._order: list[str] = []
        self._rr = 0
        self._ends: deque[StreamEnd] = deque()
        self._initial = check_entries(self.paths)

    def teardown(self) -> None:
        with self._cond:
            feeds = list(self._feeds.values())
        for f in feeds:
            f.stop.set()
        with self._cond:
            self._cond.notify_all()
        for f in feeds:
            if f.thread is not None:
                f.thread.join(timeout=10)

    # -- the control API ---------------------------------------------------------------------
    def add_stream(self, path: str, name: str | None = None) -> str:
        """Start decoding `path` as stream `name` (default: named after the path); its frames
        follow at once. Raises ValueError for a bad path or a name in use."""
        with self._cond:
            taken = list(self._feeds)
        (auto, checked), = check_entries([{"path": path, **({"name": name} if name else {})}])
        name = name or (auto if auto not in taken else f"{auto}{len(taken)}")
        with self._cond:
            if name in self._feeds:
                raise ValueError(f"stream {name!r} exists; remove it first or pick another name")
            self._start(name, checked)
        self.log.info("stream %r added: %s", name, _shown(checked))
        return name

    def remove_stream(self, name: str) -> None:
        """Stop stream `name`: its frames already decoded still go out, then its `removed`
        status. Raises KeyError for an unknown name."""
        with self._cond:
            feed = self._feeds.get(name)
            if feed is None or feed.stop.is_set():
                raise KeyError(f"no stream {name!r}; streams: {', '.join(self._feeds) or 'none'}")
            feed.removed = True
            feed.stop.set()
            self._cond.notify_all()
        self.log.info("stream %r removed", name)

    def stream_names(self) -> list[str]:
        with self._cond:
            return [n for n, f in self._feeds.items() if not f.stop.is_set()]

    # -- the source's own loop -------------------------------------------------------------------
    def pacing(self) -> None:
        """The engine asks this only when the run paces its sources (`edgespeed bench` does not):
        then each file with `realtime: true` is paced in its own thread (streams interleave, so
        no one media clock could pace them all here)."""
        self._paced = True
        return None

    def generate(self) -> Iterator[Any]:
        with self._cond:
            for name, path in self._initial:
                self._start(name, path)
        while True:
            with self._cond:
                item = self._next()
                while item is None:
                    if self.stopping:
                        return
                    if self.end_when_idle and not self._feeds:
                        return
                    self._cond.wait(0.1)  # (a timeout: the run's stop is an Event we do not own)
                    item = self._next()
            yield item

    def _next(self) -> Stamped | StreamEnd | None:
        """The next item, streams in turn; a finished stream's end status, then its
        `StreamEnd`, are its last items. Call with the lock held."""
        if self._ends:
            return self._ends.popleft()
        order = self._order
        for k in range(len(order)):
            i = (self._rr + k) % len(order)
            feed = self._feeds[order[i]]
            if feed.items:
                self._rr = i + 1
                item = feed.items.popleft()
                self._cond.notify_all()  # a lossless feed may wait for room
                return item
            if feed.done:
                del self._feeds[feed.name]
                order.pop(i)
                self._ends.append(StreamEnd(feed.name))  # per-stream state downstream is dropped
                return Stamped({"status": {"stream": feed.name, "state": feed.state}},
                               pts_ns=time.time_ns(), stream=feed.name)
        return None

    def _start(self, name: str, path: str) -> None:
        feed = _Feed(name, path, self.queue, lossless=not is_url(path))
        # the run report's `streams.<name>` (a stream added again under its old name goes on counting)
        feed.counts = self.stream_counts.setdefault(name, feed.counts)
        for k in ("frames", "dropped", "reconnects"):
            feed.counts.setdefault(k, 0)
        feed.counts["state"] = feed.state
        self._feeds[name] = feed
        self._order.append(name)
        feed.thread = threading.Thread(target=self._decode, args=(feed,), name=f"edgespeed:{self.id}:{name}", daemon=True)
        feed.thread.start()

    def _child(self, feed: _Feed) -> Node:
        """The single-stream node that opens `feed`: its open, decode and reconnect logic."""
        if is_url(feed.path):
            child: Node = StreamSource(f"{self.id}.{feed.name}", url=feed.path, format=self.format, reconnect=self.reconnect,
                                       backoff_max_s=self.backoff_max_s, max_attempts=self.max_attempts,
                                       open_timeout_s=self.open_timeout_s, read_timeout_s=self.read_timeout_s,
                                       options=dict(self.options))
            child.stream_name = feed.name  # type: ignore[attr-defined]
        else:
            child = FileSource(f"{self.id}.{feed.name}", path=feed.path, format=self.format, loop=self.loop, realtime=self.realtime)
        child.bind_run(replace(self.ctx, stopping=_Either(self.ctx.stopping, feed.stop)))
        return child

    def _decode(self, feed: _Feed) -> None:
        """The stream's thread: run its child node's generate() and queue what it yields."""
        child = feed.child = self._child(feed)
        try:
            child.setup()
        except Exception as e:
            self._finish(feed, "failed", f"stream {feed.name!r} ({_shown(feed.path)}) cannot start: {_line(e)}")
            return
        try:
            speed = child.pacing()  # a file with realtime: true: paced here, in its own thread
            pacer = Pacer(speed, child.ctx.stopping) if speed else None
            for item in child.generate():
                if isinstance(item, Stamped):
                    if pacer is not None and self._paced:
                        pacer.wait(item.pts_ns)
                    self._put(feed, item.outputs, item.pts_ns)
                elif item is not None:
                    self._put(feed, item, None)
                if feed.stop.is_set() or self.stopping:
                    break
            state, why = "ended", None
        except Exception as e:
            state, why = "failed", f"stream {feed.name!r} ({_shown(feed.path)}) failed: {_line(e)}"
        finally:
            try:
                child.teardown()
            except Exception as e:  # a teardown problem ends nothing else
                self.log.warning("stream %r: teardown: %s", feed.name, _line(e))
        self._finish(feed, state, why)

    def _put(self, feed: _Feed, outputs: dict[str, Any], pts_ns: int | None) -> None:
        now = time.time_ns()
        status = outputs.get("status")
        if status is not None:
            feed.state = status.get("state", feed.state)
            feed.counts["reconnects"] = getattr(feed.child, "reconnects", 0)
            outputs = {"status": {"stream": feed.name, **status}}
        elif feed.state == "opening":
            feed.state = "running"
        feed.counts["state"] = feed.state
        item = Stamped(outputs, pts_ns=now if pts_ns is None else pts_ns, ts_ns=now, stream=feed.name)
        with self._cond:
            items = feed.items
            if len(items) >= feed.capacity:
                if feed.lossless:
                    while len(items) >= feed.capacity and not (feed.stop.is_set() or self.stopping):
                        self._cond.wait(0.1)
                else:
                    items.popleft()
                    feed.counts["dropped"] += 1
            items.append(item)
            if status is None:
                feed.counts["frames"] += 1
            self._cond.notify_all()

    def _finish(self, feed: _Feed, state: str, why: str | None) -> None:
        if why:
            self.log.error("%s", why)
        with self._cond:
            feed.state = feed.counts["state"] = "removed" if feed.removed else "stopped" if self.stopping else state
            feed.done = True
            self._cond.notify_all()


class _Either(threading.Event):
    """The child's stop: the run stopping, or its stream being removed (never set itself)."""

    def __init__(self, a: threading.Event, b: threading.Event) -> None:
        super().__init__()
        self.a, self.b = a, b

    def is_set(self) -> bool:
        return self.a.is_set() or self.b.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        end = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            left = 0.05 if end is None else min(0.05, end - time.monotonic())
            if left <= 0:
                break
            self.b.wait(left)
        return self.is_set()


def _shown(path: str) -> str:
    import re

    return re.sub(r"//([^:/@]+):[^@/]*@", r"//\1:***@", path)


def _line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
