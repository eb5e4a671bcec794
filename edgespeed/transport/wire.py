"""The link wire format: a multipart message `[msgpack header, raw array frame, ...]`.

The header is a msgpack map: version `v`, kind `k` (`data`, or a control kind), link id `l`,
and for data the link sequence number `q`, the source stamps `ts`/`pts` (ns), metadata `m`,
one `[dtype, shape, codec, nbytes]` entry per array in `a`, and the value tree `b`. The tree
is plain msgpack (maps, lists, strings, numbers, bytes) in which each array stands as a
reference (ext type 1) to its frame, so a dict of arrays (detections) travels like a frame.

Arrays are sent as the array's own memory (`copy=False` on the socket) and come back as
read-only `np.frombuffer` views of the received frames: no copy on either side.

Decoding is strict and never executes anything: the version, every field's type, sizes (header,
frames, the whole message), the dtype allowlist, the rank and each frame's size against its
dtype and shape are all checked; anything else raises `WireError`, which a receiver counts and
drops. Nothing is ever unpickled.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .compress import decode as _decompress
from .errors import WireError as WireError  # (raised from here since the start: importers keep it)

VERSION = 1
DATA = "data"
CONTROL = ("hello", "welcome", "ack", "ping", "pong", "eos", "bye")
# Little-endian, fixed-size types only: object, string and structured dtypes never cross.
DTYPES = frozenset(np.dtype(t).str for t in ("bool", "uint8", "int8", "uint16", "int16", "uint32", "int32",
                                              "uint64", "int64", "float16", "float32", "float64"))
_DTYPE_OBJ = {t: np.dtype(t) for t in DTYPES}
CODECS = ("raw", "jpeg", "png", "zlib", "zstd", "lz4")
# 64 MiB holds a raw 4K RGB frame (24 MiB) with room; a larger default lets a handful of parallel
# peers hold a receiver at gigabytes, each message under the cap (8 x 200 MB took 1.3 GB at 256 MiB).
MAX_MESSAGE_BYTES = 64 << 20
MAX_HEADER_BYTES = 1 << 20
MAX_ARRAYS = 64
MAX_NDIM = 8
_REF = 1  # msgpack ext code of an array reference in the value tree
# Control fields and their types; a data header carries exactly the keys of _DATA_KEYS.
_CONTROL_FIELDS: dict[str, tuple[type, ...]] = {"sid": (str,), "base": (int,), "acked": (int,), "win": (int,),
                                                 "t0": (int,), "t1": (int,), "q": (int,), "g": (int,)}
_DATA_KEYS = frozenset({"v", "k", "l", "q", "ts", "pts", "m", "a", "b"})


@dataclass
class Message:
    """A decoded message: `value` holds read-only array views for data messages."""

    kind: str
    link: str
    seq: int = 0
    ts_ns: int = 0
    pts_ns: int = 0
    value: Any = None
    meta: dict[str, Any] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)  # control fields (sid, acked, win, ...)
    nbytes: int = 0  # bytes on the wire


class _Ref:
    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


_REFS = {i.to_bytes(2, "little"): _Ref(i) for i in range(MAX_ARRAYS)}  # (immutable, so shared)
_REFS_0 = _REFS[b"\0\0"]


_mp: Any = None  # msgpack, imported on first use
_REF0: Any = None  # the reference to array 0 (a msgpack ExtType), made once msgpack is imported


def _msgpack() -> Any:
    global _mp
    if _mp is None:
        try:
            import msgpack
        except ImportError:  # pragma: no cover - the zmq extra brings it
            from ..errors import MissingDependency

            raise MissingDependency("msgpack", "zmq") from None
        global _REF0, _unpackb
        _REF0 = msgpack.ExtType(_REF, b"\0\0")
        _unpackb = functools.partial(msgpack.unpackb, ext_hook=_ext_hook, **_UNPACK_LIMITS)
        _mp = msgpack
    return _mp


# -- encoding --------------------------------------------------------------------------------------
def encode(link: str, seq: int, ts_ns: int, pts_ns: int, value: Any, meta: dict[str, Any] | None = None,
           codec: Any = None) -> list[Any]:
    """Frames of one data message: the header, then each array's memory (not copied).

    Args:
        codec: optional compression (`compress.Codec`) applied to the arrays it accepts.

    Raises:
        WireError: `value` holds something that cannot travel (an object, a dataclass).
    """
    mp = _mp or _msgpack()
    if type(value) is np.ndarray and value.flags.c_contiguous and (dt := value.dtype.str) in DTYPES \
            and (codec is None or not codec.accepts(value)):
        # the common case (one raw array, a frame): no tree walk, no default hook
        header = {"v": VERSION, "k": DATA, "l": link, "q": seq, "ts": ts_ns, "pts": pts_ns, "m": meta or {},
                  "b": _REF0, "a": [[dt, value.shape, "raw", value.nbytes]]}
        try:
            return [mp.packb(header), memoryview(value).cast("B") if value.size else b""]  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            pass  # metadata that needs converting (numpy scalars, tuples): the general path below
    entries: list[list[Any]] = []
    frames: list[Any] = []

    def default(obj: Any) -> Any:
        if isinstance(obj, np.ndarray):
            if len(entries) >= MAX_ARRAYS:
                raise WireError(f"more than {MAX_ARRAYS} arrays in one packet")
            _add_array(obj, codec, entries, frames)
            return mp.ExtType(_REF, (len(entries) - 1).to_bytes(2, "little"))
        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, tuple):
            return list(obj)
        raise WireError(f"cannot send a {type(obj).__name__} over a link; send arrays, numbers, strings and dicts/lists of them")

    # One pass: msgpack packs the map in order, so the value ("b") is walked first and fills
    # the array entries ("a") before they are packed.
    header = {"v": VERSION, "k": DATA, "l": link, "q": seq, "ts": ts_ns, "pts": pts_ns, "m": meta or {},
              "b": value, "a": entries}
    try:
        return [mp.packb(header, default=default, use_bin_type=True, strict_types=False), *frames]
    except (TypeError, ValueError, OverflowError) as e:
        raise WireError(str(e)) from None


def _add_array(arr: np.ndarray, codec: Any, entries: list[list[Any]], frames: list[Any]) -> None:
    if arr.dtype.str not in DTYPES:
        swapped = arr.dtype.newbyteorder("<")
        if swapped.str not in DTYPES:
            raise WireError(f"cannot send dtype {arr.dtype} over a link; allowed: {', '.join(sorted(DTYPES))}")
        arr = arr.astype(swapped)
    if not arr.flags.c_contiguous:  # (np.ascontiguousarray would make a 0-d array 1-d)
        arr = arr.copy(order="C")
    if codec is not None and codec.accepts(arr):
        entries.append([arr.dtype.str, list(arr.shape), codec.name, arr.nbytes])
        frames.append(codec.encode(arr))
    else:
        entries.append([arr.dtype.str, list(arr.shape), "raw", arr.nbytes])
        frames.append(memoryview(arr.reshape(-1)).cast("B") if arr.size else b"")  # type: ignore[arg-type]


def control(kind: str, link: str, **fields: Any) -> list[bytes]:
    """A one-frame control message (`hello`, `ack`, `ping`, ...)."""
    assert kind in CONTROL and set(fields) <= set(_CONTROL_FIELDS), (kind, fields)
    return [_msgpack().packb({"v": VERSION, "k": kind, "l": link, **fields}, use_bin_type=True)]


# -- decoding -------------------------------------------------------------------------------------
def _ext_hook(code: int, data: bytes) -> Any:
    if code == _REF:
        ref = _REFS.get(data)
        if ref is not None:
            return ref
    raise WireError(f"unknown ext type {code}")


def _buf(frame: Any) -> memoryview:
    """A frame's bytes without a copy (a zmq.Frame, bytes or a memoryview)."""
    if type(frame) is bytes:
        return memoryview(frame)
    b = getattr(frame, "buffer", frame)
    if type(b) is not memoryview:
        b = memoryview(b)
    return b.cast("B") if b.format != "B" or b.ndim != 1 else b


