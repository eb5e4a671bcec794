"""A sink that discards what it gets."""

from __future__ import annotations

from typing import Any

from edgespeed import Input, Node


class NullSink(Node):
    """Accept and discard packets: the end of a graph run for its metrics or its side effects.

    Its input counts and end-to-end latency still appear in the run report, which makes it the
    sink of choice for benchmarks.

    Ports:
        data (in): anything.

    Example:
        ```yaml
        - {id: out, type: sink.null, inputs: {data: small/out}}
        ```
    """

    kind = "sink.null"
    data = Input()

    def process(self, data: Any) -> None:
        return None
