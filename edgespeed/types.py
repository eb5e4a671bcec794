"""Port types: what travels on an edge, declared so that load time can check both ends.

A port type names a kind of value and, for arrays, its dtype and rank. `edgespeed validate`
compares them where both ends of an edge declare them; `None` means "any".

Example:
    >>> from edgespeed import Input, Frame
    >>> Input(Frame).ndim
    3
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class PortType:
    """A declared port contract.

    Args:
        name: the type's name, shown by `edgespeed nodes`.
        dtype: numpy dtype name of the array (`"uint8"`), or None for any.
        ndim: array rank, or None for any.
        shape: per-axis sizes, None for any size on that axis; None for any shape.
        kind: `"array"` for numpy arrays, `"record"` for structured values (dicts, dataclasses),
            `"any"` when unknown.
        doc: one line on layout and units.
    """

    name: str
    dtype: str | None = None
    ndim: int | None = None
    shape: tuple[int | None, ...] | None = None
    kind: str = "array"
    doc: str = ""

    def describe(self) -> str:
        """A short human description, e.g. `Frame[uint8, ndim=3]`."""
        bits = [b for b in (self.dtype, f"ndim={self.ndim}" if self.ndim is not None else None) if b]
        if self.shape is not None:
            bits.append("shape=(" + ", ".join("?" if s is None else str(s) for s in self.shape) + ")")
        return f"{self.name}[{', '.join(bits)}]" if bits else self.name

    def mismatch(self, other: PortType) -> str | None:
        """Why a value of type `self` cannot feed a port of type `other` (None when compatible)."""
        if "any" not in (self.kind, other.kind) and self.kind != other.kind:
            return f"expected a {other.kind} ({other.describe()}), got a {self.kind} ({self.describe()})"
        if self.dtype and other.dtype and np.dtype(self.dtype) != np.dtype(other.dtype):
            return f"expected dtype {other.dtype}, got {self.dtype}"
        if self.ndim is not None and other.ndim is not None and self.ndim != other.ndim:
            return f"expected ndim {other.ndim}, got {self.ndim}"
        if self.shape is not None and other.shape is not None:
            for a, b in zip(self.shape, other.shape):
                if a is not None and b is not None and a != b:
                    return f"expected shape {other.shape}, got {self.shape}"
        return None

    def check_value(self, value: Any) -> str | None:
        """Why `value` breaks this contract at run time (None when it conforms)."""
        if self.kind != "array" or not isinstance(value, np.ndarray):
            return None
        if self.dtype and value.dtype != np.dtype(self.dtype):
            return f"expected dtype {self.dtype}, got {value.dtype}"
        if self.ndim is not None and value.ndim != self.ndim:
            return f"expected ndim {self.ndim}, got {value.ndim} (shape {value.shape})"
        if self.shape is not None:
            for want, got in zip(self.shape, value.shape):
                if want is not None and want != got:
                    return f"expected shape {self.shape}, got {value.shape}"
        return None


ANY = PortType("Any", kind="any")
Frame = PortType("Frame", "uint8", 3, doc="HxWxC uint8 image, BGR order unless the port says otherwise")
Gray = PortType("Gray", "uint8", 2, doc="HxW uint8 single-channel image")
Tensor = PortType("Tensor", doc="an n-dimensional numpy array of any dtype")
Audio = PortType("Audio", "float32", 2, doc="samples x channels float32 in [-1, 1]")
Record = PortType("Record", kind="record", doc="a dict of plain values and arrays")
Detections = PortType(
    "Detections",
    kind="record",
    doc="dict with boxes_xyxy (N,4) float32 pixels, scores (N,) float32, class_ids (N,) int32",
)


@dataclass(frozen=True)
class Stamped:
    """What a source yields instead of a plain dict when it knows the media time of its data.

    The engine still stamps the wall-clock capture time (`ts_ns`, used for end-to-end
    latency) and the sequence number; `pts_ns` is the media time used by `sync: timestamp`
    (e.g. a file's PTS, or the first sample of an audio chunk). Without it, `pts_ns` equals
    the capture time. `stream` names the stream of a multi-stream source. A node that splits
    a cross-stream batch back into items (`image.demux`) yields `Stamped` from `process()`, so
    each item goes on with its own stamps and stream.

    Example:
        >>> Stamped({"audio": np.zeros((160, 1), np.float32)}, pts_ns=10_000_000).pts_ns
        10000000
    """

    outputs: dict[str, Any]
    pts_ns: int
    ts_ns: int | None = None  # a relay (a link, a process boundary) keeps the original stamp
    origin: tuple[str, int] | None = None  # a link's (session, seq) of the packet (see Envelope)
    stream: str | None = None  # the stream it belongs to (multi-stream sources; see Envelope)


@dataclass(frozen=True)
class StreamEnd:
    """What a multi-stream source yields when one of its streams ends (removed, finished, or
    given up), after that stream's last packet.

    The engine passes it down the graph in order behind the stream's data, calling each node's
    `end_stream(stream)` once (per-stream state is dropped, partial batches go out, sinks
    flush). Node code never sees it as a value. A node with several inputs runs `end_stream`
    once the end has come on every input fed (through the graph) by the source that sent it,
    so all of the stream's packets are in by then. It crosses process boundaries (a message
    on the shared-memory channel) and device links (a packet with no value), keeping the id of
    its source, so that wait spans the whole graph (`Plan.stream_feeds`); it does not go
    through a replicated node (`device: [a, b]`): the merge of its results sees no stream ends.
    """

    stream: str
    source: str | None = None  # the node that sent it (set by the engine)

