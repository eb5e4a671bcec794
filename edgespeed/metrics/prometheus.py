"""Prometheus metrics for a running graph (`edgespeed run GRAPH --metrics-port PORT`).

Nothing here touches the packet path: a custom Collector reads the counters and histograms the
workers already keep, when Prometheus scrapes. The HTTP server runs on daemon threads (one per
request), so a slow or stuck scraper never stalls the graph.

Isolated nodes (`isolate:`) report their counters to the parent when their process exits, so
they appear with zeros ("no report") while the run is live and with their final counts after.
"""

from __future__ import annotations

import errno
import socketserver
import threading
from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from ..errors import GraphError, GraphErrors, MissingDependency
from . import _EDGES, Histogram

# Prometheus bucket bounds in seconds: 10 us .. 60 s, roughly 1-2.5-5 per decade.
BUCKETS_S = (1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05,
             0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def _fine_index(bound_s: float) -> int:
    """How many fine buckets of `Histogram` lie wholly at or below `bound_s`."""
    ns = bound_s * 1e9
    i = 0
    while i < len(_EDGES) and _EDGES[i] <= ns:
        i += 1
    return i


_CUTS = [_fine_index(b) for b in BUCKETS_S]


def histogram_buckets(h: Histogram) -> tuple[list[tuple[str, float]], float]:
    """Cumulative `(le, count)` pairs and the sum in seconds, from the log buckets a node keeps.

    A fine bucket (about 4% wide) counts toward `le` when its upper edge is at or below it, so
    a count is exact to within one fine bucket of its bound.
    """
    counts = list(h.counts)  # one copy: the worker keeps adding while we read
    out: list[tuple[str, float]] = []
    seen, j = 0, 0
    for bound, cut in zip(BUCKETS_S, _CUTS):
        while j < cut:
            seen += counts[j]
            j += 1
        out.append((repr(bound), float(seen)))
    out.append(("+Inf", float(sum(counts))))
    return out, h.total / 1e9


class RunCollector:
    """A prometheus_client Collector over one `Run`: every metric is read at scrape time."""

    def __init__(self, run: Any) -> None:
        self.run = run

    def describe(self) -> list[Any]:
        return []  # unchecked collector: the node set is known only once the graph is built

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        snap = self.run.snapshot()
        stats = self.run.stats
        c_in = CounterMetricFamily("edgespeed_node_packets_in", "packets a node took in", labels=["node"])
        c_out = CounterMetricFamily("edgespeed_node_packets_out", "packets a node put out", labels=["node"])
        c_err = CounterMetricFamily("edgespeed_node_errors", "errors a node raised", labels=["node"])
        c_rst = CounterMetricFamily("edgespeed_node_restarts", "restarts of a node or its process", labels=["node"])
        c_drop = CounterMetricFamily("edgespeed_node_dropped", "packets dropped at a node's inputs", labels=["node"])
        c_own = CounterMetricFamily("edgespeed_node_counter", "a node's own counters (Node.count)", labels=["node", "name"])
        c_link = CounterMetricFamily("edgespeed_link_counter", "counters of the link ends between devices", labels=["link", "name"])
        h_proc = HistogramMetricFamily("edgespeed_node_process_seconds", "time in process() per call", labels=["node"])
        g_depth = GaugeMetricFamily("edgespeed_edge_queue_depth", "packets queued on an edge now", labels=["edge"])
        c_edrop = CounterMetricFamily("edgespeed_edge_dropped", "packets an edge dropped by its policy", labels=["edge"])
        h_lat = HistogramMetricFamily("edgespeed_sink_latency_seconds", "end-to-end latency from the source stamp", labels=["sink"])
        # a multi-stream source (video.streams): its series per stream, named as in the report
        c_sframes = CounterMetricFamily("edgespeed_stream_frames", "frames a stream delivered", labels=["node", "stream"])
        c_sdrop = CounterMetricFamily("edgespeed_stream_dropped", "frames of a stream dropped (source and edges)", labels=["node", "stream"])
        c_srec = CounterMetricFamily("edgespeed_stream_reconnects", "reconnects of a stream", labels=["node", "stream"])
        g_sfps = GaugeMetricFamily("edgespeed_stream_fps", "frames per second of a stream", labels=["node", "stream"])
        h_slat = HistogramMetricFamily("edgespeed_stream_latency_seconds", "end-to-end latency of a stream at a sink",
                                       labels=["stream", "sink"])
        for name, st in (snap.get("streams") or {}).items():
            node_id = str(st.get("node", ""))
            c_sframes.add_metric([node_id, name], st.get("frames", 0))
            c_sdrop.add_metric([node_id, name], st.get("dropped", 0) + sum((st.get("edge_drops") or {}).values()))
            c_srec.add_metric([node_id, name], st.get("reconnects", 0))
            g_sfps.add_metric([node_id, name], st.get("fps", 0.0))
        for sid in snap["sinks"]:
            for name, hist in (getattr(stats.get(sid), "stream_latency", None) or {}).items():
                buckets, total = histogram_buckets(hist)
                h_slat.add_metric([str(name), sid], buckets, total)
        for nid, node in snap["nodes"].items():
            c_in.add_metric([nid], node["in"])
            c_out.add_metric([nid], node["out"])
            c_err.add_metric([nid], node["errors"])
            c_rst.add_metric([nid], node["restarts"])
            c_drop.add_metric([nid], node["dropped"])
            family = c_link if str(node.get("type", "")).startswith("runtime.link") else c_own
            for name, v in (node.get("counters") or {}).items():
                family.add_metric([nid, name], v)
            if nid in stats:
                buckets, total = histogram_buckets(stats[nid].process)
                h_proc.add_metric([nid], buckets, total)
        for edge, e in snap["edges"].items():
            g_depth.add_metric([edge], e["depth"])
            c_edrop.add_metric([edge], e["dropped"])
        for sid in snap["sinks"]:
            if sid in stats:
                buckets, total = histogram_buckets(stats[sid].latency)
                h_lat.add_metric([sid], buckets, total)
        yield from (c_in, c_out, c_err, c_rst, c_drop, c_own, c_link, h_proc, g_depth, c_edrop, h_lat,
                    c_sframes, c_sdrop, c_srec, g_sfps, h_slat)


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a scrape in flight never holds up the exit


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return None  # one line per scrape on stderr would drown the live table


class MetricsServer:
    """Serve `/metrics` for `run` on `host:port` from a daemon thread until `close()`.

    Raises:
        MissingDependency: prometheus_client is not installed.
        GraphErrors: the port is taken or cannot be bound (bad input: exit 2).
    """

    def __init__(self, run: Any, port: int, host: str = "0.0.0.0") -> None:
        try:
            from prometheus_client import CollectorRegistry, make_wsgi_app
        except ImportError:
            raise MissingDependency("prometheus_client", "metrics") from None
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(RunCollector(run))
        try:
            self._httpd = make_server(host, port, make_wsgi_app(self.registry), _ThreadingWSGIServer, handler_class=_QuietHandler)
        except OSError as e:
            why = "is already in use" if e.errno == errno.EADDRINUSE else f"cannot be used: {e.strerror}"
            raise GraphErrors([GraphError(f"--metrics-port {port!r} {why}; choose another port")]) from None
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="edgespeed-metrics", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