# Frame types whose len() is their size in bytes and that numpy and msgpack read directly:
# bytes, and zmq.Frame (added by `link` when it imports zmq). Anything else goes through `_buf`.
FRAME_TYPES: set[type] = {bytes}

_UNPACK_LIMITS: dict[str, Any] = {"raw": False, "use_list": True, "strict_map_key": True,
                                  "max_str_len": MAX_HEADER_BYTES, "max_bin_len": MAX_HEADER_BYTES,
                                  "max_array_len": 1 << 16, "max_map_len": 1 << 16, "max_ext_len": MAX_HEADER_BYTES}
_unpackb: Any = None  # msgpack.unpackb with the hook and the limits above (set by `_msgpack`)


def _unpack(data: Any) -> Any:
    mp = _mp or _msgpack()
    try:
        return _unpackb(data)
    except WireError:
        raise
    except (ValueError, TypeError, KeyError, OverflowError, RecursionError, mp.ExtraData, mp.UnpackException) as e:
        raise WireError(f"bad msgpack: {type(e).__name__}") from None


def _int(h: dict[str, Any], key: str, lo: int = -(1 << 63), hi: int = (1 << 63) - 1) -> int:
    v = h.get(key)
    if type(v) is not int or not lo <= v <= hi:
        raise WireError(f"field {key!r} must be an integer in [{lo}, {hi}], got {type(v).__name__}")
    return v


_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1


