"""Shared-memory channels: frames cross between processes on one device for the cost of a small
message.

A channel carries one edge from a writer process to a reader process:
- slots live in a shared-memory segment; the writer puts an array into a free slot (or the
  producer already wrote it there, through the node's buffer pool) and sends only a small
  descriptor down a pipe; the reader maps the slot as a read-only numpy view, no copy;
- the pipe is also the wake-up: the reader blocks in `poll`, which returns as soon as a
  descriptor arrives. A pipe is the portable choice (Linux and macOS) and, measured against a
  Linux eventfd plus a shared index, costs the same within noise for one message per packet;
- slots come back when every array in the reader's process that views them is gone (read from
  the reference count of the slot's memoryview) and the reader sends their numbers back on a
  second pipe; a writer with no free slot waits for one (lossless backpressure);
- the segment grows to the largest array it has seen (a new segment, "generation"), within
  a memory cap; an array larger than the cap is an error naming the edge, never a hang;
- small values (under 8 KiB, and non-array records) travel inline in the descriptor.

Segments are named `es<pid>_<channel>_<generation>` after the run's owner process, so that
process can unlink every one of them whatever happened to the other side (`unlink_all`).
This module is the writing end and what both ends share (the descriptor format, segments);
`shm_reader.py` is the reading end.
"""

from __future__ import annotations

import fcntl
import os
import pickle
import select
import struct
import sys
import termios
import threading
import time
from collections.abc import Iterable
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory
from typing import Any

import numpy as np

from ..errors import EdgeSpeedError
from ..graph.plan import DEFAULT_SHM_CAP_BYTES

INLINE_MAX = 8 << 10
DEFAULT_SLOTS = 8
DEFAULT_CAP_BYTES = DEFAULT_SHM_CAP_BYTES  # (the plan decides each channel's size)

# kind, ndim, slot, generation, seq, ts_ns, pts_ns, nbytes, slot_size, dtype (8 bytes), and the
# length of the packet's stream name (a multi-stream source's), whose UTF-8 bytes follow the
# header; an END (one stream of a multi-stream source ended) carries the id of that source in
# its `nbytes` bytes after the name
HEAD = struct.Struct("<BBHIqqqQQ8sH")
ARRAY, INLINE, EOS, RETIRE, SMALL, END = 0, 1, 2, 3, 4, 5
HELD_TIMEOUT_S = 30.0
ZERO_COPY_SLOTS = 4  # x DEFAULT_SLOTS: how far a producer's pool may grow a channel
REL = struct.Struct("<HI")  # slot, generation
BYE = REL.pack(0xFFFF, 0xFFFFFFFF)  # the reader saw end-of-stream: every segment it needs is mapped
CLOSE_WAIT_S = 10.0
FREE_REFS = 2  # `sys.getrefcount(self._views[key])`: our dict's reference and the argument
# Each slot is a 1-D uint8 array over its bytes; every array handed out is a view of it, so its
# reference count says whether anything in this process still looks at the slot.


class FrameTooLarge(EdgeSpeedError):
    """An array is larger than the channel's memory cap."""


class SlotsHeld(EdgeSpeedError):
    """Every slot of a channel stayed in use for too long (a consumer keeps frames)."""


def segment_name(owner_pid: int, channel: int | str, gen: int) -> str:
    return f"es{owner_pid}_{channel}_{gen}"


def attach(name: str) -> SharedMemory:
    # Only the creator of a segment tracks it. Python < 3.13 registers an attached segment with
    # this process's resource tracker as if it were ours, and that tracker would unlink it (and
    # warn) when this process exits; so we unregister. Each process's tracker thus unlinks
    # exactly the segments that process created, if it dies without doing so itself.
    shm = SharedMemory(name=name)
    try:
        resource_tracker.unregister(shm._name, "shared_memory")  # type: ignore[attr-defined]
    except Exception:  # pragma: no cover - tracker internals differ by version
        pass
    return shm


def close_segment(shm: SharedMemory) -> None:
    """Close our handle; if arrays in this process still view it (a node kept one past
    process()), leave the mapping to be freed with them rather than fail or warn at exit."""
    try:
        shm.close()
    except BufferError:
        shm._mmap = None  # type: ignore[attr-defined]  # dropped when the last view goes
        shm.close()


