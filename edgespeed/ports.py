"""How a node declares itself: `Input` and `Output` ports and `Param`s (the `ParamSpec` behind
them). `edgespeed.node` re-exports all of it; node code imports from there."""

from __future__ import annotations

import inspect
from typing import Any

from .format import PATH_KINDS, POLICIES
from .params import Bounds, check, describe
from .types import ANY, PortType


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


def _port_type(type_: PortType | None, dtype: str | None, ndim: int | None, shape: tuple[int | None, ...] | None) -> PortType:
    base = type_ if type_ is not None else (PortType("Array") if (dtype or ndim is not None or shape) else ANY)
    if dtype is None and ndim is None and shape is None:
        return base
    if shape is not None and ndim is None:
        ndim = len(shape)
    return PortType(
        base.name, dtype or base.dtype, base.ndim if ndim is None else ndim,
        tuple(shape) if shape is not None else base.shape, kind="array", doc=base.doc,
    )


class _Port:
    """What Input and Output share: a contract, a doc line, and the attribute name."""

    def __init__(self, type_: PortType | None, dtype: str | None, ndim: int | None,
                 shape: tuple[int | None, ...] | None, doc: str) -> None:
        if type_ is not None and not isinstance(type_, PortType):
            # `Input(object)`, `Output(np.ndarray)`: fail where the plugin is imported, not mid-run
            raise TypeError(f"{type(self).__name__}({getattr(type_, '__name__', type_)!s}): a port's type must be a "
                            "PortType (Frame, Audio, Tensor, ...) or None for anything; use dtype=/ndim= for arrays")
        self.type = _port_type(type_, dtype, ndim, shape)
        self.doc = doc
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.type.describe()})"


class Input(_Port):
    """An input port.

    Args:
        type: a `PortType` (`Frame`, `Audio`, ...); None accepts anything.
        dtype, ndim, shape: array contract, refining `type`.
        optional: the node runs without it being wired (receives None).
        queue: default ring size for edges into this port (the YAML `queue:` overrides).
        policy: default backpressure policy (`block`, `latest`, `drop_oldest`).
        doc: one line for `edgespeed nodes`.
    """

    def __init__(
        self,
        type: PortType | None = None,  # noqa: A002 - reads best at the call site
        *,
        dtype: str | None = None,
        ndim: int | None = None,
        shape: tuple[int | None, ...] | None = None,
        optional: bool = False,
        queue: int | None = None,
        policy: str | None = None,
        doc: str = "",
    ) -> None:
        if policy is not None and policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
        super().__init__(type, dtype, ndim, shape, doc)
        self.optional = optional
        self.queue = queue
        self.policy = policy


class Output(_Port):
    """An output port.

    Args:
        type: a `PortType`; None declares nothing about the values.
        dtype, ndim, shape: array contract, refining `type`.
        doc: one line for `edgespeed nodes`.
    """

    def __init__(
        self,
        type: PortType | None = None,  # noqa: A002
        *,
        dtype: str | None = None,
        ndim: int | None = None,
        shape: tuple[int | None, ...] | None = None,
        doc: str = "",
    ) -> None:
        super().__init__(type, dtype, ndim, shape, doc)


class ParamSpec:
    """A declared param: what `Param(...)` puts on a node class (see `Param`).

    Args:
        default: the value when YAML leaves it out; omit it to make the param required.
        ge, gt, le, lt: numeric bounds (for tuples and lists, every item).
        doc: one line, with units, for `edgespeed nodes`.
        kind: for a path the node reads, what it names (`input_file`, `input_folder`,
            `model_file`, `model_folder`): validate checks that it exists when it is local.
        reloadable: the control API may change it while the graph runs (see `Node.reload`).
    """

    def __init__(
        self,
        default: Any = REQUIRED,
        *,
        ge: float | None = None,
        gt: float | None = None,
        le: float | None = None,
        lt: float | None = None,
        doc: str = "",
        kind: str | None = None,
        reloadable: bool = False,
    ) -> None:
        if kind is not None and kind not in PATH_KINDS:
            raise ValueError(f"Param kind must be one of {', '.join(PATH_KINDS)}, got {kind!r}")
        self.kind = kind
        self.default = default
        self.bounds = Bounds(ge, gt, le, lt)
        self.doc = doc
        self.reloadable = reloadable
        self.name = ""
        self.annotation: Any = Any

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type) -> Any:
        # Reached only when an instance has no value of its own (Node.__init__ sets them all).
        return self if obj is None else self.default

    def check(self, value: Any) -> Any:
        """Convert and check `value`; raises ParamValueError (`expected ..., got ...`)."""
        return check(self.annotation, value, self.bounds or None)

    def describe(self) -> str:
        text = describe(self.annotation)
        return f"{text} ({self.bounds.describe()})" if self.bounds else text

    def __repr__(self) -> str:
        return f"Param({self.default!r})"


def Param(  # noqa: N802 - reads as a declaration, like dataclasses.field / pydantic.Field
    default: Any = REQUIRED,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    doc: str = "",
    kind: str | None = None,
    reloadable: bool = False,
) -> Any:
    """Declare a typed param, checked against its class annotation when the graph is loaded.

    Typed as Any so that `width: int = Param(640, ge=16)` type-checks as an int, which is
    what node code reads on the instance.

    Args:
        default: the value when YAML leaves it out; omit it to make the param required.
        ge, gt, le, lt: numeric bounds (for tuples and lists, every item).
        doc: one line, with units, for `edgespeed nodes`.
        kind: for a path the node reads: `input_file`, `input_folder`, `model_file` or
            `model_folder`; `edgespeed validate` checks a local one exists (outputs: no kind).
        reloadable: the control API may change it while the graph runs, from the next packet (`Node.reload`).
    """
    return ParamSpec(default, ge=ge, gt=gt, le=le, lt=lt, doc=doc, kind=kind, reloadable=reloadable)


def _annotations(obj: Any) -> dict[str, Any]:
    try:
        return inspect.get_annotations(obj, eval_str=True)
    except Exception:  # an annotation naming something only imported for type checkers
        return inspect.get_annotations(obj)
