"""Write events (line crossings, zone entries, alarms) as JSON lines, one event per line."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from edgespeed import Input, Param, Record

from .jsonl import JsonlSink


class EventsSink(JsonlSink):
    """Write one JSON line per event, stamped with the times of the packet that carried it.

    A record with an `events` list (as counters emit: `{"counts": {...}, "events": [...]}`)
    gives one line per event, and nothing when the list is empty, so a counter that reports
    every frame only writes when something happened. Any other non-empty record is one event.
    Each line is `{"time": ISO 8601 UTC, "ts_ns", "pts_s", "seq", "event": {...}}` plus
    `"counts"` when the record has them and `include_counts` is set. Lines are flushed like
    `sink.jsonl`'s: every `flush_every` packets and always at the end of a run.

    Ports:
        data (in): a record: a dict, with an optional `events` list.

    Params:
        path: the output file; parent folders are created (default events.jsonl).
        append: add to an existing file instead of replacing it (default false).
        include_counts: add the record's `counts` to each event line (default true).
        flush_every: packets between flushes to disk (default 1).
        max_array_items: larger arrays are summarized (default 64).

    Example:
        ```yaml
        - id: events
          type: sink.events
          params: {path: out/crossings.jsonl}
          inputs: {data: counter/counts}
        ```
    """

    kind = "sink.events"
    data = Input(Record)
    path: Path = Param(Path("events.jsonl"), doc="output file")
    include_counts: bool = Param(True, doc="add the record's counts to each line")

    def setup(self) -> None:
        super().setup()
        self.events = 0

    def process(self, data: Any) -> None:
        if not data:
            return
        env = self.envelope
        events = data.get("events") if isinstance(data, dict) and "events" in data else [data]
        head: dict[str, Any] = {}
        if env is not None:
            ts_s = env.ts_ns / 1e9
            head = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts_s)) + f".{int(ts_s * 1000) % 1000:03d}Z",
                    "ts_ns": env.ts_ns, "pts_s": round(env.pts_ns / 1e9, 6), "seq": env.seq}
        counts = data.get("counts") if self.include_counts and isinstance(data, dict) else None
        for event in events or ():
            line = {**head, "event": self._plain(event)}
            if counts is not None:
                line["counts"] = self._plain(counts)
            self._out().write(json.dumps(line, separators=(",", ":")) + "\n")
            self.events += 1
        self._pending += 1
        if self._pending >= self.flush_every and self._file is not None:  # None: no event yet, nothing written
            self._file.flush()
            self._pending = 0
        return
