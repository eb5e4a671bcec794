"""Resize frames to a fixed size."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from edgespeed import Input, Node, Output, Param

_INTERP = {"nearest": 0, "linear": 1, "cubic": 2, "area": 3}  # cv2.INTER_* values


class Resizer(Node):
    """Resize each image to `width` x `height` (aspect ratio not kept; see image.letterbox).

    Output frames come from a buffer pool, so a steady-state pipeline allocates no new frame
    memory. Any channel count and dtype OpenCV resizes is accepted (uint8, float32, ...).

    Ports:
        image (in): HxW or HxWxC image.
        out (out): height x width (x C) image of the same dtype.

    Params:
        width: output width in pixels (reloadable: the control API changes it from the next frame).
        height: output height in pixels (reloadable).
        interpolation: nearest, linear, cubic or area (default area: best for shrinking).

    Example:
        ```yaml
        - id: small
          type: image.resize
          params: {width: 320, height: 240}
          inputs: {image: cam/frame}
        ```
    """

    kind = "image.resize"
    image = Input(doc="HxW or HxWxC image")
    out = Output(doc="resized image, same dtype and channels")
    width: int = Param(ge=1, le=16384, doc="output width in pixels", reloadable=True)
    height: int = Param(ge=1, le=16384, doc="output height in pixels", reloadable=True)
    interpolation: Literal["nearest", "linear", "cubic", "area"] = Param("area")

    def setup(self) -> None:
        import cv2

        self._resize = cv2.resize
        self._flag = _INTERP[self.interpolation]

    def process(self, image: np.ndarray) -> dict[str, Any]:
        shape = (self.height, self.width) + image.shape[2:]
        dst = self.buffer("out", shape, image.dtype)
        self._resize(image, (self.width, self.height), dst=dst, interpolation=self._flag)
        return {"out": dst}
