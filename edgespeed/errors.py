"""The EdgeSpeed error tree.

```
EdgeSpeedError
├── GraphError          a problem in a graph spec, located at file:line:col
│   └── GraphErrors     several GraphErrors found together (validation reports all)
├── NodeError           a node failed at run time (node, method, port, sequence number)
├── LinkError           a link between devices failed
└── MissingDependency   an optional library is not installed (says which extra to install)
```
The CLI prints `str(error)`: one line each, no traceback unless `--debug`. Tests read the
structured fields (`node_id`, `location`, `field`), never the text.
"""

from __future__ import annotations

import re

from collections.abc import Iterable
from dataclasses import dataclass

_SUBJECT = re.compile(r"^(param|input|output|port) '")


@dataclass(frozen=True)
class Location:
    """Where something was declared: a file (or `<string>`), 1-based line and column."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        if self.col <= 0:
            return f"{self.file}:{self.line}"
        return f"{self.file}:{self.line}:{self.col}"


class EdgeSpeedError(Exception):
    """Base of every error EdgeSpeed raises on purpose."""


class GraphError(EdgeSpeedError):
    """A graph spec problem.

    Args:
        msg: lowercase message, user values quoted with `!r`, expected vs got and one fix.
        node_id: the node it concerns, if any (rendered as `node 'id'`).
        location: where in the file (or builder call) the problem is.
        field: a dotted path of the offending field, e.g. `nodes[2].params.fps`.
    """

    def __init__(
        self,
        msg: str,
        *,
        node_id: str | None = None,
        location: Location | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(msg)
        self.msg = msg
        self.node_id = node_id
        self.location = location
        self.field = field

    def __str__(self) -> str:
        prefix = f"{self.location}: " if self.location else ""
        if not self.node_id:
            return prefix + self.msg
        # "node 'cam' param 'fps': ..." reads as one subject; anything else gets a colon.
        sep = " " if _SUBJECT.match(self.msg) else ": "
        return f"{prefix}node {self.node_id!r}{sep}{self.msg}"


class GraphErrors(GraphError):
    """All the problems found in one graph, reported together, sorted by position."""

    def __init__(self, errors: Iterable[GraphError]) -> None:
        self.errors = sorted(errors, key=_error_order)
        super().__init__("\n".join(str(e) for e in self.errors))

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.errors)

    def __len__(self) -> int:
        return len(self.errors)


def _error_order(e: GraphError) -> tuple[str, int, int]:
    loc = e.location
    return (loc.file, loc.line, loc.col) if loc else ("", 0, 0)


class NodeError(EdgeSpeedError):
    """A node failed at run time: `node 'det' failed in process() on cam/frame #1287: ...`.

    The cause is chained (`raise NodeError(...) from exc`) so `--debug` shows its traceback.
    """

    def __init__(
        self,
        node_id: str,
        method: str,
        cause: BaseException | str,
        *,
        port: str | None = None,
        seq: int | None = None,
    ) -> None:
        self.node_id = node_id
        self.method = method
        self.port = port
        self.seq = seq
        self.cause = cause
        where = f" on {port}" if port else ""
        if seq is not None:
            where += f" #{seq}"
        reason = cause if isinstance(cause, str) else _describe(cause)
        super().__init__(f"node {node_id!r} failed in {method}(){where}: {reason}")


class LinkError(EdgeSpeedError):
    """A link between devices failed (peer refused, malformed message, timeout)."""


class MissingDependency(EdgeSpeedError):
    """An optional library is missing: `needs av; install it with: pip install '/src/edgespeed[video]'`."""

    def __init__(self, module: str, extra: str, *, hint: str = "") -> None:
        self.module = module
        self.extra = extra
        msg = f"needs {module}; install it with: pip install '{install_source()}[{extra}]'"
        super().__init__(msg + (f" ({hint})" if hint else ""))


def install_source() -> str:
    """Where this copy of edgespeed was installed from, for `pip install '<it>[extra]'`: the
    checkout it runs from (editable) or was installed from (pip's direct_url.json); the name
    on a package index only when neither is known. It is not on PyPI yet, so `edgespeed[x]`
    would fetch nothing, or someone else's package."""
    import json
    from importlib import metadata
    from pathlib import Path
    from urllib.parse import unquote, urlparse

    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file() and (root / "edgespeed").is_dir():
        return str(root)
    try:
        url = json.loads(metadata.distribution("edgespeed").read_text("direct_url.json") or "{}").get("url", "")
    except (metadata.PackageNotFoundError, ValueError):
        url = ""
    if url.startswith("file://"):
        return unquote(urlparse(url).path)
    return "edgespeed"


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    if isinstance(exc, EdgeSpeedError):
        return first
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
