"""Resize keeping the aspect ratio, pad to a fixed size, and say how to map boxes back."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from edgespeed import Frame, Input, Node, Output, Param, Record

_INTERP = {"nearest": 0, "linear": 1, "cubic": 2, "area": 3}  # cv2.INTER_* values


def transform_record(scale_xy: tuple[float, float], offset_xy: tuple[float, float], src_wh: tuple[int, int]) -> dict[str, Any]:
    """The `transform` record image nodes emit: `dst = src * scale + offset`, per axis.

    A box in the destination image maps back with `src = (dst - offset) / scale`, clipped to
    `src_wh` (see post.yolo).
    """
    return {"scale_xy": (float(scale_xy[0]), float(scale_xy[1])),
            "offset_xy": (float(offset_xy[0]), float(offset_xy[1])),
            "src_wh": (int(src_wh[0]), int(src_wh[1]))}


class Letterbox(Node):
    """Resize each frame to fit `size_wh` keeping its aspect ratio, and pad the rest.

    This is the input layout of YOLO-family detectors. Alongside the padded image the node emits
    a `transform` record mapping model-input pixels back to the source frame, which post.yolo
    takes on its `transform` input (matched by timestamp), so detections come out in source
    pixels. The output image comes from a buffer pool: no allocation in steady state.

    With `batch: true` it takes a cross-stream batch (a list of frames of any sizes, from
    `image.mux`) and emits one N x H x W x 3 array, each frame letterboxed into its slice, and
    the list of their transforms (for `image.demux`).

    Ports:
        image (in): HxWx3 uint8 BGR frame (a list of them with `batch`).
        out (out): size_wh[1] x size_wh[0] x 3 uint8, the resized frame on a `pad_value` border
            (N x ... with `batch`).
        transform (out): {scale_xy, offset_xy, src_wh}: `model_px = src_px * scale + offset`
            (a list, one per frame, with `batch`).

    Params:
        size_wh: output width and height in pixels (default 640 x 640).
        pad_value: gray level of the border (default 114, as Ultralytics pads).
        center: center the image (true, default) or put it at the top-left corner.
        scale_up: enlarge frames smaller than size_wh (default true); false keeps them at 1:1.
        interpolation: nearest, linear (default), cubic or area.
        batch: take a list of frames and letterbox them into one batch (default false).

    Example:
        ```yaml
        - id: box
          type: image.letterbox
          params: {size_wh: [640, 640]}
          inputs: {image: cam/frame}
        ```
    """

    kind = "image.letterbox"
    image = Input(Frame)
    out = Output(Frame)
    transform = Output(Record, doc="{scale_xy, offset_xy, src_wh}: model_px = src_px * scale + offset")
    size_wh: tuple[int, int] = Param((640, 640), ge=1, le=16384, doc="output width, height in pixels")
    pad_value: int = Param(114, ge=0, le=255, doc="border gray level")
    center: bool = Param(True, doc="center the image (else top-left)")
    scale_up: bool = Param(True, doc="enlarge frames smaller than size_wh")
    interpolation: Literal["nearest", "linear", "cubic", "area"] = Param("linear")
    batch: bool = Param(False, doc="a list of frames in, one N x H x W x 3 batch out")

    @classmethod
    def declare_ports(cls, params: dict[str, Any]) -> tuple[dict[str, Input], dict[str, Output]]:
        if not params["batch"]:
            return cls.inputs, cls.outputs
        return ({"image": Input(doc="list of HxWx3 uint8 frames (image.mux)")},
                {"out": Output(ndim=4, dtype="uint8", doc="N x H x W x 3"), "transform": Output(doc="list of transforms")})

    def setup(self) -> None:
        import cv2

        self._resize = cv2.resize
        self._flag = _INTERP[self.interpolation]
        self._geometry: dict[tuple[int, int], tuple[int, int, int, int, dict[str, Any]]] = {}

    def process(self, image: Any) -> dict[str, Any]:
        out_w, out_h = self.size_wh
        if self.batch:
            frames = list(image)
            if not frames:
                raise ValueError("empty batch")
            dst = self.buffer("out", (len(frames), out_h, out_w, frames[0].shape[2]), np.uint8)
            return {"out": dst, "transform": [self._fill(f, dst[i]) for i, f in enumerate(frames)]}
        dst = self.buffer("out", (out_h, out_w, image.shape[2]), np.uint8)
        return {"out": dst, "transform": self._fill(image, dst)}

    def _fill(self, image: np.ndarray, dst: np.ndarray) -> dict[str, Any]:
        """Letterbox `image` into `dst` (out_h x out_w x C); its transform."""
        h, w = image.shape[:2]
        nw, nh, px, py, tf = self._geometry.get((w, h)) or self._plan(w, h)
        if image.shape[2] != dst.shape[2]:
            raise ValueError(f"a {image.shape[2]}-channel frame in a batch of {dst.shape[2]}-channel frames")
        # fill only the border; the inside is written by resize straight into a view of dst
        dst[:py] = self.pad_value
        dst[py + nh:] = self.pad_value
        dst[py:py + nh, :px] = self.pad_value
        dst[py:py + nh, px + nw:] = self.pad_value
        inner = dst[py:py + nh, px:px + nw]
        if (nw, nh) == (w, h):
            np.copyto(inner, image)
        else:
            resized = self._resize(image, (nw, nh), dst=inner, interpolation=self._flag)
            if resized is not None and not np.shares_memory(resized, inner):  # OpenCV reallocated
                np.copyto(inner, resized)
        return tf

    def _plan(self, w: int, h: int) -> tuple[int, int, int, int, dict[str, Any]]:
        out_w, out_h = self.size_wh
        scale = min(out_w / w, out_h / h)
        if not self.scale_up:
            scale = min(scale, 1.0)
        nw, nh = max(1, min(out_w, round(w * scale))), max(1, min(out_h, round(h * scale)))
        px, py = ((out_w - nw) // 2, (out_h - nh) // 2) if self.center else (0, 0)
        # the exact per-axis scale of the rounded size, so back-mapping is exact to the pixel
        tf = transform_record((nw / w, nh / h), (px, py), (w, h))
        self._geometry[(w, h)] = (nw, nh, px, py, tf)
        return self._geometry[(w, h)]
