"""Graph specs, from a file or the builder to a Plan: everything before anything is opened.

```
spec.py      frozen GraphSpec / NodeSpec / InputSpec dataclasses, with every field's line:col
load.py      YAML -> GraphSpec, collecting every structural problem
builder.py   the Python builder API (`Graph`, `add`, `connect`): the same GraphSpec
validate.py  every check at once (types, params, wiring, port contracts, cycles, placement)
plan.py      the pure planning step: per node device, process, CPUs; per edge its carrier
render.py    pictures of a graph (DOT, Mermaid, SVG, PNG) for `edgespeed graph`
```
Nothing here imports the runtime (only `Graph.run()` does, when called): `edgespeed validate`
and `edgespeed plan` start no thread.
"""

from .builder import Graph, NodeHandle, PortRef
from .load import load, load_partial, load_text
from .spec import DeviceSpec, GraphSpec, InputSpec, NodeSpec
from .validate import check, validate

__all__ = [
    "DeviceSpec", "Graph", "GraphSpec", "InputSpec", "NodeHandle", "NodeSpec", "PortRef",
    "check", "load", "load_partial", "load_text", "validate",
]
