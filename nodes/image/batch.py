"""Group packets into batches for a batched model, and split batches back into packets."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np

from edgespeed import Input, Node, Output, Param


class Batcher(Node):
    """Collect `size` arrays into one batch along a new (or the first) axis.

    A batch is emitted when it is full, or, when `timeout_ms` > 0, as soon as a packet arrives
    more than `timeout_ms` after the first packet of the pending batch (so a slow stream does
    not wait for a full batch; the batch is then smaller). Arrays of another shape than the
    pending ones end the pending batch first. A partial batch still pending when the stream
    ends is emitted then (smaller than `size`). The node has no timer of its own: while the
    stream runs, a pending batch waits for the next packet to be judged against the timeout.

    Ports:
        data (in): arrays of one shape, e.g. 1xCxHxW tensors or HxWxC frames.
        batch (out): N x ... (`mode: stack`) or the arrays joined on axis 0 (`mode: concat`).

    Params:
        size: arrays per batch (default 4).
        timeout_ms: emit a smaller batch once the oldest pending array is this old; 0 waits for
            a full batch (default 0).
        mode: concat (default: 1xCxHxW tensors become NxCxHxW) or stack (HxWxC -> NxHxWxC).

    Example:
        ```yaml
        - {id: batch, type: image.batch, params: {size: 8, timeout_ms: 50}, inputs: {data: norm/tensor}}
        ```
    """

    kind = "image.batch"
    data = Input(doc="arrays of one shape")
    batch = Output(doc="the arrays of a batch, joined")
    size: int = Param(4, ge=1, le=4096, doc="arrays per batch")
    timeout_ms: float = Param(0.0, ge=0, doc="emit a smaller batch after this long; 0 waits")
    mode: Literal["concat", "stack"] = Param("concat", doc="concat on axis 0, or stack on a new axis")

    def setup(self) -> None:
        self._pending: list[np.ndarray] = []
        self._first_ns = 0

    def process(self, data: np.ndarray) -> Iterator[dict[str, Any]]:
        arr = np.asarray(data)
        now = time.monotonic_ns()
        pending = self._pending
        if pending and (arr.shape != pending[0].shape or arr.dtype != pending[0].dtype):
            yield self._take()
        if pending and self.timeout_ms > 0 and now - self._first_ns > self.timeout_ms * 1e6:
            yield self._take()
        if not pending:
            self._first_ns = now
        pending.append(arr)  # a reference only: the inputs stay valid while we hold them
        if len(pending) >= self.size:
            yield self._take()

    def flush(self) -> dict[str, Any] | None:
        """End of stream: the partial batch still pending, if any."""
        return self._take() if self._pending else None

    def _take(self) -> dict[str, Any]:
        items, self._pending[:] = list(self._pending), []
        first = items[0]
        out_shape = ((len(items) * first.shape[0],) + first.shape[1:]) if self.mode == "concat" else (len(items),) + first.shape
        out = self.buffer("batch", out_shape, first.dtype)
        if self.mode == "concat":
            np.concatenate(items, axis=0, out=out)
        else:
            np.stack(items, axis=0, out=out)
        return {"batch": out}


class Unbatcher(Node):
    """Split a batch along its first axis into one packet per item.

    Each item is a read-only view of the batch (no copy). With `keepdims` the items keep a
    leading axis of 1 (NxCxHxW -> 1xCxHxW), which is what single-image nodes after a batched
    model expect (e.g. post.yolo). Records (dicts) with array fields are split field by field.

    Ports:
        batch (in): N x ... array, or a dict of arrays with the same first axis.
        out (out): one packet per item.

    Params:
        keepdims: keep a leading axis of size 1 on each item (default true).

    Example:
        ```yaml
        - {id: split, type: image.unbatch, inputs: {batch: det/out}}
        ```
    """

    kind = "image.unbatch"
    batch = Input(doc="N x ... array, or a dict of such arrays")
    out = Output(doc="one item per packet")
    keepdims: bool = Param(True, doc="keep a leading axis of 1 on each item")

    def process(self, batch: Any) -> Iterator[dict[str, Any]]:
        if isinstance(batch, dict):
            sizes = {len(v) for v in batch.values() if isinstance(v, np.ndarray) and v.ndim}
            if len(sizes) != 1:
                raise ValueError(f"record fields have different first axes {sorted(sizes)}; expected one batch size")
            n = sizes.pop()
            for i in range(n):
                yield {"out": {k: self._item(v, i) if isinstance(v, np.ndarray) and v.ndim else v for k, v in batch.items()}}
            return
        arr = np.asarray(batch)
        if arr.ndim == 0:
            raise ValueError("expected an array with a batch axis, got a scalar")
        for i in range(arr.shape[0]):
            yield {"out": self._item(arr, i)}

    def _item(self, arr: np.ndarray, i: int) -> np.ndarray:
        return arr[i:i + 1] if self.keepdims else arr[i]
