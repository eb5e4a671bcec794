"""The packet envelope and read-only sharing of values.

A packet carries one value of one output port plus its envelope: a sequence number (per output
port, assigned by the engine), the source's wall-clock stamp `ts_ns` (end-to-end latency is
measured from it), the media time `pts_ns` (used by `sync: timestamp`) and, from a
multi-stream source, the name of the `stream` it belongs to. Node code never touches the envelope.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


class Packet:
    """One value on an edge, with its envelope."""

    __slots__ = ("seq", "ts_ns", "pts_ns", "value", "nbytes", "origin", "stream")

    def __init__(self, seq: int, ts_ns: int, pts_ns: int, value: Any, nbytes: int = 0, origin: tuple[str, int] | None = None,
                 stream: str | None = None) -> None:
        self.seq = seq
        self.ts_ns = ts_ns
        self.pts_ns = pts_ns
        self.value = value
        self.nbytes = nbytes  # bytes of array data it refers to (for rings' byte limits)
        self.origin = origin  # (link session, seq) for data from another device (see Envelope)
        self.stream = stream  # the name of the source stream it came from (multi-stream sources), or None

    def __repr__(self) -> str:
        return f"Packet(#{self.seq}, pts={self.pts_ns}, {type(self.value).__name__})"


def payload_bytes(value: Any) -> int:
    """Bytes of array data `value` refers to (arrays, and arrays in a dict, list or tuple)."""
    if type(value) is np.ndarray:
        return value.nbytes
    if isinstance(value, dict):
        return sum(v.nbytes for v in value.values() if isinstance(v, np.ndarray))
    if isinstance(value, (list, tuple)):
        return sum(v.nbytes for v in value if isinstance(v, np.ndarray))
    return 0


SCALARS = frozenset({int, float, bool, str, bytes, complex, type(None)})
"""Types that are immutable and hold no array: shared as they are, 0 bytes for the rings."""


def freeze(value: Any) -> Any:
    """A read-only view of `value` that shares its memory (no copy).

    Arrays become read-only views (writing raises `ValueError`); dicts, lists and tuples are
    walked one level deep, and dataclasses field by field. The producer keeps its own writable
    array, which is what lets a buffer pool recycle it once every view is gone.
    """
    t = type(value)
    if t is np.ndarray:
        v = value.view()
        v.flags.writeable = False
        return v
    if t in SCALARS:  # (immutable already: the common small packet skips the walk below)
        return value
    if isinstance(value, dict):
        return {k: freeze(v) if isinstance(v, np.ndarray) else v for k, v in value.items()}
    if isinstance(value, (list, tuple)) and any(isinstance(v, np.ndarray) for v in value):
        return type(value)(freeze(v) for v in value) if isinstance(value, list) else tuple(freeze(v) for v in value)
    if hasattr(t, "__dataclass_fields__") and not isinstance(value, type):  # (dataclasses.is_dataclass, cheaper)
        changes = {f.name: freeze(getattr(value, f.name)) for f in dataclasses.fields(value) if isinstance(getattr(value, f.name), np.ndarray)}
        return dataclasses.replace(value, **changes) if changes else value
    if isinstance(value, np.ndarray):  # a subclass: keep its type
        v = value.view(type(value))
        v.flags.writeable = False
        return v
    return value
