"""An example plugin: two nodes registered through the `edgespeed.nodes` entry-point group.

Without installing it, a graph can also name them by path: `type: edgespeed_blur:Blur`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgespeed import Frame, Input, Node, Output, Param, node


class Blur(Node):
    """Box-blur each frame over `kernel_px` x `kernel_px` pixels.

    Ports:
        frame (in): HxWx3 uint8.
        out (out): the blurred frame, same shape.

    Params:
        kernel_px: side of the box in pixels, odd (default 5).

    Example:
        ```yaml
        - {id: blur, type: image.blur, params: {kernel_px: 9}, inputs: {frame: cam/frame}}
        ```
    """

    kind = "image.blur"
    frame = Input(Frame)
    out = Output(Frame)
    kernel_px: int = Param(5, ge=1, le=99)

    def setup(self) -> None:
        import cv2

        self._blur = cv2.blur

    def process(self, frame: np.ndarray) -> dict[str, Any]:
        dst = self.buffer("out", frame.shape, frame.dtype)
        self._blur(frame, (self.kernel_px, self.kernel_px), dst=dst)
        return {"out": dst}


@node(kind="image.denoise")
def denoise(frame: Frame, *, kernel_px: int = 5) -> Frame:
    """Smooth sensor noise with a Gaussian blur of side `kernel_px` (odd)."""
    import cv2

    return cv2.GaussianBlur(frame, (kernel_px, kernel_px), 0)
