"""Per-node and per-edge counters, latency histograms, the exit report and the live table.

Workers update their own counters without locks (each counter has one writer); readers (the
live table, the report) read them as they are, which is exact at exit and close enough live.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

# Bucket edges in ns, about 4% apart, from 100 ns to ~30 min: p50/p99 within ~2%.
_EDGES: list[int] = []
_v = 100.0
while _v < 2e12:
    _EDGES.append(int(_v))
    _v *= 1.04


class Histogram:
    """A log-bucket histogram of durations in ns; O(1) memory whatever the run length."""

    __slots__ = ("counts", "n", "total", "max")

    def __init__(self) -> None:
        self.counts = [0] * (len(_EDGES) + 1)
        self.n = 0
        self.total = 0
        self.max = 0

    def add(self, ns: int) -> None:
        self.counts[bisect_right(_EDGES, ns)] += 1
        self.n += 1
        self.total += ns
        if ns > self.max:
            self.max = ns

    def percentile(self, q: float) -> float:
        """The q-th percentile (0..100) in ns; 0.0 when empty."""
        if not self.n:
            return 0.0
        rank = max(1, math.ceil(q / 100 * self.n))
        seen = 0
        for i, c in enumerate(self.counts):
            seen += c
            if seen >= rank:
                lo = _EDGES[i - 1] if i > 0 else 0
                hi = _EDGES[i] if i < len(_EDGES) else self.max
                return float(min(math.sqrt(max(lo, 1) * hi), self.max))
        return float(self.max)

    def summary_ms(self) -> dict[str, float]:
        return {
            "p50": round(self.percentile(50) / 1e6, 4),
            "p99": round(self.percentile(99) / 1e6, 4),
            "mean": round(self.total / self.n / 1e6, 4) if self.n else 0.0,
            "max": round(self.max / 1e6, 4),
            "count": self.n,
        }


@dataclass
class NodeStats:
    """Counters of one node. `dropped` counts packets lost by its sync (rings count their own)."""

    node_id: str
    kind: str
    packets_in: int = 0
    packets_out: int = 0
    dropped: int = 0
    errors: int = 0
    restarts: int = 0
    process: Histogram = field(default_factory=Histogram)
    latency: Histogram = field(default_factory=Histogram)
    state: str = "new"
    last_error: str = ""
    counters: dict[str, int] = field(default_factory=dict)  # the node's own (Node.count)
    streams: dict[str, dict[str, Any]] = field(default_factory=dict)  # a multi-stream source's per stream (Node.stream_counts)
    stream_latency: dict[str, Histogram] = field(default_factory=dict)  # a sink's, per stream of what it received

    def add_latency(self, ns: int, stream: str | None) -> None:
        """A sink's end-to-end latency of one packet, also under its stream (the report's
        streams.<name>.latency_ms.<sink>)."""
        self.latency.add(ns)
        if stream is not None:
            h = self.stream_latency.get(stream)
            if h is None:
                h = self.stream_latency[stream] = Histogram()
            h.add(ns)


def report(stats: dict[str, NodeStats], rings: list[Any], sinks: list[str], wall_s: float, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The `--report` JSON: nodes, edges, sinks' end-to-end latency, wall time."""
    dropped_in: dict[str, int] = {}
    for r in rings:
        consumer = r.name.split(" -> ")[1].split(".")[0]
        dropped_in[consumer] = dropped_in.get(consumer, 0) + r.dropped
    nodes = {}
    for nid, s in stats.items():
        nodes[nid] = {
            "type": s.kind,
            "in": s.packets_in,
            "out": s.packets_out,
            "dropped": s.dropped + dropped_in.get(nid, 0),
            "errors": s.errors,
            "restarts": s.restarts,
            "state": s.state,
            "fps": round(s.packets_in / wall_s, 2) if wall_s > 0 and s.packets_in else round(s.packets_out / wall_s, 2) if wall_s > 0 else 0.0,
            "process_ms": s.process.summary_ms(),
        }
        if s.last_error:
            nodes[nid]["last_error"] = s.last_error
        if s.counters:
            nodes[nid]["counters"] = dict(s.counters)
    edges = {r.name: {"capacity": r.capacity, "policy": r.policy, "depth": len(r), "peak": r.peak, "dropped": r.dropped, "packets": r.puts} for r in rings}
    out = {
        "wall_s": round(wall_s, 4),
        "nodes": nodes,
        "edges": edges,
        "sinks": {sid: {"latency_ms": stats[sid].latency.summary_ms()} for sid in sinks},
    }
    if any(s.streams for s in stats.values()):
        out["streams"] = _streams(stats, rings, sinks, wall_s)
    if extra:
        out.update(extra)
    return out


def _streams(stats: dict[str, NodeStats], rings: list[Any], sinks: list[str], wall_s: float) -> dict[str, Any]:
    """Per stream of multi-stream sources: what the source counted (frames, `dropped` in the
    source, reconnects, state), its fps, the stream's packets dropped on each edge (`edge_drops`:
    a preview's `latest` edge drops by design, so they are not added to `dropped`), and the
    source-to-sink latency of the stream at each sink."""
    out: dict[str, Any] = {}
    for nid, s in stats.items():
        for name, counts in list(s.streams.items()):  # (one C-level copy: a source thread may add a stream meanwhile)
            row = {"node": nid, **counts}
            row["fps"] = round(counts.get("frames", 0) / wall_s, 2) if wall_s > 0 else 0.0
            row["edge_drops"] = {r.name: r.stream_dropped[name] for r in rings if getattr(r, "stream_dropped", None) and name in r.stream_dropped}
            row["latency_ms"] = {sid: stats[sid].stream_latency[name].summary_ms() for sid in sinks if name in stats[sid].stream_latency}
            out[name] = row
    return out
