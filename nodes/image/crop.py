"""Cut a region of interest out of each frame."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from edgespeed import Input, Node, Output, Param, Record

from .letterbox import transform_record


class Cropper(Node):
    """Cut the region `roi_xywh` out of each image, in pixels or as fractions of the frame.

    The output is a view of the input (no copy), so cropping is free; a consumer that writes
    needs its own copy anyway, since inputs are read-only. The region is clipped to the frame;
    a region entirely outside it is an error naming the frame size. Alongside, a `transform`
    record maps pixels of the crop back to the frame (`crop_px = frame_px - roi_xy`), for
    post.yolo or any node that takes one.

    Ports:
        image (in): HxW or HxWxC image.
        out (out): the region, same dtype and channels (a read-only view).
        transform (out): {scale_xy, offset_xy, src_wh}: `crop_px = frame_px * scale + offset`.

    Params:
        roi_xywh: left, top, width, height of the region (required).
        units: `px` (default) or `fraction` (of the frame's width and height, 0..1).

    Example:
        ```yaml
        - id: roi
          type: image.crop
          params: {roi_xywh: [0.25, 0.5, 0.5, 0.5], units: fraction}   # bottom middle
          inputs: {image: cam/frame}
        ```
    """

    kind = "image.crop"
    image = Input(doc="HxW or HxWxC image")
    out = Output(doc="the region (read-only view)")
    transform = Output(Record, doc="{scale_xy, offset_xy, src_wh}")
    roi_xywh: tuple[float, float, float, float] = Param(ge=0, doc="left, top, width, height")
    units: Literal["px", "fraction"] = Param("px", doc="px or fraction of the frame")

    def process(self, image: np.ndarray) -> dict[str, Any]:
        h, w = image.shape[:2]
        x, y, rw, rh = self.roi_xywh
        if self.units == "fraction":
            x, y, rw, rh = x * w, y * h, rw * w, rh * h
        x0, y0 = max(0, round(x)), max(0, round(y))
        x1, y1 = min(w, round(x + rw)), min(h, round(y + rh))
        if x1 <= x0 or y1 <= y0:
            msg = f"roi_xywh {self.roi_xywh!r} ({self.units}) lies outside the {w}x{h} frame; give a region inside it"
            raise ValueError(msg)
        return {"out": image[y0:y1, x0:x1], "transform": transform_record((1.0, 1.0), (-x0, -y0), (w, h))}
