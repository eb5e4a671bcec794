"""video.mosaic: one tile per stream, redrawn once per mosaic from its stream's first frame
after the previous mosaic; a stream that ends loses its tile."""

from __future__ import annotations

import types
from typing import Any

import numpy as np
import pytest

import edgespeed.nodes.video.mosaic as mosaic_module
from edgespeed.testing import run_node


def frame(value: int) -> np.ndarray:
    return np.full((48, 64, 3), value, np.uint8)


def test_each_tile_is_drawn_once_per_mosaic(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(ms * 1_000_000 for ms in [0, 10, 20, 50, 120, 130])  # one reading per frame
    monkeypatch.setattr(mosaic_module, "time", types.SimpleNamespace(monotonic_ns=lambda: next(clock)))
    values = [10, 100, 20, 30, 110, 40]
    streams = ["a", "b", "a", "a", "b", "a"]
    out: list[Any] = run_node("video.mosaic", params={"tile_wh": [32, 24], "fps": 10, "labels": False},
                              inputs={"frame": [frame(v) for v in values]}, streams=streams)["out"]
    assert len(out) == 2  # at 0 ms, then at 120 ms (one period of 100 ms later)
    first, second = out
    assert first.shape == (24, 32, 3) and (first == 10).all()  # only stream a had come
    assert second.shape == (24, 64, 3)
    a, b = second[:, :32], second[:, 32:]
    # a's tile is its first frame after the first mosaic (20; 30 came in the same period and
    # was not drawn), b's its only frame drawn (100; 110 came in the same period as 100)
    assert (a == 20).all() and (b == 100).all()
