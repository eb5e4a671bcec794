"""Run a validated graph: one worker thread per node over one bounded ring per edge.

Threads are the default executor: PyAV, OpenCV, NumPy and ONNX Runtime release the GIL in
their heavy calls, so a thread per node overlaps decode, preprocessing and inference.

Shutdown:
- a finite graph ends by itself: each source's end-of-stream flows downstream, and the run is
  over when every worker has drained its inputs and torn down;
- `stop()` (Ctrl-C, SIGTERM, `--duration`, a node failing under `on_error: stop`) ends the
  sources; everything already produced drains in order, sinks flush and close;
- `abort()` (a second Ctrl-C, or a drain longer than `drain_timeout_s`) kills every ring so
  no worker waits any more; each still tears its node down.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import NodeError
from ..graph.plan import DEFAULT_MAX_BYTES, DEFAULT_QUEUE, Plan, plan
from ..graph.spec import GraphSpec
from ..graph.validate import Resolved, check
from ..metrics import NodeStats, report
from ..node import Node
from ..registry import Registry
from .boundary import edge_name
from .context import Preroll, RunContext
from .ring import Carrier, Ring
from .worker import Worker

log = logging.getLogger("edgespeed.run")


@dataclass
class RunResult:
    """How a run ended."""

    report: dict[str, Any]
    failures: list[NodeError] = field(default_factory=list)
    stopped_by: str | None = None  # "signal", "duration", "error", None for end of stream

    @property
    def ok(self) -> bool:
        return not self.failures


class Run:
    """A graph being run in this process.

    Args:
        resolved: a validated graph (`graph.check(spec)`).
        drain_timeout_s: after `stop()`, how long to let data drain before `abort()`.
        device: run only this device's part of the graph, linked to the others (`devices.split`).
        paced: release what sources yield at their media time where they ask for it
            (`Node.pacing`); False runs every source as fast as the graph takes it (bench).
        stream_feeds: `Plan.stream_feeds` of the whole graph, for a child process running a
            part of it (None: from this run's own plan).
    """

    def __init__(self, resolved: Resolved, *, drain_timeout_s: float = 10.0, device: str | None = None,
                 paced: bool = True, stream_feeds: dict[str, dict[str, frozenset[str]]] | None = None) -> None:
        resolved = live_sync(resolved)  # on the whole graph, before any split: the sources are all in it
        self.resolved = resolved
        self.paced = paced
        self.spec = resolved.spec
        self.drain_timeout_s = drain_timeout_s
        self.stopping = threading.Event()
        self.aborted = threading.Event()
        self.stopped_by: str | None = None
        self.failures: list[NodeError] = []
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._remaining = 0
        self.nodes: dict[str, Node] = {}
        self.stats: dict[str, NodeStats] = {}
        self.rings: list[Ring] = []
        self.workers: dict[str, Worker] = {}
        self._threads: list[threading.Thread] = []
        self._t0 = 0.0
        self._t_end: float | None = None
        self.groups: list[Any] = []
        self._child_reports: dict[str, dict[str, Any]] = {}
        self.plan: Plan = plan(resolved, device, cpus=_offered_cpus(resolved.spec))
        # a child process runs a part of the graph: its parent gives the whole graph's feeds
        self.stream_feeds = self.plan.stream_feeds if stream_feeds is None else stream_feeds
        if device is not None:
            from .devices import split as device_split

            self.spec = device_split(self.spec, device, self.plan.links())  # (the links as planned)
            self.resolved = check(self.spec)
        self._isolate()
        self._build()
        self._passive: set[str] = set()
        self._carriers: list[Any] = []
        self._channel_edges: list[Any] = []  # edges read straight from a channel: the report's entries
        if any(s.kind in ("runtime.shm_out", "runtime.shm_in") for s in self.stats.values()):
            from .fuse import fuse

            # channel ends run in their neighbours' threads
            self._passive, self._carriers, self._channel_edges = fuse(self.workers, self.rings)
        if any(s.kind == "runtime.shm_out" for s in self.stats.values()):
            self._slot_pools()
        # sources start once every node (and every child's nodes) has set up: their first
        # frames must not queue behind a model still loading
        self.preroll = Preroll(len(self.workers) - len(self._passive) + len(self.groups))
        for nid, w in self.workers.items():
            w.preroll = None if nid in self._passive else self.preroll
        for g in self.groups:
            g.on_ready = self.preroll.arrive
            g.stream_feeds = {nid: f for nid, f in self.stream_feeds.items() if nid in g.members}

    def _isolate(self) -> None:
        """Split off nodes that run in processes of their own (`isolate:`)."""
        if not any(n.process for n in self.plan.nodes.values()):
            return
        from .boundary import split
        from .process import ProcessGroup

        cut = split(self.spec, self.plan)
        me = weakref.ref(self)

        def on_failure(e: NodeError) -> None:
            run = me()
            if run is not None:
                run._on_failure(e)

        def on_report(group: Any, rep: dict[str, Any], failures: list[tuple[Any, ...]]) -> None:
            run = me()
            if run is None:
                return
            run._child_reports[group.name] = rep
            for node_id, method, port, seq, text in failures:
                run._on_failure(NodeError(node_id, method, _cause_of(text), port=port, seq=seq))

        for name, sub_spec in cut.groups.items():
            first = self.spec.node(cut.members[name][0])
            g = ProcessGroup(name, sub_spec, cut.members[name], cut.crossings, first.on_error, on_failure, on_report)
            g.classes = {m: self.resolved.classes[m] for m in g.members}  # (the control API checks their params here)
            g.params = {m: dict(self.resolved.params[m]) for m in g.members}
            self.groups.append(g)
        self.resolved = check(cut.parent)

    def _build(self) -> None:
        r = self.resolved
        conds = {n.id: threading.Condition(threading.Lock()) for n in r.spec.nodes}
        ins: dict[str, dict[str, Ring]] = {n.id: {} for n in r.spec.nodes}
        outs: dict[str, dict[str, list[Carrier]]] = {n.id: {p: [] for p in r.ports[n.id][1]} for n in r.spec.nodes}
        by_id = {n.id: n for n in r.spec.nodes}
        planned = {f"{e.source} -> {e.target}": e for e in self.plan.edges}
        for n in r.spec.nodes:
            for port, inp in r.inputs[n.id].items():
                name = edge_name(by_id[inp.node], n, port, inp)
                e = planned.get(name)
                if e is not None:  # the graph's edge, also where a boundary end stands in for one end of it
                    cap, max_bytes, policy = e.capacity, e.max_bytes, e.policy
                else:  # (a replica's internal edge, or a part run by a child, whose plan has other names)
                    decl = r.ports[n.id][0][port]
                    q = inp.queue or decl.queue
                    cap, max_bytes, policy = q or DEFAULT_QUEUE, None if q else DEFAULT_MAX_BYTES, inp.policy or decl.policy or "block"
                ring = Ring(name, cap, policy, conds[n.id], max_bytes=max_bytes)
                ins[n.id][port] = ring
                outs[inp.node][inp.output or ""].append(ring)
                self.rings.append(ring)
        # CPU sets from the plan; the nodes it does not know (inserted boundary nodes) share
        # the CPUs no node claims
        pin = hasattr(os, "sched_setaffinity") and any(p.cpus for p in self.plan.nodes.values())
        spare = frozenset(self.plan.spare_cpus) if pin and self.plan.spare_cpus else None
        cpus = {nid: frozenset(p.cpus) if p.cpus else None for nid, p in self.plan.nodes.items()} if pin else {}
        # Workers reach the run through a weak reference: no cycle keeps a finished run's frame
        # buffers alive until the cycle collector happens to run.
        me = weakref.ref(self)

        def on_failure(e: NodeError) -> None:
            run = me()
            if run is not None:
                run._on_failure(e)

        ctx = RunContext(self.stopping, self.aborted, me)
        for n in r.spec.nodes:
            cls = r.classes[n.id]
            node = cls(n.id, **r.params[n.id])
            node.bind_run(ctx)  # Node.stopping and run_status; link ends, replicas and boundaries see the workers
            self.nodes[n.id] = node
            self.stats[n.id] = NodeStats(n.id, n.type, counters=node.counters, streams=node.stream_counts)
            self.workers[n.id] = Worker(
                node, on_error=n.on_error, stats=self.stats[n.id], inputs=ins[n.id], outputs=outs[n.id],
                sync=n.sync or cls.sync, sync_tolerance_ms=n.sync_tolerance_ms if n.sync_tolerance_ms is not None else cls.sync_tolerance_ms,
                stopping=self.stopping, aborted=self.aborted, on_failure=on_failure, cpus=cpus.get(n.id, spare),
                paced=self.paced,
            )
        self._source_inputs()

    def _source_inputs(self) -> None:
        """Tell each multi-input worker which of its inputs each source feeds, so a stream's
        end (StreamEnd) waits for all of them. From the whole graph (`stream_feeds`): a stream's
        end keeps the id of its source across process and device boundaries."""
        for nid, w in self.workers.items():
            if len(w.inputs) > 1 and nid in self.stream_feeds:
                w.source_inputs = self.stream_feeds[nid]

    def _slot_pools(self) -> None:
        """A producer whose output goes only into a process boundary fills shared memory directly."""
        from .process import ShmOut, SlotPool

        for nid, node in self.nodes.items():
            if not isinstance(node, ShmOut):
                continue
            inp = self.resolved.inputs[nid]["data"]
            consumers = self.workers[inp.node].outputs[inp.output or ""]
            if len(consumers) == 1:
                self.nodes[inp.node].use_pool(inp.output or "", SlotPool(node))

    @property
    def finished(self) -> bool:
        """Every worker and process group has ended (the report is final)."""
        return self._done.is_set()

    @property
    def sinks(self) -> list[str]:
        return [nid for nid, w in self.workers.items() if w.is_sink and not type(w.node).kind.startswith("runtime.")]

    # -- control --------------------------------------------------------------------------------
    def start(self) -> None:
        """Start every worker thread."""
        self._t0 = time.perf_counter()
        self._remaining = len(self.workers) - len(self._passive) + len(self.groups)
        for g in self.groups:  # children first: they take a moment to spawn
            g.start()
            self._threads.append(threading.Thread(target=self._watch, args=(g,), name=f"edgespeed:{g.name}", daemon=True))
        for c in self._carriers:  # after the children have their channel ends
            c.open()
        for nid, w in self.workers.items():
            if nid in self._passive:
                continue
            t = threading.Thread(target=self._body, args=(w,), name=f"edgespeed:{nid}", daemon=True)
            self._threads.append(t)
        for t in self._threads:
            t.start()

    def _watch(self, group: Any) -> None:
        self._body(group)

    def _body(self, w: Any) -> None:
        try:
            w.run() if isinstance(w, Worker) else w.watch()
        finally:
            with self._lock:
                self._remaining -= 1
                if self._remaining == 0:
                    self._t_end = time.perf_counter()
                    self._done.set()

    def _on_failure(self, e: NodeError) -> None:
        # one line for the operator; the chained traceback only with --debug
        log.error("%s", e, exc_info=e if log.isEnabledFor(logging.DEBUG) else None)
        with self._lock:
            self.failures.append(e)
        self.stop("error")

    def stop(self, reason: str = "signal") -> None:
        """End the sources; what was produced drains through the graph."""
        if not self.stopping.is_set():
            self.stopped_by = reason
            self.stopping.set()
            for g in self.groups:
                g.stop()

    def abort(self) -> None:
        """Stop now: drop queued packets and wake every waiting worker."""
        self.stopping.set()
        self.aborted.set()
        for r in self.rings:
            r.kill()
        for g in self.groups:
            g.abort()

    def wait(self, duration_s: float | None = None, poll_s: float = 0.1) -> RunResult:
        """Wait for the run to end (in the main thread, so signal handlers keep running)."""
        deadline = self._t0 + duration_s if duration_s else None
        drain_deadline: float | None = None
        while not self._done.wait(poll_s):
            now = time.perf_counter()
            if deadline is not None and now >= deadline and not self.stopping.is_set():
                self.stop("duration")
            if self.stopping.is_set() and drain_deadline is None:
                drain_deadline = now + self.drain_timeout_s
            if drain_deadline is not None and now >= drain_deadline and not self.aborted.is_set():
                log.warning("graph did not drain within %.1f s; aborting", self.drain_timeout_s)
                self.abort()
                drain_deadline = now + 5.0
            elif self.aborted.is_set() and drain_deadline is not None and now >= drain_deadline:
                stuck = [t.name.split(":", 1)[1] for t in self._threads if t.is_alive()]
                log.error("nodes still busy after abort, leaving them: %s", ", ".join(stuck))
                break
        for g in self.groups:
            g.cleanup()
        return RunResult(self.snapshot(), list(self.failures), self.stopped_by)

    def snapshot(self) -> dict[str, Any]:
        """The report as of now (final once the run is over)."""
        end = self._t_end if self._t_end is not None else time.perf_counter()
        stats = {nid: s for nid, s in self.stats.items() if not s.kind.startswith("runtime.") or s.kind.startswith(("runtime.link", "runtime.replica"))}
        rep = report(stats, self.rings + self._channel_edges, self.sinks, end - self._t0 if self._t0 else 0.0,
                     {"graph": self.spec.name, "stopped_by": self.stopped_by})
        for nid, entry in rep["nodes"].items():
            live = self.nodes.get(nid)
            buffers = live.buffer_allocations() if live is not None else None
            if buffers:  # only nodes that fill pooled buffers (Node.buffer)
                entry["buffers"] = buffers
        sides: dict[str, list[tuple[str | None, dict[str, Any]]]] = {n: [(None, e)] for n, e in rep["edges"].items()}
        for g in self.groups:  # what the isolated nodes did, as their processes reported it
            child = self._child_reports.get(g.name)
            for nid in g.members:
                node = dict(child["nodes"][nid]) if child else {"type": self.spec.node(nid).type, "in": 0, "out": 0, "dropped": 0,
                                                                   "errors": 0, "restarts": 0, "state": "no report", "fps": 0.0,
                                                                   "process_ms": {"p50": 0.0, "p99": 0.0, "mean": 0.0, "max": 0.0, "count": 0}}
                node["process"] = g.name
                node["restarts"] = node.get("restarts", 0) + g.restarts
                rep["nodes"][nid] = node
            if child:
                for name, e in child["edges"].items():
                    sides.setdefault(name, []).append((g.name, e))
                rep["sinks"].update({k: v for k, v in child["sinks"].items() if k in g.members})
        if self.groups:
            rep["edges"] = _edges_across(sides, {m: g.name for g in self.groups for m in g.members}, rep["nodes"])
        return rep


def _edges_across(sides: dict[str, list[tuple[str | None, dict[str, Any]]]], group_of: dict[str, str],
                  nodes: dict[str, Any]) -> dict[str, Any]:
    """One entry per graph edge. A lossy edge cut by a process boundary has a ring on each side
    (boundary.py), both named by the edge: its entry is the consumer's side's, with the depth
    and drops of both; the drops on the far side are added to the consumer's count (its own
    process counted those on its side)."""
    edges: dict[str, Any] = {}
    for name, parts in sides.items():
        consumer = name.split(" -> ")[1].split(".")[0]
        near = [e for owner, e in parts if owner == group_of.get(consumer)]
        far = [e for owner, e in parts if owner != group_of.get(consumer)]
        if not near or not far:
            edges[name] = parts[-1][1]
            continue
        both = near + far
        edges[name] = {**near[0], "depth": sum(e["depth"] for e in both), "peak": max(e["peak"] for e in both),
                       "dropped": sum(e["dropped"] for e in both)}
        if consumer in nodes:
            nodes[consumer]["dropped"] += sum(e["dropped"] for e in far)
    return edges


def live_sync(resolved: Resolved) -> Resolved:
    """Give each node with a `live_sync` that runs downstream of a live source that sync mode.

    A source is live when its class says so (a camera) or its `realtime` param is true. The
    mode is written into the node's spec (where the graph leaves `sync:` unset), so process
    groups and device parts, which only see their own sources, keep it.
    """
    classes, params = resolved.classes, resolved.params
    if not any(cls.live_sync for cls in classes.values()):
        return resolved
    consumers: dict[str, list[str]] = {}
    for nid, ports in resolved.inputs.items():
        for inp in ports.values():
            consumers.setdefault(inp.node, []).append(nid)
    todo = [nid for nid, cls in classes.items() if cls.is_source() and (cls.live or params[nid].get("realtime") is True)]
    live = set(todo)
    while todo:  # everything downstream of a live source (a loop, not recursion: graphs may be long)
        for nid in consumers.get(todo.pop(), ()):
            if nid not in live:
                live.add(nid)
                todo.append(nid)
    nodes = tuple(replace(n, sync=classes[n.id].live_sync) if n.sync is None and classes[n.id].live_sync and n.id in live else n
                  for n in resolved.spec.nodes)
    if nodes == resolved.spec.nodes:
        return resolved
    return replace(resolved, spec=replace(resolved.spec, nodes=nodes))


def _offered_cpus(spec: GraphSpec) -> frozenset[int] | None:
    """The CPUs this process may use, when some node asks to be pinned (None otherwise)."""
    if not any(n.cpus for n in spec.nodes):
        return None
    if not hasattr(os, "sched_setaffinity"):
        log.warning("this platform cannot pin threads to CPUs; 'cpus' of %s is ignored", ", ".join(n.id for n in spec.nodes if n.cpus))
        return None
    return frozenset(os.sched_getaffinity(0))


def _cause_of(text: str) -> str:
    """The reason part of `node 'x' failed in process() on a/b #3: ValueError: ...`."""
    head, sep, rest = text.partition("): ")
    if not sep:
        return text
    return rest.split(": ", 1)[1] if rest.startswith(("on ", "#")) and ": " in rest else rest


def run_spec(spec: GraphSpec, *, registry: Registry | None = None, duration_s: float | None = None, drain_timeout_s: float = 10.0) -> RunResult:
    """Validate and run `spec` to the end in this process (no signal handling)."""
    r = Run(check(spec, registry), drain_timeout_s=drain_timeout_s)
    r.start()
    return r.wait(duration_s)