def decode(frames: list[Any], max_bytes: int = MAX_MESSAGE_BYTES) -> Message:
    """Decode one multipart message, checking everything (see the module docstring).

    Raises:
        WireError: the message is malformed; the caller counts and drops it.
    """
    if type(frames) is not list and not isinstance(frames, (list, tuple)) or not frames:
        raise WireError("empty message")
    n = len(frames)
    if n > MAX_ARRAYS + 1:
        raise WireError(f"too many frames ({n})")
    types = FRAME_TYPES
    if type(frames[0]) in types and (n == 1 or n == 2 and type(frames[1]) in types):
        bufs = frames  # (the common case: read in place, their len() is their size)
        total = len(frames[0]) + len(frames[1]) if n == 2 else len(frames[0])
    else:
        bufs = [_buf(f) for f in frames]
        total = sum([b.nbytes for b in bufs])
    if total > max_bytes:
        raise WireError(f"message of {total} bytes exceeds the limit of {max_bytes}")
    if len(bufs[0]) > MAX_HEADER_BYTES:  # (a memoryview from `_buf` is 1-d bytes: len is its size)
        raise WireError("header too large")
    h = _unpack(bufs[0])
    if type(h) is not dict:
        raise WireError("header is not a map")
    v = h.get("v")
    if v != VERSION or type(v) is not int:
        raise WireError(f"unsupported version {v!r}")
    kind, link = h.get("k"), h.get("l")
    if type(link) is not str or len(link) > 256:
        raise WireError("bad link id")
    if kind != DATA:
        if kind in CONTROL:
            return _decode_control(h, kind, link, n, total)
        raise WireError(f"unknown kind {kind!r}")
    if len(h) != len(_DATA_KEYS):
        raise WireError("data header has missing or unknown fields")
    try:  # (nine keys, each of the nine present: exactly the data keys)
        seq, ts, pts, meta, entries, body = h["q"], h["ts"], h["pts"], h["m"], h["a"], h["b"]
    except KeyError:
        raise WireError("data header has missing or unknown fields") from None
    if type(seq) is not int or not 0 <= seq <= _I64_MAX:
        _int(h, "q", 0)
    if type(ts) is not int or not _I64_MIN <= ts <= _I64_MAX:
        _int(h, "ts")
    if type(pts) is not int or not _I64_MIN <= pts <= _I64_MAX:
        _int(h, "pts")
    if type(meta) is not dict or type(entries) is not list:
        raise WireError("bad metadata or array list")
    if len(entries) != n - 1:
        raise WireError(f"{len(entries)} arrays declared, {n - 1} frames sent")
    if body is _REFS_0 and n == 2:  # the common case: one array (a frame)
        value = _array(entries[0], bufs[1], max_bytes)
    else:
        arrays = [_array(e, b, max_bytes) for e, b in zip(entries, bufs[1:])]
        used = [False] * len(arrays)
        value = _resolve(body, arrays, used)
        if not all(used):
            raise WireError("array frames not referenced by the value")
    return Message(DATA, link, seq, ts, pts, value, meta, {}, total)


def _decode_control(h: dict[str, Any], kind: str, link: str, n_frames: int, total: int) -> Message:
    if n_frames != 1:
        raise WireError("a control message has one frame")
    fields = {}
    for key, value in h.items():
        if key in ("v", "k", "l"):
            continue
        types = _CONTROL_FIELDS.get(key)
        if types is None or type(value) not in types:
            raise WireError(f"bad control field {key!r}")
        if type(value) is int:
            _int(h, key)
        elif len(value) > 64:
            raise WireError(f"control field {key!r} too long")
        fields[key] = value
    return Message(kind, link, fields=fields, nbytes=total)


def _array(entry: Any, buf: Any, max_bytes: int) -> np.ndarray:
    if type(entry) is not list or len(entry) != 4:
        raise WireError("array entry must be [dtype, shape, codec, nbytes]")
    dt, shape, codec, nbytes = entry
    if type(dt) is not str or dt not in _DTYPE_OBJ:
        raise WireError(f"dtype {dt!r} not allowed")
    if type(shape) is not list or len(shape) > MAX_NDIM:
        raise WireError("bad shape")
    for s in shape:
        if type(s) is not int or s < 0:
            raise WireError("bad shape")
    if type(codec) is not str or codec not in CODECS:
        raise WireError(f"unknown codec {codec!r}")
    dtype = _DTYPE_OBJ[dt]
    size = math.prod(shape) * dtype.itemsize
    if size > max_bytes or type(nbytes) is not int or nbytes != size:
        raise WireError("array size does not match its dtype and shape")
    if codec == "raw":
        if len(buf) != size:  # (bytes, a zmq.Frame or a 1-d memoryview of bytes: len is the size)
            raise WireError(f"frame of {len(buf)} bytes for an array of {size}")
        if not size:
            empty = np.zeros(shape, dtype)
            empty.flags.writeable = False
            return empty
        arr = np.frombuffer(buf, dtype)
        arr.flags.writeable = False  # (a zmq.Frame lends writable memory)
        return arr if len(shape) == 1 else arr.reshape(shape)
    return _decompress(codec, buf if type(buf) is memoryview else _buf(buf), dtype, tuple(shape))


def _resolve(node: Any, arrays: list[np.ndarray], used: list[bool], depth: int = 0) -> Any:
    """Replace array references in the value tree; each array is referenced exactly once."""
    if depth > 32:
        raise WireError("value nested too deep")
    t = type(node)
    if t is _Ref:
        if node.index >= len(arrays) or used[node.index]:
            raise WireError("bad array reference")
        used[node.index] = True
        return arrays[node.index]
    if t is dict:
        return {k: _resolve(v, arrays, used, depth + 1) for k, v in node.items()}
    if t is list:
        return [_resolve(v, arrays, used, depth + 1) for v in node]
    return node
