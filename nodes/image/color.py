"""Convert between color spaces with OpenCV."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from edgespeed import Input, Node, Output, Param

Conversion = Literal["bgr2rgb", "rgb2bgr", "bgr2gray", "rgb2gray", "gray2bgr", "bgr2hsv", "hsv2bgr", "bgr2yuv", "bgra2bgr", "bgr2bgra"]
_CHANNELS_IN = {"gray2bgr": 1, "bgra2bgr": 4}
_CHANNELS_OUT = {"bgr2gray": 1, "rgb2gray": 1, "bgr2bgra": 4}


class ColorConverter(Node):
    """Convert each image from one color space to another (`cv2.cvtColor`).

    Output images come from a buffer pool. Gray images are HxW (2-D) on both sides. An image
    with the wrong channel count for `conversion` is an error naming what was expected.

    Ports:
        image (in): HxWxC (or HxW gray) uint8 image.
        out (out): the converted image, uint8.

    Params:
        conversion: bgr2rgb (default), rgb2bgr, bgr2gray, rgb2gray, gray2bgr, bgr2hsv, hsv2bgr,
            bgr2yuv, bgra2bgr or bgr2bgra.

    Example:
        ```yaml
        - {id: rgb, type: image.color, params: {conversion: bgr2rgb}, inputs: {image: cam/frame}}
        ```
    """

    kind = "image.color"
    image = Input(dtype="uint8", doc="HxWxC or HxW uint8 image")
    out = Output(dtype="uint8", doc="converted image")
    conversion: Conversion = Param("bgr2rgb", doc="which conversion")

    def setup(self) -> None:
        import cv2

        self._cvt = cv2.cvtColor
        self._code = getattr(cv2, "COLOR_" + self.conversion.upper())
        self._cin = _CHANNELS_IN.get(self.conversion, 3)
        self._cout = _CHANNELS_OUT.get(self.conversion, 3)

    def process(self, image: np.ndarray) -> dict[str, Any]:
        channels = 1 if image.ndim == 2 else image.shape[2]
        if channels != self._cin:
            raise ValueError(f"{self.conversion} expects {self._cin}-channel images, got shape {image.shape}")
        h, w = image.shape[:2]
        dst = self.buffer("out", (h, w) if self._cout == 1 else (h, w, self._cout), np.uint8)
        self._cvt(image, self._code, dst=dst)
        return {"out": dst}