def unlink_name(name: str) -> bool:
    """Unlink a segment by name without mapping it (it may be half-made by a killed process)."""
    from multiprocessing.shared_memory import _posixshmem  # type: ignore[attr-defined]

    try:
        _posixshmem.shm_unlink("/" + name)
    except FileNotFoundError:
        return False
    try:
        resource_tracker.unregister("/" + name, "shared_memory")
    except Exception:  # pragma: no cover
        pass
    return True


def unlink_all(owner_pid: int, channel: int | str, generations: Iterable[int]) -> int:
    """Unlink every segment of a channel that still exists; returns how many were removed."""
    removed = 0
    for gen in generations:
        try:
            shm = SharedMemory(name=segment_name(owner_pid, channel, gen))
        except FileNotFoundError:
            continue
        shm.close()
        shm.unlink()  # also unregisters it from the resource tracker
        removed += 1
    return removed


class ShmWriter:
    """The sending end of a channel.

    Args:
        label: the edge, for errors (`cam/frame -> det.image`).
        owner_pid, channel: name the segments (see `segment_name`).
        data: pipe end for descriptors; release: pipe end for returned slots.
        slots: slots per segment.
        cap_bytes: the most shared memory this channel may use.
    """

    def __init__(self, label: str, owner_pid: int, channel: int | str, data: Connection, release: Connection,
                 slots: int = DEFAULT_SLOTS, cap_bytes: int = DEFAULT_CAP_BYTES) -> None:
        self.label = label
        self.owner_pid = owner_pid
        self.channel = channel
        self._data = data
        self._release = release
        self.slots = slots
        self.cap_bytes = cap_bytes
        self.gen = -1
        self.slot_size = 0
        self._gen_size: dict[int, int] = {}
        self._segs: dict[int, SharedMemory] = {}
        self._views: dict[tuple[int, int], np.ndarray] = {}
        self._by_id: dict[int, tuple[int, int]] = {}
        self._remote: set[tuple[int, int]] = set()  # sent, not yet released by the reader
        self._bye = False
        # The sending node's thread and, through a slot-backed pool, its producer's thread
        # both take slots (see try_buffer).
        self._lock = threading.RLock()
        self.sent = 0
        self.bytes_copied = 0
        self.zero_copy = 0
        self._short_since: float | None = None  # `blocked`: since when no slot has been free
        self._pickled: tuple[Any, bytes] | None = None  # `blocked` pickled this value for the next send
        self._out_poll: Any = None  # `blocked`: is the descriptor pipe writable
        self._rel_poll: Any = None  # have slots come back

    # -- slots ------------------------------------------------------------------------------
    def _add_segment(self, size: int, slots: int) -> None:
        self.gen += 1
        shm = SharedMemory(name=segment_name(self.owner_pid, self.channel, self.gen), create=True, size=size * slots)
        self._segs[self.gen] = shm
        self._gen_size[self.gen] = size
        # Touch every page now: the first write to a fresh page faults, and would do so
        # mid-stream, one frame at a time (latency spikes, RSS creeping up for a while).
        np.frombuffer(shm.buf, np.uint8)[::4096] = 0  # type: ignore[arg-type]
        for i in range(slots):
            arr = self._views[(self.gen, i)] = np.frombuffer(shm.buf, np.uint8, count=size, offset=i * size)  # type: ignore[arg-type]
            self._by_id[id(arr)] = (self.gen, i)

    def _grow(self, nbytes: int) -> None:
        """A larger frame than before: a segment of larger slots (the old one retires once free)."""
        size = max(4096, 1 << (nbytes - 1).bit_length())
        if nbytes > self.cap_bytes:
            msg = (f"edge {self.label!r}: a {nbytes / 2**20:.1f} MiB array does not fit the shared-memory cap of "
                   f"{self.cap_bytes / 2**20:.0f} MiB; raise shm_cap_mb on the isolated node")
            raise FrameTooLarge(msg)
        self.slot_size = size
        self._add_segment(size, max(1, min(self.slots, self.cap_bytes // size)))
        self._retire_old()

    def _more_slots(self) -> bool:
        """Every slot is busy: add a segment of as many again, if the cap allows."""
        size = self.slot_size
        slots = min(self.slots, (self.cap_bytes - sum(s.size for s in self._segs.values())) // size)
        if slots < 1:
            return False
        self._add_segment(size, slots)
        return True

    def _retire_old(self) -> None:
        """Free generations of smaller slots whose slots all came back, and tell the reader."""
        for gen in [g for g in self._segs if self._gen_size[g] != self.slot_size]:
            keys = [k for k in self._views if k[0] == gen]
            if any(k in self._remote or sys.getrefcount(self._views[k]) > FREE_REFS for k in keys):  # noqa: SIM110
                continue
            for k in keys:
                self._by_id.pop(id(self._views.pop(k)), None)
            shm = self._segs.pop(gen)
            del self._gen_size[gen]
            close_segment(shm)
            shm.unlink()
            self._data.send_bytes(HEAD.pack(RETIRE, 0, 0, gen, 0, 0, 0, 0, 0, b"", 0))

    def _drain_releases(self, timeout: float) -> None:
        # (one poll object for the writer's life: Connection.poll builds a selector per call,
        # 3 us of the ~4 us that a lossy writer's look at its channel costs per packet)
        if self._rel_poll is None:
            self._rel_poll = select.poll()
            self._rel_poll.register(self._release.fileno(), select.POLLIN)
        if not self._rel_poll.poll(timeout * 1000):
            return
        while True:
            data = self._release.recv_bytes()
            if data == BYE:
                self._bye = True
            else:
                for i in range(0, len(data), REL.size):
                    self._remote.discard(REL.unpack_from(data, i)[::-1])
            if not self._rel_poll.poll(0):
                return

    def _free_slot(self) -> tuple[int, int] | None:
        size = self.slot_size
        for key in self._views:
            if self._gen_size[key[0]] == size and key not in self._remote and sys.getrefcount(self._views[key]) == FREE_REFS:
                return key
        return None

    def take(self, nbytes: int, grow_after_s: float = 1.0, abort: Any = None) -> tuple[tuple[int, int], np.ndarray]:
        """A free slot of at least `nbytes`.

        With every slot busy it waits for the reader to release one (backpressure). A wait longer
        than `grow_after_s` adds slots within the memory cap (a consumer that keeps a few frames
        past process() must not stall the edge); every slot held for `HELD_TIMEOUT_S` is an
        error naming the edge, never a silent hang.
        """
        if nbytes > self.slot_size:
            self._grow(nbytes)
        waited = 0.0
        while True:
            self._drain_releases(0)
            key = self._free_slot()
            if key is not None:
                if len(self._segs) > 1:
                    self._retire_old()
                return key, self._views[key]
            if abort is not None and abort.is_set():
                raise EOFError(f"edge {self.label!r}: stopped while waiting for a free slot")
            if waited >= grow_after_s and self._more_slots():
                waited = 0.0
                continue
            if waited >= HELD_TIMEOUT_S:
                raise self._held_too_long()
            self._drain_releases(0.05)
            waited += 0.05

    def buffer(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """A writable array in a free slot (waiting for one): filled and sent, it is not copied."""
        dt = np.dtype(dtype)
        nbytes = int(np.prod(shape)) * dt.itemsize
        with self._lock:
            _, slot = self.take(nbytes)
        out: np.ndarray = slot[:nbytes].view(dt).reshape(shape)
        return out

    def try_buffer(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray | None:
        """Like `buffer`, but never waits: with every slot busy it adds slots within the cap,
        and past the cap returns None; the caller then allocates and `send` copies (correct,
        one copy more). Frames queued in the producer's ring hold slots too, so the channel
        grows up to ZERO_COPY_SLOTS times its base slots for them; past that, a momentary
        shortage costs a copy rather than shared memory that would stay mapped for good."""
        dt = np.dtype(dtype)
        nbytes = int(np.prod(shape)) * dt.itemsize
        if nbytes <= INLINE_MAX or nbytes > self.cap_bytes:
            return None
        with self._lock:
            if nbytes > self.slot_size:
                self._grow(nbytes)
            self._drain_releases(0)
            key = self._free_slot()
            if key is None and len(self._views) < ZERO_COPY_SLOTS * self.slots and self._more_slots():
                key = self._free_slot()  # frames queued before the boundary hold slots: a few more
            if key is None:
                return None
            out: np.ndarray = self._views[key][:nbytes].view(dt).reshape(shape)
            return out

    def blocked(self, value: Any) -> tuple[int, int] | None:
        """What a `send` of `value` would wait for now: None when nothing (it goes at once), else
        (fd, poll events) to wait on before asking again, fd -1 for "in a few milliseconds", or
        SEND_WAITS: longer than the whole pipe, it goes only by a send that waits for the reader.

        For the writer of a lossy edge (`fuse.LossyCarrier`), whose producer must never wait: its
        packets stay in its ring, dropping by the policy, until this says they can go. A slot
        short for `grow_after` s adds slots within the cap, as `take` would; every slot held for
        HELD_TIMEOUT_S raises SlotsHeld. The pipe must take the whole descriptor (`_pipe_wait`).

        Raises:
            EOFError, OSError: the reader's end is gone.
        """
        with self._lock:
            self._drain_releases(0)
            need = HEAD.size + 260  # (the length prefix, and room for a stream name)
            if isinstance(value, np.ndarray) and value.dtype.kind in "biufc" and value.dtype.itemsize <= 16:
                need += 8 * value.ndim
                if value.nbytes <= INLINE_MAX:
                    need += value.nbytes
                elif value.nbytes <= self.slot_size and not (value.flags.c_contiguous and self._slot_of(value)) \
                        and self._free_slot() is None and not self._short():
                    return self._release.fileno(), select.POLLIN
            elif not isinstance(value, np.ndarray):
                blob = pickle.dumps(value, protocol=5)
                self._pickled = (value, blob)
                need += len(blob)
            self._short_since = None
            return self._pipe_wait(need)

    def _pipe_wait(self, need: int) -> tuple[int, int] | None:
        """What a write of `need` bytes into the descriptor pipe would wait for (None: nothing).
        A pipe holds its bytes in pages, and a write that does not fit the last one's rest takes
        a page of its own, so its free bytes do not say whether a write fits; POLLOUT does, for
        one of at most PIPE_BUF bytes (a page is free). A longer one is sure to fit only into an
        empty pipe (FIONREAD: nothing queued); one longer than the whole pipe waits for the reader
        in any case (SEND_WAITS, once the pipe is empty)."""
        fd = self._data.fileno()
        if need <= select.PIPE_BUF:
            if self._out_poll is None:
                self._out_poll = select.poll()
                self._out_poll.register(fd, select.POLLOUT)
            return None if self._out_poll.poll(0) else (fd, select.POLLOUT)
        queued = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
        if queued:
            return -1, 0
        return SEND_WAITS if need > fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ) else None

    def _short(self, grow_after_s: float = 1.0) -> bool:
        """No slot is free: add some once that has lasted `grow_after_s` (True if it did)."""
        now = time.monotonic()
        if self._short_since is None:
            self._short_since = now
        elif now - self._short_since >= grow_after_s and self._more_slots():
            self._short_since = None
            return True
        elif now - self._short_since >= HELD_TIMEOUT_S:
            raise self._held_too_long()
        return False

    def _held_too_long(self) -> SlotsHeld:
        return SlotsHeld(f"edge {self.label!r}: all shared-memory slots ({self.cap_bytes / 2**20:.0f} MiB) have been held "
                         f"for {HELD_TIMEOUT_S:.0f} s; a consumer keeps frames past process() (copy what you keep) or is stuck")

    def _slot_of(self, arr: np.ndarray) -> tuple[int, int] | None:
        base = arr.base
        return self._by_id.get(id(base)) if base is not None and self._views.get(self._by_id.get(id(base), (-1, -1))) is base else None

    # -- sending ------------------------------------------------------------------------------
    def send(self, seq: int, ts_ns: int, pts_ns: int, value: Any, abort: Any = None, stream: str | None = None) -> None:
        """Send one packet (an array through a slot; anything else inline), of `stream` when it
        comes from a multi-stream source."""
        with self._lock:
            self._send(seq, ts_ns, pts_ns, value, abort, stream.encode() if stream is not None else b"")

    def send_end(self, stream: str, source: str | None, ts_ns: int, pts_ns: int) -> None:
        """Stream `stream` of multi-stream source `source` ended (behind its last packet)."""
        name, src = stream.encode(), (source or "").encode()
        with self._lock:
            self._data.send_bytes(HEAD.pack(END, 0, 0, 0, -1, ts_ns, pts_ns, len(src), 0, b"", len(name)) + name + src)

    def _send(self, seq: int, ts_ns: int, pts_ns: int, value: Any, abort: Any, name: bytes) -> None:
        if isinstance(value, np.ndarray) and value.nbytes > INLINE_MAX and value.dtype.kind in "biufc" and value.dtype.itemsize <= 16:
            key = self._slot_of(value)
            if key is None or not value.flags.c_contiguous:
                key, slot_arr = self.take(value.nbytes, abort=abort)
                dst = slot_arr[:value.nbytes].view(value.dtype).reshape(value.shape)
                np.copyto(dst, value)
                self.bytes_copied += value.nbytes
                del dst
            else:
                self.zero_copy += 1
            gen, slot = key
            head = HEAD.pack(ARRAY, value.ndim, slot, gen, seq, ts_ns, pts_ns, value.nbytes, self._gen_size[gen],
                              value.dtype.str.encode(), len(name)) + name
            shape = struct.pack(f"<{value.ndim}q", *value.shape)
            self._remote.add(key)
            self._data.send_bytes(head + shape)
        elif type(value) is np.ndarray and value.dtype.kind in "biufc" and value.dtype.itemsize <= 16 and value.ndim < 256:
            # a small array: its bytes right after the header, no pickle (about 10 us less per
            # hop each side, which is most of what a 64-byte packet costs beyond the wake-up)
            head = HEAD.pack(SMALL, value.ndim, 0, 0, seq, ts_ns, pts_ns, value.nbytes, 0, value.dtype.str.encode(), len(name)) + name
            self._data.send_bytes(head + struct.pack(f"<{value.ndim}q", *value.shape) + np.ascontiguousarray(value).tobytes())
        else:
            kept, self._pickled = self._pickled, None
            blob = kept[1] if kept is not None and kept[0] is value else pickle.dumps(value, protocol=5)
            self._data.send_bytes(HEAD.pack(INLINE, 0, 0, 0, seq, ts_ns, pts_ns, len(blob), 0, b"", len(name)) + name + blob)
        self.sent += 1

    def close(self, eos: bool = True) -> None:
        """Send end-of-stream (if the pipe still works) and free this side's segments.

        Segments are unlinked only once the reader has seen the end-of-stream, so it has mapped
        every slot a descriptor in flight refers to (a mapping outlives the name).
        """
        with self._lock:
            self._close(eos)

    def _close(self, eos: bool) -> None:
        if eos:
            try:
                self._data.send_bytes(HEAD.pack(EOS, 0, 0, 0, 0, 0, 0, 0, 0, b"", 0))
                waited = 0.0
                while not self._bye and waited < CLOSE_WAIT_S and self._segs:
                    self._drain_releases(0.05)
                    waited += 0.05
            except (OSError, ValueError, EOFError):
                pass
        self._views.clear()
        self._by_id.clear()
        for shm in self._segs.values():
            close_segment(shm)
            try:
                shm.unlink()
            except FileNotFoundError:
                pass
        self._segs.clear()


SEND_WAITS = (-1, 1)
"""`ShmWriter.blocked`: a descriptor longer than the pipe (a record that pickles to more than 64
KiB), which only a send that waits for the reader can write."""

NONBLOCKING_WRITES = sys.platform == "linux"
"""`ShmWriter.blocked` works here (it relies on Linux's POLLOUT, FIONREAD and F_GETPIPE_SZ for pipes)."""


def pipe_pair() -> tuple[Connection, Connection]:
    """A one-way pipe (reader end, writer end)."""
    r, w = os.pipe()
    return Connection(r, writable=False), Connection(w, readable=False)


def cleanup_segments(owner_pid: int | None = None) -> list[str]:
    """Names of this owner's segments still in /dev/shm (Linux), for tests and diagnostics."""
    pid = owner_pid or os.getpid()
    try:
        return sorted(n for n in os.listdir("/dev/shm") if n.startswith(f"es{pid}_"))
    except FileNotFoundError:  # macOS has no /dev/shm listing
        return []
