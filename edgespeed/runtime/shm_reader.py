"""The reading end of a shared-memory channel (`shm.py` says how a channel works): it maps the
writer's slots as read-only views, and gives each slot back once no array in its process views it.
"""

from __future__ import annotations

import pickle
import select
import struct
import sys
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory
from typing import Any

import numpy as np

from .shm import BYE, EOS, END, FREE_REFS, HEAD, INLINE, REL, RETIRE, SMALL, attach, close_segment, segment_name


class ShmReader:
    """The receiving end of a channel: yields read-only views of the writer's slots."""

    def __init__(self, label: str, owner_pid: int, channel: int | str, data: Connection, release: Connection) -> None:
        self.label = label
        self.owner_pid = owner_pid
        self.channel = channel
        self._data = data
        self._release = release
        self._segs: dict[int, SharedMemory] = {}
        self._views: dict[tuple[int, int], np.ndarray] = {}
        self._out: set[tuple[int, int]] = set()  # delivered, not yet given back
        self._retired: set[int] = set()  # generations the writer dropped: unmap once none is out
        # One poll object for the life of the reader: Connection.poll builds a selector per
        # call, which cost 6-8 us of a ~30 us hop.
        self._poller = select.poll()
        self._poller.register(data.fileno(), select.POLLIN)
        self.max_gen = -1
        self.received = 0

    def _view(self, gen: int, slot: int, slot_size: int) -> np.ndarray:
        arr = self._views.get((gen, slot))
        if arr is None:
            shm = self._segs.get(gen)
            if shm is None:
                shm = self._segs[gen] = attach(segment_name(self.owner_pid, self.channel, gen))
                int(np.frombuffer(shm.buf, np.uint8)[::4096].sum())  # type: ignore[arg-type]  # map every page now, not frame by frame
                self.max_gen = max(self.max_gen, gen)
            arr = self._views[(gen, slot)] = np.frombuffer(shm.buf, np.uint8, count=slot_size, offset=slot * slot_size)  # type: ignore[arg-type]
        return arr

    def _unmap_retired(self) -> None:
        for gen in list(self._retired):
            keys = [k for k in self._views if k[0] == gen]
            if any(k in self._out for k in keys):
                continue
            for k in keys:
                del self._views[k]
            if gen in self._segs:
                close_segment(self._segs.pop(gen))
            self._retired.discard(gen)

    def give_back(self) -> int:
        """Return every delivered slot that no array in this process views any more."""
        done = [k for k in self._out if sys.getrefcount(self._views[k]) == FREE_REFS]
        if done:
            self._out.difference_update(done)
            try:
                self._release.send_bytes(b"".join(REL.pack(slot, gen) for gen, slot in done))
            except (OSError, ValueError):
                pass
            if self._retired:
                self._unmap_retired()
        return len(done)

    def fileno(self) -> int:
        return self._data.fileno()

    @property
    def holding(self) -> bool:
        """Delivered slots are not all given back yet."""
        return bool(self._out)

    def recv(self, timeout: float | None) -> tuple[str, int, int, int, Any, str | None]:
        """The next packet as (`data`|`end`|`eos`|`idle`, seq, ts_ns, pts_ns, value, stream):
        `stream` is the packet's stream (None: not from a multi-stream source); for `end`, the
        stream that ended, and `value` the id of its source.

        Slots still out are checked for return every millisecond while waiting, so a writer
        blocked on a full channel gets them back promptly.

        Raises:
            EOFError: the writer's end is gone (its process exited or crashed).
        """
        waited = 0.0
        while True:
            if self._out:
                self.give_back()
            step = 0.001 if self._out else (timeout if timeout is not None else 0.25)
            if timeout is not None:
                step = min(step, max(0.0, timeout - waited))
            if self._poller.poll(step * 1000):
                msg = self._data.recv_bytes()
                if msg[0] != RETIRE:
                    break
                self._retired.add(HEAD.unpack_from(msg)[3])
                self._unmap_retired()
                continue
            waited += step
            if timeout is not None and waited >= timeout:
                return "idle", 0, 0, 0, None, None
        kind, ndim, slot, gen, seq, ts, pts, nbytes, slot_size, dt, name_len = HEAD.unpack_from(msg)
        if kind == EOS:
            try:
                self._release.send_bytes(BYE)
            except (OSError, ValueError):
                pass
            return "eos", 0, 0, 0, None, None
        at = HEAD.size + name_len
        stream = msg[HEAD.size:at].decode() if name_len else None
        if kind == END:
            return "end", seq, ts, pts, msg[at:at + nbytes].decode() or None, stream
        self.received += 1
        if kind == INLINE:
            value = pickle.loads(memoryview(msg)[at:])
            if isinstance(value, np.ndarray):
                value.flags.writeable = False
            return "data", seq, ts, pts, value, stream
        shape = struct.unpack_from(f"<{ndim}q", msg, at)
        dtype = np.dtype(dt.rstrip(b"\0").decode())
        if kind == SMALL:  # read-only, over the message's own bytes
            return "data", seq, ts, pts, np.frombuffer(msg, dtype, offset=at + 8 * ndim).reshape(shape), stream
        arr = self._view(gen, slot, slot_size)[:nbytes].view(dtype).reshape(shape)
        arr.flags.writeable = False
        self._out.add((gen, slot))
        return "data", seq, ts, pts, arr, stream

    def close(self) -> None:
        self._views.clear()
        for shm in self._segs.values():
            close_segment(shm)
        self._segs.clear()
