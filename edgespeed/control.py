"""The control API of a running graph (`edgespeed run --control-port [HOST:]PORT`): JSON over HTTP.

    GET    /status                    the `--report` schema, live (plus file sources' progress)
    GET    /graph                     the graph spec
    PATCH  /nodes/ID/params           {"param": value, ...}: reloadable params, from the next packet
    POST   /nodes/ID/streams          {"path": ..., "name": ...}: add a stream to a multi-stream source
    DELETE /nodes/ID/streams/NAME     remove one
    POST   /stop                      drain and stop, as SIGTERM

Bad requests get the one-line message graph validation gives (`node 'det' param 'score_min':
expected a number >= 0 and <= 1, got 2`) in `{"error": ...}`: 400 for bad input (malformed JSON,
unknown node or param, a wrong value), 409 for what the node cannot do while running (a param that
is not reloadable; streams of a source in an isolated process). Nothing changes unless the whole request is good.

Bound to anything but loopback, every request needs `Authorization: Bearer TOKEN`, compared in
constant time; one without it gets 401 and is logged.

The server runs on daemon threads, one per connection (stdlib `ThreadingHTTPServer`, no new
dependency). Handlers only read counters and queue updates, and a connection that sends nothing
times out, so idle or slow clients hold a sleeping thread and never the graph.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .errors import GraphError, GraphErrors

log = logging.getLogger("edgespeed.control")

TOKEN_ENV = "EDGESPEED_CONTROL_TOKEN"
MAX_BODY = 1 << 20
# `pkg.module:Class`: a plugin module path. Over the network only registered types may be named,
# so a request can never make the process import a module of the caller's choosing.
_MODULE_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class ApiError(Exception):
    """A request the API refuses: an HTTP status and a one-line message."""

    def __init__(self, status: int, msg: str) -> None:
        super().__init__(msg)
        self.status = status
        self.msg = msg


def parse_address(text: str) -> tuple[str, int]:
    """`PORT` (loopback) or `HOST:PORT` -> (host, port); raises GraphErrors (exit 2)."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise GraphErrors([GraphError(f"--control-port: expected PORT or HOST:PORT, got {text!r}")])
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Control:
    """What the API does to a `Run`; HTTP-free, so each answer is one method."""

    def __init__(self, run: Any, status: Callable[[], dict[str, Any]]) -> None:
        self.run = run
        self.status = status

    def graph(self) -> dict[str, Any]:
        return dict(self.run.spec.to_dict())

    def _group(self, node_id: str) -> Any:
        """The process group a node runs in (`isolate:`), or None."""
        return next((g for g in self.run.groups if node_id in g.members), None)

    def _node(self, node_id: str) -> Any:
        if node_id in self.run.nodes:
            return self.run.nodes[node_id]
        if (g := self._group(node_id)) is not None:
            raise ApiError(409, f"node {node_id!r} runs in isolated process {g.name!r}: streams can be changed only in the main process")
        from .node import did_you_mean

        names = [n for n in self.run.nodes if not type(self.run.nodes[n]).kind.startswith("runtime.")]
        raise ApiError(400, f"unknown node {node_id!r}{did_you_mean(node_id, names)}")

    def patch_params(self, node_id: str, body: Any) -> dict[str, Any]:
        """Check every value as the loader does; queue them only if all are good. A node in an
        isolated process is checked here, against its class and the params it runs with, and
        the values go to its process (`ProcessGroup.request_params`)."""
        group = self._group(node_id)
        node = None if group is not None else self._node(node_id)
        if not isinstance(body, dict) or not body:
            raise ApiError(400, "expected a JSON object of params, e.g. {\"score_min\": 0.5}")
        _no_module_paths(body)
        if node is not None:
            cls = type(node)
            current = {**{n: getattr(node, n) for n in cls.params}, **(node.pending_params or {})}
        else:
            cls, current = group.node_class(node_id), group.node_params(node_id)
        given = {**current, **body}
        values, errors = cls.check_params(given)
        bad = [msg for name, msg in errors if name in body] or [msg for _, msg in errors]
        if bad:
            raise ApiError(400, str(GraphError(bad[0], node_id=node_id)))
        fixed = [n for n in body if not cls.params[n].reloadable or cls.is_source()]  # (updates apply before process())
        if fixed:
            ok = ", ".join(n for n, p in cls.params.items() if p.reloadable) or "none"
            raise ApiError(409, f"node {node_id!r} param {fixed[0]!r} is not reloadable; restart the graph to change it (reloadable: {ok})")
        try:
            cls.declare_ports(values)  # the cross-param checks validate runs (zones, lines, ...)
        except (ValueError, TypeError) as e:
            raise ApiError(400, str(GraphError(f"params: {e}", node_id=node_id))) from None
        changed = {n: values[n] for n in body}
        if node is not None:
            node.request_params(changed)
        elif not group.request_params(node_id, changed):
            raise ApiError(409, f"node {node_id!r}: its process {group.name!r} is not running; nothing was changed")
        log.info("node %r: params %s set (from its next packet)", node_id, ", ".join(changed))
        return {"node": node_id, "params": _jsonable(changed)}

    def add_stream(self, node_id: str, body: Any) -> dict[str, Any]:
        node = self._streams_node(node_id, "add_stream")
        if not isinstance(body, dict) or not isinstance(body.get("path"), str) or not isinstance(body.get("name", ""), str):
            raise ApiError(400, "expected a JSON object {\"path\": \"...\", \"name\": \"...\"} (name optional)")
        if unknown := sorted(set(body) - {"path", "name"}):
            raise ApiError(400, f"unknown key {unknown[0]!r}; expected path, name")
        _no_module_paths(body)
        name = self._call(node_id, node.add_stream, body["path"], body.get("name") or None)
        return {"node": node_id, "stream": name if isinstance(name, str) else body.get("name")}

    def remove_stream(self, node_id: str, name: str) -> dict[str, Any]:
        node = self._streams_node(node_id, "remove_stream")
        self._call(node_id, node.remove_stream, name)
        return {"node": node_id, "removed": name}

    def _streams_node(self, node_id: str, method: str) -> Any:
        node = self._node(node_id)
        if not callable(getattr(node, method, None)):
            raise ApiError(409, f"node {node_id!r} ({type(node).kind}) has no streams to change; only a multi-stream source has")
        return node

    @staticmethod
    def _call(node_id: str, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except (KeyError, ValueError) as e:  # the node's own one-line refusal (duplicate, unknown name)
            msg = e.args[0] if e.args else str(e)
            raise ApiError(400, str(GraphError(str(msg), node_id=node_id))) from None

    def stop(self) -> dict[str, Any]:
        log.warning("stopping: draining the graph (POST /stop)")
        self.run.stop("signal")
        return {"stopping": True}


def _no_module_paths(value: Any) -> None:
    if isinstance(value, str) and _MODULE_PATH.match(value):
        raise ApiError(400, f"{value!r} names a plugin module path; the control API takes only registered node types")
    if isinstance(value, dict):
        for v in value.values():
            _no_module_paths(v)
    elif isinstance(value, list):
        for v in value:
            _no_module_paths(v)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


class _Handler(BaseHTTPRequestHandler):
    server: ControlServer
    timeout = 10  # a client that stops sending is dropped: no thread waits on it for ever
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        log.debug("control %s: " + format, self.client_address[0], *args)

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's names
        self._serve("GET")

    def do_PATCH(self) -> None:  # noqa: N802
        self._serve("PATCH")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        try:
            body = self._body()  # read first, so a refused request leaves the connection usable
            self._authorize()
            self._send(200, self._route(method, self.path.split("?", 1)[0].rstrip("/").split("/")[1:], body))
        except ApiError as e:
            self._send(e.status, {"error": e.msg})

    def _authorize(self) -> None:
        token = self.server.token
        if token is None:
            return
        got = self.headers.get("Authorization", "")
        if not hmac.compare_digest(got.encode(), f"Bearer {token}".encode()):
            log.warning("control: refused %s %s from %s: %s", self.command, self.path, self.client_address[0],
                        "no bearer token" if not got else "wrong bearer token")
            raise ApiError(401, "this control API needs 'Authorization: Bearer TOKEN' (--control-token)")

    def _body(self) -> Any:
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise ApiError(400, "bad Content-Length") from None
        if n > MAX_BODY:
            self.close_connection = True
            raise ApiError(413, f"request body of {n} bytes is over the {MAX_BODY}-byte limit")
        raw = self.rfile.read(n) if n else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            raise ApiError(400, f"malformed JSON body: {e}") from None

    def _route(self, method: str, parts: list[str], body: Any) -> Any:
        c = self.server.control
        match method, parts:
            case "GET", ["status"]:
                return c.status()
            case "GET", ["graph"]:
                return c.graph()
            case "PATCH", ["nodes", node_id, "params"]:
                return c.patch_params(node_id, body)
            case "POST", ["nodes", node_id, "streams"]:
                return c.add_stream(node_id, body)
            case "DELETE", ["nodes", node_id, "streams", name]:
                return c.remove_stream(node_id, name)
            case "POST", ["stop"]:
                return c.stop()
        raise ApiError(404, f"no endpoint {method} {self.path}; see GET /status, GET /graph, PATCH /nodes/ID/params, POST /stop")

    def _send(self, status: int, data: Any) -> None:
        raw = (json.dumps(data, default=str) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


class ControlServer(ThreadingHTTPServer):
    """The control API on `(host, port)`, served from daemon threads.

    Args:
        address: where to listen; port 0 picks a free one (see `port`).
        control: what the endpoints do.
        token: the bearer token; required unless `address` is loopback.

    Raises:
        GraphErrors: the port is in use, or no token for a non-loopback address (exit 2).
    """

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the stdlib's 5 makes a burst of clients wait for SYN retries (1 s, 3 s)

    def __init__(self, address: tuple[str, int], control: Control, token: str | None = None) -> None:
        host, port = address
        if token is None and not is_loopback(host):
            raise GraphErrors([GraphError(f"--control-port {host}:{port} is not loopback; give a token with --control-token or ${TOKEN_ENV}")])
        self.control = control
        self.token = token or None
        try:
            super().__init__(address, _Handler)
        except OSError as e:
            raise GraphErrors([GraphError(f"--control-port {host}:{port}: cannot listen there: {e.strerror or e}")]) from None
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2}, name="edgespeed-control", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> None:
        self._thread.start()
        log.info("control API on http://%s:%d", self.server_address[0], self.port)

    def close(self) -> None:
        self.shutdown()
        self.server_close()
