"""The node contract: `Node`, `Input`, `Output`, `Param` and the `@node` shorthand.

A node declares its ports and params as class attributes; the engine does the rest.

Example:
    >>> class Gain(Node):
    ...     '''Multiply samples by `factor`.'''
    ...     kind = "audio.gain"
    ...     audio = Input(Audio)
    ...     out = Output(Audio)
    ...     factor: float = Param(1.0, ge=0)
    ...     def process(self, audio):
    ...         return {"out": audio * self.factor}

Guarantees the runtime gives every node:
- `process` never runs twice at once on the same instance;
- `teardown` runs if and only if `setup` returned, also on error;
- a source ends by returning from `generate()`;
- inputs are read-only views of ring slots: copy anything kept past `process`;
- sequence numbers and timestamps travel in the packet envelope, never in node code.
"""

from __future__ import annotations

import inspect
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import numpy as np

from .errors import GraphError, GraphErrors
from .format import ID_PATTERN, SYNC_MODES
from .params import ParamValueError
from .types import PortType, Stamped

if TYPE_CHECKING:
    from .runtime.context import RunContext

ID_RE = re.compile(ID_PATTERN)


class Envelope(NamedTuple):
    """A packet's envelope: sequence number on its edge, source wall-clock stamp, media time,
    and `origin`: for data that came over a link from another device, `(session, seq)` of
    the packet on that link (passed on by single-input nodes), else None. A sink that stores
    the origin with what it writes can report it back (`Node.resume_point`), so a restarted
    device resumes after it: nothing written twice, nothing lost.

    `stream`: the name of the stream the packet belongs to, for data from a multi-stream
    source (`video.streams`), else None. The source stamps it and the engine passes it on
    through every node (as `pts`), so per-stream state is keyed by `envelope.stream` and
    node code never copies it."""

    seq: int
    ts_ns: int
    pts_ns: int
    origin: tuple[str, int] | None = None
    stream: str | None = None


from .ports import REQUIRED, Input, Output, Param, ParamSpec, _annotations  # noqa: E402 - the node contract

__all__ = ["REQUIRED", "Envelope", "ID_RE", "Input", "Node", "Output", "Param", "ParamSpec", "did_you_mean", "node"]


_ENGINE_FIELDS = frozenset({"_pools", "_ctx", "engine_packet"})
# Node methods and properties the engine calls (or pooled nodes rely on): no param may take the name.
_ENGINE_CALLS = frozenset({"setup", "process", "generate", "flush", "teardown", "resume_point", "reload", "request_params",
                           "declare_ports", "check_params", "is_source", "envelope", "stopping", "run_status", "pace", "buffer",
                           "bind_run", "ctx", "use_pool", "take_paced_ns", "apply_pending"})


