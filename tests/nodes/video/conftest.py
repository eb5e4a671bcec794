"""Fixtures for the video node tests: test videos written under tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def make_video(tmp_path: Path) -> Callable[..., Path]:
    """`make_video(frames=30, name="v.mp4", **kw)` writes a test video under tmp_path."""

    import av  # noqa: F401  (a dev dependency: a missing one must fail, not skip)
    from video_fixtures import write_video

    def make(frames: int = 30, name: str = "v.mp4", **kw: object) -> Path:
        return write_video(tmp_path / name, frames, **kw)  # type: ignore[arg-type]

    return make
