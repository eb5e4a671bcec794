"""Helpers for testing nodes and graphs without threads, sockets or devices.

Example:
    >>> out = run_node(Resizer, params={"width": 8, "height": 4}, inputs={"image": [frame]})
    >>> out["image"][0].shape
    (4, 8, 3)
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Iterator
from typing import Any

from .errors import NodeError
from .node import Input, Node, Output, Param
from .registry import default_registry
from .runtime.packet import Packet, freeze
from .types import Stamped


def run_node(
    node: type[Node] | str,
    *,
    params: dict[str, Any] | None = None,
    inputs: dict[str, list[Any]] | None = None,
    max_packets: int | None = None,
    node_id: str = "node",
    streams: list[str | None] | None = None,
) -> dict[str, list[Any]]:
    """Run one node synchronously and collect what it emits, per output port.

    Inputs are fed as the runtime feeds them (read-only views, one matched set per call):
    the i-th items of every given input port form the i-th call. A source runs `generate()`
    until it returns or `max_packets` dicts were produced. `setup` and `teardown` run around it
    (teardown also when a call raises, which re-raises as `NodeError`).

    Args:
        node: a Node class or a registered type name.
        params: params, checked as YAML params are.
        inputs: port -> list of values.
        max_packets: stop a source after this many emitted dicts.
        streams: the envelope's `stream` of the i-th call (as from a multi-stream source).
    """
    cls = default_registry().resolve(node) if isinstance(node, str) else node
    inst = cls(node_id, **(params or {}))
    feeds = inputs or {}
    for port in feeds:
        if port not in inst.inputs:
            raise KeyError(f"node {node_id!r} has no input {port!r}; it has: {', '.join(inst.inputs)}")
    outputs: dict[str, list[Any]] = {p: [] for p in inst.outputs}
    _call(inst, "setup", inst.setup)
    try:
        if cls.is_source() and not feeds:
            _drain_source(inst, outputs, max_packets)
        else:
            n = max((len(v) for v in feeds.values()), default=0)
            for i in range(n):
                kwargs = {p: None for p in inst.inputs}
                kwargs.update({p: freeze(v[i]) for p, v in feeds.items() if i < len(v)})
                inst._env = Packet(i, 0, 0, None, stream=streams[i] if streams else None)
                try:
                    result = inst.process(**kwargs)
                    _collect(node_id, result, outputs)
                except NodeError:
                    raise
                except Exception as e:
                    raise NodeError(node_id, "process", e, seq=i) from e
                finally:
                    inst._env = None
            try:
                _collect(node_id, inst.flush(), outputs)  # end of stream, as the runtime does
            except NodeError:
                raise
            except Exception as e:
                raise NodeError(node_id, "flush", e) from e
    finally:
        _call(inst, "teardown", inst.teardown)
    return outputs


def _call(inst: Node, method: str, fn: Any) -> None:
    try:
        fn()
    except Exception as e:
        raise NodeError(inst.id, method, e) from e


def _drain_source(inst: Node, outputs: dict[str, list[Any]], max_packets: int | None) -> None:
    try:
        gen = inst.generate()
        items = iter(gen)
    except Exception as e:
        raise NodeError(inst.id, "generate", e) from e
    count = 0
    try:
        while True:
            try:
                item = next(items)
            except StopIteration:
                break
            except Exception as e:
                raise NodeError(inst.id, "generate", e, seq=count) from e
            if isinstance(item, Stamped):
                item = item.outputs
            _collect(inst.id, item, outputs)
            count += 1
            if max_packets is not None and count >= max_packets:
                break
    finally:
        if hasattr(gen, "close"):
            gen.close()


def _collect(node_id: str, result: Any, outputs: dict[str, list[Any]]) -> None:
    if result is None:
        return
    items: Iterable[Any] = [result] if isinstance(result, (dict, Stamped)) else result
    if not isinstance(result, (dict, Stamped)) and not isinstance(result, (types.GeneratorType, Iterator)):
        raise NodeError(node_id, "process", f"returned {type(result).__name__}; expected a dict of outputs, None, or yielded dicts")
    for item in items:
        if item is None:
            continue
        if isinstance(item, Stamped):  # (a node splitting a batch gives each item its stamps)
            item = item.outputs
        for port, value in item.items():
            if port not in outputs:
                raise NodeError(node_id, "process", f"returned unknown output {port!r}; it has: {', '.join(outputs)}")
            if value is not None:
                outputs[port].append(freeze(value))


class ListSource(Node):
    """Emits the given items on `out`, one packet each (for graph tests).

    Params:
        items: the values to emit, in order.
        pts_step_ns: media time between items (0: stamp with the wall clock).
    """

    kind = "testing.list_source"
    out = Output()
    items: list[Any] = Param([])
    pts_step_ns: int = Param(0, ge=0)

    def generate(self) -> Iterator[Any]:
        for i, item in enumerate(self.items):
            if self.stopping:
                return
            yield Stamped({"out": item}, i * self.pts_step_ns) if self.pts_step_ns else {"out": item}


class ListSink(Node):
    """Collects what reaches `data` into `ListSink.collected[node_id]`, and each packet's envelope
    into `ListSink.envelopes[node_id]` (for graph tests)."""

    kind = "testing.list_sink"
    data = Input()
    collected: dict[str, list[Any]] = {}
    envelopes: dict[str, list[Any]] = {}

    def setup(self) -> None:
        ListSink.collected[self.id] = []
        ListSink.envelopes[self.id] = []

    def process(self, data: Any = None, **_: Any) -> None:
        ListSink.collected[self.id].append(data)
        ListSink.envelopes[self.id].append(self.envelope)
        return None


default_registry().register(ListSource)
default_registry().register(ListSink)