class Node:
    """Base class of every node. Subclasses declare ports and params as class attributes.

    Class attributes:
        kind: the YAML `type` (family plus name, e.g. `image.resize`).
        sync: how a multi-input node matches inputs: `any` (each packet as it arrives, the
            other inputs None), `latest` (on each packet of the first input, the newest of the
            others), `timestamp` (inputs whose `pts` agree within `sync_tolerance_ms`),
            `trigger` (on each packet of the trigger input, the others' packets of its pts,
            waited for; None where an input has none).
        sync_tolerance_ms: tolerance of `sync: timestamp` and `trigger`.
        trigger: under `sync: latest` or `trigger`, the input whose packets trigger a call
            (default: the first input declared).
        live_sync: the sync used instead of `sync` when the node runs downstream of a live
            source, unless the graph sets `sync:` on the node (e.g. video.overlay: `trigger`
            offline, so each frame gets its own results; `latest` live, so a slow detector
            never holds the video back). None: `sync` always.
        live: a source that delivers at the world's pace (a camera). A source with a
            `realtime` param is live when it is true.
    """

    kind: ClassVar[str] = ""
    sync: ClassVar[str] = "any"
    sync_tolerance_ms: ClassVar[float] = 0.0
    trigger: ClassVar[str | None] = None
    live_sync: ClassVar[str | None] = None
    live: ClassVar[bool] = False
    inputs: dict[str, Input] = {}  # per class; an instance may refine them (declare_ports)
    outputs: dict[str, Output] = {}
    params: ClassVar[dict[str, ParamSpec]] = {}
    _reload_lock: ClassVar[threading.Lock] = threading.Lock()  # shared: taken once per update
    _pending_params: dict[str, Any] | None = None  # class defaults: a subclass __init__ needs no super()
    _paced_ns = 0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        inputs: dict[str, Input] = {}
        outputs: dict[str, Output] = {}
        params: dict[str, ParamSpec] = {}
        mixed: set[str] = set()  # params whose declaration comes from a mixin, not a Node class
        for klass in reversed(cls.__mro__):
            ann = _annotations(klass) if klass is not object else {}
            for name, value in vars(klass).items():
                if isinstance(value, Input):
                    inputs[name] = value
                elif isinstance(value, Output):
                    outputs[name] = value
                elif isinstance(value, ParamSpec):
                    if name in ann:
                        value.annotation = ann[name]
                    elif value.default is not REQUIRED and value.default is not None:
                        value.annotation = type(value.default)
                    params[name] = value
                    (mixed.discard if issubclass(klass, Node) else mixed.add)(name)
        # A params mixin (shared session params, say) is least specific: its params are listed
        # after the node's own, whichever side of Node it sits in the bases.
        params = {**{n: p for n, p in params.items() if n not in mixed}, **{n: params[n] for n in params if n in mixed}}
        cls.inputs, cls.outputs, cls.params = inputs, outputs, params
        # The engine keeps a few private fields on every node; a subclass that defines one of
        # them (a `_status` helper, say) would silently replace the engine's and fail at run time.
        shadow = sorted(_ENGINE_CALLS & set(params))
        if shadow:  # a param `buffer` would replace Node.buffer() on every instance
            raise TypeError(f"{cls.__name__}: param {', '.join(shadow)} would replace the Node method the engine calls; pick another name")
        clash = sorted(_ENGINE_FIELDS & set(vars(cls)))
        if clash:
            raise TypeError(f"{cls.__name__} defines {', '.join(clash)}: reserved by the engine, pick another name")
        for attr in ("sync", "live_sync"):
            mode = getattr(cls, attr)
            if mode not in SYNC_MODES and not (attr == "live_sync" and mode is None):
                raise TypeError(f"{cls.__name__}.{attr} must be one of {SYNC_MODES}, got {mode!r}")

    def __init__(self, node_id: str = "node", **params: Any) -> None:
        self.id = node_id
        self.log = logging.getLogger(f"edgespeed.node.{node_id}")
        self._pools: dict[str, Any] = {}
        self._ctx: RunContext | None = None  # the run this node is part of (bind_run); None: detached
        self.engine_packet: Any = None  # (the worker's) the packet inside process(), for `envelope`
        self.counters: dict[str, int] = {}
        self.stream_counts: dict[str, dict[str, Any]] = {}  # a multi-stream source's, per stream (report `streams`)
        values, errors = self.check_params(params)
        if errors:
            raise GraphErrors(GraphError(msg, node_id=node_id) for _, msg in errors)
        for name, value in values.items():
            setattr(self, name, value)
        # instance-level ports: a node may declare ports that depend on its params
        self.inputs, self.outputs = type(self).declare_ports(values)

    @classmethod
    def check_params(cls, given: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """Check `given` against the declared params.

        Returns:
            (values with defaults filled in, [(param name, message)] for every problem).
        """
        values: dict[str, Any] = {}
        errors: list[tuple[str, str]] = []
        for name in given:
            if name not in cls.params:
                errors.append((name, f"unknown param {name!r}{did_you_mean(name, cls.params)}"))
        for name, p in cls.params.items():
            if name not in given:
                if p.required:
                    errors.append((name, f"param {name!r}: missing; expected {p.describe()}"))
                else:
                    values[name] = p.default
                continue
            try:
                values[name] = p.check(given[name])
            except ParamValueError as e:
                errors.append((name, f"param {name!r}: {e}"))
        return values, errors

    @classmethod
    def declare_ports(cls, params: dict[str, Any]) -> tuple[dict[str, Input], dict[str, Output]]:
        """The node's ports for these (checked) params. By default, the class declarations.

        Override it for a node whose ports follow its params, e.g. an ONNX model's inputs and
        outputs: `edgespeed validate` then checks both ends of every edge against them. Raise
        with a one-line message (`cannot read model 'x.onnx': ...`) to report a problem, located
        at the node's params.
        """
        return cls.inputs, cls.outputs

    @classmethod
    def is_source(cls) -> bool:
        """True for nodes with no inputs that produce data from `generate()`."""
        return not cls.inputs and cls.generate is not Node.generate

    # -- lifecycle -------------------------------------------------------------------------
    def setup(self) -> None:
        """Open devices, load models. Runs once, in the node's worker, before any data."""

    def process(self, *args: Any, **inputs: Any) -> dict[str, Any] | Stamped | Iterator[dict[str, Any] | Stamped] | None:
        """Handle one matched set of inputs; return a dict of outputs, None, or yield dicts
        (a `Stamped` one to give a result its own media time or stream, as `image.demux` does).

        The worker passes inputs by port name (`process(image=...)`), except a lone input that
        the override names first, which it passes positionally (the same binding, without a
        dict to build). `*args` is there so that a subclass may name its inputs
        (`def process(self, image)`): type checkers accept any override of a
        `(*args: Any, **kwargs: Any)` signature.
        """
        raise TypeError(f"{type(self).__name__} has inputs but does not implement process()")

    def generate(self) -> Iterator[dict[str, Any]]:
        """Sources only: yield dicts of outputs (or `Stamped`); return to end the stream."""
        raise TypeError(f"{type(self).__name__} has no inputs and does not implement generate()")

    def flush(self) -> dict[str, Any] | Iterator[dict[str, Any]] | None:
        """End of stream, before `teardown`: return or yield what the node still holds (a partial
        batch, an utterance still open). Not called when the run is aborted."""
        return None

    def teardown(self) -> None:
        """Release what `setup` opened. Runs if and only if `setup` returned."""

    def end_stream(self, stream: str) -> dict[str, Any] | Iterator[dict[str, Any]] | None:
        """Stream `stream` of a multi-stream source ended (removed, finished, given up): drop
        what is kept for it, and return or yield what is left of it (a partial batch). Called
        once, between packets, after the stream's last packet reached this node."""
        return None

    def wake_in_s(self) -> float | None:
        """Seconds until the node wants `wake()` called if no packet comes first (a batch's
        deadline), or None for no deadline. Asked under the input's lock: keep it cheap.
        Honored for nodes with one wired input."""
        return None

    def wake(self) -> dict[str, Any] | Iterator[dict[str, Any]] | None:
        """Its `wake_in_s` deadline passed with no packet: return or yield outputs, like `process`."""
        return None

    def resume_point(self) -> tuple[str, int] | None:
        """A sink that stores `envelope.origin` with its output returns the last one it has
        durably written (read back in `setup`), or None. When every sink after a link returns
        one, a restarted device tells the sender to resume after it: exactly once across a
        crash (`sink.jsonl` with `append: true` does this)."""
        return None

    def reload(self, changed: dict[str, Any]) -> None:
        """Reloadable params in `changed` were just set, between two packets: re-derive what `setup` computed from them."""

    def request_params(self, values: dict[str, Any]) -> None:
        """Queue checked reloadable values; the worker sets them before the next packet (never half an update)."""
        with self._reload_lock:
            self._pending_params = {**(self._pending_params or {}), **values}

    @property
    def pending_params(self) -> dict[str, Any] | None:
        """Reloadable values queued by `request_params` and not yet set (a copy), or None."""
        with self._reload_lock:
            pending = self._pending_params
            return None if pending is None else dict(pending)

    def buffer_allocations(self) -> dict[str, int]:
        """Per output port, how many arrays `buffer()` has allocated so far (the run report's
        `buffers`): flat once the pipeline is in steady state."""
        return {port: int(pool.allocations) for port, pool in list(self._pools.items())}  # read from other threads

    # -- the engine's seam: what the worker and the run call -------------------------------
    def bind_run(self, ctx: RunContext) -> None:
        """(engine) Make this node part of a run, before `setup()`: its stop and abort events,
        its clock, its live report, and for the runtime's own nodes the workers around them."""
        self._ctx = ctx

    @property
    def ctx(self) -> RunContext:
        """The run this node is part of; outside one (a node driven by hand) a detached
        context: never stopping, nothing downstream."""
        if self._ctx is None:
            from .runtime.context import RunContext

            self._ctx = RunContext()
        return self._ctx

    def use_pool(self, port: str, pool: Any) -> None:
        """(engine) Draw output `port`'s `buffer()` arrays from `pool` (a process boundary's
        shared-memory slots, so a frame is written where the other process reads it)."""
        self._pools[port] = pool

    def take_paced_ns(self) -> int:
        """(engine) Nanoseconds spent in `pace()` since the last call: not process time."""
        paced, self._paced_ns = self._paced_ns, 0
        return paced

    def apply_pending(self) -> None:
        """(engine) Set the params queued by `request_params`, between packets."""
        if self._pending_params is None:  # the per-packet cost: one attribute read
            return
        with self._reload_lock:
            changed, self._pending_params = self._pending_params or {}, None
        vars(self).update(changed)
        self.reload(changed)

    # -- helpers for node code ------------------------------------------------------------
    @property
    def envelope(self) -> Envelope | None:
        """The envelope of the packet being processed (read-only), e.g. for a sink that logs
        times. None outside `process`. Sequence numbers and stamps are the engine's to set."""
        pkt = self.engine_packet
        return None if pkt is None else Envelope(pkt.seq, pkt.ts_ns, pkt.pts_ns, pkt.origin, pkt.stream)

    @property
    def stopping(self) -> bool:
        """True once the graph is shutting down: a source polls it between blocking reads."""
        return self.ctx.stopping.is_set()

    def pacing(self) -> float | None:
        """Sources: the speed at which the engine releases what `generate()` yields, as media
        seconds per wall second (1.0: live, as recorded), or None: as fast as the graph takes it.

        The worker paces from each `Stamped` item's `pts_ns` (the first one anchors media time
        to the wall clock), so a source only says *when* its data is, never sleeps for it; the
        wait is not counted as the source's process time, and `edgespeed bench` switches pacing
        off for every source at once. Typically `return 1.0 if self.realtime else None`.
        Asked once each time `generate()` starts.
        """
        return None

    def pace(self, wait_s: float) -> None:
        """Sources that must wait for something other than media time (a reconnect backoff):
        wait `wait_s` (a stop cuts it short); not counted as processing time. For a live rate,
        return it from `pacing()` instead."""
        t0 = time.perf_counter_ns()
        self.ctx.stopping.wait(wait_s)
        self._paced_ns += time.perf_counter_ns() - t0

    def run_status(self) -> dict[str, Any] | None:
        """The run's live report (the `--report` schema, as /status); None outside a run or in an isolated process."""
        run = self.ctx.run()
        return None if run is None else dict(run.snapshot())

    def count(self, name: str, n: int = 1) -> None:
        """Add `n` to the node's counter `name` (e.g. `reconnects`), reported under
        `nodes.<id>.counters` in the run report and the live table's summary."""
        self.counters[name] = self.counters.get(name, 0) + n

    def buffer(self, port: str, shape: tuple[int, ...], dtype: Any = np.uint8) -> np.ndarray:
        """A writable array for output `port`, reused once every consumer has released it.

        A steady-state pipeline that fills these instead of allocating allocates no new frame
        memory. Write it fully (it holds an earlier frame), then return it from `process`.
        """
        pool = self._pools.get(port)
        if pool is None:
            if port not in self.outputs:
                raise KeyError(f"node {self.id!r} has no output {port!r}; it has: {', '.join(self.outputs)}")
            from .runtime.pool import BufferPool

            pool = self._pools[port] = BufferPool()
        return pool.take(tuple(shape), np.dtype(dtype))


def did_you_mean(name: str, choices: Any) -> str:
    """`; did you mean 'x'?` for the closest choice, or `; valid: a, b, c` when none is close."""
    import difflib

    options = sorted(str(c) for c in choices)
    close = difflib.get_close_matches(str(name), options, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    if not options:
        return ""
    shown = ", ".join(options[:12]) + (", ..." if len(options) > 12 else "")
    return f"; valid: {shown}"


def node(
    fn: Callable[..., Any] | None = None,
    *,
    kind: str | None = None,
    sync: str | None = None,
    sync_tolerance_ms: float = 0.0,
) -> Any:
    """Make a node class from a function.

    Positional parameters are inputs (annotate them with a `PortType`), keyword-only parameters
    are params (annotation and default), the return value goes to output `out` (None emits
    nothing; a generator function emits each value it yields). A function with several inputs
    matches them by `timestamp` unless `sync` says otherwise.

    Example:
        >>> @node
        ... def denoise(frame: Frame, *, kernel_px: int = 5) -> Frame:
        ...     '''Smooth sensor noise with a Gaussian blur of side `kernel_px` (odd).'''
        ...     return cv2.GaussianBlur(frame, (kernel_px, kernel_px), 0)
    """
    if fn is None:
        return lambda f: node(f, kind=kind, sync=sync, sync_tolerance_ms=sync_tolerance_ms)
    return _function_node(fn, kind, sync, sync_tolerance_ms)


def _function_node(fn: Callable[..., Any], kind: str | None, sync: str | None, tol: float) -> type[Node]:
    sig = inspect.signature(fn)
    hints = _annotations(fn)
    body: dict[str, Any] = {"__doc__": fn.__doc__, "__module__": fn.__module__, "__qualname__": fn.__name__}
    in_names: list[str] = []
    param_names: list[str] = []
    annotations: dict[str, Any] = {}
    for p in sig.parameters.values():
        hint = hints.get(p.name)
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            body[p.name] = Input(hint if isinstance(hint, PortType) else None, optional=p.default is not p.empty)
            in_names.append(p.name)
        elif p.kind is p.KEYWORD_ONLY:
            body[p.name] = Param(REQUIRED if p.default is p.empty else p.default)
            annotations[p.name] = hint if hint is not None else Any
            param_names.append(p.name)
        else:
            raise TypeError(f"@node {fn.__name__}: *args and **kwargs cannot be ports or params")
    ret = hints.get("return")
    body["out"] = Output(ret if isinstance(ret, PortType) else None)
    body["__annotations__"] = annotations
    body["kind"] = kind or f"{fn.__module__.rsplit('.', 1)[-1]}.{fn.__name__}"
    body["sync"] = sync or ("timestamp" if len(in_names) > 1 else "any")
    body["sync_tolerance_ms"] = tol
    body["function"] = staticmethod(fn)

    if inspect.isgeneratorfunction(fn):
        def process(self: Node, **inputs: Any) -> Iterator[dict[str, Any]]:
            kw = {n: getattr(self, n) for n in param_names}
            for value in fn(*[inputs.get(n) for n in in_names], **kw):
                if value is not None:
                    yield {"out": value}
    else:
        def process(self: Node, **inputs: Any) -> dict[str, Any] | None:  # type: ignore[misc]
            value = fn(*[inputs.get(n) for n in in_names], **{n: getattr(self, n) for n in param_names})
            return None if value is None else {"out": value}

    body["process"] = process
    cls = type(fn.__name__, (Node,), body)
    return cls


def first_parameter(fn: Callable[..., Any]) -> str | None:
    """The name of a (bound) callable's first parameter when it may be passed positionally: the
    worker passes a lone input that `process` names first that way (`process(image)`)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # (a builtin without a signature)
        return None
    return params[0].name if params and params[0].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD else None
