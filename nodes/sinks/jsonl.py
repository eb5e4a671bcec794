"""Write one JSON object per packet to a JSON-lines file."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from edgespeed import Input, Node, Param


class JsonlSink(Node):
    """Write each packet as one JSON line: its sequence number, times, and the value.

    Arrays up to `max_array_items` elements are written in full; larger ones (frames) as a
    summary `{shape, dtype, mean}`. Dicts, lists, numbers and strings are written as they are.
    Lines are flushed every `flush_every` packets and always at end-of-stream, on Ctrl-C,
    SIGTERM and on errors elsewhere in the graph, so nothing accepted is lost. Packets of a
    multi-stream source get a `stream` field, and the file is flushed when a stream ends.

    Ports:
        data (in): anything JSON can hold, numpy arrays and scalars included.

    Params:
        path: the output file; parent folders are created (default out.jsonl).
        append: add to an existing file instead of replacing it (default false). Data that came
            over a link carries its `origin`; with `append`, a restarted device resumes after the
            last line written, so a crash writes nothing twice and loses nothing.
        flush_every: packets between flushes to disk (default 1: every line).
        max_array_items: arrays larger than this are summarized (default 64).

    Example:
        ```yaml
        - id: log
          type: sink.jsonl
          params: {path: out/detections.jsonl}
          inputs: {data: det/detections}
        ```
    """

    kind = "sink.jsonl"
    data = Input()
    path: Path = Param(Path("out.jsonl"), doc="output file")
    append: bool = Param(False, doc="append instead of replacing")
    flush_every: int = Param(1, ge=1, doc="packets between flushes")
    max_array_items: int = Param(64, ge=0, doc="larger arrays are summarized")

    def setup(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._resume: tuple[str, int] | None = None
        if self.append and self.path.exists():
            self._resume = _last_origin(self.path)
        self._file: TextIO | None = None  # opened at the first packet: a run that fails before leaves no empty file
        self._pending = 0
        self.lines = 0

    def resume_point(self) -> tuple[str, int] | None:
        return self._resume

    def process(self, data: Any) -> None:
        env = self.envelope
        record = {"seq": env.seq, "ts_ns": env.ts_ns, "pts_ns": env.pts_ns, "data": self._plain(data)} if env else {"data": self._plain(data)}
        if env is not None and env.origin is not None:  # came over a link: where from, for a resume
            record["origin"] = list(env.origin)
        if env is not None and env.stream is not None:  # from a multi-stream source: which stream
            record["stream"] = env.stream
        self._out().write(json.dumps(record, separators=(",", ":")) + "\n")
        self.lines += 1
        self._pending += 1
        if self._pending >= self.flush_every and self._file is not None:
            self._file.flush()
            self._pending = 0
        return None

    def end_stream(self, stream: str) -> None:
        """A stream of a multi-stream source ended: what it wrote is flushed to the file now."""
        if self._file is not None:
            self._file.flush()
            self._pending = 0

    def _out(self) -> TextIO:
        if self._file is None:
            self._file = open(self.path, "a" if self.append else "w", encoding="utf-8")  # noqa: SIM115 - closed in teardown
        return self._file

    def teardown(self) -> None:
        if self._file is not None:
            self._file.flush()
            self._file.close()

    def _plain(self, v: Any) -> Any:
        if isinstance(v, np.ndarray):
            if v.size <= self.max_array_items:
                return v.tolist()
            return {"shape": list(v.shape), "dtype": str(v.dtype), "mean": round(float(v.mean()), 4) if v.size and v.dtype.kind in "biuf" else None}
        if isinstance(v, dict):
            return {str(k): self._plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [self._plain(x) for x in v]
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, (str, int, float, bool)) or v is None:
            return v
        if isinstance(v, Path):
            return str(v)
        return repr(v)


def _last_origin(path: Path) -> tuple[str, int] | None:
    """The origin of the last whole line of a JSON-lines file; a torn last line (a crash in the
    middle of a write) is cut off first, so the record it held is written again."""
    with open(path, "rb+") as f:
        size = f.seek(0, 2)
        f.seek(max(0, size - 65536))
        tail = f.read()
        if tail and not tail.endswith(b"\n"):
            cut = tail.rfind(b"\n") + 1
            f.truncate(size - len(tail) + cut)
            tail = tail[:cut]
    for line in reversed(tail.splitlines()):
        try:
            origin = json.loads(line).get("origin")
        except (ValueError, AttributeError):
            continue
        if isinstance(origin, list) and len(origin) == 2 and isinstance(origin[0], str) and isinstance(origin[1], int):
            return origin[0], origin[1]
        return None
    return None
