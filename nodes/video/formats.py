"""What the video sources share: the pixel format's port type, and importing PyAV."""

from __future__ import annotations

from typing import Any

from edgespeed import Gray, MissingDependency, Output


class PixelFormatPorts:
    """A source whose `format` param may be `gray` declares a 2-D Gray `frame` for it (so
    validate checks consumers against HxW, not HxWx3)."""

    inputs: dict[str, Any]
    outputs: dict[str, Any]

    @classmethod
    def declare_ports(cls, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Output]]:
        if params.get("format") == "gray":
            return cls.inputs, {**cls.outputs, "frame": Output(Gray)}
        return cls.inputs, cls.outputs


def import_av() -> Any:
    """PyAV, or the one line that says how to install it."""
    try:
        import av
    except ImportError:
        raise MissingDependency("av", "video") from None
    return av
