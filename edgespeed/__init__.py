"""EdgeSpeed: a dataflow-graph streaming engine for multimodal ML pipelines on edge devices.

The public API is small: declare nodes (`Node`, `Input`, `Output`, `Param`, `@node`), build or
load graphs (`Graph`, `load`), check them (`validate`) and run them (`run`).

The packages behind it, each owning one step of the data path (see the README's Layout):
`graph/` spec -> validate -> plan; `runtime/` workers and carriers (rings, shared memory);
`transport/` links between devices; `metrics/` counters, the report, the live table and
Prometheus; `infer/` ONNX sessions, providers and the model tools; `cli/` the `edgespeed`
command; `data/` shipped media. Beside them: `node.py`/`ports.py`/`params.py` (the node
contract), `types.py`, `errors.py`, `format.py` (the graph format's keys and values),
`registry.py`, `control.py` (the HTTP control API), `testing.py` (`run_node`).
"""

from __future__ import annotations

from typing import Any

from .errors import EdgeSpeedError, GraphError, GraphErrors, LinkError, Location, MissingDependency, NodeError
from .graph import Graph, GraphSpec, load, load_text, validate
from .node import Envelope, Input, Node, Output, Param, node
from .runtime.pacing import Pacer
from .types import Audio, Detections, Frame, Gray, PortType, Record, Stamped, StreamEnd, Tensor

__version__ = "0.1.0"

__all__ = [
    "Audio",
    "Detections",
    "EdgeSpeedError",
    "Envelope",
    "Frame",
    "Graph",
    "GraphError",
    "GraphErrors",
    "GraphSpec",
    "Gray",
    "Input",
    "LinkError",
    "Location",
    "MissingDependency",
    "Node",
    "NodeError",
    "Output",
    "Pacer",
    "Param",
    "PortType",
    "Record",
    "Stamped",
    "StreamEnd",
    "Tensor",
    "__version__",
    "load",
    "load_text",
    "node",
    "run",
    "validate",
]


def run(graph: str | GraphSpec | Graph, *, duration_s: float | None = None) -> Any:
    """Validate and run a graph (a YAML path, a spec, or a builder) in this process.

    Returns:
        a `RunResult` with the report (`.report`) and any node failures (`.failures`).

    Raises:
        GraphErrors: the graph is invalid (nothing was opened).
    """
    from .runtime.scheduler import run_spec

    if isinstance(graph, Graph):
        spec = graph.build()
    elif isinstance(graph, GraphSpec):
        spec = graph
    else:
        spec = load(graph)
    return run_spec(spec, duration_s=duration_s)
