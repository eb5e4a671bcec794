"""A synthetic IMU: accelerometer and gyroscope readings with noise and optional shocks."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from edgespeed import Node, Output, Param, Record, Stamped

G = 9.81


class ImuSource(Node):
    """IMU-like readings at `rate_hz`: a gently swaying device, sensor noise, and shocks.

    Acceleration (m/s^2) is gravity on z plus a slow sway of `sway_amplitude` on x and y;
    angular rate (rad/s) follows the sway. Each time in `shocks_s` adds a short spike of
    `shock_g` g on all accelerometer axes for `shock_ms` (something to detect). Noise is
    seeded, so runs repeat. Reading i has media time i / rate_hz.

    Ports:
        reading (out): record {t_s, ax, ay, az, gx, gy, gz}.

    Params:
        rate_hz: readings per second (default 100).
        duration_s: total duration; 0 for endless (default 10).
        noise: accelerometer noise standard deviation in m/s^2 (default 0.05).
        sway_amplitude: sway acceleration in m/s^2 (default 0.5).
        shocks_s: times of shocks in s (default []).
        shock_g: shock size in g (default 3).
        shock_ms: shock length in ms (default 30).
        realtime: pace readings at rate_hz (default true).
        seed: noise seed (default 0).

    Example:
        ```yaml
        - {id: imu, type: sensor.imu, params: {rate_hz: 100, duration_s: 20, shocks_s: [5.0, 12.5]}}
        ```
    """

    kind = "sensor.imu"
    reading = Output(Record, doc="{t_s, ax, ay, az (m/s^2), gx, gy, gz (rad/s)}")
    rate_hz: float = Param(100.0, gt=0, le=100000)
    duration_s: float = Param(10.0, ge=0)
    noise: float = Param(0.05, ge=0)
    sway_amplitude: float = Param(0.5, ge=0)
    shocks_s: list[float] = Param([], ge=0)
    shock_g: float = Param(3.0, ge=0)
    shock_ms: float = Param(30.0, gt=0)
    realtime: bool = Param(True)
    seed: int = Param(0)

    def pacing(self) -> float | None:
        return 1.0 if self.realtime else None  # the engine paces from media time

    def generate(self) -> Iterator[Any]:
        rng = np.random.default_rng(self.seed)
        n = round(self.duration_s * self.rate_hz) or None
        i = 0
        while n is None or i < n:
            t = i / self.rate_hz
            yield Stamped({"reading": self._reading(t, rng)}, pts_ns=round(t * 1e9))
            i += 1
            if self.stopping:
                return

    def _reading(self, t: float, rng: np.random.Generator) -> dict[str, float]:
        a, w = self.sway_amplitude, 2 * math.pi * 0.5
        shock = self.shock_g * G if any(0 <= t - s < self.shock_ms / 1000 for s in self.shocks_s) else 0.0
        nx, ny, nz, gx, gy, gz = rng.normal(0, 1, 6)
        return {"t_s": t,
                "ax": a * math.sin(w * t) + self.noise * nx + shock,
                "ay": a * math.cos(w * t) + self.noise * ny + shock,
                "az": G + self.noise * nz + shock,
                "gx": 0.1 * math.cos(w * t) + 0.01 * gx, "gy": -0.1 * math.sin(w * t) + 0.01 * gy, "gz": 0.01 * gz}
