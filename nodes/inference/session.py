"""What the model nodes share: the session params every ONNX node declares, and port names.

Sessions themselves come from the engine's one factory (`edgespeed.infer.session`), so
inference.onnx, the OCR nodes and audio.onnx_vad get the same provider fallback, thread
settings, graph optimization and errors. The names below are re-exported from it for the
nodes that have always imported them from here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from edgespeed import Param
from edgespeed.infer import ModelError
# one table of providers and devices for the whole project: inference.onnx, `edgespeed model
# bench` and `edgespeed devices` accept and print the same names
from edgespeed.infer.providers import DEVICES, PROVIDERS, device_providers, provider_names, provider_options
from edgespeed.infer.session import TensorInfo, check_file, model_io, open_session, session_io

__all__ = ["DEFAULT_PROVIDERS", "DEVICES", "PROVIDERS", "ModelError", "SessionParams", "TensorInfo", "check_file",
           "device_providers", "model_io", "open_session", "port_name", "provider_names", "provider_options", "session_io"]

DEFAULT_PROVIDERS = ["cuda", "coreml", "openvino", "cpu"]


class SessionParams:
    """The params of a node that runs an ONNX model, declared once: a node class inherits them
    (`class OcrDetector(SessionParams, Node)`) and opens its model with `open_model`.

    Node collects params along the whole MRO, so these count as the node's own; they are listed
    after the node's own params (they are the least specific ones).
    """

    providers: list[str] = Param(list(DEFAULT_PROVIDERS), doc="provider preference order")
    intra_op_threads: int = Param(0, ge=0, le=256, doc="threads inside an operator; 0 = default")

    id: str  # the node's, set by Node.__init__

    def open_model(self, path: Path, providers: list[str] | None = None, **options: Any) -> tuple[Any, str]:
        """`open_session` with this node's providers and threads, logging as the node."""
        return open_session(path, providers if providers is not None else self.providers,
                            intra_threads=self.intra_op_threads, who=f"node {self.id!r}: ", **options)


def port_name(tensor_name: str) -> str:
    """A valid port name from a model tensor name: `images:0` -> `images_0`, `1234` -> `t_1234`."""
    name = re.sub(r"[^a-z0-9_]+", "_", tensor_name.lower()).strip("_") or "t"
    return name if name[0].isalpha() else "t_" + name
