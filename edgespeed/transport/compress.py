"""Per-edge compression of arrays on a link: `compress: jpeg | png | zlib | zstd | lz4 | none`.

- `jpeg` (lossy, `quality` 1..100, default 90) and `png` (lossless, `quality` maps to the zlib
  level 0..9) apply to uint8 images (HxW or HxWx3) and use OpenCV; other arrays travel raw.
- `zstd`, `lz4` and `zlib` are lossless and take any array (tensors, masks, frames):
  - `zstd` (the `zstandard` package): `quality` is the level, default 3, clamped to 1..19
    (20..22 need windows of up to 128 MiB, too much for an edge device).
  - `lz4` (the `lz4` package, block format): the fastest to encode and decode, at a lower ratio.
    `quality` unset or 0 is LZ4's fast mode; 1..12 (clamped) is the high-compression level,
    slower to encode and as fast to decode. A block has no checksum (TCP checks the bytes in
    transit): damage is caught when the block no longer decodes to exactly the declared size.
  - `zlib` (standard library, `quality` is the level 1..9, default 1): the choice that needs no
    extra package; slower than both at a similar ratio.
  zstd and lz4 come with the `zmq` extra; they are imported on first use, so this module imports
  without them and a missing one raises `MissingDependency`.

Decoding is bounded: the wire decoder checks the declared dtype and shape against the message
limit, and every codec here inflates into at most that many bytes and rejects (`WireError`) data
that decodes to any other size. zstd frames must state their content size, which must equal the
declared size (it is checked before the output is allocated); lz4 blocks are decoded into a buffer
of the declared size; zlib stops at it. So a small compressed frame cannot expand unboundedly.
"""

from __future__ import annotations

import importlib
import math
import threading
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import MissingDependency
from ..format import COMPRESS_CODECS, LOSSLESS_CODECS
from .errors import WireError

CHOICES = COMPRESS_CODECS  # defined once, in edgespeed/format.py (the loader and schema read the same)
LOSSLESS = LOSSLESS_CODECS  # any array, not only images
ZSTD_LEVEL = 3  # the default level; `quality` is clamped to the ranges below
ZSTD_LEVELS = (1, 19)
LZ4_HC_LEVELS = (1, 12)

_PACKAGE = {"zstandard": "zstandard", "lz4.block": "lz4"}  # module -> PyPI package
_CODEC = {"zstandard": "zstd", "lz4.block": "lz4"}
_local = threading.local()  # per-thread zstd contexts (a context is not safe to share)
_libs: dict[str, Any] = {}


def _import(name: str) -> Any:
    """`zstandard` or `lz4.block`, imported on first use.

    Raises:
        MissingDependency: the package is not installed (it comes with the `zmq` extra).
    """
    lib = _libs.get(name)
    if lib is None:
        try:
            lib = _libs[name] = importlib.import_module(name)
        except ImportError:
            raise MissingDependency(_PACKAGE[name], "zmq", hint=f"for compress: {_CODEC[name]}") from None
    return lib


def _zstd_cctx(level: int) -> Any:
    cctxs = getattr(_local, "cctx", None)
    if cctxs is None:
        cctxs = _local.cctx = {}
    cctx = cctxs.get(level)
    if cctx is None:  # the content size goes in the frame header (the decoder checks it before
        # allocating) and a checksum at the end (xxhash64, 4 bytes: corruption is caught, as with zlib)
        cctx = cctxs[level] = _import("zstandard").ZstdCompressor(level=level, write_content_size=True,
                                                                  write_checksum=True)
    return cctx


def _zstd_dctx() -> Any:
    dctx = getattr(_local, "dctx", None)
    if dctx is None:
        dctx = _local.dctx = _import("zstandard").ZstdDecompressor()
    return dctx


