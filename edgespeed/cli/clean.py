"""`edgespeed clean`: remove the shared memory of runs that were killed (see `runtime.sweep`)."""

from __future__ import annotations

import argparse

from ..runtime.sweep import sweep


def cmd_clean(args: argparse.Namespace) -> int:
    removed = sweep()
    for name in removed:
        print(f"removed /dev/shm/{name}")
    print(f"{len(removed)} leftover shared-memory segment{'' if len(removed) == 1 else 's'} removed")
    return 0
