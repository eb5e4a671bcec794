"""sensor.csv: timestamped rows, replayed at the recorded pace or as fast as possible."""

from __future__ import annotations

import time

import pytest
from edgespeed.nodes.sensor.csv import CsvSource

from edgespeed import Stamped
from edgespeed.errors import NodeError
from edgespeed.testing import run_node


@pytest.fixture
def recording(tmp_path):
    path = tmp_path / "imu.csv"
    rows = "".join(f"{1000 + 20 * i},{i * 0.1:.1f},{-i}\n" for i in range(16))
    path.write_text("timestamp,ax,ay\n" + rows)
    return path


def test_rows_and_media_times(recording):
    node = CsvSource("csv", path=recording, time_column="timestamp", time_unit="ms", realtime=False)
    node.setup()
    items = list(node.generate())
    node.teardown()
    assert all(isinstance(i, Stamped) for i in items) and len(items) == 16
    assert items[3].outputs["reading"] == pytest.approx({"t_s": 0.06, "ax": 0.3, "ay": -3.0})
    assert [i.pts_ns for i in items[:3]] == [0, 20_000_000, 40_000_000]


@pytest.mark.parametrize(("realtime", "speed", "low", "high"), [
    pytest.param(True, 1.0, 0.28, 2.0, id="recorded-pace"),
    pytest.param(True, 3.0, 0.09, 0.25, id="3x"),
    pytest.param(False, 1.0, 0.0, 0.1, id="fast"),
])
def test_pacing(recording, realtime, speed, low, high):
    t0 = time.perf_counter()
    out = run_node(CsvSource, params={"path": recording, "time_column": "timestamp", "time_unit": "ms", "realtime": realtime, "speed": speed})
    assert len(out["reading"]) == 16
    assert low <= time.perf_counter() - t0 <= high  # the rows span 0.3 s


def test_columns_subset(recording):
    out = run_node(CsvSource, params={"path": recording, "time_column": "timestamp", "columns": ["ay"], "realtime": False})
    assert set(out["reading"][0]) == {"t_s", "ay"}


@pytest.mark.parametrize(("content", "match"), [
    pytest.param("t_s,x\n0,1\n0.1,oops\n", "line 3: column 'x' is not a number: 'oops'", id="not-a-number"),
    pytest.param("t_s,x\n0.2,1\n0.1,2\n", "line 3: time 0.1 s goes backwards", id="backwards"),
    pytest.param("time,x\n0,1\n", "no time column 't_s'; columns: time, x", id="no-time-column"),
])
def test_bad_rows_name_file_and_line(tmp_path, content, match):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises((NodeError, ValueError), match=match) as err:
        run_node(CsvSource, params={"path": path, "realtime": False})
    assert str(path) in str(err.value)
