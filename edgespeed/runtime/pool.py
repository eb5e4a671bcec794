"""Output buffers reused once every consumer has released them.

A node asks `self.buffer(port, shape, dtype)` for an array to fill. Consumers receive read-only
views whose `.base` is the pool's array, so the array is free again exactly when no view (and no
packet holding one) remains: the pool reads that from the reference count. Nothing has to be
released by hand, and a consumer that keeps a frame past `process` simply keeps that buffer busy.
"""

from __future__ import annotations

import sys

import numpy as np

# References held while a free buffer is inspected: the pool's list, the loop variable, and
# getrefcount's own argument.
_FREE_REFS = 3


class BufferPool:
    """A growable set of same-shaped arrays for one output port.

    Args:
        max_buffers: beyond this many, a new buffer is not kept by the pool (it is still
            returned, so a stuck consumer degrades to plain allocation instead of a hang).
    """

    def __init__(self, max_buffers: int = 256) -> None:
        self._bufs: list[np.ndarray] = []
        self.max_buffers = max_buffers
        self.allocations = 0

    def take(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A free array of `shape` and `dtype`, allocating only when none is free."""
        for b in self._bufs:
            if sys.getrefcount(b) == _FREE_REFS and b.shape == shape and b.dtype == dtype:
                return b
        b = np.empty(shape, dtype)
        self.allocations += 1
        if len(self._bufs) >= self.max_buffers:
            # drop a free buffer of another shape if there is one (the frame size changed)
            for i, old in enumerate(self._bufs):
                if sys.getrefcount(old) == _FREE_REFS and (old.shape != shape or old.dtype != dtype):
                    del self._bufs[i]
                    break
            else:
                return b
        self._bufs.append(b)
        return b

    def __len__(self) -> int:
        return len(self._bufs)
