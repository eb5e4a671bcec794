"""Per-edge compression of arrays on a link: `compress: jpeg | png | zlib | none` on the input.

- `jpeg` (lossy, `quality` 1..100, default 90) and `png` (lossless, `quality` maps to the zlib
  level 0..9) apply to uint8 images (HxW or HxWx3) and use OpenCV; other arrays travel raw.
- `zlib` (lossless, any array; `quality` is the level 1..9) uses the standard library, so no
  extra dependency is needed. zstd/lz4 would be faster, but are not installed by the `zmq`
  extra; zlib level 1 is the cheap choice for tensors and keeps the install small.

Decoding is bounded: the decoded size must equal the declared dtype and shape (checked by the
wire decoder against the message limit before anything is inflated), so a small compressed
frame cannot expand into unbounded memory.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from .wire import WireError

CHOICES = ("none", "jpeg", "png", "zlib")


@dataclass(frozen=True)
class Codec:
    """An array codec; `accepts` says which arrays it handles (the rest go raw)."""

    name: str
    quality: int | None = None

    def accepts(self, arr: np.ndarray) -> bool:
        if self.name == "zlib":
            return arr.nbytes > 0
        return arr.dtype == np.uint8 and (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (1, 3))) and arr.size > 0

    def encode(self, arr: np.ndarray) -> bytes:
        if self.name == "zlib":
            return zlib.compress(memoryview(arr).cast("B"),  # type: ignore[arg-type]
                                 1 if self.quality is None else max(1, min(9, self.quality)))
        import cv2

        if self.name == "jpeg":
            q = 90 if self.quality is None else max(1, min(100, self.quality))
            ok, buf = cv2.imencode(".jpg", arr, [cv2.IMWRITE_JPEG_QUALITY, q])
        else:
            level = 1 if self.quality is None else max(0, min(9, self.quality))
            ok, buf = cv2.imencode(".png", arr, [cv2.IMWRITE_PNG_COMPRESSION, level])
        if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
            raise WireError(f"{self.name} encoding failed")
        return buf.tobytes()


def codec_for(name: str | None, quality: int | None = None) -> Codec | None:
    """The codec for an edge's `compress:` option (None for `none`)."""
    if name in (None, "none"):
        return None
    if name not in CHOICES:
        raise ValueError(f"compress must be one of {', '.join(CHOICES)}, got {name!r}")
    return Codec(name, quality)


def decode(codec: str, buf: memoryview, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """Inflate one array, checking it against the declared dtype and shape."""
    size = int(np.prod(shape)) * dtype.itemsize
    if codec == "zlib":
        d = zlib.decompressobj()
        try:
            raw = d.decompress(buf, size)
        except zlib.error:
            raise WireError("bad zlib data") from None
        if len(raw) != size or d.unconsumed_tail or not d.eof:
            raise WireError("zlib data does not match the declared size")
        return np.frombuffer(raw, dtype).reshape(shape)
    if dtype != np.uint8 or len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] not in (1, 3)):
        raise WireError(f"{codec} carries uint8 images only")
    import cv2

    flag = cv2.IMREAD_GRAYSCALE if len(shape) == 2 or shape[2] == 1 else cv2.IMREAD_COLOR
    try:
        img = cv2.imdecode(np.frombuffer(buf, np.uint8), flag)
    except cv2.error:
        raise WireError(f"bad {codec} data") from None
    if img is None:
        raise WireError(f"bad {codec} data")
    img = img.reshape(shape) if img.size == size else img
    if img.shape != shape:
        raise WireError(f"{codec} image of shape {img.shape}, declared {shape}")
    img.flags.writeable = False
    return img
