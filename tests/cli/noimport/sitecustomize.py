"""Make the modules named in $EDGESPEED_TEST_BLOCK (comma-separated) fail to import, as on a
machine without that extra installed. Put this folder on PYTHONPATH of a subprocess."""

import os
import sys
from importlib.abc import MetaPathFinder

_BLOCKED = {m for m in os.environ.get("EDGESPEED_TEST_BLOCK", "").split(",") if m}


class _Block(MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):  # noqa: ANN001 - importlib's signature
        if fullname.split(".")[0] in _BLOCKED:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


sys.meta_path.insert(0, _Block())
