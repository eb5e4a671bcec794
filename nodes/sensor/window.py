"""Sliding-window statistics over sensor readings."""

from __future__ import annotations

from collections import deque
from typing import Any, Literal

import numpy as np

from edgespeed import Input, Node, Output, Param, Record

Stat = Literal["mean", "std", "min", "max", "rms"]


class WindowStats(Node):
    """Statistics of each field over the last `window` readings, every `hop` readings.

    Ports:
        reading (in): record {t_s, field: number, ...}.
        stats (out): record {t_s (of the newest reading), count, <field>_<stat>: float, ...}.

    Params:
        window: readings in the window (default 50).
        hop: readings between outputs (default 10); the first output waits for a full window.
        fields: the fields to summarize; null for every numeric field but t_s (default null).
        compute: the statistics, any of mean, std, min, max, rms (default [mean, std, min, max]).

    Example:
        ```yaml
        - {id: stats, type: sensor.window, params: {window: 100, hop: 25, fields: [ax, ay, az]}, inputs: {reading: imu/reading}}
        ```
    """

    kind = "sensor.window"
    reading = Input(Record, doc="{t_s, field: number, ...}")
    stats = Output(Record, doc="{t_s, count, field_stat: float, ...}")
    window: int = Param(50, ge=1)
    hop: int = Param(10, ge=1)
    fields: list[str] | None = Param(None)
    compute: list[Stat] = Param(["mean", "std", "min", "max"], doc="statistics to compute")

    def setup(self) -> None:
        self._rows: deque[list[float]] = deque(maxlen=self.window)
        self._names: list[str] | None = None
        self._since = 0

    def process(self, reading: dict[str, Any]) -> dict[str, Any] | None:
        if self._names is None:
            self._names = self.fields or [k for k, v in reading.items() if k != "t_s" and isinstance(v, (int, float))]
        try:
            self._rows.append([float(reading[k]) for k in self._names])
        except KeyError as e:
            raise ValueError(f"reading has no field {e.args[0]!r}; it has: {', '.join(reading)}") from None
        self._since += 1
        if len(self._rows) < self.window or self._since < self.hop:
            return None
        self._since = 0
        x = np.asarray(self._rows)
        funcs = {"mean": x.mean(0), "std": x.std(0), "min": x.min(0), "max": x.max(0), "rms": np.sqrt((x**2).mean(0))}
        out: dict[str, Any] = {"t_s": reading.get("t_s"), "count": len(x)}
        for j, name in enumerate(self._names):
            for s in self.compute:
                out[f"{name}_{s}"] = float(funcs[s][j])
        return {"stats": out}