@dataclass(frozen=True)
class Codec:
    """An array codec; `accepts` says which arrays it handles (the rest go raw)."""

    name: str
    quality: int | None = None

    def __post_init__(self) -> None:
        if self.name in ("zstd", "lz4"):
            _import("zstandard" if self.name == "zstd" else "lz4.block")  # fail at setup, not mid-stream

    def accepts(self, arr: np.ndarray) -> bool:
        if self.name in LOSSLESS:
            return arr.nbytes > 0
        return arr.dtype == np.uint8 and (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (1, 3))) and arr.size > 0

    def encode(self, arr: np.ndarray) -> bytes:
        """Compress a C-contiguous array's bytes (the wire encoder makes it contiguous)."""
        data = memoryview(arr).cast("B")  # type: ignore[arg-type]
        if self.name == "zstd":
            level = ZSTD_LEVEL if self.quality is None else max(ZSTD_LEVELS[0], min(ZSTD_LEVELS[1], self.quality))
            return _zstd_cctx(level).compress(data)  # type: ignore[no-any-return]
        if self.name == "lz4":
            lz4 = _import("lz4.block")
            if not self.quality:  # the size travels in the array entry, not in the block
                return lz4.compress(data, store_size=False)  # type: ignore[no-any-return]
            level = max(LZ4_HC_LEVELS[0], min(LZ4_HC_LEVELS[1], self.quality))
            return lz4.compress(data, mode="high_compression", compression=level, store_size=False)  # type: ignore[no-any-return]
        if self.name == "zlib":
            return zlib.compress(data, 1 if self.quality is None else max(1, min(9, self.quality)))
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
    """The codec for an edge's `compress:` option (None for `none`).

    Raises:
        ValueError: an unknown name.
        MissingDependency: `zstd` or `lz4` without its package.
    """
    if name in (None, "none"):
        return None
    if name not in CHOICES:
        raise ValueError(f"compress must be one of {', '.join(CHOICES)}, got {name!r}")
    return Codec(name, quality)


def decode(codec: str, buf: memoryview, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """Inflate one array (read-only), checking it against the declared dtype and shape.

    Raises:
        WireError: bad data, data that does not inflate to exactly the declared size, or
            `zstd`/`lz4` data where its package is missing (a peer cannot crash the receiver).
    """
    size = math.prod(shape) * dtype.itemsize
    if codec in LOSSLESS:
        raw = _inflate(codec, buf, size)
        if len(raw) != size:
            raise WireError(f"{codec} data does not match the declared size")
        return np.frombuffer(raw, dtype).reshape(shape)  # bytes: read-only
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


def _inflate(codec: str, buf: memoryview, size: int) -> bytes:
    """At most `size` bytes out of `buf`."""
    if size == 0:  # never sent (empty arrays travel raw); and zlib's max_length 0 means no limit
        raise WireError(f"{codec} data for an empty array")
    if codec == "zlib":
        d = zlib.decompressobj()
        try:
            raw = d.decompress(buf, size)
        except zlib.error:
            raise WireError("bad zlib data") from None
        if d.unconsumed_tail or not d.eof:
            raise WireError("zlib data does not match the declared size")
        return raw
    try:
        lib = _import("zstandard" if codec == "zstd" else "lz4.block")
    except MissingDependency as e:
        raise WireError(f"cannot decode {codec} data: {e}") from None
    if codec == "zstd":
        zstd = lib
        try:
            # the decoder allocates the size the frame header states: check it first
            stated = zstd.frame_content_size(buf)
            if stated != size:
                said = "no size" if stated < 0 else f"{stated} bytes"
                raise WireError(f"zstd frame states {said}, declared {size}")
            return _zstd_dctx().decompress(buf, max_output_size=size, allow_extra_data=False)  # type: ignore[no-any-return]
        except zstd.ZstdError:
            raise WireError("bad zstd data") from None
    try:  # lz4: decoded into a buffer of exactly `size` bytes; more fails, less is caught above
        return lib.decompress(buf, uncompressed_size=size)  # type: ignore[no-any-return]
    except lib.LZ4BlockError:
        raise WireError("bad lz4 data") from None
