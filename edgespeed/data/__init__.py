"""Files shipped with the package: the sample media and models that ready graphs name as
`builtin:<path>` (`builtin:media/speech/long.flac`), so a graph runs by name from any folder
with nothing to download.

Each file here is listed with its source, licence and SHA-256 in `PROVENANCE.md` beside it,
and made by a script committed next to it. Resolution happens when a param is converted
(`edgespeed.params`), so nodes only ever see a real path.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from ..format import BUILTIN_PREFIX

ROOT = Path(str(files(__name__)))


def shipped() -> list[str]:
    """Every shipped file as `builtin:<path>`, for error messages and `edgespeed nodes`."""
    return sorted(f"{BUILTIN_PREFIX}{p.relative_to(ROOT).as_posix()}" for p in ROOT.rglob("*")
                  if p.is_file() and p.suffix not in (".py", ".pyc", ".md") and "__pycache__" not in p.parts)


def resolve(value: str) -> Path:
    """`builtin:media/x.flac` -> the installed file. Raises LookupError naming what ships."""
    rel = value.removeprefix(BUILTIN_PREFIX).strip("/")
    path = (ROOT / rel).resolve()
    # `builtin:../../etc/passwd` must not escape the package
    if ROOT.resolve() not in path.parents or not path.exists():
        have = ", ".join(shipped()) or "nothing"
        raise LookupError(f"no shipped file {value!r} (shipped: {have})")
    return path
