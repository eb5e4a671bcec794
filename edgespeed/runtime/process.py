"""Nodes in processes of their own: `isolate: process`, or a group name shared by several nodes.

The graph is split at process boundaries (`boundary.py`). Each group of isolated nodes becomes
a subgraph run by a normal `Run` in a spawned child; every edge that crosses a boundary becomes a
shared-memory channel (`shm.py`) between a `runtime.shm_out` node on the writing side and a
`runtime.shm_in` node on the reading side. The edge's ring options hold on both sides: the
writer's ring keeps a stalled channel from blocking the producer, and the reader's drops the
backlog that the channel hands over (without it, a slow isolated node under `policy: latest`
took every packet in turn, seconds stale). Those two nodes have no threads of their
own where that is possible (`fuse.py`): the producer writes the channel and the consumer reads
it, each in its own thread.

The parent watches each child: a child that dies without reporting back is a crash, reported
with the node id and handled by the node's `on_error` (`stop` stops the graph; `restart` and
`skip` start a new child on fresh channels; what was in flight to the dead one is lost and
counted). Children ignore Ctrl-C: the parent tells them to stop and they drain like any run.
Every segment is named after the parent and unlinked by it at the end, whatever the children
did, and the shared resource tracker unlinks what is left if every process is killed.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from ..errors import NodeError
from ..graph.spec import GraphSpec
from ..node import Input, Node, Output, Param
from ..registry import default_registry
from ..types import Stamped, StreamEnd
from .boundary import Crossing
from .boundary import split as split  # (process.split, as before)
from .shm import DEFAULT_CAP_BYTES, ShmWriter, pipe_pair, segment_name
from .shm_reader import ShmReader

log = logging.getLogger("edgespeed.run")

# Channel ends known to this process, by channel number (filled by the parent, or by a child
# from what the parent handed it). Nodes find theirs here from their `channel` param.
_CHANNELS: dict[int, ChannelEnd] = {}
ENDED = object()  # `ShmIn.take`: the channel has ended


@dataclass
class ChannelEnd:
    """One end of a shared-memory channel, as handed to the process that uses it."""

    label: str
    owner_pid: int
    name: str  # segment name token: the channel number and the child's incarnation
    data: Connection
    release: Connection
    cap_bytes: int = DEFAULT_CAP_BYTES


class ShmOut(Node):
    """(internal) Sends `data` across a process boundary through a shared-memory channel."""

    kind = "runtime.shm_out"
    data = Input()
    channel: int = Param(ge=0)
    edge: str = Param("", doc="the graph's edge it carries: its rings' name (boundary.edge_name)")
    lossy: bool = Param(False, doc="the edge drops by its policy: a dead peer's replacement is not waited for")

    def setup(self) -> None:
        self._end = _CHANNELS[self.channel]
        self._open(self._end)

    def _open(self, end: ChannelEnd) -> None:
        self._writer = ShmWriter(end.label, end.owner_pid, end.name, end.data, end.release, cap_bytes=end.cap_bytes)

    def process(self, data: Any = None, **unused: Any) -> None:
        env = self.engine_packet
        abort = self.ctx.aborted
        for _ in range(2):
            if _CHANNELS[self.channel] is not self._end:  # the other side restarted on a fresh channel
                self._writer.close(eos=False)
                self._end = _CHANNELS[self.channel]
                self._open(self._end)
            try:
                self._writer.send(env.seq, env.ts_ns, env.pts_ns, data, abort=abort, stream=env.stream)
                return None
            except (EOFError, OSError):  # the other process is gone: its monitor says why
                group = _RESTARTS.get(self.channel)
                if group is None or not group.wait_restart(abort, self.channel, self._end, 0 if self.lossy else None):
                    break
        self.count("lost_to_dead_peer")
        return None

    def blocked(self, value: Any) -> tuple[int, int] | None:
        """What sending `value` would wait for now (`ShmWriter.blocked`): None if nothing.
        While the other process is being restarted: (-1, 0), look again in a few milliseconds."""
        if _CHANNELS[self.channel] is not self._end:
            return None  # (a fresh channel: `process` opens it)
        try:
            return self._writer.blocked(value)
        except (EOFError, OSError):
            group = _RESTARTS.get(self.channel)
            coming = group is not None and group.wait_restart(self.ctx.aborted, self.channel, self._end, 0) is None
            return (-1, 0) if coming else None  # (none coming: `process` counts it lost)

    def end_stream(self, stream: str) -> None:
        """Pass the end of a stream on to the other process, with the id of the source that
        ended it (the engine gives the end's packet as `engine_packet`), so a node there with
        several inputs waits for it on each input that source feeds."""
        env = self.engine_packet
        end = env.value if env is not None else None
        try:
            self._writer.send_end(stream, getattr(end, "source", None), env.ts_ns if env else 0, env.pts_ns if env else 0)
        except (EOFError, OSError):  # the other process is gone (its monitor says why): so is its state
            self.count("lost_to_dead_peer")

    def try_buffer(self, shape: tuple[int, ...], dtype: Any) -> Any:
        """A free shared-memory slot viewed as an array, or None (none free, or not open yet)."""
        writer: ShmWriter | None = self.__dict__.get("_writer")
        return writer.try_buffer(shape, dtype) if writer is not None else None

    def teardown(self) -> None:
        self._writer.close(eos=True)
        self.count("zero_copy_frames", self._writer.zero_copy)
        self.count("bytes_copied", self._writer.bytes_copied)


class SlotPool:
    """The buffer pool of a producer whose output feeds only a process boundary: its frames
    are drawn straight from the channel's shared-memory slots, so they are written once and
    cross without a copy. With no free slot (or before the channel is open) it allocates, and
    the boundary copies: never a wait in the producer."""

    def __init__(self, sender: ShmOut) -> None:
        from .pool import BufferPool

        self.sender = sender
        self._fallback = BufferPool()  # recycled too: a shortage must not churn the heap

    @property
    def allocations(self) -> int:
        return self._fallback.allocations

    def take(self, shape: tuple[int, ...], dtype: Any) -> Any:
        arr = self.sender.try_buffer(shape, dtype)
        return arr if arr is not None else self._fallback.take(shape, dtype)


class ShmIn(Node):
    """(internal) Receives packets from another process; ends at that side's end of stream."""

    kind = "runtime.shm_in"
    out = Output()
    channel: int = Param(ge=0)
    edge: str = Param("", doc="the graph's edge it carries: its rings' name (boundary.edge_name)")
    relay = True  # ends at its upstream's end of stream, not at stop(): what was sent drains

    def setup(self) -> None:
        self._end = _CHANNELS[self.channel]
        self._reader = self._open(self._end)
        self._orphaned = False  # the writer died and its replacement is awaited

    def _open(self, end: ChannelEnd) -> ShmReader:
        return ShmReader(end.label, end.owner_pid, end.name, end.data, end.release)

    def take(self, timeout: float) -> Any:
        """One read, waiting at most `timeout` s: a `Stamped`, a `StreamEnd` (its value: the
        source that ended it), None (nothing came) or ENDED (the writer has finished, or died
        with no replacement coming). A restarting writer is waited for, as long as `timeout`:
        meanwhile `poll_state` has no descriptor to offer."""
        abort = self.ctx.aborted
        while True:
            try:
                kind, _, ts, pts, value, stream = self._reader.recv(timeout)
            except (EOFError, OSError) as e:
                if not self._orphaned:
                    log.debug("%s: peer gone on %s (%r)", self.id, self._end.label, e)
                swapped = self._swap(abort, timeout)
                self._orphaned = swapped is None
                if swapped is None:
                    return None
                if not swapped:
                    return ENDED
                continue
            if kind == "eos" or (kind == "idle" and abort.is_set()):
                return ENDED
            if kind == "idle":
                return None
            if kind == "end":
                return StreamEnd(stream or "", value)
            return Stamped({"out": value}, pts_ns=pts, ts_ns=ts, stream=stream)

    def generate(self) -> Any:
        """Packets as they come. A consumer reading the channel in its own thread (feed.py) may
        send each wait's limit into the generator, its deadline (`Node.wake`); a wait that runs
        out with nothing read then yields None, so the consumer can look at its deadline."""
        limit: float | None = None
        while (item := self.take(0.25 if limit is None else limit)) is not ENDED:
            if item is not None or limit is not None:
                limit = yield item
            item = None  # let the slot go back as soon as downstream is done with it

    def poll_state(self) -> tuple[int, bool] | None:
        """The descriptor to poll for the next message (with other channels': feed.py), and
        whether slots are out (then poll often: they go back to the writer as they free); None
        while the writer's replacement is awaited (its old descriptor is at its end: always
        readable), when the caller looks again in a few milliseconds."""
        return None if self._orphaned else (self._reader.fileno(), self._reader.holding)

    def _swap(self, abort: Any, timeout: float | None) -> bool | None:
        group = _RESTARTS.get(self.channel)
        swapped = False if group is None else group.wait_restart(abort, self.channel, self._end, timeout)
        if not swapped:
            return swapped
        end = _CHANNELS[self.channel]
        self._reader.close()
        self._end = end
        self._reader = self._open(end)
        return True

    def teardown(self) -> None:
        self._reader.close()


for _cls in (ShmOut, ShmIn):
    default_registry().register(_cls)


# -- the child side ------------------------------------------------------------------------------
def adopt(ends: dict[int, tuple[str, int, str, int, int, int]]) -> None:
    """In a child: take over the channel ends the parent passed (as inherited file descriptors)."""
    for k, (label, owner, token, data_fd, release_fd, cap) in ends.items():
        _CHANNELS[k] = ChannelEnd(label, owner, token, Connection(data_fd), Connection(release_fd), cap)


# -- the parent side --------------------------------------------------------------------------------
_RESTARTS: dict[int, ProcessGroup] = {}  # channel -> the group that restarts behind it
_PEER_ENDS: dict[int, tuple[ChannelEnd, ChannelEnd]] = {}  # child-to-child channels not yet handed out


class ProcessGroup:
    """A spawned child running one group's subgraph, watched from the parent."""

    def __init__(self, name: str, spec: GraphSpec, members: list[str], crossings: list[Crossing],
                 on_error: str, on_failure: Any, on_report: Any) -> None:
        self.name = name
        self.spec = spec
        self.members = members
        self.crossings = [c for c in crossings if name in (c.writer, c.reader)]
        self.on_error = on_error
        self.on_failure = on_failure
        self.on_report = on_report
        self.on_ready: Any = None  # the run's Preroll.arrive: the child's nodes are all set up
        self.stream_feeds: dict[str, dict[str, frozenset[str]]] = {}  # the run's, for the child's nodes
        self.classes: dict[str, Any] = {}  # node id -> its class, and its params as loaded (set by the run)
        self.params: dict[str, dict[str, Any]] = {}
        self.overrides: dict[str, dict[str, Any]] = {}  # params set while running (control API)
        self.incarnation = 0
        self.restarts = 0
        self.proc: Any = None
        self.control: Connection | None = None
        self.stopping = False
        self.done = threading.Event()
        self._restarted = threading.Condition()
        self.names: list[str] = []  # every segment token used, for the final cleanup
        for c in self.crossings:
            _RESTARTS[c.channel] = self

    @property
    def who(self) -> str:
        return self.members[0] if len(self.members) == 1 else f"{self.members[0]} (group {self.name.split(':', 1)[-1]!r})"

    def _channels(self) -> dict[int, ChannelEnd]:
        """Fresh pipes for every crossing; the parent's ends go to `_CHANNELS`, the child's are returned."""
        owner = os.getpid()
        theirs: dict[int, ChannelEnd] = {}
        for c in self.crossings:
            child_writes = c.writer == self.name
            peer = c.reader if child_writes else c.writer
            if peer is not None and c.channel in _PEER_ENDS:  # the other child made this channel
                writer_end, reader_end = _PEER_ENDS.pop(c.channel)
                theirs[c.channel] = writer_end if child_writes else reader_end
                continue
            if peer is not None and self.incarnation > 0:
                raise RuntimeError(f"edge {c.label!r} joins two isolated processes; restart needs one end in the main process")
            token = f"{c.channel}i{self.incarnation}"
            self.names.append(token)
            data_r, data_w = pipe_pair()
            rel_r, rel_w = pipe_pair()
            writer_end = ChannelEnd(c.label, owner, token, data_w, rel_r, c.cap_bytes)
            reader_end = ChannelEnd(c.label, owner, token, data_r, rel_w, c.cap_bytes)
            theirs[c.channel] = writer_end if child_writes else reader_end
            if peer is None:
                _CHANNELS[c.channel] = reader_end if child_writes else writer_end
            else:  # child to child: the other child takes the other end when it starts
                _PEER_ENDS[c.channel] = (writer_end, reader_end)
        return theirs

    def start(self) -> None:
        theirs = self._channels()
        mine, child_sock = socket.socketpair()
        self.control = Connection(mine.detach())
        fds = [child_sock.fileno()]
        ends: dict[int, tuple[str, int, str, int, int, int]] = {}
        for k, end in theirs.items():
            ends[k] = (end.label, end.owner_pid, end.name, end.data.fileno(), end.release.fileno(), end.cap_bytes)
            fds += [end.data.fileno(), end.release.fileno()]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p), EDGESPEED_PROCESS_GROUP=self.name)
        # -W: a killed child's resource tracker unlinks what it left; that is the plan, not news
        self.proc = subprocess.Popen([sys.executable, "-W", "ignore::UserWarning:multiprocessing.resource_tracker",
                                      "-m", "edgespeed.runtime.child", str(child_sock.fileno())],
                                     pass_fds=fds, env=env, stdin=subprocess.DEVNULL)
        child_sock.close()
        for end in theirs.values():  # the child has its own copies now
            end.data.close()
            end.release.close()
        self.control.send((self.name, self.spec.to_yaml(), ends, logging.getLogger().level, self.stream_feeds, self.overrides))

    def watch(self) -> None:
        """Monitor thread: collect the child's report, detect crashes, apply on_error."""
        try:
            while True:
                outcome = self._wait_child()
                if outcome is None:
                    return
                if self.on_error in ("restart", "skip") and not self.stopping:
                    self.restarts += 1
                    log.warning("%s; restarting its process", outcome)
                    self.incarnation += 1
                    try:
                        with self._restarted:
                            self.start()
                            self._restarted.notify_all()
                    except RuntimeError as e:
                        self.on_failure(NodeError(self.who, "process", f"{outcome.cause}; cannot restart: {e}"))
                        return
                    continue
                self.on_failure(outcome)
                return
        finally:
            self._ready()  # a child that never got ready must not hold the parent's sources
            self.done.set()
            with self._restarted:
                self._restarted.notify_all()

    def _wait_child(self) -> NodeError | None:
        """Wait for the child to end; None when it ended cleanly (report delivered)."""
        assert self.control is not None and self.proc is not None
        report = None
        start_error = None
        while True:
            ready = wait([self.control], timeout=0.25)
            if not ready and self.proc.poll() is None:
                continue
            if self.control in ready:
                try:
                    msg = self.control.recv()
                except (EOFError, OSError):
                    msg = None
                if msg is not None and msg[0] == "log":  # the child's log line, through our handlers
                    logging.getLogger(msg[2]).log(msg[1], "%s", msg[3])
                    continue
                if msg is not None and msg[0] == "ready":  # every node of the child has set up
                    self._ready()
                    continue
                if msg is not None and msg[0] == "status":  # the child's live report
                    if report is None:
                        self.on_report(self, msg[1], [])
                    continue
                if msg is not None and msg[0] == "done":
                    report = msg
                elif msg is not None and msg[0] == "error":
                    start_error = msg[1]
                if msg is None:  # the child closed its end: it is exiting
                    break
            elif self.proc.poll() is not None:
                break
        try:
            code = self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        log.debug("group %s: child exited with %s, report %s", self.name, code, report is not None)
        if report is not None:
            self.on_report(self, report[1], report[2])
            return None
        if start_error is not None:
            return NodeError(self.who, "start", f"its process could not start: {start_error}")
        how = f"killed by {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit code {code}"
        return NodeError(self.who, "process", f"its process crashed ({how})")

    def _ready(self) -> None:
        arrive, self.on_ready = self.on_ready, None  # once: a restarted child's sources are the child's affair
        if arrive is not None:
            arrive()

    def wait_restart(self, abort: Any, channel: int, end: ChannelEnd, timeout: float | None = None) -> bool | None:
        """Called by a parent-side channel end whose peer died: True once a new child is up on a
        fresh channel in place of `end`, also if that happened before this call (`start` swaps
        the ends under `_restarted`; counting restarts from the call missed one just before it).
        False when none is coming; None when `timeout` s passed first (the caller looks again)."""
        until = None if timeout is None else time.monotonic() + timeout
        with self._restarted:
            while _CHANNELS.get(channel) is end:
                if self.done.is_set() or (abort is not None and abort.is_set()):
                    return False
                left = 0.25 if until is None else min(0.25, until - time.monotonic())
                if left <= 0:
                    return None
                self._restarted.wait(left)
            return not self.done.is_set()

    def stop(self) -> None:
        self.stopping = True
        self._send("stop")

    def abort(self) -> None:
        self.stopping = True
        self._send("abort")
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.wait(2)
            except subprocess.TimeoutExpired:
                self.proc.terminate()

    def node_class(self, node_id: str) -> Any:
        """The class of one of this group's nodes (checked by the parent's validation)."""
        return self.classes[node_id]

    def node_params(self, node_id: str) -> dict[str, Any]:
        """The params one of this group's nodes runs with (its checked values, and any set since)."""
        return {**self.params[node_id], **self.overrides.get(node_id, {})}

    def request_params(self, node_id: str, values: dict[str, Any]) -> bool:
        """Set checked, reloadable params of a node in this group from its next packet (the
        control API): sent to the child, and kept for a restarted one (`start` gives them to
        it with its graph). False when no child is running to take them."""
        if self.control is None or self.stopping:
            return False
        self.overrides[node_id] = {**self.overrides.get(node_id, {}), **values}
        self._send(("params", node_id, values))
        return True

    def _send(self, msg: Any) -> None:
        try:
            if self.control is not None:
                self.control.send(msg)
        except (OSError, ValueError):
            pass

    def cleanup(self) -> None:
        """Unlink whatever segments of this group's channels are left (a child may have died)."""
        from .shm import unlink_name

        owner = os.getpid()
        for token in self.names:
            misses = 0
            for gen in range(256):
                misses = 0 if unlink_name(segment_name(owner, token, gen)) else misses + 1
                if misses > 8:
                    break
        for c in self.crossings:
            _RESTARTS.pop(c.channel, None)
