"""Low-pass filter sensor readings."""

from __future__ import annotations

import math
from typing import Any

from edgespeed import Input, Node, Output, Param, Record


class LowPassFilter(Node):
    """First-order low-pass (exponential smoothing) of each field, with cutoff `cutoff_hz`.

    The smoothing factor follows the actual time step between readings (`t_s`), so irregular
    sampling is handled: alpha = dt / (dt + 1 / (2 pi cutoff_hz)). Fields not filtered pass
    through unchanged.

    Ports:
        reading (in): record {t_s, field: number, ...}.
        out (out): the same record with the fields filtered.

    Params:
        cutoff_hz: the -3 dB cutoff frequency (default 5).
        fields: the fields to filter; null for every numeric field but t_s (default null).
        rate_hz: readings per second, used when readings have no t_s (default 100).

    Example:
        ```yaml
        - {id: smooth, type: sensor.lowpass, params: {cutoff_hz: 2}, inputs: {reading: imu/reading}}
        ```
    """

    kind = "sensor.lowpass"
    reading = Input(Record, doc="{t_s, field: number, ...}")
    out = Output(Record, doc="{t_s, field: filtered number, ...}")
    cutoff_hz: float = Param(5.0, gt=0)
    fields: list[str] | None = Param(None)
    rate_hz: float = Param(100.0, gt=0)

    def setup(self) -> None:
        self._state: dict[str, float] = {}
        self._t: float | None = None
        self._rc = 1 / (2 * math.pi * self.cutoff_hz)

    def process(self, reading: dict[str, Any]) -> dict[str, Any]:
        t = reading.get("t_s")
        dt = 1 / self.rate_hz if t is None or self._t is None else max(0.0, float(t) - self._t)
        self._t = None if t is None else float(t)
        alpha = dt / (dt + self._rc)
        names = self.fields or [k for k, v in reading.items() if k != "t_s" and isinstance(v, (int, float))]
        out = dict(reading)
        for k in names:
            if k not in reading:
                raise ValueError(f"reading has no field {k!r}; it has: {', '.join(reading)}")
            x = float(reading[k])
            prev = self._state.get(k)
            out[k] = self._state[k] = x if prev is None else prev + alpha * (x - prev)
        return {"out": out}
