"""A live preview in the browser: frames served as MJPEG over HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from edgespeed import Input, Node, Param

BOUNDARY = "edgespeedframe"
# The stats panel polls /stats.json once a second: the run's live status (the --report schema
# the control API's /status serves), cut to per-node rate, latency and drops.
PAGE = b"""<!doctype html><html><head><title>EdgeSpeed preview</title><style>
body{margin:0;background:#111;color:#ddd;font:13px monospace;display:flex;gap:12px;align-items:flex-start}
img{max-width:75vw;display:block} td,th{padding:1px 6px;text-align:right} td:first-child,th:first-child{text-align:left}
</style></head><body><img src="/stream"><div id="stats"><table><thead><tr><th>node</th><th>fps</th><th>p50 ms</th>
<th>p99 ms</th><th>dropped</th></tr></thead><tbody id="rows"></tbody></table><div id="lat"></div></div><script>
async function poll(){try{const s=await (await fetch("/stats.json")).json();
document.getElementById("rows").innerHTML=Object.entries(s.nodes).map(([id,n])=>
`<tr><td>${id}</td><td>${n.fps.toFixed(1)}</td><td>${n.p50_ms.toFixed(2)}</td><td>${n.p99_ms.toFixed(2)}</td><td>${n.dropped}</td></tr>`).join("");
document.getElementById("lat").innerHTML=Object.entries(s.latency_ms).map(([id,l])=>
`latency ${id}: p50 ${l.p50.toFixed(1)} ms, p99 ${l.p99.toFixed(1)} ms`).join("<br>");}catch(e){}}
poll();setInterval(poll,1000);</script></body></html>"""


def stats(rep: dict[str, Any] | None) -> dict[str, Any]:
    """The panel's data from the run's status: per node rate, process latency and drops, and
    each sink's source-to-sink latency."""
    if rep is None:
        return {"nodes": {}, "latency_ms": {}}
    nodes = {nid: {"fps": n["fps"], "p50_ms": n["process_ms"]["p50"], "p99_ms": n["process_ms"]["p99"], "dropped": n["dropped"]}
             for nid, n in rep["nodes"].items()}
    lat = {sid: {"p50": s["latency_ms"]["p50"], "p99": s["latency_ms"]["p99"]} for sid, s in rep.get("sinks", {}).items()
           if s["latency_ms"]["count"]}
    return {"nodes": nodes, "latency_ms": lat}


class PreviewSink(Node):
    """Serve the newest frame as MJPEG over HTTP: open `http://HOST:PORT/` in a browser.

    It never slows the pipeline: its input defaults to `queue: 1, policy: latest`, so it only
    ever sees the newest frame and older ones are dropped (counted in the report), and frames
    are JPEG-encoded only while at least one client is watching. The HTTP server runs on its
    own threads; each client gets every frame encoded after it connected, or skips frames when
    its network is slower. Routes: `/` a page showing the stream, `/stream` the
    multipart/x-mixed-replace stream, `/snapshot.jpg` the next frame as one JPEG, `/stats.json`
    per-node rate, latency and drops from the run's live status (shown beside the video).

    Ports:
        frame (in): HxWx3 BGR or HxW gray uint8 frames.

    Params:
        host: address to listen on; 0.0.0.0 for every interface (default 127.0.0.1: this
            machine only).
        port: TCP port, 0 for any free one (logged; default 8080).
        quality: JPEG quality 1-100 (default 80).

    Example:
        ```yaml
        - id: preview
          type: video.preview
          params: {host: 0.0.0.0, port: 8080}
          inputs: {frame: overlay/out}
        ```
    """

    kind = "video.preview"
    frame = Input(dtype="uint8", queue=1, policy="latest", doc="HxWx3 BGR or HxW gray frames")
    host: str = Param("127.0.0.1", doc="address to listen on")
    port: int = Param(8080, ge=0, le=65535, doc="TCP port; 0: any free one")
    quality: int = Param(80, ge=1, le=100, doc="JPEG quality")

    def setup(self) -> None:
        import cv2

        self._cv2 = cv2
        self.hub = _Hub()
        try:
            self._server = ThreadingHTTPServer((self.host, self.port), _handler(self.hub, lambda: stats(self.run_status())))
        except OSError as e:
            raise OSError(f"cannot serve the preview on {self.host}:{self.port}: {e.strerror or e}") from None
        self._server.daemon_threads = True
        self.bound_port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"edgespeed:{self.id}:http", daemon=True)
        self._thread.start()
        self._announced = False

    def process(self, frame: np.ndarray) -> None:
        if not self._announced:  # at the first frame, not at setup: a run that fails first shows no dead link
            self.log.info("preview at http://%s:%d/", self.host, self.bound_port)
            self._announced = True
        if self.hub.clients == 0:  # nobody watching: no encoding at all
            return
        ok, data = self._cv2.imencode(".jpg", frame, [self._cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if ok:
            self.hub.publish(data.tobytes())
        return

    def teardown(self) -> None:
        self.hub.close()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=2)


class _Hub:
    """The newest JPEG and a counter, shared between the node and the HTTP client threads."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.jpeg = b""
        self.version = 0
        self.clients = 0
        self.closed = False

    def publish(self, jpeg: bytes) -> None:
        with self.cond:
            self.jpeg, self.version = jpeg, self.version + 1
            self.cond.notify_all()

    def next_after(self, version: int) -> tuple[int, bytes] | None:
        """The first JPEG newer than `version`; None once closed."""
        with self.cond:
            while self.version <= version and not self.closed:
                self.cond.wait(0.5)
            return None if self.closed else (self.version, self.jpeg)

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def watch(self, delta: int) -> None:
        with self.cond:
            self.clients += delta


def _handler(hub: _Hub, status: Callable[[], dict[str, Any]]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            route = self.path.split("?", 1)[0]
            if route == "/":
                self._send(200, "text/html; charset=utf-8", PAGE)
            elif route == "/stats.json":
                self._send(200, "application/json", json.dumps(status()).encode())
            elif route in ("/stream", "/snapshot.jpg"):
                hub.watch(+1)
                try:
                    self._stream() if route == "/stream" else self._snapshot()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client went away
                finally:
                    hub.watch(-1)
            else:
                self._send(404, "text/plain", b"not found; try /, /stream or /stats.json\n")

        def _stream(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-cache, no-store")
            self.end_headers()
            version = hub.version
            while (got := hub.next_after(version)) is not None:
                version, jpeg = got
                self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode())
                self.wfile.write(jpeg + b"\r\n")
                self.wfile.flush()

        def _snapshot(self) -> None:
            got = hub.next_after(hub.version)
            if got is not None:
                self._send(200, "image/jpeg", got[1])

        def _send(self, code: int, ctype: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
