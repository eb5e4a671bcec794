"""Node type names <-> classes.

Built-in nodes and third-party nodes register the same way: an entry point in the
`edgespeed.nodes` group whose name is the YAML type and whose value is `module:Class`. A graph
may also name a class directly as `package.module:Class`: the module is imported from
`sys.path` (PYTHONPATH), or else from the graph file's folder, so `type: mynodes:Blur` finds a
`mynodes.py` that sits beside the YAML. Classes are imported only when a graph uses them, so
`edgespeed validate` never imports a node it does not need.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .node import Node, did_you_mean

GROUP = "edgespeed.nodes"


class UnknownType(LookupError):
    """A type name that is neither registered nor an importable `module:Class`."""


class Registry:
    """Resolves YAML `type` strings to `Node` subclasses."""

    def __init__(self, *, entry_points: bool = True) -> None:
        self._use_eps = entry_points
        self._eps: dict[str, Any] | None = None
        self._classes: dict[str, type[Node]] = {}
        self._lock = threading.Lock()

    def _entry_points(self) -> dict[str, Any]:
        if self._eps is None:
            eps: dict[str, Any] = {}
            if self._use_eps:
                from importlib.metadata import entry_points

                for ep in entry_points(group=GROUP):
                    eps.setdefault(ep.name, ep)
            self._eps = eps
        return self._eps

    def register(self, cls: type[Node], name: str | None = None) -> type[Node]:
        """Register `cls` under `name` (default: its `kind`). Usable as a decorator."""
        key = name or cls.kind
        if not key:
            raise ValueError(f"{cls.__name__} has no kind; give it one or pass a name")
        self._classes[key] = cls
        return cls

    def names(self) -> list[str]:
        """Every registered type name, sorted."""
        return sorted(set(self._entry_points()) | set(self._classes))

    def resolve(self, type_name: str, search: Sequence[Path] = ()) -> type[Node]:
        """The class for `type_name`; a `module:Class` not on `sys.path` is looked for in the
        folders `search` (the graph's folder), which is then added to `sys.path`.

        Raises:
            UnknownType: not registered and not a `module:Class` path; the message offers the
                closest registered name.
            ImportError: a plugin (or a built-in's optional dependency) failed to import; the
                message says which module and why.
        """
        with self._lock:
            if type_name in self._classes:
                return self._classes[type_name]
            eps = self._entry_points()
            if type_name in eps:
                cls = _as_node(eps[type_name].load(), type_name)
            elif ":" in type_name:
                cls = _import_path(type_name, search)
            else:
                raise UnknownType(f"unknown node type {type_name!r}{did_you_mean(type_name, self.names())}")
            self._classes[type_name] = cls
            return cls

    def all(self) -> dict[str, type[Node] | Exception]:
        """Every registered node class by name (an exception where one failed to import)."""
        out: dict[str, type[Node] | Exception] = {}
        for name in self.names():
            try:
                out[name] = self.resolve(name)
            except Exception as e:  # listed, not fatal: one broken plugin must not hide the rest
                out[name] = e
        return out


def _import_path(path: str, search: Sequence[Path] = ()) -> type[Node]:
    module, _, attr = path.partition(":")
    try:
        mod = _import_module(module, search)
    except ModuleNotFoundError as e:
        top = module.split(".")[0]
        if e.name != top:
            raise ImportError(f"cannot import plugin {path!r}: {type(e).__name__}: {e}") from e
        where = " or in the graph's folder " + ", ".join(str(d) for d in search) if search else ""
        raise ImportError(f"cannot import plugin {path!r}: no module {top!r} on PYTHONPATH{where}; put {top}.py "
                          f"beside the graph, or set PYTHONPATH to the folder that holds it") from None
    except Exception as e:
        raise ImportError(f"cannot import plugin {path!r}: {type(e).__name__}: {e}") from e
    try:
        obj = getattr(mod, attr)
    except AttributeError:
        names = [n for n, v in vars(mod).items() if isinstance(v, type) and issubclass(v, Node) and v is not Node]
        raise ImportError(f"cannot import plugin {path!r}: module {module!r} has no {attr!r}{did_you_mean(attr, names)}") from None
    return _as_node(obj, path)


def _import_module(module: str, search: Sequence[Path]) -> Any:
    """`importlib.import_module`, falling back to the folders in `search`. A folder that holds
    the module is appended to `sys.path` (after everything installed, so it shadows nothing), and
    so reaches the processes of isolated nodes too."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        top = module.split(".")[0]
        if e.name != top:
            raise
        for folder in search:
            if (folder / f"{top}.py").is_file() or (folder / top / "__init__.py").is_file():
                if str(folder) not in sys.path:
                    sys.path.append(str(folder))
                importlib.invalidate_caches()
                return importlib.import_module(module)
        raise


def _as_node(obj: Any, name: str) -> type[Node]:
    if isinstance(obj, type) and issubclass(obj, Node):
        return obj
    raise ImportError(f"plugin {name!r} is {obj!r}, not a Node subclass or @node function")


_default: Registry | None = None


def default_registry() -> Registry:
    """The process-wide registry (entry points of every installed distribution)."""
    global _default
    if _default is None:
        _default = Registry()
    return _default
