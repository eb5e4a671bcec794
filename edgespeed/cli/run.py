"""`edgespeed run GRAPH`: run a graph with a live table, signal handling and a JSON report."""

from __future__ import annotations

import argparse
import faulthandler
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from ..metrics.console import LiveTable, table, terminal_width, with_progress
from ..runtime.scheduler import Run
from ..runtime.sweep import sweep
from .validate import load_checked

log = logging.getLogger("edgespeed.run")


def cmd_run(args: argparse.Namespace) -> int:
    device, keys = getattr(args, "device", None), getattr(args, "keys", None)
    # everything is checked before anything opens; with a keys file, once its keys are in (the links' keys are checked)
    edit = (lambda spec: device_keys(spec, device, Path(keys))) if keys and device is not None else None
    resolved = load_checked(args.graph, args.overrides, edit)
    names = [d.name for d in resolved.spec.devices]
    if device is not None and device not in names:
        from ..errors import GraphError, GraphErrors, Location
        from ..node import did_you_mean

        hint = did_you_mean(device, names) if names else "; the graph declares no devices:"
        raise GraphErrors([GraphError(f"--device {device!r} is not a device of this graph{hint}", location=Location(resolved.spec.file))])
    if keys:
        if device is None:
            from ..errors import GraphError, GraphErrors

            raise GraphErrors([GraphError("--keys names one device's keys; use it with --device NAME")])
    if swept := sweep():  # the shared memory of runs that were SIGKILLed (see `edgespeed clean`)
        log.info("removed %d shared-memory segment(s) left in /dev/shm by killed runs", len(swept))
    run = Run(resolved, drain_timeout_s=args.drain_timeout, device=device)
    status = lambda: with_progress(run.snapshot(), run.nodes)  # noqa: E731 - the table and /status read the same
    control = _control_server(args, run, status)
    metrics = _metrics_server(run, args)
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
    if hasattr(signal, "SIGUSR1"):  # `kill -USR1 PID`: every thread's stack on stderr, the run goes on (a stuck run says where)
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    live = LiveTable(status) if sys.stderr.isatty() and not args.quiet else None
    try:
        run.start()
        if control:
            control.start()
        if live:
            live.start()
        result = run.wait(args.duration)
    finally:
        if control:
            control.close()
        if live:
            live.stop()
        if metrics is not None:
            metrics.close()
        for s, h in old.items():
            signal.signal(s, h)
    if result.failures:
        _mark_not_run(result.report)
    if args.report:
        _write_json(Path(args.report), result.report)
    if not args.quiet:
        print(table(result.report, width=terminal_width(sys.stderr) if sys.stderr.isatty() else None), file=sys.stderr)
        how = {"signal": "stopped by signal", "duration": "stopped after --duration", "error": "stopped by an error"}.get(result.stopped_by or "", "finished")
        print(f"{resolved.spec.name}: {how} in {result.report['wall_s']:.2f} s", file=sys.stderr)
    if result.failures:
        return 2 if _missing_input(result.failures, resolved.spec) else 1
    if received and received[0] == signal.SIGINT:
        return 130
    return 0


def _mark_not_run(report: dict[str, Any]) -> None:
    """In a failed run, a node that ended without a packet in or out is "not run", not "done"."""
    for n in report.get("nodes", {}).values():
        if n.get("state") == "done" and not n.get("in") and not n.get("out") and not n.get("errors"):
            n["state"] = "not run"


def _missing_input(failures: list[Any], spec: Any) -> bool:
    """Whether the run failed only because a source's input file or folder is missing or is the
    wrong kind (a folder for a file): bad input, exit 2, like a bad graph."""
    sources = {n.id for n in spec.nodes if not n.inputs}
    wrong = (FileNotFoundError, IsADirectoryError, NotADirectoryError)
    return all(f.method == "setup" and f.node_id in sources and isinstance(f.cause, wrong) for f in failures)


def _control_server(args: argparse.Namespace, run: Run, status: Any) -> Any:
    """The control API (`--control-port`), bound before the graph opens anything."""
    if getattr(args, "control_port", None) is None:
        return None
    from ..control import TOKEN_ENV, Control, ControlServer, parse_address

    token = getattr(args, "control_token", None) or os.environ.get(TOKEN_ENV) or None
    return ControlServer(parse_address(args.control_port), Control(run, status), token)


def _metrics_server(run: Run, args: argparse.Namespace) -> Any:
    """The Prometheus endpoint of `--metrics-port`, serving before the graph starts; None without it."""
    port = getattr(args, "metrics_port", None)
    if port is None:
        return None
    from ..metrics.prometheus import MetricsServer

    return MetricsServer(run, port)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def device_keys(spec: Any, device: str, path: Path) -> Any:
    """`spec` with the keys of a per-device file: this device's keypair, its peers' public keys.

    The file (YAML) stays on the device, so the graph file can be the same everywhere::

        keys: keys/gateway          # this device's keypair: keys/gateway.key, keys/gateway.key_secret
        peers:                      # the public key of each device it links with
          camera: keys/camera.key
          results: keys/results.key
        allow: [keys/laptop.key]    # more peers allowed to connect to it

    Paths are relative to the file.
    """
    from dataclasses import replace

    import yaml

    from ..errors import GraphError, GraphErrors, Location

    def fail(msg: str, line: int | None = None) -> GraphErrors:  # bad input: exit 2
        return GraphErrors([GraphError(msg, location=Location(str(path), line or 0))])

    try:
        data = yaml.safe_load(path.read_text())
    except OSError as e:
        raise fail(f"cannot read the keys file: {e.strerror}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise fail(f"not valid YAML: {getattr(e, 'problem', e)}", mark.line + 1 if mark else None) from None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), str):
        raise fail("expected a mapping with 'keys: PATH' (this device's keypair, without .key), 'peers' and 'allow'")
    unknown = sorted(set(data) - {"keys", "peers", "allow"})
    if unknown:
        raise fail(f"unknown key {unknown[0]!r}; expected keys, peers, allow")
    peers, allow = data.get("peers") or {}, data.get("allow") or []
    names = {d.name for d in spec.devices}
    if not isinstance(peers, dict) or any(not isinstance(v, str) or not v.endswith(".key") for v in peers.values()):
        raise fail("'peers' must map device names to public key files (NAME.key)")
    if bad := sorted(set(peers) - names):
        raise fail(f"'peers' names {bad[0]!r}, which is not a device of {spec.file}")
    if not isinstance(allow, list) or any(not isinstance(a, str) or not a.endswith(".key") for a in allow):
        raise fail("'allow' must list public key files (NAME.key)")
    here = path.resolve().parent

    def absolute(p: str) -> str:
        return str(here / p) if not Path(p).is_absolute() else p

    devices = []
    for d in spec.devices:
        if d.name == device:
            d = replace(d, keys=absolute(data["keys"]), allow=(*d.allow, *(absolute(a) for a in allow)))
        elif d.name in peers:
            d = replace(d, keys=absolute(peers[d.name])[: -len(".key")])
        devices.append(d)
    return replace(spec, devices=tuple(devices))
