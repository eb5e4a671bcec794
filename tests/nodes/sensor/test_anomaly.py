"""sensor.anomaly: limits, z-scores, magnitude and hold-off."""

from __future__ import annotations

import numpy as np
import pytest
from edgespeed.nodes.sensor.anomaly import AnomalyDetector

from edgespeed.errors import NodeError
from edgespeed.testing import run_node


def readings(values, field="x"):
    return [{"t_s": i * 0.1, field: float(v)} for i, v in enumerate(values)]


def test_limits_and_holdoff():
    vals = [0, 0, 5, 6, 0, 0, 0, 0, 0, 0, 0, 0, 7, -4]
    out = run_node(AnomalyDetector, params={"max_value": 4, "min_value": -3, "holdoff_s": 0.5}, inputs={"reading": readings(vals)})["event"]
    assert [(round(e["t_s"], 1), e["kind"]) for e in out] == [(0.2, "above"), (1.2, "above")]  # 0.3 held off, -4 at 1.3 too


def test_zscore_on_magnitude():
    rng = np.random.default_rng(0)
    rows = [{"t_s": i / 100, "ax": rng.normal(0, 0.05), "ay": rng.normal(0, 0.05), "az": 9.81 + rng.normal(0, 0.05)} for i in range(300)]
    rows[200].update(ax=20.0)
    out = run_node(AnomalyDetector, params={"magnitude": ["ax", "ay", "az"], "fields": ["magnitude"], "zscore": 6},
                   inputs={"reading": rows})["event"]
    assert [(e["t_s"], e["field"], e["kind"]) for e in out] == [(2.0, "magnitude", "zscore")]
    assert out[0]["score"] > 6


def test_missing_field():
    with pytest.raises(NodeError, match="reading has no field 'q'"):
        run_node(AnomalyDetector, params={"fields": ["q"], "max_value": 1}, inputs={"reading": readings([1])})
