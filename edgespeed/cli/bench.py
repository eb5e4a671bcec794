"""`edgespeed bench GRAPH`: run a graph with its sources as fast as they go and show where the
time goes: per-node throughput, process-time percentiles, queue occupancy, and the bottleneck.

Sources that the engine paces like live devices (`Node.pacing`, e.g. `realtime: true`) run
as fast as they go: the run is started unpaced, the same seam the worker paces through, so no
param is rewritten and a source with its own pacing needs nothing from bench. `--paced` keeps
the live pace. A node isolated in its own process (`isolate: process`) runs in a child that
builds its own Run: bench tells it through `EDGESPEED_UNPACED=1` in the environment the
children inherit (set only while the bench runs). The bottleneck is the node
busiest relative to the run's wall time (process time summed over its packets): the stage to
make faster, replicate, or isolate in a process of its own.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import typing
from pathlib import Path
from typing import Any

from ..metrics import Histogram
from ..runtime.child import UNPACED_ENV
from ..runtime.scheduler import Run
from .validate import load_checked, resolve_path


def _temp_sinks(graph: str, overrides: list[str], folder: Path) -> list[str]:
    """`--set id.param=FOLDER/id/NAME` for every path param of every sink (a node without
    outputs), so a bench never overwrites the graph's real outputs (`--set` ones included)."""
    import yaml

    from ..graph import load
    from ..registry import default_registry

    spec = load(resolve_path(graph))
    reg = default_registry()
    extra = []
    consumed = {inp.node for n in spec.nodes for inp in n.inputs.values()}
    for n in spec.nodes:
        try:
            cls = reg.resolve(n.type)
        except Exception:  # validation reports it properly
            continue
        # (a node whose ports depend on its params, inference.onnx, has none on its class: that
        # its results are read is what says it is not a sink)
        if cls.outputs or n.id in consumed:
            continue
        for name, p in cls.params.items():
            if p.annotation is not Path and Path not in typing.get_args(p.annotation):
                continue
            if p.kind is not None:  # an input or model file (Param kind): read, never written
                continue
            given = [yaml.safe_load(o.split("=", 1)[1]) for o in overrides if o.startswith(f"{n.id}.{name}=")]
            value = given[-1] if given else n.params.get(name, p.default)
            if value is not None:
                moved = folder / n.id / Path(str(value)).name
                extra.append(f"{n.id}.{name}={json.dumps(str(moved))}")  # JSON is YAML, quoted
    return extra


def _sample(run: Run, every_s: float, depth: dict[str, Histogram], stop: threading.Event) -> None:
    while not stop.wait(every_s):
        for r in run.rings:
            depth[r.name].add(len(r) * 1000)  # histograms take integers: slots x 1000


def bench_report(rep: dict[str, Any], depth: dict[str, Histogram]) -> dict[str, Any]:
    """Per-node throughput, process-time percentiles, queue occupancy and the bottleneck."""
    wall = rep["wall_s"] or 1e-9
    nodes = {}
    for nid, n in rep["nodes"].items():
        pm = n["process_ms"]
        busy = pm["mean"] * pm["count"] / 1000 / wall
        nodes[nid] = {"type": n["type"], "packets_per_s": round(max(n["in"], n["out"]) / wall, 1), "in": n["in"], "out": n["out"],
                      "dropped": n["dropped"], "process_ms": {k: pm[k] for k in ("p50", "p99", "mean", "max")}, "busy": round(busy, 3)}
    queues = {}
    for name, e in rep["edges"].items():
        h = depth.get(name)
        queues[name] = {"capacity": e["capacity"], "policy": e["policy"], "peak": e["peak"], "dropped": e["dropped"],
                        "mean": round(h.total / h.n / 1000, 2) if h and h.n else 0.0,
                        "p99": round(h.percentile(99) / 1000, 1) if h and h.n else 0.0}
    candidates = {k: v for k, v in nodes.items() if v["in"]} or nodes
    worst = max(candidates, key=lambda k: candidates[k]["busy"]) if candidates else None
    return {"wall_s": rep["wall_s"], "nodes": nodes, "queues": queues, "bottleneck": worst}


def render(b: dict[str, Any]) -> str:
    rows = [("node", "type", "pkt/s", "in", "out", "dropped", "p50 ms", "p99 ms", "busy")]
    for nid, n in b["nodes"].items():
        rows.append((nid, n["type"], f"{n['packets_per_s']:.1f}", str(n["in"]), str(n["out"]), str(n["dropped"]),
                     f"{n['process_ms']['p50']:.3f}", f"{n['process_ms']['p99']:.3f}", f"{100 * n['busy']:.0f}%"))
    w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w[i]) if i < 2 else c.rjust(w[i]) for i, c in enumerate(r)) for r in rows]
    lines.append("")
    lines.append("queue occupancy (slots): mean / p99 / peak of capacity")
    for name, q in b["queues"].items():
        lines.append(f"  {name}: {q['mean']:.1f} / {q['p99']:.0f} / {q['peak']} of {q['capacity']} ({q['policy']}, {q['dropped']} dropped)")
    if b["bottleneck"]:
        n = b["nodes"][b["bottleneck"]]
        lines.append("")
        lines.append(f"bottleneck: {b['bottleneck']} ({n['type']}), busy {100 * n['busy']:.0f}% of {b['wall_s']:.2f} s, "
                     f"p50 {n['process_ms']['p50']:.3f} ms per packet")
    return "\n".join(lines)


def cmd_bench(args: argparse.Namespace) -> int:
    overrides = list(args.overrides)
    folder = Path(tempfile.mkdtemp(prefix="edgespeed-bench-"))
    overrides += _temp_sinks(args.graph, overrides, folder)
    print(f"bench: sinks write to {folder}, not to the graph's outputs", file=sys.stderr)
    resolved = load_checked(args.graph, overrides)
    paced = getattr(args, "paced", False)
    before = os.environ.get(UNPACED_ENV)
    if not paced:
        os.environ[UNPACED_ENV] = "1"  # for isolated children (runtime/child.py), which build their own Run
    try:
        run = Run(resolved, paced=paced)
        depth = {r.name: Histogram() for r in run.rings}
        stop = threading.Event()
        sampler = threading.Thread(target=_sample, args=(run, 0.005, depth, stop), daemon=True)
        run.start()
        sampler.start()
        try:
            result = run.wait(args.duration)
        except KeyboardInterrupt:
            run.stop("signal")
            result = run.wait()
        finally:
            stop.set()
            sampler.join()
    finally:
        if before is None:
            os.environ.pop(UNPACED_ENV, None)
        else:
            os.environ[UNPACED_ENV] = before
    b = bench_report(result.report, depth)
    print(json.dumps(b, indent=2) if args.json else render(b))
    for f in result.failures:
        print(str(f), file=sys.stderr)
    return 1 if result.failures else 0
