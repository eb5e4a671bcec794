"""Sweep shared-memory segments left behind by runs that were killed outright.

A run unlinks its segments when it ends, even when one of its node processes crashes. A SIGKILL
of the whole run (its process group, the OOM killer, a power-off of the container) gives nobody
a chance to: the segments stay in /dev/shm, holding memory, until reboot. Their names carry the
run's owner pid (`es<pid>_<channel>_<generation>`, see `shm.segment_name`), so a later run can
tell a leftover from a segment in use: it removes only segments whose owner process is gone and
that belong to this user. `edgespeed run` sweeps at start; `edgespeed clean` on demand.

A pid that has been reused by an unrelated live process keeps its segments (a false "alive" is
the safe mistake); they go once that process ends. The reverse mistake is possible only where
/dev/shm is shared across PID namespaces (containers started with `--ipc=host`): a run in another
namespace looks dead from here, so do not run two such containers' EdgeSpeed runs side by side.
"""

from __future__ import annotations

import os
import re
from pathlib import Path


SHM_DIR = Path("/dev/shm")
_NAME = re.compile(r"^es(\d+)_.+_\d+$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def stale_segments(directory: Path = SHM_DIR) -> list[str]:
    """Names of this user's EdgeSpeed segments whose owner process has exited."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:  # macOS has no /dev/shm listing: nothing to sweep there
        return []
    uid = os.getuid()
    stale = []
    for name in sorted(names):
        m = _NAME.match(name)
        if not m or int(m.group(1)) == os.getpid():
            continue
        try:
            if (directory / name).stat().st_uid != uid:  # never another user's memory
                continue
        except FileNotFoundError:  # removed meanwhile
            continue
        if not _alive(int(m.group(1))):
            stale.append(name)
    return stale


def sweep() -> list[str]:
    """Unlink the stale segments (see `stale_segments`); returns the names removed."""
    from multiprocessing.shared_memory import _posixshmem  # type: ignore[attr-defined]

    removed = []
    for name in stale_segments():
        # shm_unlink directly, not `shm.unlink_name`: these were never registered with our
        # resource tracker, and unregistering would start one just to complain about it
        try:
            _posixshmem.shm_unlink("/" + name)
        except FileNotFoundError:  # another sweep got there first
            continue
        removed.append(name)
    return removed
