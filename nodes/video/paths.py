"""The `paths` of a multi-stream source: files, `builtin:` samples and stream URLs, each optionally named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgespeed import Param

# A `builtin:` sample in `paths` converts as a Path param does (to the shipped file), so a
# graph naming shipped clips runs from any folder; URLs must never pass through Path().
_SHIPPED = Param(doc="a builtin: sample")
_SHIPPED.annotation = Path

URL_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "tcp", "udp", "srt", "rtp")


def parse_entry(entry: Any, index: int) -> tuple[str, str]:
    """A `paths` entry (`"a.mp4"` or `{name: door, path: rtsp://...}`) -> (name, path).

    Unnamed entries are called after their file's stem or URL path (`door.mp4` -> `door`),
    made unique with their index. Raises ValueError with a one-line reason.
    """
    if isinstance(entry, dict):
        unknown = sorted(set(entry) - {"name", "path"})
        if unknown or not isinstance(entry.get("path"), str) or not isinstance(entry.get("name", ""), str):
            raise ValueError(f"paths[{index}]: expected a path or {{name: ..., path: ...}}, got {entry!r}")
        name, path = entry.get("name") or "", entry["path"]
    elif isinstance(entry, (str, Path)):
        name, path = "", str(entry)
    else:
        raise ValueError(f"paths[{index}]: expected a path or {{name: ..., path: ...}}, got {entry!r}")
    if not path:
        raise ValueError(f"paths[{index}]: empty path")
    return name or default_name(path, index), path


def default_name(path: str, index: int) -> str:
    tail = path.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
    stem = tail.rsplit(".", 1)[0] if "." in tail else tail
    clean = "".join(c if c.isalnum() or c in "-_" else "_" for c in stem.lower()).strip("_")
    return f"{clean or 'stream'}{index}" if not clean or is_url(path) else clean


def is_url(path: str) -> bool:
    scheme, sep, _ = path.partition("://")
    return bool(sep) and scheme.lower() in URL_SCHEMES


def check_entries(entries: list[Any]) -> list[tuple[str, str]]:
    """Every entry parsed and checked: a URL of a known scheme, a `builtin:` sample, or an
    existing file. Raises ValueError naming the first bad entry by its index."""
    out: list[tuple[str, str]] = []
    for i, entry in enumerate(entries):
        name, path = parse_entry(entry, i)
        if path.startswith("builtin:"):
            try:
                path = str(_SHIPPED.check(path))
            except ValueError as e:
                raise ValueError(f"paths[{i}]: {e}") from None
        elif "://" in path and not is_url(path):
            raise ValueError(f"paths[{i}]: {path!r} is not a stream URL (schemes: {', '.join(URL_SCHEMES)})")
        elif not is_url(path) and not Path(path).is_file():
            where = "" if Path(path).is_absolute() else f" (relative to {Path.cwd()})"
            what = "is a folder" if Path(path).is_dir() else "is neither an existing file nor a URL"
            raise ValueError(f"paths[{i}]: {path!r} {what}{where}")
        if any(name == n for n, _ in out):
            raise ValueError(f"paths[{i}]: stream name {name!r} is used twice; name each stream, e.g. {{name: door, path: ...}}")
        out.append((name, path))
    return out
