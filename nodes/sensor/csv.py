"""Replay timestamped sensor rows from a CSV file."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from edgespeed import Node, Output, Param, Record, Stamped

_UNIT_S = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


class CsvSource(Node):
    """Replay a CSV of timestamped readings, at the recorded pace or as fast as possible.

    The first row names the columns; one of them (`time_column`) holds the time of each row,
    in `time_unit`, increasing. Each row becomes a reading record `{t_s, <column>: float, ...}`
    whose media time is its time since the first row, so `sync: timestamp` can align it with
    video. A cell that is not a number, or a time that goes backwards, fails with the file and
    line. With `realtime`, rows are released at their recorded times (scaled by `speed`).

    Ports:
        reading (out): record {t_s (seconds since the first row), column: value, ...}.

    Params:
        path: the CSV file.
        time_column: the column with the row times (default t_s).
        time_unit: s, ms, us or ns (default s).
        columns: the columns to keep; null for all (default null).
        realtime: replay at the recorded pace (default true).
        speed: replay speed factor for realtime (default 1: as recorded).

    Example:
        ```yaml
        - {id: imu, type: sensor.csv, params: {path: data/imu.csv, time_column: timestamp, time_unit: ms}}
        ```
    """

    kind = "sensor.csv"
    reading = Output(Record, doc="{t_s, column: value, ...}")
    path: Path = Param(doc="CSV file with a header row", kind="input_file")
    time_column: str = Param("t_s")
    time_unit: Literal["s", "ms", "us", "ns"] = Param("s")
    columns: list[str] | None = Param(None)
    realtime: bool = Param(True)
    speed: float = Param(1.0, gt=0, le=1000)

    def setup(self) -> None:
        if self.path.is_dir():
            raise IsADirectoryError(f"CSV file {str(self.path)!r} is a folder; give a file in it")
        if not self.path.is_file():
            raise FileNotFoundError(f"no CSV file {str(self.path)!r}")
        self._file = open(self.path, newline="", encoding="utf-8")  # noqa: SIM115 - closed in teardown
        self._rows = csv.reader(self._file)
        header = [h.strip() for h in next(self._rows, [])]
        if self.time_column not in header:
            raise ValueError(f"{str(self.path)!r}: no time column {self.time_column!r}; columns: {', '.join(header) or 'none'}")
        missing = [c for c in self.columns or [] if c not in header]
        if missing:
            raise ValueError(f"{str(self.path)!r}: no column {missing[0]!r}; columns: {', '.join(header)}")
        self._header = header
        keep = self.columns or [h for h in header if h != self.time_column]
        self._keep = [(header.index(c), c) for c in keep]
        self._tcol = header.index(self.time_column)

    def pacing(self) -> float | None:
        return self.speed if self.realtime else None  # the engine paces from media time

    def generate(self) -> Iterator[Any]:
        scale = _UNIT_S[self.time_unit]
        first: float | None = None
        last = float("-inf")
        for row in self._rows:
            line = self._rows.line_num
            if not row or all(not c.strip() for c in row):
                continue
            t = self._number(row, self._tcol, line) * scale
            if t < last:
                raise ValueError(f"{str(self.path)!r} line {line}: time {t:g} s goes backwards (previous {last:g} s)")
            last = t
            first = t if first is None else first
            rel = t - first
            reading = {"t_s": rel, **{name: self._number(row, i, line) for i, name in self._keep}}
            yield Stamped({"reading": reading}, pts_ns=round(rel * 1e9))
            if self.stopping:
                return

    def _number(self, row: list[str], i: int, line: int) -> float:
        try:
            return float(row[i])
        except (IndexError, ValueError):
            cell = row[i] if i < len(row) else ""
            raise ValueError(f"{str(self.path)!r} line {line}: column {self._header[i]!r} is not a number: {cell!r}") from None

    def teardown(self) -> None:
        self._file.close()
