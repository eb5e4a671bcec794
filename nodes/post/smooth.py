"""Smooth scores over time: an exponential moving average or a sliding window."""

from __future__ import annotations

from collections import deque
from typing import Any, Literal

import numpy as np

from edgespeed import Input, Node, Output, Param, Tensor


class ScoreSmoother(Node):
    """Fuse per-frame scores (class probabilities, a detector's confidence) across frames.

    A single frame's classification flickers; the smoothed scores change only when the scene
    does. `ema` keeps `s = alpha * x + (1 - alpha) * s`; `mean` and `max` take the last
    `window` frames. When the scores' shape changes (another model, another class count), the
    history starts over. Output arrays are float32 and the node's own (pooled). Packets of a
    multi-stream source are smoothed per stream (`envelope.stream`), each stream's history
    dropped when it ends.

    Ports:
        scores (in): an array of scores of any shape, e.g. (1, C) probabilities.
        out (out): the smoothed scores, same shape, float32.

    Params:
        mode: ema (default), mean or max.
        alpha: weight of the newest frame for ema, 0..1 (default 0.3).
        window: frames for mean and max (default 5).

    Example:
        ```yaml
        - {id: steady, type: post.smooth, params: {mode: ema, alpha: 0.2}, inputs: {scores: net/out}}
        ```
    """

    kind = "post.smooth"
    scores = Input(Tensor, doc="scores, any shape")
    out = Output(Tensor, doc="smoothed scores, float32")
    mode: Literal["ema", "mean", "max"] = Param("ema")
    alpha: float = Param(0.3, gt=0, le=1, doc="weight of the newest frame (ema)")
    window: int = Param(5, ge=1, le=10000, doc="frames averaged (mean, max)")

    def setup(self) -> None:
        # stream -> (ema state or last scores, history): one entry per stream of the packets
        self._streams: dict[str | None, tuple[np.ndarray | None, deque[np.ndarray]]] = {}

    def process(self, scores: np.ndarray) -> dict[str, Any]:
        x = np.asarray(scores, np.float32)
        env = self.envelope
        key = env.stream if env else None
        state, history = self._streams.get(key) or (None, deque(maxlen=self.window))
        if state is not None and state.shape != x.shape:
            state, history = None, deque(maxlen=self.window)
        out = self.buffer("out", x.shape, np.float32)
        if self.mode == "ema":
            state = x.copy() if state is None else self.alpha * x + (1 - self.alpha) * state
            np.copyto(out, state)
        else:
            history.append(x.copy())  # inputs are views of ring slots: keep a copy
            state = history[-1]
            stacked = np.stack(history)
            (np.mean if self.mode == "mean" else np.max)(stacked, axis=0, out=out)
        self._streams[key] = (state, history)
        return {"out": out}

    def end_stream(self, stream: str) -> None:
        """The stream ended: its history goes."""
        self._streams.pop(stream, None)
