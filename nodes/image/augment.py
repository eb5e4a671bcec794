"""Random flips and brightness/contrast changes, for collecting varied training data."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgespeed import Frame, Input, Node, Output, Param, Record


class Augmenter(Node):
    """Apply seeded random flips and brightness/contrast jitter to each frame.

    For data collection: record what a camera sees with some variety. The same `seed` gives
    the same sequence of changes, so a collection run can be reproduced. `out = frame * contrast
    + brightness`, saturated to 0..255, with `contrast` drawn uniformly from 1 +- contrast_range
    and `brightness` from +- brightness_range; flips happen with their probabilities. What was
    applied to each frame is emitted on `applied`, so labels can be flipped the same way.

    Ports:
        image (in): HxWxC uint8 image.
        out (out): the changed image, uint8 (pooled buffer).
        applied (out): {flip_h, flip_v, contrast, brightness} for this frame.

    Params:
        flip_h: probability of a left-right flip (default 0.5).
        flip_v: probability of an up-down flip (default 0).
        brightness_range: largest brightness change in gray levels (default 32).
        contrast_range: largest relative contrast change (default 0.2: 0.8x to 1.2x).
        seed: random seed (default 0).

    Example:
        ```yaml
        - {id: aug, type: image.augment, params: {flip_h: 0.5, seed: 7}, inputs: {image: cam/frame}}
        ```
    """

    kind = "image.augment"
    image = Input(Frame)
    out = Output(Frame)
    applied = Output(Record, doc="{flip_h, flip_v, contrast, brightness}")
    flip_h: float = Param(0.5, ge=0, le=1, doc="probability of a left-right flip")
    flip_v: float = Param(0.0, ge=0, le=1, doc="probability of an up-down flip")
    brightness_range: float = Param(32.0, ge=0, le=255, doc="largest brightness change, gray levels")
    contrast_range: float = Param(0.2, ge=0, lt=1, doc="largest relative contrast change")
    seed: int = Param(0, ge=0, doc="random seed")

    def setup(self) -> None:
        import cv2

        self._weighted = cv2.addWeighted
        self._flip = cv2.flip
        self._rng = np.random.default_rng(self.seed)

    def process(self, image: np.ndarray) -> dict[str, Any]:
        rng = self._rng
        fh, fv = bool(rng.random() < self.flip_h), bool(rng.random() < self.flip_v)
        contrast = float(1 + rng.uniform(-self.contrast_range, self.contrast_range))
        brightness = float(rng.uniform(-self.brightness_range, self.brightness_range))
        dst = self.buffer("out", image.shape, np.uint8)
        src = image
        if fh or fv:
            src = self._flip(image, {(True, False): 1, (False, True): 0, (True, True): -1}[(fh, fv)], dst=dst)
        # x * contrast + brightness, saturated to 0..255, in one OpenCV pass (in place is fine)
        self._weighted(src, contrast, src, 0.0, brightness, dst=dst)
        return {"out": dst, "applied": {"flip_h": fh, "flip_v": fv, "contrast": contrast, "brightness": brightness}}
