"""Threshold and anomaly events on sensor readings."""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np

from edgespeed import Input, Node, Output, Param, Record


class AnomalyDetector(Node):
    """Emit an event when a field leaves its limits or jumps far from its recent behaviour.

    Checks, per field: above `max_value`, below `min_value`, and (when `zscore` is set) a
    z-score against the mean and standard deviation of the previous `window` readings above
    `zscore`. `magnitude` adds a field `magnitude` = sqrt of the sum of squares of the listed
    fields (e.g. the accelerometer axes) before the checks. After an event, a field stays quiet
    for `holdoff_s`, so one shock gives one event, not one per reading.

    Ports:
        reading (in): record {t_s, field: number, ...}.
        event (out): record {t_s, field, value, kind: above|below|zscore, limit, score}.

    Params:
        fields: the fields to check; null for every numeric field but t_s (default null).
        magnitude: fields whose Euclidean norm is checked as `magnitude` (default null).
        max_value: upper limit (default null: none).
        min_value: lower limit (default null: none).
        zscore: z-score limit (default null: none).
        window: readings in the z-score baseline (default 100).
        holdoff_s: quiet time per field after an event, in s (default 1).

    Example:
        ```yaml
        - id: shocks
          type: sensor.anomaly
          params: {magnitude: [ax, ay, az], fields: [magnitude], max_value: 20}
          inputs: {reading: imu/reading}
        ```
    """

    kind = "sensor.anomaly"
    reading = Input(Record, doc="{t_s, field: number, ...}")
    event = Output(Record, doc="{t_s, field, value, kind, limit, score}")
    fields: list[str] | None = Param(None)
    magnitude: list[str] | None = Param(None)
    max_value: float | None = Param(None)
    min_value: float | None = Param(None)
    zscore: float | None = Param(None, gt=0)
    window: int = Param(100, ge=2)
    holdoff_s: float = Param(1.0, ge=0)

    def setup(self) -> None:
        self._history: dict[str, deque[float]] = {}
        self._quiet_until: dict[str, float] = {}
        self._n = 0

    def process(self, reading: dict[str, Any]) -> Any:
        r = dict(reading)
        if self.magnitude:
            r["magnitude"] = math.sqrt(sum(float(self._get(reading, k)) ** 2 for k in self.magnitude))
        t = float(r.get("t_s", self._n))
        self._n += 1
        names = self.fields or [k for k, v in r.items() if k != "t_s" and isinstance(v, (int, float))]
        for k in names:
            x = float(self._get(r, k))
            hit = self._check(k, x)
            hist = self._history.setdefault(k, deque(maxlen=self.window))
            hist.append(x)
            if hit and t >= self._quiet_until.get(k, -math.inf):
                self._quiet_until[k] = t + self.holdoff_s
                kind, limit, score = hit
                yield {"event": {"t_s": t, "field": k, "value": x, "kind": kind, "limit": limit, "score": score}}

    def _check(self, k: str, x: float) -> tuple[str, float, float] | None:
        if self.max_value is not None and x > self.max_value:
            return "above", self.max_value, x - self.max_value
        if self.min_value is not None and x < self.min_value:
            return "below", self.min_value, self.min_value - x
        hist = self._history.get(k)
        if self.zscore is not None and hist is not None and len(hist) >= self.window:
            h = np.asarray(hist)
            z = abs(x - h.mean()) / max(float(h.std()), 1e-9)
            if z > self.zscore:
                return "zscore", self.zscore, float(z)
        return None

    @staticmethod
    def _get(r: dict[str, Any], k: str) -> Any:
        if k not in r:
            raise ValueError(f"reading has no field {k!r}; it has: {', '.join(r)}")
        return r[k]
