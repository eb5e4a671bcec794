"""Tiny plugin nodes for the graph-spec tests (referred to as `plugins_for_tests:Name`).

The tests put `tests/graphs` on `sys.path` so these import like a user's plugin module.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from edgespeed import Input, Node, Output, Param


class FloatSource(Node):
    """Emit `count` float32 tensors of shape 1x3xHxW (zeros)."""

    kind = "test.float_source"
    tensor = Output(dtype="float32", ndim=4)
    count: int = Param(3, ge=0)

    def generate(self) -> Iterator[dict[str, Any]]:
        for _ in range(self.count):
            yield {"tensor": np.zeros((1, 3, 8, 8), np.float32)}


class ByteSink(Node):
    """Accept uint8 images only (HxWx3)."""

    kind = "test.byte_sink"
    image = Input(dtype="uint8", ndim=3)

    def process(self, image: Any) -> None:
        return None


class Pair(Node):
    """Fan-in: emit the two inputs together."""

    kind = "test.pair"
    sync = "timestamp"
    left = Input()
    right = Input()
    out = Output()

    def process(self, left: Any, right: Any) -> dict[str, Any]:
        return {"out": (left, right)}
