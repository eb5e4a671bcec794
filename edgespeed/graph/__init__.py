"""Graph specs: load YAML (keeping line:col), build with the Python API, validate, plan."""

from .builder import Graph, NodeHandle, PortRef
from .load import load, load_partial, load_text
from .spec import DeviceSpec, GraphSpec, InputSpec, NodeSpec
from .validate import check, validate

__all__ = [
    "DeviceSpec", "Graph", "GraphSpec", "InputSpec", "NodeHandle", "NodeSpec", "PortRef",
    "check", "load", "load_partial", "load_text", "validate",
]
