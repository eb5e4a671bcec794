"""One node's life in its worker thread: setup, the data loop, teardown, and error policy.

- `teardown` runs if and only if `setup` returned, also when the loop failed.
- `process` is only ever called from this thread, so never twice at once.
- `on_error`: `stop` ends this node and asks the graph to stop (the run exits non-zero);
  `skip` counts the error and goes on with the next packet (a source's stream ends, since a
  generator cannot resume after raising); `restart` tears down, waits (backoff 0.1 s doubling to
  5 s), sets up again and goes on (a source starts `generate()` again).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import types
from collections import deque
from collections.abc import Callable
from typing import Any

from ..errors import NodeError
from ..metrics import NodeStats
from ..node import Node, first_parameter
from ..types import Stamped, StreamEnd
from .feed import ChannelFeed
from .matching import InputMatching
from .context import Preroll
from .pacing import Pacer
from .packet import SCALARS, Packet, freeze, payload_bytes
from .ring import Carrier, Ring

log = logging.getLogger("edgespeed.run")
_perf = time.perf_counter_ns
_now = time.time_ns


class Worker(InputMatching, ChannelFeed):
    """Runs one node. Built by the scheduler, which owns the rings and the thread."""

    def __init__(
        self,
        node: Node,
        *,
        on_error: str,
        stats: NodeStats,
        inputs: dict[str, Ring],
        outputs: dict[str, list[Carrier]],
        sync: str,
        sync_tolerance_ms: float,
        stopping: threading.Event,
        aborted: threading.Event,
        on_failure: Callable[[NodeError], None],
        cpus: frozenset[int] | None = None,
        paced: bool = True,
    ) -> None:
        self.node = node
        self.id = node.id
        self.on_error = on_error
        self.stats = stats
        self.inputs = inputs
        self.outputs = outputs
        self.sync = sync
        self.tol_ns = int(sync_tolerance_ms * 1e6)
        self.stopping = stopping
        self.aborted = aborted
        self.on_failure = on_failure
        self.cpus = cpus
        self.paced = paced  # False: sources run as fast as the graph takes them (`edgespeed bench`)
        self.preroll: Preroll | None = None  # set by the run: its sources wait for every setup
        self._arrived = False
        self.is_sink = not any(outputs.values())
        cls = node  # its ports may depend on its params (Node.declare_ports)
        self._labels = {port: r.name.split(" -> ")[0] for port, r in inputs.items()}
        # Ports a call may lack: unwired optional ones, and under `any`/`latest` the inputs that
        # have nothing new (None). A single wired input never needs the merge.
        self._absent = {p: None for p in cls.inputs if p not in inputs or len(inputs) > 1}
        # a lone input that `process` names first goes positionally: no dict (0.2 of a 2.7 us hop)
        self._positional = len(inputs) == 1 and not self._absent and first_parameter(node.process) in inputs
        self._contracts = {p: o.type for p, o in cls.outputs.items() if o.type.kind == "array" and (o.type.dtype or o.type.ndim is not None)}
        self._seq = dict.fromkeys(cls.outputs, 0)
        # the class's declaration order, so `sync: latest` is triggered by the port the node
        # names in `trigger` (default: its first input), whatever order the YAML wires them in
        declared = [p for p in node.inputs if p in inputs]
        trigger = getattr(node, "trigger", None)
        if trigger in declared:
            declared.remove(trigger)
            declared.insert(0, trigger)
        self._order = declared
        self._rr = 0
        self._held: dict[str, Packet] = {}
        self._waiting: Packet | None = None  # `trigger`: the packet waiting for its partners
        self._pending: deque[Packet] = deque()
        self._last_pts = 0
        # A stream's end waits for its end on every input that its source feeds (ports by source
        # id, from the scheduler); (source, stream) -> the ports it has come on so far.
        self.source_inputs: dict[str, frozenset[str]] = {}
        self._end_got: dict[tuple[str | None, str], set[str]] = {}
        self.failure: NodeError | None = None
        self.ends_handled = 0  # StreamEnd markers taken from the inputs (they are not packets)
        # the ends of shared-memory channels this worker reads itself, in its own thread (fuse.py):
        # its one input's, or (`feeds`, by port) those of all its inputs
        self.feed: Worker | None = None
        self.feeds: dict[str, Worker] = {}
        self._feed_gen: Any = None

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """A packet is waiting in this worker or inside its node's process() call."""
        return bool(self._pending) or self._waiting is not None or self.node.engine_packet is not None

    def run(self) -> None:
        """Thread body: never raises; failures go to `on_failure`."""
        try:
            if self.cpus:  # before setup, so the threads the node's libraries start inherit it
                os.sched_setaffinity(0, self.cpus)
            if self.feed is None and not self.feeds:
                self._lifecycle()
            else:
                self._fed_lifecycle([self.feed] if self.feed is not None else list(self.feeds.values()))
        except NodeError as e:
            self._fail(e)
        except BaseException as e:  # a bug in the engine itself: still report it per node
            self._fail(NodeError(self.id, "run", e))
        finally:
            self._arrive()  # a setup that never ended (aborted) must not hold the sources
            for rings in self.outputs.values():
                for r in rings:
                    r.close()
            for r in self.inputs.values():
                r.kill()
            if self.stats.state not in ("failed",):
                self.stats.state = "done"

    def _lifecycle(self) -> None:
        delay = 0.1
        while True:
            self.stats.state = "setup"
            try:
                self._call("setup", self.node.setup)
            except NodeError as e:
                self._arrive()
                if self._retry(e, delay):
                    delay = min(delay * 2, 5.0)
                    continue
                raise
            self._arrive()
            self.stats.state = "running"
            failure: NodeError | None = None
            try:
                if self.inputs or not type(self.node).is_source():
                    self._consume()
                else:
                    self._produce()
            except NodeError as e:
                failure = e
            finally:
                teardown_error = self._teardown()
            if failure is None:
                if teardown_error is not None:
                    raise teardown_error
                return
            if self._retry(failure, delay):
                delay = min(delay * 2, 5.0)
                continue
            raise failure

    # -- a worker without a thread of its own: called by its producer (fuse.DirectCarrier) -----
    def deliver(self, pkt: Packet) -> None:
        """Handle one packet in the caller's thread."""
        (port,) = self.inputs
        self._handle(port, pkt, None)

    def setup_passive(self) -> None:
        """Set the node up in the caller's thread (a channel's reader, by its consumer: feed.py)."""
        self._call("setup", self.node.setup)
        self.stats.state = "running"

    def finish_passive(self) -> None:
        error = self._teardown()
        if error is not None:
            self.fail_passive(error)
        elif self.stats.state != "failed":
            self.stats.state = "done"

    def fail_passive(self, e: NodeError) -> None:
        self._fail(e)

    def _arrive(self) -> None:
        if not self._arrived:
            self._arrived = True
            if self.preroll is not None:
                self.preroll.arrive()

    def _retry(self, e: NodeError, delay: float) -> bool:
        if self.on_error != "restart" or self.stopping.is_set():
            return False
        self.stats.errors += 1
        self.stats.restarts += 1
        self.stats.last_error = str(e)
        self.stats.state = "restarting"
        log.warning("%s; restarting in %.1f s", e, delay)
        return not self.aborted.wait(delay)

    def _teardown(self) -> NodeError | None:
        try:
            self._call("teardown", self.node.teardown)
        except NodeError as e:
            return e
        return None

    def _call(self, method: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except NodeError:
            raise
        except Exception as e:
            raise NodeError(self.id, method, e) from e

    def _fail(self, e: NodeError) -> None:
        self.failure = e
        self.stats.state = "failed"
        self.stats.errors += 1
        self.stats.last_error = str(e)
        self.on_failure(e)

    # -- sources ------------------------------------------------------------------------------
    def _produce(self) -> None:
        # A relay (the receiving end of a process boundary or link) ends at its upstream's end
        # of stream, so what was produced before a stop still drains through it.
        stop = self.aborted if getattr(self.node, "relay", False) else self.stopping
        if self.preroll is not None and not self.preroll.wait(stop):
            return
        try:
            gen = self.node.generate()
        except Exception as e:
            raise NodeError(self.id, "generate", e) from e
        if not isinstance(gen, types.GeneratorType) and not hasattr(gen, "__next__"):
            gen = iter(gen or ())
        stats, node = self.stats, self.node
        speed = node.pacing() if self.paced else None
        pace = Pacer(speed, stop) if speed else None
        try:
            while not stop.is_set():
                t0 = _perf()
                try:
                    item = next(gen)
                except StopIteration:
                    return
                except Exception as e:
                    err = NodeError(self.id, "generate", e, seq=self.stats.packets_out)
                    if self.on_error == "skip":
                        self._count_skip(err)
                        return
                    raise err from e
                if type(item) is StreamEnd:  # (a relay passes on the source that sent it)
                    self._pass_end(StreamEnd(item.stream, item.source or self.id))
                    continue
                stats.process.add(_perf() - t0 - node.take_paced_ns())  # a pacing wait is not work
                origin = stream = None
                if isinstance(item, Stamped):
                    if pace is not None:
                        pace.wait(item.pts_ns)  # before the stamp: latency starts at release
                    ts = _now() if item.ts_ns is None else item.ts_ns
                    pts, origin, stream, item = item.pts_ns, item.origin, item.stream, item.outputs
                else:
                    ts = pts = _now()
                if item is not None:
                    self._emit(item, ts, pts, "generate", None, None, origin, stream)
        finally:
            gen.close() if hasattr(gen, "close") else None

    # -- everything else ------------------------------------------------------------------------
    def _consume(self) -> None:
        if self.feed is not None:
            self._consume_fed(self.feed)
        elif self.feeds:
            self._consume_fed_many()
        elif len(self.inputs) == 1:
            self._consume_one()
        else:
            self._consume_many()
        if not self.aborted.is_set() and type(self.node).flush is not Node.flush:
            # end of stream: the node emits what it still holds (a partial batch, an open utterance)
            self._call_and_emit("flush", self.node.flush)

    def _call_and_emit(self, method: str, fn: Callable[[], Any], stream: str | None = None) -> None:
        """Call a node hook that is not fed a packet (flush, wake, end_stream) and emit what it
        returns: a dict, a `Stamped`, None, or an iterable of them."""
        try:
            out = fn()
            for item in [out] if out is None or type(out) is dict or isinstance(out, Stamped) else out:
                if item is not None:
                    self._emit_item(item, _now(), self._last_pts, method, None, None, None, stream)
        except NodeError:
            raise
        except Exception as e:
            raise NodeError(self.id, method, e) from e

    def _consume_many(self) -> None:
        while True:
            got = self._next_set()
            if got is None:
                return
            (port, pkt), *rest = got.items()
            self._handle(port, pkt, dict(rest) if rest else None)

    def _consume_one(self) -> None:
        (port, ring), = self.inputs.items()
        cond, buf, aborted = ring.cond, ring.queued, self.aborted
        batch_ok = ring.policy == "block"
        handle, pending = self._handle, self._pending  # pending survives a restart: nothing lost
        node = self.node
        timed = type(node).wake is not Node.wake  # (the common case pays nothing for the timer)
        while True:
            while pending:
                if aborted.is_set():
                    return
                handle(port, pending.popleft(), None)  # the packet is let go once handled: a
                # pooled buffer is free as soon as no packet holds it
            woke = False
            with cond:
                while not buf:
                    if ring.closed or ring.dead or aborted.is_set():
                        return
                    wait = node.wake_in_s() if timed else None
                    if wait is not None and wait <= 0:
                        woke = True
                        break
                    cond.wait(wait)
                if woke:
                    pass
                elif batch_ok:
                    pending.extend(ring.pop_batch())
                else:
                    pending.append(ring.pop())
            if woke:  # the node's deadline passed with no packet (`Node.wake`): emit what it returns
                self._call_and_emit("wake", self.node.wake)

    # -- the end of one stream of a multi-stream source ---------------------------------------
    def _end_stream(self, end: StreamEnd, port: str) -> None:
        """A stream's end reached this node on `port`; once it is in on every input its source
        feeds: the node's end_stream, then pass it on."""
        if len(self.inputs) > 1:
            key = (end.source, end.stream)
            got = self._end_got.setdefault(key, set())
            got.add(port)
            if not self.source_inputs.get(end.source or "", frozenset()) <= got:
                return  # more of the stream may still come on another input
            del self._end_got[key]
        self._call_and_emit("end_stream", lambda: self.node.end_stream(end.stream), end.stream)
        self._pass_end(end)

    def _pass_end(self, end: StreamEnd) -> None:
        pkt = Packet(-1, _now(), self._last_pts, end, 0, None, end.stream)
        for rings in self.outputs.values():
            for r in rings:
                r.put(pkt)

    def _handle(self, first_port: str, first: Packet, others: dict[str, Packet] | None) -> None:
        if type(first.value) is StreamEnd:
            self.ends_handled += 1
            self.node.engine_packet = first  # (a boundary's end reads the end's source from it)
            try:
                self._end_stream(first.value, first_port)
            finally:
                self.node.engine_packet = None
            return
        if others and any(type(p.value) is StreamEnd for p in others.values()):  # (a `latest` input held one)
            others = {k: p for k, p in others.items() if type(p.value) is not StreamEnd}
        if others:
            ts = min(first.ts_ns, *(p.ts_ns for p in others.values()))
            kwargs: dict[str, Any] | None = {first_port: first.value, **{p: k.value for p, k in others.items()}}
            n_in = 1 + len(others)
        else:
            ts, n_in = first.ts_ns, 1
            kwargs = None if self._positional else {first_port: first.value}
        origin = first.origin if not others else None  # (one input: its results stay traceable to the link)
        stream = first.stream  # (several inputs: matched packets come from one stream, the first's)
        if self._absent:
            kwargs = {**self._absent, **(kwargs or {})}
        stats = self.stats
        stats.packets_in += n_in
        node = self.node
        node.engine_packet = first
        self._last_pts = first.pts_ns
        t0 = _perf()
        try:
            node.apply_pending()  # reloaded params (control API) take effect between packets
            out = node.process(first.value) if kwargs is None else node.process(**kwargs)
            if out is not None:
                if type(out) is dict:  # (the common case: straight to _emit)
                    self._emit(out, ts, first.pts_ns, "process", first_port, first.seq, origin, stream)
                elif isinstance(out, Stamped):
                    self._emit_item(out, ts, first.pts_ns, "process", first_port, first.seq, origin, stream)
                elif isinstance(out, types.GeneratorType) or hasattr(out, "__next__"):
                    for item in out:
                        if item is not None:
                            self._emit_item(item, ts, first.pts_ns, "process", first_port, first.seq, origin, stream)
                else:
                    raise TypeError(f"returned {type(out).__name__}; expected a dict of outputs, None, or yielded dicts")
        except Exception as e:
            err = e if isinstance(e, NodeError) else NodeError(self.id, "process", e, port=self._labels[first_port], seq=first.seq)
            if err is not e:
                err.__cause__ = e
            if self.on_error != "skip":
                raise err from err.__cause__
            self._count_skip(err)
        finally:
            node.engine_packet = None
        stats.process.add(_perf() - t0)
        if self.is_sink:
            stats.add_latency(_now() - ts, stream)

    def _count_skip(self, err: NodeError) -> None:
        self.stats.errors += 1
        self.stats.last_error = str(err)
        if self.stats.errors <= 10 or self.stats.errors % 1000 == 0:
            log.warning("%s (skipped; %d errors so far)", err, self.stats.errors)

    def _emit_item(self, out: Any, ts: int, pts: int, method: str, port: str | None, seq: int | None,
                   origin: tuple[str, int] | None, stream: str | None) -> None:
        """`_emit`, where a `Stamped` item (a batch split into items) brings its own stamps and stream."""
        if isinstance(out, Stamped):
            ts = out.ts_ns if out.ts_ns is not None else ts
            pts, stream, origin, out = out.pts_ns, out.stream, out.origin or origin, out.outputs
        self._emit(out, ts, pts, method, port, seq, origin, stream)

    def _emit(self, out: Any, ts: int, pts: int, method: str, port: str | None, seq: int | None,
              origin: tuple[str, int] | None = None, stream: str | None = None) -> None:
        if type(out) is not dict:
            raise NodeError(self.id, method, f"yielded {type(out).__name__}; expected a dict of outputs",
                            port=self._labels.get(port) if port else None, seq=seq)
        seqs, outputs, contracts, stats = self._seq, self.outputs, self._contracts, self.stats
        for name, value in out.items():
            rings = outputs.get(name)
            if rings is None:
                raise NodeError(self.id, method, f"returned unknown output {name!r}; it has: {', '.join(outputs) or 'no outputs'}",
                                port=self._labels.get(port) if port else None, seq=seq)
            if value is None:
                continue
            if contracts:
                contract = contracts.get(name)
                why = contract.check_value(value) if contract is not None else None
                if why:
                    raise NodeError(self.id, method, f"output {name!r}: {why}", port=self._labels.get(port) if port else None, seq=seq)
            n = seqs[name]
            seqs[name] = n + 1
            stats.packets_out += 1
            if rings:
                if type(value) in SCALARS:  # (a small packet skips the walks of freeze and payload_bytes)
                    pkt = Packet(n, ts, pts, value, 0, origin, stream)
                else:
                    pkt = Packet(n, ts, pts, freeze(value), payload_bytes(value), origin, stream)
                for r in rings:
                    r.put(pkt)
