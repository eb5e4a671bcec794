"""`edgespeed run GRAPH`: run a graph with a live table, signal handling and a JSON report."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from ..metrics.console import LiveTable, table
from ..runtime.scheduler import Run
from .validate import load_checked

log = logging.getLogger("edgespeed.run")


def cmd_run(args: argparse.Namespace) -> int:
    resolved = load_checked(args.graph, args.overrides)  # everything is checked before anything opens
    device = getattr(args, "device", None)
    names = [d.name for d in resolved.spec.devices]
    if device is not None and device not in names:
        from ..errors import GraphError, GraphErrors, Location
        from ..node import did_you_mean

        hint = did_you_mean(device, names) if names else "; the graph declares no devices:"
        raise GraphErrors([GraphError(f"--device {device!r} is not a device of this graph{hint}", location=Location(resolved.spec.file))])
    run = Run(resolved, drain_timeout_s=args.drain_timeout, device=device)
    received: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        received.append(signum)
        if run.stopping.is_set():
            log.warning("stopping now (second signal): queued packets are dropped")
            run.abort()
        else:
            log.warning("stopping: draining the graph (send again to stop at once)")
            run.stop("signal")

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    live = LiveTable(run.snapshot) if sys.stderr.isatty() and not args.quiet else None
    try:
        run.start()
        if live:
            live.start()
        result = run.wait(args.duration)
    finally:
        if live:
            live.stop()
        for s, h in old.items():
            signal.signal(s, h)
    if args.report:
        _write_json(Path(args.report), result.report)
    if not args.quiet:
        print(table(result.report), file=sys.stderr)
        how = {"signal": "stopped by signal", "duration": "stopped after --duration", "error": "stopped by an error"}.get(result.stopped_by or "", "finished")
        print(f"{resolved.spec.name}: {how} in {result.report['wall_s']:.2f} s", file=sys.stderr)
    if result.failures:
        return 1
    if received and received[0] == signal.SIGINT:
        return 130
    return 0


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
