"""A plugin that imports in the main process but not in a spawned child (for isolation tests)."""

from __future__ import annotations

import os
from typing import Any

from edgespeed import Input, Node, Output

if os.environ.get("EDGESPEED_PROCESS_GROUP"):
    raise ImportError("libfoo.so.1: cannot open shared object file (only in the child)")


class Fragile(Node):
    """Forwards its input."""

    data = Input()
    out = Output()

    def process(self, data: Any) -> dict[str, Any]:
        return {"out": data}
