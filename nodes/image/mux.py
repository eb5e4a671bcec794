"""Batch frames across streams for one model run (like DeepStream's nvstreammux), and split results back per stream."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from edgespeed import Input, Node, Output, Param, Stamped


class StreamMuxer(Node):
    """Gather frames of many streams (`video.streams`) into batches for one batched model.

    A batch goes out as soon as it holds `size` frames, or holds a frame of every live stream
    (one that sent a frame within `live_window_ms`), or its oldest frame has waited
    `max_wait_ms` (nvstreammux's batched-push-timeout): a stream that stalls, ends or
    reconnects makes batches smaller, never late by more than `max_wait_ms`, and never holds
    the other streams back. The deadline runs on its own (`Node.wake`): a partial batch goes
    out on time even when no other frame comes. Frames keep their own size (the letterbox in
    batch mode makes them one shape). When a stream ends, its frames still pending go out at
    once.

    Ports:
        frame (in): frames, each with its stream in the envelope.
        batch (out): the frames of a batch, a list (oldest first), as read-only views.
        items (out): one record per frame, in batch order: {stream, seq, ts_ns, pts_ns}; the
            demuxer gives each result of the batch these stamps back.

    Params:
        size: most frames per batch (default 4; the model's batch size).
        max_wait_ms: longest a frame waits for a batch to fill (default 40).
        live_window_ms: a stream that sent nothing for this long is not waited for
            (default 1000).

    Example:
        ```yaml
        - {id: mux, type: image.mux, params: {size: 4, max_wait_ms: 40}, inputs: {frame: src/frame}}
        ```
    """

    kind = "image.mux"
    frame = Input(doc="frames of several streams")
    batch = Output(doc="list of frames")
    items = Output(doc="list of {stream, seq, ts_ns, pts_ns}, in batch order")
    size: int = Param(4, ge=1, le=1024, doc="most frames per batch")
    max_wait_ms: float = Param(40.0, ge=0, doc="longest wait for a batch to fill, ms")
    live_window_ms: float = Param(1000.0, gt=0, doc="streams silent this long are not waited for, ms")

    def setup(self) -> None:
        self._frames: list[np.ndarray] = []
        self._items: list[dict[str, Any]] = []
        self._first_ns = 0
        self._seen: dict[str | None, int] = {}  # stream -> monotonic ns of its last frame
        self._pts = 0
        self.batches = 0

    def process(self, frame: np.ndarray) -> Iterator[Any]:
        env = self.envelope
        now = time.monotonic_ns()
        stream = env.stream if env else None
        self._seen[stream] = now
        if not self._frames:
            self._first_ns = now
        self._frames.append(frame)  # a reference: the frame stays valid while we hold it
        self._items.append({"stream": stream, "seq": env.seq if env else 0, "ts_ns": env.ts_ns if env else 0,
                            "pts_ns": env.pts_ns if env else 0})
        if self._ready(now):
            yield self._take()

    def _ready(self, now: int) -> bool:
        if len(self._frames) >= self.size or now - self._first_ns >= self.max_wait_ms * 1e6:
            return True
        window = self.live_window_ms * 1e6
        live = {s for s, t in self._seen.items() if now - t <= window}
        return live <= {i["stream"] for i in self._items}

    def wake_in_s(self) -> float | None:
        if not self._frames:
            return None
        return (self._first_ns + self.max_wait_ms * 1e6 - time.monotonic_ns()) / 1e9

    def wake(self) -> Any:
        return self._take() if self._frames else None

    def end_stream(self, stream: str) -> Any:
        self._seen.pop(stream, None)  # not waited for any more
        return self._take() if any(i["stream"] == stream for i in self._items) else None

    def flush(self) -> Any:
        return self._take() if self._frames else None

    def _take(self) -> Stamped:
        frames, items = self._frames, self._items
        self._frames, self._items = [], []
        self.batches += 1
        # Each batch gets a media time of its own (strictly increasing), so the demuxer pairs a
        # batch's results with its items whatever the streams' own clocks say; latency still
        # counts from the oldest frame's capture.
        self._pts = max(self._pts + 1, time.monotonic_ns())
        return Stamped({"batch": frames, "items": items}, pts_ns=self._pts, ts_ns=min(i["ts_ns"] for i in items))


class StreamDemuxer(Node):
    """Split a batched result back into one packet per frame, each with its own stream and stamps.

    Takes what a batched model made of an `image.mux` batch (N x ... along the first axis; one
    input per model output named in `ports`, e.g. a CenterNet's heatmap, sizes and offsets) with
    the mux's `items` and, optionally, the batch letterbox's `transform` list; for frame i it
    emits item i of each result (with a leading axis of 1, as single-image decoders expect) and
    its transform, stamped with frame i's stream, capture time and media time. Decoders,
    trackers and sinks after it see ordinary single-stream packets.

    Ports:
        <each of ports> (in): N x ... array (or a dict of them) from the model.
        items (in): the mux's items for that batch.
        transform (in, optional): the batch letterbox's list of transforms.
        <each of ports> (out): 1 x ... per frame (a dict: each array cut to frame i).
        transforms (out): frame i's transform.

    Params:
        ports: the model outputs to split, each an input and an output of that name
            (default [out]).

    Example:
        ```yaml
        - id: split
          type: image.demux
          inputs: {out: det/out, items: mux/items, transform: box/transform}
        ```
    """

    kind = "image.demux"
    sync = "timestamp"  # a batch's results, its items and its transforms share the batch's media time
    items = Input(doc="the mux's items")
    transform = Input(optional=True, doc="the batch letterbox's transforms")
    transforms = Output(doc="frame i's transform")
    ports: list[str] = Param(["out"], doc="model outputs to split (inputs and outputs of these names)")

    @classmethod
    def declare_ports(cls, params: dict[str, Any]) -> tuple[dict[str, Input], dict[str, Output]]:
        names = params["ports"]
        bad = [n for n in names if not re.fullmatch(r"[a-z][a-z0-9_]*", n) or n in ("items", "transform", "transforms")]
        if bad or not names or len(set(names)) != len(names):
            raise ValueError(f"ports {names!r}: give distinct lowercase names other than items, transform, transforms")
        ins = {n: Input(doc="N x ... model output") for n in names}
        outs = {n: Output(doc="1 x ... per frame") for n in names}
        return {**ins, "items": cls.items, "transform": cls.transform}, {**outs, "transforms": cls.transforms}

    def process(self, items: list[dict[str, Any]], transform: list[Any] | None = None, **batches: Any) -> Iterator[Stamped]:
        n = len(items)
        for name, batch in batches.items():
            got = _first_axis(batch)
            if got != n:
                raise ValueError(f"{name!r} has {got} results for {n} frames; the model must keep the batch axis")
        if transform is not None and len(transform) != n:
            raise ValueError(f"{len(transform)} transforms for {n} frames")
        for i, item in enumerate(items):
            out = {name: _cut(batch, i) for name, batch in batches.items()}
            if transform is not None:
                out["transforms"] = transform[i]
            yield Stamped(out, pts_ns=item["pts_ns"], ts_ns=item["ts_ns"], stream=item["stream"])


def _first_axis(batch: Any) -> int:
    if isinstance(batch, dict):
        sizes = {len(v) for v in batch.values() if isinstance(v, np.ndarray) and v.ndim}
        if len(sizes) != 1:
            raise ValueError(f"record fields have different first axes {sorted(sizes)}; expected one batch size")
        return sizes.pop()
    return int(np.asarray(batch).shape[0])


def _cut(batch: Any, i: int) -> Any:
    if isinstance(batch, dict):
        return {k: v[i:i + 1] if isinstance(v, np.ndarray) and v.ndim else v for k, v in batch.items()}
    return batch[i:i + 1]
