"""Small nodes for engine tests, registered under `test.*` (and importable as plugins)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from edgespeed import Frame, Input, Node, Output, Param, Stamped, StreamEnd, node
from edgespeed.registry import default_registry


class Passthrough(Node):
    """Forward `data` to `out` unchanged (no copy)."""

    kind = "test.pass"
    data = Input()
    out = Output()

    def process(self, data: Any) -> dict[str, Any]:
        return {"out": data}


class Slow(Node):
    """Forward after sleeping `delay_s` (a slow consumer)."""

    kind = "test.slow"
    data = Input()
    out = Output()
    delay_s: float = Param(0.01, ge=0)

    def process(self, data: Any) -> dict[str, Any]:
        time.sleep(self.delay_s)
        return {"out": data}


class SlowPreview(Slow):
    """A slow consumer whose input port declares `latest` (as `video.preview`'s does)."""

    kind = "test.slow_preview"
    data = Input(queue=1, policy="latest")


class ArraySource(Node):
    """Emit `count` arrays of `shape` filled with their index, from the buffer pool if `pooled`."""

    kind = "test.array_source"
    out = Output()
    count: int = Param(10, ge=0)
    shape: list[int] = Param([4, 4, 3])
    pooled: bool = Param(False)
    endless: bool = Param(False)
    period_s: float = Param(0.0, ge=0)
    linger_s: float = Param(0.0, ge=0, doc="wait this long after the last array before ending")

    def generate(self) -> Any:
        i = 0
        while self.endless or i < self.count:
            if self.stopping:
                return
            arr = self.buffer("out", tuple(self.shape)) if self.pooled else np.empty(self.shape, np.uint8)
            arr.fill(i % 256)
            yield Stamped({"out": arr}, pts_ns=i * 1_000_000)
            i += 1
            if self.period_s:
                time.sleep(self.period_s)
        until = time.monotonic() + self.linger_s
        while time.monotonic() < until and not self.stopping:
            time.sleep(0.01)


class Lifecycle(Node):
    """Records its lifecycle calls in `Lifecycle.calls[id]`; fails where told to."""

    kind = "test.lifecycle"
    data = Input()
    out = Output()
    fail_setup: bool = Param(False)
    fail_at: list[int] = Param([])
    calls: dict[str, list[str]] = {}

    def setup(self) -> None:
        Lifecycle.calls.setdefault(self.id, []).append("setup")
        if self.fail_setup:
            raise RuntimeError("cannot open the device")

    def process(self, data: Any) -> dict[str, Any]:
        if int(np.asarray(data).flat[0]) in self.fail_at:
            raise ValueError(f"bad value {int(np.asarray(data).flat[0])}")
        return {"out": data}

    def teardown(self) -> None:
        Lifecycle.calls.setdefault(self.id, []).append("teardown")


class Pair(Node):
    """Fan-in: emits (left, right) as a tuple; sync chosen in YAML."""

    kind = "test.pair"
    left = Input()
    right = Input(optional=True)
    out = Output()

    def process(self, left: Any, right: Any) -> dict[str, Any]:
        return {"out": (left, right)}


class Chunker(Node):
    """Yields `n` outputs per input (a generator `process`)."""

    kind = "test.chunker"
    data = Input()
    out = Output()
    n: int = Param(3, ge=1)

    def process(self, data: Any) -> Any:
        for k in range(self.n):
            yield {"out": (data, k)}


class BadOutput(Node):
    """Returns an undeclared output, or a float array where uint8 frames are declared."""

    kind = "test.bad_output"
    data = Input()
    frame = Output(Frame)
    mode: str = Param("unknown_port")

    def process(self, data: Any) -> dict[str, Any]:
        if self.mode == "unknown_port":
            return {"frames": data}
        return {"frame": np.zeros((2, 2, 3), np.float32)}


class FloatSource(Node):
    """Emits float32 tensors (for contract mismatch tests)."""

    kind = "test.float_source"
    out = Output(dtype="float32", ndim=4)

    def generate(self) -> Any:
        yield {"out": np.zeros((1, 3, 2, 2), np.float32)}


class RecordSource(Node):
    """Emit `count` records (dicts) of about `kib` KiB each, `period_s` apart: values that cross
    a process boundary pickled, not through a slot."""

    kind = "test.record_source"
    out = Output()
    count: int = Param(10, ge=0)
    kib: int = Param(1, ge=0)
    period_s: float = Param(0.0, ge=0)

    def generate(self) -> Any:
        for i in range(self.count):
            if self.stopping:
                return
            yield {"out": {"i": i, "blob": bytes(self.kib << 10)}}
            time.sleep(self.period_s)


@node(kind="test.double")
def double(data: np.ndarray, *, factor: int = 2) -> np.ndarray:
    """Multiply by `factor` (a function node)."""
    return data * factor


for _cls in (Passthrough, Slow, SlowPreview, ArraySource, Lifecycle, Pair, Chunker, BadOutput, FloatSource, RecordSource, double):
    default_registry().register(_cls)


class DynamicPorts(Node):
    """Ports named by params, with a dtype per output (like a model's inputs and outputs)."""

    kind = "test.dynamic"
    names: list[str] = Param(["x"])
    dtype: str = Param("float32")

    @classmethod
    def declare_ports(cls, params: dict[str, Any]) -> tuple[dict[str, Input], dict[str, Output]]:
        if params["dtype"] == "broken":
            raise ValueError("Cannot read model 'm.onnx': not an ONNX file")
        ins = {n: Input(dtype=params["dtype"]) for n in params["names"]}
        return ins, {f"{n}_out": Output(dtype=params["dtype"]) for n in params["names"]}

    def process(self, **inputs: Any) -> dict[str, Any]:
        return {f"{k}_out": v for k, v in inputs.items()}


default_registry().register(DynamicPorts)


class Batcher(Node):
    """Groups `size` inputs; what is left at end of stream comes out of flush()."""

    kind = "test.batcher"
    data = Input()
    out = Output()
    size: int = Param(3, ge=1)

    def setup(self) -> None:
        self._held: list[Any] = []

    def process(self, data: Any) -> dict[str, Any] | None:
        self._held.append(data)
        self.count("seen")
        if len(self._held) < self.size:
            return None
        batch, self._held = self._held, []
        return {"out": batch}

    def flush(self) -> dict[str, Any] | None:
        return {"out": self._held} if self._held else None


class Caption(Node):
    """Fan-in whose `frame` input triggers under sync latest, whatever the YAML order."""

    kind = "test.caption"
    text = Input(optional=True)
    frame = Input()
    out = Output()
    sync = "latest"
    trigger = "frame"

    def process(self, frame: Any, text: Any) -> dict[str, Any]:
        return {"out": (frame, text)}


default_registry().register(Batcher)
default_registry().register(Caption)


class Burn(Node):
    """CPU-bound pure Python work per packet (holds the GIL), then forwards; can crash its process."""

    kind = "test.burn"
    data = Input()
    out = Output()
    loops: int = Param(20000, ge=0)
    crash_at: int = Param(-1)

    def process(self, data: Any) -> dict[str, Any]:
        if int(np.asarray(data).flat[0]) == self.crash_at:
            import os

            os._exit(9)  # a hard crash: no exception, no cleanup
        acc = 0
        for i in range(self.loops):
            acc += i * i % 7
        return {"out": data}


class Pid(Node):
    """Emits the id of the process it runs in, with its input."""

    kind = "test.pid"
    data = Input()
    out = Output()
    say: str = Param("", doc="a line to log at setup")

    def setup(self) -> None:
        if self.say:
            self.log.info("%s", self.say)

    def process(self, data: Any) -> dict[str, Any]:
        import os

        return {"out": (os.getpid(), data)}


class Affinity(Node):
    """Emits the CPUs its thread may run on, and those of a thread it starts in setup."""

    kind = "test.affinity"
    data = Input()
    out = Output()

    def setup(self) -> None:
        import os
        import threading

        seen: list[set[int]] = []
        t = threading.Thread(target=lambda: seen.append(os.sched_getaffinity(0)))  # a library's worker thread
        t.start()
        t.join()
        self._started = seen[0]

    def process(self, data: Any) -> dict[str, Any]:
        import os

        return {"out": (sorted(os.sched_getaffinity(0)), sorted(self._started))}


default_registry().register(Burn)
default_registry().register(Pid)
default_registry().register(Affinity)


class ClockSource(Node):
    """Emit `count` wall-clock readings (time.time_ns()), one per `period_s`."""

    kind = "test.clock_source"
    out = Output()
    count: int = Param(5, ge=1)
    period_s: float = Param(0.01, ge=0)

    def generate(self) -> Any:
        for _ in range(self.count):
            yield {"out": time.time_ns()}
            time.sleep(self.period_s)


class SlowSetup(Node):
    """Takes `setup_s` to set up (a model loading); emits how long after its setup ended each
    reading of `data` was taken (negative: the source ran ahead of this node's setup)."""

    kind = "test.slow_setup"
    data = Input()
    out = Output()
    setup_s: float = Param(0.5, ge=0)

    def setup(self) -> None:
        time.sleep(self.setup_s)
        self._ready_ns = time.time_ns()

    def process(self, data: int) -> dict[str, Any]:
        return {"out": (data - self._ready_ns) / 1e9}


class StreamPair(Node):
    """A multi-stream source: `n` frames of streams a and b in turn (64x64x3, every pixel the
    frame's number: big enough to cross a process boundary in a shared-memory slot), then the
    end of a, then `tail` more frames of b."""

    kind = "test.stream_pair"
    out = Output()
    n: int = Param(4, ge=0)
    tail: int = Param(3, ge=0)

    def generate(self) -> Any:
        for i in range(self.n):
            for s in ("a", "b"):
                yield Stamped({"out": np.full((64, 64, 3), i, np.uint8)}, pts_ns=i, stream=s)
        yield StreamEnd("a")
        for i in range(self.n, self.n + self.tail):
            yield Stamped({"out": np.full((64, 64, 3), i, np.uint8)}, pts_ns=i, stream="b")


class StreamTag(Node):
    """Forwards each packet; when a stream ends, emits on it how many packets of it came."""

    kind = "test.stream_tag"
    data = Input()
    other = Input(optional=True)
    out = Output()

    def setup(self) -> None:
        self.seen: dict[str | None, int] = {}

    def process(self, data: Any = None, other: Any = None) -> dict[str, Any]:
        s = self.envelope.stream if self.envelope is not None else None
        self.seen[s] = self.seen.get(s, 0) + 1
        return {"out": data if data is not None else other}

    def end_stream(self, stream: str) -> dict[str, Any]:
        return {"out": f"{self.id}: {stream} ended after {self.seen.pop(stream, 0)}"}


def check_stream_pair_join(got: dict[str | None, list[Any]], n: int = 5, tail: int = 3) -> None:
    """What `test.stream_pair` -> `mid` (test.stream_tag) -> `join` (test.stream_tag, fed by mid
    and the source) delivers per stream, wherever mid and join run: every packet keeps its
    stream, mid's end of a arrives on stream a, and join ends a once, last, having seen a's
    frames on both inputs and mid's line."""
    assert set(got) == {"a", "b"}, "every packet keeps its stream"
    a = got["a"]
    assert sorted(v for v in a if not isinstance(v, str)) == sorted(list(range(n)) * 2)
    assert [v for v in a if isinstance(v, str)] == [f"mid: a ended after {n}", f"join: a ended after {2 * n + 1}"]
    assert a[-1] == f"join: a ended after {2 * n + 1}"
    assert sorted(got["b"]) == sorted(list(range(n + tail)) * 2)


class Deadline(Node):
    """Emits `tick` 50 ms after the last packet when nothing else comes (Node.wake)."""

    kind = "test.deadline"
    data = Input()
    out = Output()

    def setup(self) -> None:
        self.due: float | None = None

    def process(self, data: Any) -> dict[str, Any]:
        self.due = time.monotonic() + 0.05
        return {"out": data}

    def wake_in_s(self) -> float | None:
        return None if self.due is None else self.due - time.monotonic()

    def wake(self) -> dict[str, Any]:
        self.due = None
        return {"out": "tick"}


default_registry().register(Deadline)
