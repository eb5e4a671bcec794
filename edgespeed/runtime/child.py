"""The process an isolated group runs in: `python -m edgespeed.runtime.child CONTROL_FD`.

A fresh interpreter, not a multiprocessing spawn: it never re-imports the user's main script
(a builder script needs no `if __name__ == "__main__"` guard), and it inherits only the pipes
the parent passed. The parent sends the group's graph (YAML) and its channel ends on the control
connection, then "stop" or "abort"; the child answers ("error", text) if it cannot start, and
("done", report, failures) at the end.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from multiprocessing.connection import Connection
from typing import Any

UNPACED_ENV = "EDGESPEED_UNPACED"  # "1": run sources unpaced, as the parent does (`edgespeed bench`)


def main(control_fd: int) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    control = Connection(control_fd)
    group, yaml_text, ends, level = control.recv()
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)
    try:
        from ..graph import load_text
        from ..graph.validate import check
        from . import process
        from .scheduler import Run

        process.adopt(ends)
        run = Run(check(load_text(yaml_text, file=f"<{group}>")), paced=os.environ.get(UNPACED_ENV) != "1")
    except Exception as e:  # import errors, a node's __init__: one line for the parent to show
        text = str(e).strip().splitlines()
        control.send(("error", f"{type(e).__name__}: {text[0] if text else ''}"))
        return 3
    threading.Thread(target=_listen, args=(control, run), name="edgespeed-control", daemon=True).start()
    run.start()
    result = run.wait()
    failures = [(f.node_id, f.method, f.port, f.seq, str(f)) for f in result.failures]
    try:
        control.send(("done", result.report, failures))
    except (OSError, ValueError):
        pass
    return 1 if failures else 0


def _listen(control: Connection, run: Any) -> None:
    while True:
        try:
            msg = control.recv()
        except (EOFError, OSError):  # the parent is gone: stop now
            run.abort()
            return
        if msg == "stop":
            run.stop("signal")
        elif msg == "abort":
            run.abort()
            return


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
