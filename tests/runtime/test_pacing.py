"""Pacing is the engine's: sources yield media time, the worker releases items at it (once)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from edgespeed import Node, Output, Param, Stamped
from edgespeed.graph import load_text
from edgespeed.graph.validate import check
from edgespeed.runtime.scheduler import Run
from edgespeed.testing import run_node


class Ticks(Node):
    """`count` items 20 ms apart in media time; paced at `speed` when `realtime`."""

    kind = "test.ticks"
    out = Output()
    count: int = Param(11, ge=1)
    realtime: bool = Param(True)
    speed: float = Param(1.0, gt=0)

    def pacing(self) -> float | None:
        return self.speed if self.realtime else None

    def generate(self) -> Iterator[Any]:
        for i in range(self.count):
            yield Stamped({"out": i}, pts_ns=i * 20_000_000)


@pytest.mark.parametrize(("params", "low_s", "high_s"), [
    pytest.param({}, 0.19, 0.6, id="live"),
    pytest.param({"speed": 2.0}, 0.095, 0.35, id="twice-as-fast"),
    pytest.param({"realtime": False}, 0.0, 0.09, id="unpaced"),
])
def test_the_worker_releases_items_at_their_media_time(params: dict[str, Any], low_s: float, high_s: float) -> None:
    t0 = time.perf_counter()
    out = run_node(Ticks, params=params)
    took = time.perf_counter() - t0
    assert out["out"] == list(range(11))
    assert low_s <= took <= high_s, took


def test_pacing_waits_are_not_process_time_and_an_unpaced_run_ignores_them() -> None:
    text = """
nodes:
  - {id: cam, type: video.synthetic, params: {width: 32, height: 32, fps: 50, frames: 20, realtime: true}}
  - {id: sink, type: sink.null, inputs: {data: cam/frame}}
"""
    paced = Run(check(load_text(text)))
    paced.start()
    rep = paced.wait(30).report
    assert rep["wall_s"] >= 0.35  # 19 periods of 20 ms
    assert rep["nodes"]["cam"]["process_ms"]["p50"] < 10, "the 20 ms waits are not counted as work"

    fast = Run(check(load_text(text)), paced=False)  # what `edgespeed bench` starts
    fast.start()
    rep = fast.wait(30).report
    assert rep["nodes"]["sink"]["in"] == 20 and rep["wall_s"] < 0.3


def test_media_time_that_restarts_re_anchors_instead_of_running_unpaced() -> None:
    class Restarts(Ticks):
        kind = "test.restarts"

        def generate(self) -> Iterator[Any]:
            for lap in range(2):  # 0, 20, ..., 100 ms twice: the clock starts over
                for i in range(6):
                    yield Stamped({"out": (lap, i)}, pts_ns=i * 20_000_000)

    t0 = time.perf_counter()
    out = run_node(Restarts)
    assert len(out["out"]) == 12 and time.perf_counter() - t0 >= 0.19  # two laps of 100 ms
