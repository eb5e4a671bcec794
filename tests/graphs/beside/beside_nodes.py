"""A plugin module that sits beside the graph using it (tests/spec/test_plugins_beside.py).

Not on sys.path: `edgespeed validate beside.yaml` finds it in the graph's folder.
"""

from __future__ import annotations

from typing import Any

from edgespeed import Input, Node, Output, Param
from edgespeed.types import Frame


class Invert(Node):
    """Invert a uint8 frame (255 - value); `strength` 0..1 blends with the input.

    Ports:
        image (in): Frame. out: Frame.
    Params:
        strength: 0..1, default 1.0.
    """

    kind = "beside.invert"
    image = Input(Frame)
    out = Output(Frame)
    strength: float = Param(1.0, ge=0, le=1)

    def process(self, image: Any) -> dict[str, Any]:
        inv = 255 - image
        return {"out": (image * (1 - self.strength) + inv * self.strength).astype(image.dtype)}
