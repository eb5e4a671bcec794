"""sensor.imu: rate, gravity, repeatable noise and shocks where asked."""

from __future__ import annotations

import numpy as np
from edgespeed.nodes.sensor.imu import ImuSource

from edgespeed.testing import run_node


def test_imu_readings():
    p = {"rate_hz": 100, "duration_s": 2, "shocks_s": [1.0], "realtime": False}
    a = run_node(ImuSource, params=p)["reading"]
    b = run_node(ImuSource, params=p)["reading"]
    assert len(a) == 200 and a == b
    assert a[150]["t_s"] == 1.5 and set(a[0]) == {"t_s", "ax", "ay", "az", "gx", "gy", "gz"}
    mag = np.array([np.sqrt(r["ax"] ** 2 + r["ay"] ** 2 + r["az"] ** 2) for r in a])
    assert np.flatnonzero(mag > 20).tolist() == [100, 101, 102]  # 30 ms of shock at 1.0 s
    assert abs(np.median(mag) - 9.81) < 0.1
