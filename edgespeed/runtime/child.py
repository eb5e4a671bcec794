"""The process an isolated group runs in: `python -m edgespeed.runtime.child CONTROL_FD`.

A fresh interpreter, not a multiprocessing spawn: it never re-imports the user's main script
(a builder script needs no `if __name__ == "__main__"` guard), and it inherits only the pipes
the parent passed. The parent sends the group's graph (YAML) and its channel ends on the control
connection, then "stop" or "abort"; the child answers ("error", text) if it cannot start, and
("done", report, failures) at the end. While it runs it sends ("log", level, logger, line) for
each log record, so the parent prints them where its own go (above the live table, never
through it), and ("status", report) every `STATUS_EVERY_S`, so the parent's live report,
/status and /metrics show the isolated nodes as they run, not only at the end.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import sys
import threading
from multiprocessing.connection import Connection
from typing import Any

UNPACED_ENV = "EDGESPEED_UNPACED"  # "1": run sources unpaced, as the parent does (`edgespeed bench`)

STATUS_EVERY_S = 1.0


class _Parent:
    """The control connection, shared by the log handler, the status thread and the end."""

    def __init__(self, control: Connection) -> None:
        self.control = control
        self.lock = threading.Lock()

    def send(self, msg: Any) -> bool:
        with self.lock:
            try:
                self.control.send(msg)
                return True
            except (OSError, ValueError):  # the parent is gone
                return False


class _ToParent(logging.Handler):
    def __init__(self, parent: _Parent) -> None:
        super().__init__()
        self.parent = parent
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        if not self.parent.send(("log", record.levelno, record.name, line)):
            sys.stderr.write(line + "\n")


def main(control_fd: int) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    if hasattr(signal, "SIGUSR1"):  # as in `edgespeed run`: SIGUSR1 prints every thread's stack
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    control = Connection(control_fd)
    group, yaml_text, ends, level, feeds, overrides = control.recv()
    parent = _Parent(control)
    root = logging.getLogger()
    root.setLevel(level)
    root.addHandler(_ToParent(parent))
    try:
        from ..graph import load_text
        from ..graph.validate import check
        from . import process
        from .scheduler import Run

        process.adopt(ends)
        run = Run(check(load_text(yaml_text, file=f"<{group}>")), paced=os.environ.get(UNPACED_ENV) != "1", stream_feeds=feeds)
        for node_id, values in overrides.items():  # params the control API set before a restart
            run.nodes[node_id].request_params(values)
    except Exception as e:  # import errors, a node's __init__: one line for the parent to show
        text = str(e).strip().splitlines()
        parent.send(("error", f"{type(e).__name__}: {text[0] if text else ''}"))
        return 3
    threading.Thread(target=_listen, args=(control, run), name="edgespeed-control", daemon=True).start()
    done = threading.Event()
    status = threading.Thread(target=_status, args=(parent, run, done), name="edgespeed-status", daemon=True)
    status.start()
    run.start()
    result = run.wait()
    done.set()
    status.join(5)  # its last snapshot goes before the final report
    failures = [(f.node_id, f.method, f.port, f.seq, str(f)) for f in result.failures]
    parent.send(("done", result.report, failures))
    return 1 if failures else 0


def _status(parent: _Parent, run: Any, done: threading.Event) -> None:
    if run.preroll.wait(run.stopping):  # the parent's sources start once this is sent
        parent.send(("ready",))
    while not done.wait(STATUS_EVERY_S):
        if not parent.send(("status", run.snapshot())):
            return


def _listen(control: Connection, run: Any) -> None:
    while True:
        try:
            msg = control.recv()
        except (EOFError, OSError):  # the parent is gone: stop now
            run.abort()
            return
        if msg == "stop":
            run.stop("signal")
        elif type(msg) is tuple and msg[0] == "params" and msg[1] in run.nodes:  # checked by the parent
            run.nodes[msg[1]].request_params(msg[2])
        elif msg == "abort":
            run.abort()
            return


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
