"""Checking param values against their annotations, and describing them as JSON Schema.

We check params ourselves rather than with pydantic: the set of annotation forms a node uses is
small (numbers, strings, paths, tuples, lists, dicts, Literal, Optional), our messages must read
`expected a number > 0, got '30fps'`, and `edgespeed --help`/`validate` stay fast without it.
"""

from __future__ import annotations

import re

import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from .format import BUILTIN_PREFIX


class ParamValueError(ValueError):
    """A value does not fit its annotation or bounds; `str()` is `expected ..., got ...`."""


@dataclass(frozen=True)
class Bounds:
    """Numeric bounds of a param (inclusive `ge`/`le`, exclusive `gt`/`lt`)."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def describe(self) -> str:
        parts = [f"{op} {v:g}" for op, v in ((">=", self.ge), (">", self.gt), ("<=", self.le), ("<", self.lt)) if v is not None]
        return " and ".join(parts)

    def holds(self, v: float) -> bool:
        return not (
            (self.ge is not None and v < self.ge)
            or (self.gt is not None and v <= self.gt)
            or (self.le is not None and v > self.le)
            or (self.lt is not None and v >= self.lt)
        )

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.ge, self.gt, self.le, self.lt))


def check(annotation: Any, value: Any, bounds: Bounds | None = None) -> Any:
    """Return `value` converted to `annotation` (e.g. list -> tuple, str -> Path).

    Raises:
        ParamValueError: with `expected ..., got ...`.
    """
    out = _convert(annotation, value, bounds)
    return out


def _got(value: Any) -> str:
    return f"got {value!r}"


def _convert(ann: Any, value: Any, bounds: Bounds | None) -> Any:  # noqa: C901 - one switch on forms
    if ann is Any or ann is None or ann is typing.Any:
        return value
    origin = get_origin(ann)
    if origin is Union or origin is types.UnionType:
        options = get_args(ann)
        if value is None and type(None) in options:
            return None
        errors = []
        for opt in options:
            if opt is type(None):
                continue
            try:
                return _convert(opt, value, bounds)
            except ParamValueError as e:
                errors.append(str(e).split(", got")[0].removeprefix("expected "))
        raise ParamValueError(f"expected {' or '.join(errors)}{' or null' if type(None) in options else ''}, {_got(value)}")
    if origin is Literal:
        choices = get_args(ann)
        if value in choices and not (isinstance(value, bool) and not any(c is value for c in choices)):
            return value
        raise ParamValueError(f"expected one of {', '.join(repr(c) for c in choices)}, {_got(value)}")
    if ann is bool:
        if isinstance(value, bool):
            return value
        raise ParamValueError(f"expected true or false, {_got(value)}")
    if ann in (int, float):
        return _number(ann, value, bounds)
    if ann is str:
        if isinstance(value, str):
            return value
        raise ParamValueError(f"expected a string, {_got(value)}")
    if ann is Path or (isinstance(ann, type) and issubclass(ann, Path)):
        if isinstance(value, str) and value.startswith(BUILTIN_PREFIX):
            from .data import resolve  # a file shipped with the package (edgespeed/data)

            try:
                return resolve(value)
            except LookupError as e:
                raise ParamValueError(str(e)) from None
        if isinstance(value, (str, Path)) and str(value):
            return Path(value)
        raise ParamValueError(f"expected a path, {_got(value)}")
    if origin in (tuple, list, dict) or ann in (tuple, list, dict):
        return _container(ann, origin or ann, value, bounds)
    if isinstance(ann, type):
        if isinstance(value, ann):
            return value
        raise ParamValueError(f"expected {ann.__name__}, {_got(value)}")
    return value


# YAML 1.1 (PyYAML) reads `1e-10` (no dot) as a string; YAML 1.2 and every user read a number.
_EXP_FLOAT = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)[eE][-+]?\d+")


def _number(ann: type, value: Any, bounds: Bounds | None) -> Any:
    kind = "an integer" if ann is int else "a number"
    desc = kind + (f" {bounds.describe()}" if bounds else "")
    if ann is float and isinstance(value, str) and _EXP_FLOAT.fullmatch(value.strip()):
        value = float(value)
    ok = isinstance(value, int) if ann is int else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or value != value:  # `value != value`: NaN fits no bound
        if ann is int and isinstance(value, float) and value.is_integer() and not isinstance(value, bool):
            value = int(value)
        else:
            raise ParamValueError(f"expected {desc}, {_got(value)}")
    if bounds and not bounds.holds(value):
        raise ParamValueError(f"expected {desc}, {_got(value)}")
    return float(value) if ann is float else value


def _container(ann: Any, origin: Any, value: Any, bounds: Bounds | None) -> Any:
    args = get_args(ann)
    if origin is dict:
        if not isinstance(value, dict):
            raise ParamValueError(f"expected a mapping, {_got(value)}")
        kt, vt = args if args else (Any, Any)
        return {_convert(kt, k, None): _convert(vt, v, bounds) for k, v in value.items()}
    # Bounds apply to every item: `size_wh: tuple[int, int] = Param(ge=1)`.
    want = describe(ann) + (f" (each {bounds.describe()})" if bounds else "")
    if not isinstance(value, (list, tuple)):
        raise ParamValueError(f"expected {want}, {_got(value)}")
    if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
        if len(value) != len(args):
            raise ParamValueError(f"expected {want}, {_got(value)}")
        try:
            return tuple(_convert(a, v, bounds) for a, v in zip(args, value))
        except ParamValueError:
            raise ParamValueError(f"expected {want}, {_got(value)}") from None
    item = args[0] if args else Any
    try:
        items = [_convert(item, v, bounds) for v in value]
    except ParamValueError:
        raise ParamValueError(f"expected {want}, {_got(value)}") from None
    return tuple(items) if origin is tuple else items


def describe(ann: Any) -> str:
    """A short human name for an annotation: `int`, `[int, int]`, `'a' | 'b'`, `path`."""
    origin = get_origin(ann)
    args = get_args(ann)
    if origin is Union or origin is types.UnionType:
        return " | ".join("null" if a is type(None) else describe(a) for a in args)
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
        return "[" + ", ".join(describe(a) for a in args) + "]"
    if origin in (list, tuple):
        return f"list of {describe(args[0]) if args else 'any'}"
    if origin is dict:
        return f"mapping of {describe(args[1]) if args else 'any'}"
    if ann is Path:
        return "path"
    if ann in (Any, None):
        return "any"
    return getattr(ann, "__name__", str(ann))


def json_schema(ann: Any, bounds: Bounds | None = None) -> dict[str, Any]:
    """The JSON Schema of an annotation (used by `edgespeed schema` for editor completion)."""
    origin = get_origin(ann)
    args = get_args(ann)
    if origin is Union or origin is types.UnionType:
        return {"anyOf": [{"type": "null"} if a is type(None) else json_schema(a, bounds) for a in args]}
    if origin is Literal:
        return {"enum": list(args)}
    if ann is bool:
        return {"type": "boolean"}
    if ann in (int, float):
        out: dict[str, Any] = {"type": "integer" if ann is int else "number"}
        if bounds:
            for key, v in (("minimum", bounds.ge), ("exclusiveMinimum", bounds.gt), ("maximum", bounds.le), ("exclusiveMaximum", bounds.lt)):
                if v is not None:
                    out[key] = v
        return out
    if ann is str or ann is Path:
        return {"type": "string"}
    if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
        items = [json_schema(a, bounds) for a in args]
        return {"type": "array", "prefixItems": items, "minItems": len(args), "maxItems": len(args)}
    if origin in (list, tuple):
        return {"type": "array", "items": json_schema(args[0], bounds) if args else {}}
    if origin is dict:
        return {"type": "object", "additionalProperties": json_schema(args[1], bounds) if args else {}}
    return {}
