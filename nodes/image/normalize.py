"""Turn uint8 images into model input tensors: scale, mean/std, channel order and layout."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from edgespeed import Input, Node, Output, Param


class Normalizer(Node):
    """Make a 1xCxHxW (or 1xHxWxC) float tensor from an image: `(pixel * scale - mean) / std`.

    One pass over the pixels writes straight into a pooled output tensor (no intermediate
    arrays): the channel order swap and the HWC -> CHW transpose are strided reads, not copies.
    Gray (HxW) images give C = 1.

    A batch of images (NxHxWxC, as the batch letterbox makes) gives NxCxHxW (or NxHxWxC) in
    the same single pass.

    Ports:
        image (in): HxWxC or HxW image (uint8 or float), or an NxHxWxC batch.
        tensor (out): 1xCxHxW (layout nchw) or 1xHxWxC (nhwc), dtype `dtype` (N x ... for a batch).

    Params:
        scale: multiplier applied first (default 1/255: pixels to 0..1).
        mean: per-channel mean subtracted after scaling, in output channel order (default 0).
        std: per-channel divisor applied last (default 1).
        swap_rb: reverse the channel order, e.g. BGR frames to an RGB model (default true).
        layout: nchw (default) or nhwc.
        dtype: float32 (default) or float16 (for FP16 models).

    Example:
        ```yaml
        - id: norm
          type: image.normalize
          params: {scale: 0.00392156862745098, swap_rb: true, dtype: float32}
          inputs: {image: box/out}
        ```
        ImageNet models: `{mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}`.
    """

    kind = "image.normalize"
    image = Input(doc="HxWxC or HxW image")
    tensor = Output(ndim=4, dtype="float32", doc="1xCxHxW (or 1xHxWxC) tensor")
    scale: float = Param(1 / 255, doc="multiplier applied first")
    mean: list[float] = Param([0.0], doc="per-channel mean (one value: all channels)")
    std: list[float] = Param([1.0], gt=0, doc="per-channel std (one value: all channels)")
    swap_rb: bool = Param(True, doc="reverse the channel order (BGR -> RGB)")
    layout: Literal["nchw", "nhwc"] = Param("nchw")
    dtype: Literal["float32", "float16"] = Param("float32")

    @classmethod
    def declare_ports(cls, params: dict[str, Any]) -> tuple[dict[str, Input], dict[str, Output]]:
        if len(params["mean"]) != len(params["std"]) and 1 not in (len(params["mean"]), len(params["std"])):
            raise ValueError(f"mean has {len(params['mean'])} values and std {len(params['std'])}; give one per channel")
        return cls.inputs, {"tensor": Output(ndim=4, dtype=params["dtype"], doc=cls.tensor.doc)}

    def setup(self) -> None:
        self._coef: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def process(self, image: np.ndarray) -> dict[str, Any]:
        # one image is a batch of one: NxHxWxC throughout
        img = image[None, :, :, None] if image.ndim == 2 else image[None] if image.ndim == 3 else image
        n, h, w, c = img.shape
        if self.swap_rb and c >= 3:
            img = img[..., [2, 1, 0, *range(3, c)]] if c > 3 else img[..., ::-1]
        mul, sub = self._coef.get(c) or self._coefficients(c)
        if self.layout == "nchw":
            out = self.buffer("tensor", (n, c, h, w), self.dtype)
            src, shape = img.transpose(0, 3, 1, 2), (c, 1, 1)
        else:
            out = self.buffer("tensor", (n, h, w, c), self.dtype)
            src, shape = img, (1, 1, c)
        # (x * scale - mean) / std == x * (scale / std) - mean / std: one multiply, one subtract
        np.multiply(src, mul.reshape(shape), out=out, casting="unsafe")
        if sub.any():  # a zero mean (the YOLO default) saves a pass over the tensor
            np.subtract(out, sub.reshape(shape), out=out, casting="unsafe")
        return {"tensor": out}

    def _coefficients(self, c: int) -> tuple[np.ndarray, np.ndarray]:
        def per_channel(values: list[float], name: str) -> np.ndarray:
            if len(values) not in (1, c):
                raise ValueError(f"{name} has {len(values)} values for a {c}-channel image; give 1 or {c}")
            return np.broadcast_to(np.asarray(values, np.float32), (c,))

        mean, std = per_channel(self.mean, "mean"), per_channel(self.std, "std")
        coef = ((np.float32(self.scale) / std).astype(self.dtype), (mean / std).astype(self.dtype))
        self._coef[c] = coef
        return coef
